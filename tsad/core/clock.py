"""The time source protocol: the shell injects a clock, the core receives `now` as a value."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


__all__ = ["Clock"]


class Clock(Protocol):
    """A source of time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never goes backwards."""
        ...
