"""The built-in Baseten simulator: an httpx transport, its state, seed, logs and HTTP server."""
