"""Fault injection for the emulator: failing, late and applied-but-failed REST answers, dropped
sockets, seq gaps, and a seeded chaos mode that draws all of these (plus pauses and outside
fills, which the emulator's chaos task performs) at random."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


__all__ = ["Chaos", "Faults"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Chaos:
    """Per-event probabilities of the chaos mode (0 = never).

    Attributes:
        fail: a request is answered 5xx (``fail_status``) without being applied.
        applied_fail: a write is applied but answered 503, as a lost answer looks.
        burst_429: a request starts a burst of ``burst_len`` answers 429.
        delay: a write is applied but answered only after ``delay_s`` seconds.
        drop: a request also closes every websocket connection.
        seq_gap: a sequenced websocket message skips a seq number.
        pause: per chaos tick (``tick_s``), trading pauses for ``pause_s`` seconds.
        outside_fill: per chaos tick, an outside trader takes one of the users' resting orders.
    """

    fail: float = 0.0
    fail_status: int = 503
    applied_fail: float = 0.0
    burst_429: float = 0.0
    burst_len: int = 3
    delay: float = 0.0
    delay_s: float = 0.5
    drop: float = 0.0
    seq_gap: float = 0.0
    pause: float = 0.0
    pause_s: float = 1.0
    outside_fill: float = 0.0
    tick_s: float = 1.0


class Faults:
    """Faults armed by tests; the server consumes them as requests and messages go by."""

    def __init__(self, drop: Callable[[], None]) -> None:
        """Create a disarmed set of faults.

        Args:
            drop: closes every websocket connection of the emulator.
        """
        self._drop = drop
        self._fail: list[int] = []
        self._fail_after: list[int] = []
        self._delays: list[float] = []
        self._skip = 0
        self.chaos: Chaos | None = None
        self.rng = random.Random(0)
        self.injected: dict[str, int] = {}

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` REST requests with ``status`` (429 uses the 429 body)."""
        self._fail.extend([status] * n)

    def fail_after_apply(self, n: int = 1, status: int = 503) -> None:
        """Apply the next ``n`` REST writes but answer each with ``status``."""
        self._fail_after.extend([status] * n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Apply the next ``n`` REST writes but answer each only after ``seconds``."""
        self._delays.extend([seconds] * n)

    def drop_connections(self) -> None:
        """Close every websocket connection now."""
        self._count("drop")
        self._drop()

    def skip_seq(self, n: int = 1) -> None:
        """Make the next ``n`` sequenced websocket messages skip one seq number each."""
        self._skip += n

    def start_chaos(self, chaos: Chaos, seed: int) -> None:
        """Draw faults at random from now on, repeatably for a ``seed``."""
        self.chaos = chaos
        self.rng = random.Random(f"chaos-{seed}")

    def stop_chaos(self) -> None:
        """Stop drawing random faults (armed ones still fire)."""
        self.chaos = None

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def _draw(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def take_failure(self) -> int | None:
        """Return the status to fail the current request with (before applying it), or None."""
        c = self.chaos
        if c is not None and not self._fail:
            if self._draw(c.burst_429):
                self._fail.extend([429] * c.burst_len)
            elif self._draw(c.fail):
                self._fail.append(c.fail_status)
            if self._draw(c.drop):
                self.drop_connections()
        if not self._fail:
            return None
        status = self._fail.pop(0)
        self._count(f"fail_{status}")
        return status

    def take_applied_failure(self) -> int | None:
        """Return the status to answer the current (applied) write with, or None."""
        if not self._fail_after and self.chaos is not None and self._draw(self.chaos.applied_fail):
            self._fail_after.append(503)
        if not self._fail_after:
            return None
        self._count("applied_fail")
        return self._fail_after.pop(0)

    def take_delay(self) -> float | None:
        """Return the delay for the current write, or None."""
        if not self._delays and self.chaos is not None and self._draw(self.chaos.delay):
            self._delays.append(self.chaos.delay_s)
        if not self._delays:
            return None
        self._count("delay")
        return self._delays.pop(0)

    def take_skip(self) -> bool:
        """Tell whether the current sequenced message must skip a seq number."""
        if self.chaos is not None and self._draw(self.chaos.seq_gap):
            self._skip += 1
        if self._skip:
            self._skip -= 1
            self._count("seq_gap")
            return True
        return False
