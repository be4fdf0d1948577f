"""Process machinery: the work pool, metrics, logs and repeated-failure reporting."""
