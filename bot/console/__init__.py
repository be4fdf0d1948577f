"""The local console: the real handlers and flows, with a terminal standing in for Slack."""
