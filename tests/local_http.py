"""The one HTTP client tests use to reach servers on loopback (bots, their health and metrics ports).

A new client per request builds a TLS context each time (tens of milliseconds of CPU, even for plain
HTTP), which across the suite added up to seconds. No keep-alive: the servers are killed under it."""

from __future__ import annotations

import httpx

LOCAL = httpx.Client(trust_env=False, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
