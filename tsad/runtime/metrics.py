"""Prometheus metrics: the status snapshot, exchange requests and reconcile times at /metrics.

Off unless ``[daemon] metrics_listen = "HOST:PORT"`` is set. The endpoint is served by aiohttp
on the daemon's own event loop, so a scrape reads the engine's state between two events
(never half-way through one) and needs no locks. Gauges come from the same `StatusSnapshot`
as ``tsad status``; request counts come from `CountingTransport`, an httpx transport wrapped
around the REST client's connections (it sees every attempt, retries included).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Final

import httpx
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tsad.core.money import COUNT_SCALE, MONEY_SCALE
from tsad.errors import ConfigError
from tsad.runtime.control import StatusSnapshot


__all__ = [
    "CountingTransport",
    "Metrics",
    "MetricsServer",
    "RequestCounts",
    "parse_listen",
]

log = structlog.get_logger("tsad.runtime.metrics")

# Reconcile cycles are sub-millisecond to a few milliseconds; the tail matters.
_RECONCILE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class RequestCounts:
    """Exchange requests by (HTTP method, status); ``status`` is the code, or ``error``."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, method: str, status: str) -> None:
        """Count one request."""
        key = (method, status)
        self.counts[key] = self.counts.get(key, 0) + 1

    def with_status(self, status: str) -> int:
        """Return how many requests ended with ``status`` (e.g. ``"429"``), any method."""
        return sum(n for (_, s), n in self.counts.items() if s == status)


class CountingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that counts every request it carries by method and status.

    Args:
        counts: where to count.
        inner: the real transport (default: a fresh `httpx.AsyncHTTPTransport`).
    """

    def __init__(self, counts: RequestCounts,
                 inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._counts = counts
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except Exception:
            self._counts.add(request.method, "error")
            raise
        self._counts.add(request.method, str(response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _SnapshotCollector(Collector):
    """Turns one fresh snapshot per scrape into gauges and counters."""

    def __init__(self, provider: Callable[[], StatusSnapshot | None],
                 requests: RequestCounts) -> None:
        self._provider = provider
        self._requests = requests

    def collect(self) -> Iterator[Metric]:
        snap = self._provider()
        up = GaugeMetricFamily("tsad_up", "1 while the daemon runs and answers")
        up.add_metric([], 1.0)
        yield up
        ready = GaugeMetricFamily("tsad_ready", "1 once the startup picture is complete")
        ready.add_metric([], 1.0 if snap is not None and snap.ready else 0.0)
        yield ready
        requests = CounterMetricFamily("tsad_exchange_requests",
                                       "REST requests to the exchange (every attempt)",
                                       labels=["method", "status"])
        for (method, status), n in sorted(self._requests.counts.items()):
            requests.add_metric([method, status], float(n))
        yield requests
        if snap is None:
            return
        resting = GaugeMetricFamily("tsad_orders_resting",
                                    "our resting orders at the exchange",
                                    labels=["market", "side"])
        contracts = GaugeMetricFamily("tsad_orders_resting_contracts",
                                      "contracts left on our resting orders",
                                      labels=["market", "side"])
        position = GaugeMetricFamily("tsad_position_contracts",
                                     "net position, contracts (> 0 long YES, < 0 long NO)",
                                     labels=["market"])
        for m in snap.markets:
            for side in ("bid", "ask"):
                mine = [o for o in m.orders if o.book_side.value == side]
                resting.add_metric([m.ticker, side], float(len(mine)))
                contracts.add_metric([m.ticker, side],
                                     sum(o.count for o in mine) / COUNT_SCALE)
            position.add_metric([m.ticker], m.position / COUNT_SCALE)
        yield resting
        yield contracts
        yield position
        fills = CounterMetricFamily("tsad_fills", "fills of our orders since the daemon started")
        fills.add_metric([], float(snap.fills))
        yield fills
        pulled = GaugeMetricFamily("tsad_quotes_pulled",
                                   "1 per reason our quotes are pulled right now",
                                   labels=["reason"])
        for reason in sorted(snap.pull_reasons):
            pulled.add_metric([reason], 1.0)
        if not snap.trading_active:
            pulled.add_metric(["exchange_paused"], 1.0)
        yield pulled
        if snap.pnl is not None:
            money = GaugeMetricFamily(
                "tsad_pnl_dollars",
                "PnL of this week's event: fills' cash less fees, open contracts at the mid")
            money.add_metric([], snap.pnl / MONEY_SCALE)
            yield money


class Metrics:
    """The daemon's metric registry (one per daemon, never the process-global one).

    Args:
        provider: returns the current snapshot (None before the engine exists).
        requests: the exchange request counts.
    """

    def __init__(self, provider: Callable[[], StatusSnapshot | None],
                 requests: RequestCounts) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SnapshotCollector(provider, requests))
        self._reconcile = Histogram(
            "tsad_reconcile_seconds", "time to decide and dispatch one reconcile cycle",
            registry=self.registry, buckets=_RECONCILE_BUCKETS,
        )

    def observe_reconcile(self, seconds: float) -> None:
        """Record one reconcile cycle's duration."""
        self._reconcile.observe(seconds)

    def render(self) -> bytes:
        """Return the Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def parse_listen(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:9464`` for IPv6) into host and port.

    Raises:
        ConfigError: not HOST:PORT with a port in 1–65535.
    """
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"metrics_listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host, int(port)


class MetricsServer:
    """Serves ``GET /metrics`` on ``HOST:PORT`` from the event loop.

    Args:
        listen: ``HOST:PORT``.
        metrics: what to serve.
    """

    def __init__(self, listen: str, metrics: Metrics) -> None:
        self.host, self.port = parse_listen(listen)
        self._metrics = metrics
        self._runner: web.AppRunner | None = None

    async def start(self) -> bool:
        """Listen; return False (logged, trading unaffected) when the address is unusable."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            log.error("metrics.unavailable", host=self.host, port=self.port, error=str(exc))
            return False
        self._runner = runner
        log.info("metrics.listening", host=self.host, port=self.port)
        return True

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
