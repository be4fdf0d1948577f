"""chainops: Slack chat-ops for Baseten Chains."""

__version__ = "0.1.0"
