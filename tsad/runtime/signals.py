"""Early signals: SIGTERM, SIGINT and SIGHUP recorded from the first line of the entry point.

The entry point arms `EARLY` before importing anything heavy, so a stop that arrives while
the interpreter is still importing pandas, httpx or cryptography, or while the daemon is
starting, is never fatal: it is recorded here and acted on (cancel our orders, exit 0) as
soon as the daemon's event loop takes the signals over with `EarlySignals.hand_over`.
A SIGHUP before that point is deferred the same way (a reload after startup).

Standard library only: importing this module must cost nothing.
"""

from __future__ import annotations

import os
import signal


TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds here
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any


__all__ = ["EARLY", "STOP_SIGNALS", "TYPE_CHECKING", "EarlySignals"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
_ALL = (*STOP_SIGNALS, signal.SIGHUP)


class EarlySignals:
    """Records stop and reload signals until an event loop takes them over."""

    def __init__(self) -> None:
        self.stop: signal.Signals | None = None
        self.hup = False
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def armed(self) -> bool:
        """Whether the recording handlers are installed."""
        return bool(self._previous)

    def arm(self) -> None:
        """Install the recording handlers (idempotent; the main thread only)."""
        if self._previous:
            return
        for sig in _ALL:
            self._previous[sig] = signal.signal(sig, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if sig is signal.SIGHUP:
            self.hup = True
        elif self.stop is None:
            self.stop = sig

    def rearm(self) -> None:
        """Record again after an event loop gave the signals back (to the default action)."""
        for sig in _ALL:
            signal.signal(sig, self._record)

    def disarm(self, *, redeliver: bool = True) -> None:
        """Restore the handlers found by `arm`; with ``redeliver``, act on a recorded stop now.

        Commands other than ``run`` call this once parsed: a stop recorded meanwhile then
        takes its ordinary effect (termination, or KeyboardInterrupt for SIGINT).
        """
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if redeliver and self.stop is not None:
            sig, self.stop = self.stop, None
            os.kill(os.getpid(), sig)

    def hand_over(
        self,
        add_handler: Callable[..., None],
        on_stop: Callable[[signal.Signals], None],
        on_hup: Callable[[], None],
    ) -> None:
        """Give the signals to an event loop and replay what was recorded meanwhile.

        Args:
            add_handler: the loop's ``add_signal_handler``.
            on_stop: called with the stop signal (now, if one was recorded).
            on_hup: called on SIGHUP (now, if one was recorded).
        """
        for sig in STOP_SIGNALS:
            add_handler(sig, on_stop, sig)
        add_handler(signal.SIGHUP, on_hup)
        if self.hup:
            self.hup = False
            on_hup()
        if self.stop is not None:
            on_stop(self.stop)


EARLY = EarlySignals()
"""The process's one recorder, armed by the entry point."""
