"""Test doubles for the outside world: a fake Slack Web API and builders of signed Slack requests."""
