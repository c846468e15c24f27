"""The sd_notify protocol: tell systemd we are ready, reloading, stopping, alive, and how we are.

Dependency-free (systemd's ``notify-selfcontained-example.py`` and gunicorn's ``systemd.py``
are the models). Without ``$NOTIFY_SOCKET`` every call is a no-op, so development and tests
run unchanged. Sending is one non-blocking datagram, safe to call from the event loop; a
failure is logged at DEBUG and never raised.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Final

import structlog

from tsad.clock import SystemClock
from tsad.core.clock import Clock


__all__ = ["Notifier"]

_log: Final = structlog.stdlib.get_logger(__name__)


class Notifier:
    """Sends ``KEY=value`` datagrams to systemd's notify socket (or nothing, when unset)."""

    __slots__ = ("_address", "_clock", "_watchdog_usec")

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Build a notifier for a socket address (``@name`` is the abstract namespace).

        Args:
            address: the ``$NOTIFY_SOCKET`` value; None or empty disables notification.
            watchdog_usec: the watchdog timeout systemd set for this process, if any.
            clock: the source of ``MONOTONIC_USEC`` (default: the system clock).
        """
        self._address = address or None
        self._watchdog_usec = watchdog_usec
        self._clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"Notifier(address={self._address!r}, watchdog_usec={self._watchdog_usec!r})"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, clock: Clock | None = None
    ) -> Notifier:
        """Build a notifier from ``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``.

        The watchdog is considered off when ``WATCHDOG_USEC`` is missing, not a positive
        integer, or ``WATCHDOG_PID`` names another process (sd_watchdog_enabled(3)).

        Args:
            environ: the environment to read (default: ``os.environ``).
            clock: the source of ``MONOTONIC_USEC``.
        """
        env = os.environ if environ is None else environ
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC")
        if raw:
            try:
                usec = int(raw)
            except ValueError:
                _log.debug("notify.watchdog_invalid", watchdog_usec=raw)
            if usec is not None and usec <= 0:
                usec = None
            pid = env.get("WATCHDOG_PID")
            if usec is not None and pid and pid.strip() != str(os.getpid()):
                usec = None
        return cls(env.get("NOTIFY_SOCKET"), watchdog_usec=usec, clock=clock)

    @property
    def enabled(self) -> bool:
        """Whether there is a notify socket to talk to."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Return how often to send `watchdog()`, in seconds (half the timeout), or None.

        None means systemd did not ask this process for watchdog pings.
        """
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> bool:
        """Send ``READY=1`` (after startup, and at the end of every reload)."""
        return self.send(_with_status("READY=1", status))

    def reloading(self) -> bool:
        """Send ``RELOADING=1`` with ``MONOTONIC_USEC`` (required by ``Type=notify-reload``)."""
        usec = int(self._clock.monotonic() * 1_000_000)
        return self.send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        """Send ``STOPPING=1`` at the start of a graceful shutdown."""
        return self.send(_with_status("STOPPING=1", status))

    def watchdog(self) -> bool:
        """Send ``WATCHDOG=1``: the engine is alive."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Send ``STATUS=<text>``, shown by ``systemctl status`` (one line)."""
        return self.send(_with_status(None, text))

    def extend_timeout(self, seconds: float) -> bool:
        """Send ``EXTEND_TIMEOUT_USEC`` so a slow startup or stop is not killed."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def send(self, message: str) -> bool:
        """Send one raw notification.

        Returns:
            True if a datagram was sent; False when disabled or on failure (logged, not raised).
        """
        if self._address is None:
            return False
        address = self._address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.connect(address)
                sock.sendall(message.encode())
        except OSError as exc:
            _log.debug("notify.failed", error=str(exc), message=message.split("\n", 1)[0])
            return False
        return True


def _with_status(head: str | None, status: str | None) -> str:
    lines = [] if head is None else [head]
    if status is not None:
        lines.append("STATUS=" + " ".join(status.splitlines()))
    return "\n".join(lines)
