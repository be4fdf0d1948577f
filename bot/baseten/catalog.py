"""Baseten lists that change rarely (chains, instance types, prices), cached briefly so that typeahead
menus answer within Slack's 3 seconds and a burst of commands does not hammer Baseten."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.baseten.models import Chain, InstanceType

T = TypeVar("T")

log = logging.getLogger(__name__)


class _Cached(Generic[T]):
    def __init__(self, load: Callable[[], T], ttl: float, clock: Callable[[], float]) -> None:
        self._load, self._ttl, self._clock = load, ttl, clock
        self._value: T | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None or self._clock() - self._at > self._ttl:
                self._value = self._load()
                self._at = self._clock()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None


class Catalog:
    def __init__(
        self, baseten: BasetenClient, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        self._chains = _Cached(baseten.list_chains, ttl, clock)
        self._types = _Cached(baseten.list_instance_types, ttl * 10, clock)
        self._prices = _Cached(baseten.list_instance_type_prices, ttl * 10, clock)

    def chains(self) -> list[Chain]:
        return self._chains.get()

    def instance_types(self) -> list[InstanceType]:
        return self._types.get()

    def instance_types_by_name(self) -> dict[str, InstanceType]:
        """For showing a chainlet's instance type by id: chainlets name it by display name. Empty when
        Baseten cannot list them now (the display name is shown as it is)."""
        try:
            return {t.name: t for t in self.instance_types()}
        except BasetenError as exc:
            log.info("instance types not listed (%s); showing them by name", exc.message)
            return {}

    def prices_per_minute(self) -> dict[str, float]:
        return {p.instance_type.id: p.price for p in self._prices.get()}

    def refresh_chains(self) -> None:
        self._chains.clear()
