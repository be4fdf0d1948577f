"""The change lifecycle: plan, offer, decide, execute exactly once, follow."""
