"""Faults and rate limits the sandbox can be told to produce (all off by default)."""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any


@dataclass
class Faults:
    """What to break. Path prefixes match the request path (e.g. ``/public/v2/customer-refunds``).

    - ``latency_ms``: sleep before answering every API request.
    - ``error_rate`` (0..1) with ``error_seed``: answer that share of requests with
      ``error_status`` (500), drawn from ``random.Random(error_seed)`` so runs repeat.
    - ``status_for_path``: ``{path_prefix: status}`` answered in the error shape.
    - ``drop_connection_for_path``: path prefixes whose requests get the socket shut, no answer.
    - ``rate_limits``: token buckets per API key (``key_rate``/s, burst ``key_burst``) and per
      key + route (``route_rate``/s, burst ``route_burst``); an empty bucket answers 429 with
      ``Retry-After`` (whole seconds).
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    error_seed: int = 0
    error_status: int = 500
    status_for_path: dict[str, int] = field(default_factory=dict)
    drop_connection_for_path: list[str] = field(default_factory=list)
    rate_limits: bool = False
    key_rate: float = 5.0
    key_burst: int = 50
    route_rate: float = 1.0
    route_burst: int = 10

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Faults:
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown fault setting(s): {', '.join(unknown)}.")
        values = dict(values)
        drop = values.get("drop_connection_for_path")
        if isinstance(drop, str):
            values["drop_connection_for_path"] = [drop]
        if "status_for_path" in values:
            values["status_for_path"] = {
                prefix: int(status) for prefix, status in (values["status_for_path"] or {}).items()
            }
        for item in fields(cls):
            if item.name in values and item.type in _SCALARS:
                values[item.name] = _SCALARS[item.type](item.name, values[item.name])
        faults = cls(**values)
        if faults.key_rate <= 0 or faults.route_rate <= 0:
            raise ValueError("key_rate and route_rate must be above 0 (tokens per second).")
        if not 0 <= faults.error_rate <= 1:
            raise ValueError("error_rate must be between 0 and 1.")
        return faults

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def status_for(self, path: str) -> int | None:
        matches = [prefix for prefix in self.status_for_path if path.startswith(prefix)]
        return self.status_for_path[max(matches, key=len)] if matches else None

    def drops(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.drop_connection_for_path)


def _number(name: str, value: Any) -> float:
    # JSON bodies are parsed with Decimal for money; the buckets count time in floats.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{name} must be a number, not {value!r}.")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number of at least 0, not {value!r}.")
    return number


def _whole(name: str, value: Any) -> int:
    number = _number(name, value)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number, not {value!r}.")
    return int(number)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}.")
    return value


_SCALARS = {"float": _number, "int": _whole, "bool": _flag}


class TokenBucket:
    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.capacity = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> float:
        """Take a token; 0.0 if there was one, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class FaultState:
    """Current faults plus the mutable parts (error RNG, buckets), behind one lock."""

    def __init__(self, faults: Faults | None = None):
        self.lock = threading.Lock()
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.random = random.Random(faults.error_seed)
            self.buckets: dict[Any, TokenBucket] = {}

    def should_fail(self) -> bool:
        with self.lock:
            rate = self.faults.error_rate
            return rate > 0 and self.random.random() < rate

    def retry_after(self, api_key: str, route: str) -> int | None:
        """Seconds to wait if the request is over a limit, else None (token taken)."""
        faults = self.faults
        if not faults.rate_limits:
            return None
        with self.lock:
            key_bucket = self.buckets.setdefault(
                ("key", api_key), TokenBucket(faults.key_rate, faults.key_burst)
            )
            route_bucket = self.buckets.setdefault(
                ("route", api_key, route), TokenBucket(faults.route_rate, faults.route_burst)
            )
            wait = key_bucket.take()
            if wait:
                return max(1, math.ceil(wait))
            wait = route_bucket.take()
            if wait:
                key_bucket.tokens = min(key_bucket.capacity, key_bucket.tokens + 1)
                return max(1, math.ceil(wait))
            return None
