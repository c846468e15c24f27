"""The only place that reads the wall clock and the monotonic clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime


__all__ = ["SystemClock"]


class SystemClock:
    """The real clock (implements `tsad.core.clock.Clock`)."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()

    def time_ms(self) -> int:
        """Return Unix time in milliseconds (for request signatures)."""
        return time.time_ns() // 1_000_000
