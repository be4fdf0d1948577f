"""The App Home: each person's view of what waits on them, what is moving, their chains and recent
changes, showing only what the channels they may see said."""
