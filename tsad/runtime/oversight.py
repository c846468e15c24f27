"""The operator's view of a running daemon: the control socket, ``/metrics`` and the alerts.

One object the daemon creates before its REST client (whose requests it counts, through
`transport`), starts once the engine exists, tells about reloads, failures and unconfirmed
stops, and closes on the way out. Nothing here can stop trading: a socket or port that
cannot be opened is logged and skipped, and every alert is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

import structlog

from tsad.runtime.alerts import Alerter, AlertMonitor, AlertSettings
from tsad.runtime.control import ControlServer, EngineView, StatusSnapshot, snapshot, socket_path
from tsad.runtime.metrics import CountingTransport, Metrics, MetricsServer, RequestCounts
from tsad.runtime.settings import AlertsConfig, Config


__all__ = ["Oversight", "alert_settings"]

log = structlog.get_logger("tsad.runtime.oversight")

_CHECK_SECONDS: Final = 1.0


def alert_settings(alerts: AlertsConfig) -> AlertSettings:
    """Return the alerter's settings for ``[alerts]``."""
    return AlertSettings(webhook_url=alerts.webhook_url, pulled_minutes=alerts.pulled_minutes,
                         fills=alerts.fills, format=alerts.format)


class Oversight:
    """Status socket, metrics endpoint and alert monitor of one daemon.

    Args:
        config: the configuration at startup.
        monotonic: the clock (seconds) for the alert monitor.
    """

    def __init__(self, config: Config, *, monotonic: Callable[[], float]) -> None:
        self.config = config
        self.requests = RequestCounts()
        self.transport = CountingTransport(self.requests)
        self.alerter = Alerter(alert_settings(config.alerts))
        self.metrics = Metrics(self._snapshot, self.requests)
        self._monotonic = monotonic
        self._engine: EngineView | None = None
        self._control: ControlServer | None = None
        self._server: MetricsServer | None = None
        self._watch: asyncio.Task[None] | None = None

    def snapshot(self, *, with_pnl: bool = True) -> StatusSnapshot | None:
        """The daemon's state now (None before the engine exists)."""
        return None if self._engine is None else snapshot(self._engine, with_pnl=with_pnl)

    def _snapshot(self) -> StatusSnapshot | None:
        return self.snapshot()

    def status_line(self) -> str:
        """The ``STATUS=`` line for systemd."""
        snap = self.snapshot(with_pnl=False)
        return "starting" if snap is None else snap.status_line()

    async def start(self, engine: EngineView) -> None:
        """Open the control socket and the metrics endpoint, and start watching for alerts."""
        self._engine = engine
        self._control = ControlServer(socket_path(self.config.journal.path),
                                      lambda: snapshot(engine))
        await self._control.start()
        if self.config.daemon.metrics_listen:
            server = MetricsServer(self.config.daemon.metrics_listen, self.metrics)
            if await server.start():
                self._server = server
        monitor = AlertMonitor(self.alerter, lambda: self.snapshot(with_pnl=False),
                               self.requests, self._monotonic)
        self._watch = asyncio.ensure_future(self._run_monitor(monitor))
        self._watch.set_name("alerts")

    async def _run_monitor(self, monitor: AlertMonitor) -> None:
        while True:
            await asyncio.sleep(_CHECK_SECONDS)
            try:
                monitor.check()
            except Exception as exc:  # the monitor must never take trading down
                log.warning("alert.monitor_failed", error=type(exc).__name__, detail=str(exc))

    def observe_reconcile(self, seconds: float) -> None:
        """Record one reconcile cycle's duration (``tsad_reconcile_seconds``)."""
        self.metrics.observe_reconcile(seconds)

    def reload(self, config: Config) -> None:
        """Take a reloaded config's ``[alerts]`` (the listen addresses need a restart)."""
        self.config = config
        self.alerter.configure(alert_settings(config.alerts))

    async def failed(self, reason: str) -> None:
        """Alert that the daemon failed, and wait (bounded) until the POST is out."""
        snap = self.snapshot(with_pnl=False)
        where = f" on {snap.event_ticker}" if snap is not None and snap.event_ticker else ""
        await self.alerter.send_now("daemon_failed", f"daemon failed{where}: {reason}")

    async def stopped(self, *, confirmed: bool, resting: int | None = None) -> None:
        """Alert when a stop could not confirm that nothing of ours rests at the exchange."""
        if confirmed:
            return
        left = "" if resting is None else f" ({resting} may still rest)"
        await self.alerter.send_now(
            "orders_unconfirmed",
            f"daemon stopped with orders unconfirmed{left}: run `tsad cancel-all` and check "
            "the exchange")

    async def close(self) -> None:
        """Stop watching, close the socket and the endpoint, let pending alerts finish."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._control is not None:
            await self._control.close()
        if self._server is not None:
            await self._server.close()
        await self.alerter.drain()
