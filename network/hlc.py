"""Hybrid logical clock stamps: ``<13-digit unix ms>-<4-digit counter>``.

They order a node's changes for display and for "updated since" filters; they never decide
which version of a record wins (the version number does).
"""
from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone

HLC_RE = re.compile(r"^\d{13}-\d{4}$")


class Clock:
    def __init__(self, now_ms=lambda: time.time_ns() // 1_000_000):
        self._now_ms = now_ms
        self._last = (0, 0)
        self._lock = threading.Lock()

    def tick(self, seen: str | None = None) -> str:
        """A stamp greater than every stamp this clock issued and than ``seen``."""
        with self._lock:
            ms, counter = self._last
            if seen:
                ms, counter = max((ms, counter), parse(seen))
            now = self._now_ms()
            self._last = (now, 0) if now > ms else (ms, counter + 1)
            return format_hlc(*self._last)


def format_hlc(ms: int, counter: int = 0) -> str:
    return f"{ms:013d}-{counter:04d}"


def parse(stamp: str) -> tuple[int, int]:
    if not HLC_RE.match(stamp):
        raise ValueError(f"not an HLC stamp: {stamp!r}")
    ms, counter = stamp.split("-")
    return int(ms), int(counter)


def to_datetime(stamp: str) -> datetime:
    return datetime.fromtimestamp(parse(stamp)[0] / 1000, tz=timezone.utc)


def from_datetime(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_hlc(int(moment.timestamp() * 1000))
