"""The only place that reads the wall clock and the monotonic clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """A source of time; the shell injects one, the core receives `now` as a value."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never goes backwards."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()

    def time_ms(self) -> int:
        """Return Unix time in milliseconds (for request signatures)."""
        return time.time_ns() // 1_000_000
