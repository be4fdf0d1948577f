"""Baseten management API: schema models, the HTTP client and the built-in simulator."""
