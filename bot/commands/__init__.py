"""Every `/chain` verb: its request model and parser, and the registry help, routing and metrics read."""
