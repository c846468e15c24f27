"""Fault injection for the emulator: failing and delayed REST answers, dropped sockets, seq gaps."""

from __future__ import annotations

from collections.abc import Callable


__all__ = ["Faults"]


class Faults:
    """Faults armed by tests; the server consumes them as requests and messages go by."""

    def __init__(self, drop: Callable[[], None]) -> None:
        """Create a disarmed set of faults.

        Args:
            drop: closes every websocket connection of the emulator.
        """
        self._drop = drop
        self._fail: list[int] = []
        self._delays: list[float] = []
        self._skip = 0

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` REST requests with ``status`` (429 uses the 429 body)."""
        self._fail.extend([status] * n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Apply the next ``n`` REST writes but answer each only after ``seconds``."""
        self._delays.extend([seconds] * n)

    def drop_connections(self) -> None:
        """Close every websocket connection now."""
        self._drop()

    def skip_seq(self, n: int = 1) -> None:
        """Make the next ``n`` sequenced websocket messages skip one seq number each."""
        self._skip += n

    def take_failure(self) -> int | None:
        """Return the status to fail the current request with, or None."""
        return self._fail.pop(0) if self._fail else None

    def take_delay(self) -> float | None:
        """Return the delay for the current write, or None."""
        return self._delays.pop(0) if self._delays else None

    def take_skip(self) -> bool:
        """Tell whether the current sequenced message must skip a seq number."""
        if self._skip:
            self._skip -= 1
            return True
        return False
