"""The daemon's lifecycle: wiring, tasks, signals, sd_notify, reload, and a safe shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import structlog

from tsad.clock import SystemClock
from tsad.core.exchange import Exchange
from tsad.errors import ConfigError, ExchangeError, NotFound, TsadError
from tsad.kalshi.feed import Feed
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer, load_private_key
from tsad.runtime import logs
from tsad.runtime.config import Config, load_config
from tsad.runtime.engine import Engine, ReloadRequested, StopRequested, Tick
from tsad.runtime.journal import Journal
from tsad.runtime.notify import Notifier
from tsad.runtime.shadow import ShadowExchange


__all__ = ["EX_CONFIG", "run"]

log = structlog.get_logger("tsad.runtime.daemon")

EX_CONFIG = 78
_TICK_SECONDS = 0.25
_QUEUE_BOUND = 10_000
# Retry delays (seconds) while the event to trade is not listed yet.
_EVENT_RETRY_MIN = 5.0
_EVENT_RETRY_MAX = 300.0


@dataclass(slots=True)
class _Endpoints:
    rest_url: str
    ws_url: str
    signer: Signer | None


async def _endpoints(cfg: Config, stack: contextlib.AsyncExitStack) -> _Endpoints:
    """Resolve where to connect and with which key; start the emulator in paper mode."""
    ex = cfg.exchange
    if ex.environment == "paper":
        from tsad.runtime import paper
        from tsad.sim import Emulator

        clock = SystemClock()
        key = paper.new_key(cfg.paper.seed)
        sim = Emulator(seed=cfg.paper.seed, outside_traders=cfg.paper.outside_traders,
                       fair_drift=paper.FAIR_DRIFT, trader_rate=paper.TRADER_RATE)
        await stack.enter_async_context(sim)
        sim.register_key(key.key_id, key.public_pem)
        center = cfg.paper.prediction or sim.fair_center
        assert cfg.model.prediction_path is not None and cfg.model.history_path is not None
        paper.write_paper_inputs(
            prediction_path=cfg.model.prediction_path,
            history_path=cfg.model.history_path,
            event_ticker=sim.event_ticker, center=float(center), now=clock.now(),
            seed=cfg.paper.seed,
        )
        log.info("paper.emulator_started", rest_url=sim.rest_url, ws_url=sim.ws_url,
                 event_ticker=sim.event_ticker)
        return _Endpoints(ex.rest_url or sim.rest_url, ex.ws_url or sim.ws_url, key.signer)
    key_obj = load_private_key(ex.private_key_path or "",
                               allow_insecure_permissions=ex.allow_insecure_key)
    assert ex.rest_url is not None and ex.ws_url is not None
    return _Endpoints(ex.rest_url, ex.ws_url, Signer(ex.key_id or "", key_obj))


def _load(path: Path) -> Config:
    """Load and validate the config; paper mode gets default forecaster file paths."""
    from tsad.runtime.paper import with_paper_paths

    return with_paper_paths(load_config(path))


async def run(config_path: Path, *, duration: float | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (or ``duration`` seconds), then stop safely.

    Returns:
        The process exit code: 0 after a clean stop, 78 for an invalid config, 1 otherwise.
    """
    try:
        cfg = _load(config_path)
    except ConfigError as exc:
        logs.configure_logging("info")
        log.error("config.invalid", path=str(config_path), reason=str(exc))
        return EX_CONFIG
    logs.configure_logging(cfg.daemon.log_level)
    notifier = Notifier.from_env()
    try:
        return await _run(cfg, config_path, notifier, duration)
    except ConfigError as exc:
        log.error("config.invalid", reason=str(exc))
        return EX_CONFIG
    except ExchangeError as exc:
        log.error("daemon.exchange_error", error=type(exc).__name__, detail=str(exc))
        return 1
    except TsadError as exc:
        log.error("daemon.failed", error=type(exc).__name__, detail=str(exc))
        return 1


async def _run(cfg: Config, config_path: Path, notifier: Notifier,
               duration: float | None) -> int:
    clock = SystemClock()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_BOUND)
    async with contextlib.AsyncExitStack() as stack:
        journal = Journal.open(Path(cfg.journal.path))
        stack.callback(journal.close)
        ep = await _endpoints(cfg, stack)
        client = KalshiClient(
            rest_url=ep.rest_url, signer=ep.signer, tier=cfg.exchange.tier,
            timeout=cfg.exchange.request_timeout, clock=clock,
        )
        stack.push_async_callback(client.aclose)
        exchange: Exchange = ShadowExchange(client) if cfg.exchange.dry_run else client
        feed_box: list[Feed] = []

        def on_event_change(tickers: list[str]) -> None:
            for f in feed_box:
                f.set_tickers(tickers)

        def on_reload(new: Config, ok: bool) -> None:
            if ok:
                logs.set_level(new.daemon.log_level)
            notifier.ready()
            notifier.status(engine.status_text())

        engine = Engine(
            config=cfg, config_path=config_path, exchange=exchange, journal=journal,
            clock=clock, queue=queue, load_config=_load,
            on_event_change=on_event_change, on_reload=on_reload,
        )
        early_stop = asyncio.Event()

        def request(ev: object) -> None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(ev)

        def on_hup() -> None:
            notifier.reloading()
            request(ReloadRequested())

        def on_stop(sig: signal.Signals) -> None:
            notifier.stopping()
            early_stop.set()
            request(StopRequested(sig.name))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        stack.callback(_remove_handlers, loop)
        # A stop during startup (say, the exchange unreachable and retrying) ends it at once:
        # nothing has been placed yet.
        starting = asyncio.ensure_future(_start(engine, notifier))
        stopping = asyncio.ensure_future(early_stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            log.info("daemon.stopped", during="startup")
            return 0
        starting.result()
        feed = Feed(
            ep.ws_url, ep.signer, list(engine.markets), queue, clock,
            stale_after=cfg.daemon.stale_market_seconds,
        )
        feed_box.append(feed)

        async def ticker() -> None:
            while True:
                await asyncio.sleep(_TICK_SECONDS)
                await queue.put(Tick())

        async def resyncer() -> None:
            while True:
                await asyncio.sleep(cfg.daemon.resync_interval)
                engine.request_resync()

        async def watchdog() -> None:
            interval = notifier.watchdog_interval()
            if interval is None:
                return
            while True:
                await asyncio.sleep(interval)
                # Ping only while the engine is actually making progress (it gets a Tick
                # every second, so a healthy engine always has recent progress).
                if clock.monotonic() - engine.stats.last_progress < 2 * interval:
                    notifier.watchdog()
                else:
                    log.error("watchdog.engine_stalled",
                              idle_s=round(clock.monotonic() - engine.stats.last_progress, 1))

        async def announce_ready() -> None:
            await engine.ready.wait()
            notifier.ready()
            notifier.status(engine.status_text())
            log.info("daemon.ready", event_ticker=engine.event.event_ticker
                     if engine.event else None, markets=len(engine.markets))

        async def stop_after() -> None:
            if duration is None:
                return
            await asyncio.sleep(duration)
            await queue.put(StopRequested("duration"))

        side_tasks: list[asyncio.Task[None]] = []
        engine_task = asyncio.create_task(engine.run(), name="engine")

        def spawn(coro: Awaitable[None], name: str) -> None:
            side_tasks.append(asyncio.ensure_future(coro))
            side_tasks[-1].set_name(name)

        spawn(feed.run(), "feed")
        spawn(ticker(), "ticker")
        spawn(resyncer(), "resync")
        spawn(watchdog(), "watchdog")
        spawn(announce_ready(), "ready")
        spawn(stop_after(), "duration")
        try:
            while not engine_task.done():
                done, _ = await asyncio.wait(
                    [engine_task, *side_tasks], return_when=asyncio.FIRST_COMPLETED
                )
                for t in done:
                    if t is not engine_task and not t.cancelled() and t.exception():
                        exc = t.exception()
                        log.error("daemon.task_failed", task=t.get_name(), error=repr(exc))
                        # Stop safely: cancel our orders, then exit non-zero.
                        await queue.put(StopRequested(f"task {t.get_name()} failed"))
                        await asyncio.wait_for(engine_task, timeout=60)
                        return 1
                    side_tasks = [h for h in side_tasks if h is not t]
            engine_task.result()
        finally:
            for h in side_tasks:
                h.cancel()
            for h in side_tasks:
                with contextlib.suppress(BaseException):
                    await h
            if not engine_task.done():
                engine_task.cancel()
                with contextlib.suppress(BaseException):
                    await engine_task
        log.info(
            "daemon.stopped",
            cycles=engine.stats.cycles,
            writes=dict(engine.stats.writes),
            errors=dict(engine.stats.errors),
            fills=engine.stats.fills,
            events=engine.stats.events,
            resting=len(engine.mirror.live()),
        )
    return 0


def _remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)


async def _start(engine: Engine, notifier: Notifier) -> None:
    """Build the engine's startup picture, waiting (alive, READY) for an unlisted event.

    Kalshi lists next week's event hours after the current one closes; a daemon started in
    that gap waits for it instead of crash-looping under systemd.
    """
    delay = _EVENT_RETRY_MIN
    while True:
        try:
            await engine.start()
            return
        except NotFound as exc:
            log.warning("event.not_listed", detail=str(exc), retry_in_s=delay)
            notifier.ready(status=f"waiting for the event to be listed: {exc}")
            await asyncio.sleep(delay)
            delay = min(_EVENT_RETRY_MAX, delay * 2)
