"""HTTP edge: the server, the front door's checks, replay protection and refusal logging."""
