"""The daemon's lifecycle: wiring, tasks, signals, sd_notify, reload, and a fail-safe exit.

Every way out leaves nothing of ours resting, or says so and exits non-zero: a stop
(SIGTERM/SIGINT at any moment, startup included) and every failure (an exception anywhere
in the engine or its tasks, a journal that cannot be written) end with `sweep.cancel_ours`
over the whole series, bounded by ``[daemon] stop_timeout`` (below systemd's
``TimeoutStopSec``). Exit codes: 0 after a confirmed stop, 78 for an invalid config, 1 for
a failure or a stop whose cancels could not be confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import os
import signal
import weakref
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from os import EX_CONFIG  # sysexits: 78, the configuration is bad
from pathlib import Path
from typing import Any

import structlog

from tsad.clock import SystemClock
from tsad.core.exchange import Exchange
from tsad.errors import ConfigError, FatalError, NotFound, TsadError
from tsad.kalshi.feed import Feed
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer, load_private_key
from tsad.runtime import logs, sweep
from tsad.runtime.config import Config, config_diff, restart_required
from tsad.runtime.engine import Engine, ReloadRequested, StopRequested, Tick
from tsad.runtime.journal import Journal
from tsad.runtime.notify import Notifier
from tsad.runtime.oversight import Oversight
from tsad.runtime.preflight import load_checked as load
from tsad.runtime.shadow import ShadowExchange
from tsad.runtime.signals import STOP_SIGNALS, EarlySignals


__all__ = ["EX_CONFIG", "JournalLock", "run"]

log = structlog.get_logger("tsad.runtime.daemon")

_TICK_SECONDS = 0.25
_STATUS_SECONDS = 0.5
_QUEUE_BOUND = 10_000
# Retry delays (seconds) while the event to trade is not listed yet.
_EVENT_RETRY_MIN = 5.0
_EVENT_RETRY_MAX = 300.0
# Of a stop's time budget, the share kept for the daemon's own final sweep (at least
# _MIN_SWEEP seconds), should the engine's own cancels overrun.
_SWEEP_SHARE = 0.35
_MIN_SWEEP = 3.0
# How long a failure waits for the engine's in-flight requests to end before sweeping.
_DRAIN_SECONDS = 3.0

# Set in the engine task's context: tasks created under it are the engine's (see _TaskScope).
_IN_ENGINE: contextvars.ContextVar[bool] = contextvars.ContextVar("tsad_in_engine",
                                                                  default=False)


class JournalLock:
    """An exclusive ``flock`` on ``<journal>.lock``: one daemon per journal, held until exit."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, journal: Path) -> JournalLock:
        """Take the lock, or refuse when another process holds it.

        Raises:
            FatalError: another daemon holds it (the message names its pid).
        """
        path = journal.with_name(journal.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FatalError(
                f"journal {journal} is in use by another tsad daemon (pid {holder}): one "
                "daemon per journal; stop that one first (nothing was touched)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        """Drop the lock (closing the file releases it)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


class _TaskScope:
    """Remembers the tasks the engine spawns (its writes), so a failure can end them first."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._loop = loop
        self._previous = loop.get_task_factory()
        loop.set_task_factory(self._create)

    def _create(
        self, loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any], **kw: Any,
    ) -> asyncio.Future[Any]:
        task: asyncio.Future[Any]
        if self._previous is None:
            task = asyncio.Task(coro, loop=loop, **kw)
        else:
            task = self._previous(loop, coro, **kw)
        if _IN_ENGINE.get() and isinstance(task, asyncio.Task):
            self.tasks.add(task)
        return task

    def close(self) -> None:
        self._loop.set_task_factory(self._previous)

    async def end(self, grace: float) -> None:
        """Cancel the engine's tasks and wait up to ``grace`` seconds for them to finish."""
        pending = [t for t in self.tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace)


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

        venue = await paper.start(cfg, stack, SystemClock())
        return _Endpoints(ex.rest_url or venue.sim.rest_url, ex.ws_url or venue.sim.ws_url,
                          venue.signer)
    key_obj = load_private_key(ex.private_key_path or "",
                               allow_insecure_permissions=ex.allow_insecure_key)
    assert ex.rest_url is not None and ex.ws_url is not None
    return _Endpoints(ex.rest_url, ex.ws_url, Signer(ex.key_id or "", key_obj))


async def run(config_path: Path, *, duration: float | None = None,
              early: EarlySignals | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (or ``duration`` seconds), then stop safely.

    Args:
        config_path: the config file.
        duration: stop (as on SIGTERM) after this many seconds.
        early: the signals recorded since the process started (acted on at once).

    Returns:
        The exit code: 0 after a confirmed stop, 78 for an invalid config, 1 otherwise.
    """
    try:
        cfg = load(config_path)
    except ConfigError as exc:
        logs.configure_logging("info")
        log.error("config.invalid", path=str(config_path), reason=str(exc))
        return EX_CONFIG
    logs.configure_logging(cfg.daemon.log_level)
    logs.register_secret(cfg.exchange.key_id)
    daemon = _Daemon(cfg, config_path, Notifier.from_env(), duration, early or EarlySignals())
    return await daemon.main()


class _Daemon:
    """One run of the daemon: startup, operation, and the one way out."""

    def __init__(self, cfg: Config, config_path: Path, notifier: Notifier,
                 duration: float | None, early: EarlySignals) -> None:
        self.cfg = cfg
        # What the sweep covers is fixed at startup: a reload cannot change it.
        self.prefix = cfg.exchange.client_order_prefix
        self.series = cfg.market.series
        self.config_path = config_path
        self.notifier = notifier
        self.duration = duration
        self.early = early
        self.clock = SystemClock()
        # The status socket, /metrics and alerts; it counts the REST client's requests.
        self.oversight = Oversight(cfg, monotonic=self.clock.monotonic)
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_BOUND)
        self.exchange: Exchange | None = None
        self.engine: Engine | None = None
        self.engine_running = False
        self.stop_reason: str | None = None
        self.stop_at: float | None = None
        self.stop_requested = asyncio.Event()
        self.reload_pending = False
        self.startup_status = "starting"

    # --- signals -------------------------------------------------------------------------

    def _request(self, ev: object) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(ev)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._stop(sig.name)

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_at = asyncio.get_running_loop().time() + self.cfg.daemon.stop_timeout
            self.notifier.stopping(status=f"stopping ({reason})")
            log.info("daemon.stop_requested", reason=reason,
                     during="run" if self.engine_running else "startup")
        self.stop_requested.set()
        if self.engine_running:
            self._request(StopRequested(reason))

    def _on_hup(self) -> None:
        if not self.engine_running:
            # Startup reads the file as it is now; re-read it once the engine runs.
            self.reload_pending = True
            log.info("config.reload_deferred", reason="starting")
            return
        self.notifier.reloading()
        self._request(ReloadRequested())

    def _reload_config(self, path: Path) -> Config:
        """The engine's loader on SIGHUP: the start checks, and no key that needs a restart."""
        new = load(path)
        keys = restart_required(config_diff(self.cfg, new))
        if keys:
            log.error("config.reload_refused", keys=keys,
                      reason="these keys need a restart; keeping the running config")
            raise ConfigError(f"{path}: a reload cannot change {', '.join(keys)} (restart)")
        return new

    def _on_reload(self, new: Config, ok: bool) -> None:
        if ok:
            self.cfg = new
            logs.set_level(new.daemon.log_level)
            self.oversight.reload(new)
        self.notifier.ready()

    # --- the whole run -------------------------------------------------------------------

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.early.hand_over(loop.add_signal_handler, self._on_signal, self._on_hup)
        scope = _TaskScope(loop)
        pulse = [asyncio.create_task(self._watchdog(), name="watchdog"),
                 asyncio.create_task(self._status(), name="status")]
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    return await self._run(stack, scope)
                except Exception as exc:
                    return await self._fail(exc, scope)
        finally:
            for t in pulse:
                t.cancel()
            await asyncio.gather(*pulse, return_exceptions=True)
            scope.close()
            for sig in (*STOP_SIGNALS, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self.early.rearm()

    async def _run(self, stack: contextlib.AsyncExitStack, scope: _TaskScope) -> int:
        cfg = self.cfg
        lock = JournalLock.acquire(Path(cfg.journal.path))
        stack.callback(lock.release)
        ep = await _endpoints(cfg, stack)
        client = KalshiClient(
            rest_url=ep.rest_url, signer=ep.signer, tier=cfg.exchange.tier,
            timeout=cfg.exchange.request_timeout, clock=self.clock,
            transport=self.oversight.transport,
            order_group_contracts_limit=cfg.risk.order_group_contracts_limit,
        )
        stack.push_async_callback(client.aclose)
        self.exchange = ShadowExchange(client) if cfg.exchange.dry_run else client
        if self.stop_reason is not None:
            return await self._finish(during="startup")
        journal = Journal.open(Path(cfg.journal.path))
        stack.callback(journal.close)
        feeds: list[Feed] = []

        def on_event_change(tickers: list[str]) -> None:
            for f in feeds:
                f.set_tickers(tickers)

        engine = Engine(
            config=cfg, config_path=self.config_path, exchange=self.exchange, journal=journal,
            clock=self.clock, queue=self.queue, load_config=self._reload_config,
            on_event_change=on_event_change, on_reload=self._on_reload,
            order_group=client, on_reconcile=self.oversight.observe_reconcile,
        )
        self.engine = engine
        await self.oversight.start(engine)
        stack.push_async_callback(self.oversight.close)
        if not await self._start(engine) or self.stop_reason is not None:
            return await self._finish(during="startup")
        feed = Feed(ep.ws_url, ep.signer, list(engine.markets), self.queue, self.clock,
                    stale_after=cfg.daemon.stale_market_seconds)
        feeds.append(feed)
        started = self.clock.now()
        await self._operate(engine, feed, scope)
        rc = await self._finish(during="run")
        if cfg.exchange.environment == "paper":  # the paper run's fills, positions and PnL
            from tsad.runtime.paper import stop_summary

            print(stop_summary(journal, since=started), flush=True)
        return rc

    async def _start(self, engine: Engine) -> bool:
        """Start the engine unless a stop comes first; False when it did."""
        starting = asyncio.ensure_future(self._start_engine(engine))
        stopping = asyncio.ensure_future(self.stop_requested.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
        if starting.cancelled():
            return False
        starting.result()
        return True

    async def _start_engine(self, engine: Engine) -> None:
        """Build the engine's startup picture, waiting (alive, READY) for an unlisted event.

        Kalshi lists next week's event hours after the current one closes; a daemon started
        in that gap waits for it instead of crash-looping under systemd.
        """
        delay = _EVENT_RETRY_MIN
        while True:
            try:
                await engine.start()
                return
            except NotFound as exc:
                log.warning("event.not_listed", detail=str(exc), retry_in_s=delay)
                self.startup_status = f"waiting for the event to be listed: {exc}"
                self.notifier.ready(status=self.startup_status)
                await asyncio.sleep(delay)
                delay = min(_EVENT_RETRY_MAX, delay * 2)

    async def _operate(self, engine: Engine, feed: Feed, scope: _TaskScope) -> None:
        """Run the engine and its side tasks until the engine stops (or overruns its stop).

        Raises:
            Exception: whatever the engine raised; FatalError when a side task failed.
        """
        loop = asyncio.get_running_loop()
        side = [
            asyncio.create_task(feed.run(), name="feed"),
            asyncio.create_task(self._ticker(), name="ticker"),
            asyncio.create_task(self._resyncer(engine), name="resync"),
            asyncio.create_task(self._announce_ready(engine), name="ready"),
            asyncio.create_task(self._stop_after(), name="duration"),
        ]
        context = contextvars.copy_context()
        context.run(_IN_ENGINE.set, True)
        engine_task = loop.create_task(engine.run(), name="engine", context=context)
        self.engine_running = True
        if self.reload_pending:
            self.reload_pending = False
            self._on_hup()
        if self.stop_reason is not None:
            self._request(StopRequested(self.stop_reason))
        stop_wait = asyncio.ensure_future(self.stop_requested.wait())
        budget = self.cfg.daemon.stop_timeout
        reserve = max(_MIN_SWEEP, budget * _SWEEP_SHARE)
        try:
            while not engine_task.done():
                timeout = (None if self.stop_at is None
                           else max(0.0, self.stop_at - reserve - loop.time()))
                waiting: list[asyncio.Future[Any]] = [engine_task, *side]
                if not stop_wait.done():
                    waiting.append(stop_wait)
                done, _ = await asyncio.wait(waiting, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    log.error("daemon.stop_overdue", waited_s=round(budget - reserve, 1),
                              reason="the engine's stop did not finish in time")
                    break
                for t in [t for t in side if t in done]:
                    side.remove(t)
                    if not t.cancelled() and t.exception() is not None:
                        raise FatalError(f"task {t.get_name()} failed: {t.exception()!r}")
            if engine_task.done():
                engine_task.result()
        finally:
            self.engine_running = False
            stop_wait.cancel()
            for t in [*side, engine_task]:
                t.cancel()
            await asyncio.gather(*side, engine_task, return_exceptions=True)
            await scope.end(_DRAIN_SECONDS)
        log.info("daemon.engine_stopped", cycles=engine.stats.cycles,
                 writes=dict(engine.stats.writes), errors=dict(engine.stats.errors),
                 fills=engine.stats.fills, events=engine.stats.events,
                 stop_confirmed=getattr(engine, "stop_confirmed", None))

    # --- the way out ---------------------------------------------------------------------

    async def _sweep(self) -> sweep.SweepResult:
        """Cancel our resting orders on every open event of the series, within the budget."""
        assert self.exchange is not None
        loop = asyncio.get_running_loop()
        if self.stop_at is None:
            self.stop_at = loop.time() + self.cfg.daemon.stop_timeout
        deadline = max(_MIN_SWEEP, self.stop_at - loop.time())
        try:
            return await sweep.cancel_ours(self.exchange, prefix=self.prefix,
                                           series=self.series, deadline_s=deadline)
        except Exception as exc:  # the last resort must not raise
            return sweep.SweepResult(False, 0, -1, f"{type(exc).__name__}: {exc}")

    async def _finish(self, *, during: str) -> int:
        """A requested stop: sweep (unless cancel_on_exit is off); 0 only when confirmed."""
        if not self.cfg.risk.cancel_on_exit:
            log.info("daemon.stopped", during=during, reason=self.stop_reason,
                     cancelled=0, resting="left (risk.cancel_on_exit = false)")
            return 0
        result = await self._sweep()
        if not result.confirmed:
            log.error("daemon.stop_unconfirmed", during=during, reason=self.stop_reason,
                      remaining=result.remaining, error=result.error,
                      detail="could not confirm that none of our orders rests; "
                             "run `tsad cancel-all` or check the exchange")
            await self.oversight.stopped(confirmed=False, resting=result.remaining)
            return 1
        log.info("daemon.stopped", during=during, reason=self.stop_reason,
                 cancelled=result.cancelled, resting=0)
        return 0

    async def _fail(self, exc: Exception, scope: _TaskScope) -> int:
        """Any failure: log why at error level, end the engine's tasks, sweep, exit non-zero."""
        reason = f"{type(exc).__name__}: {exc}"
        log.error("daemon.failed", error=type(exc).__name__, reason=str(exc) or reason,
                  exc_info=not isinstance(exc, TsadError))
        self.notifier.stopping(status=f"failed: {reason}")
        code = EX_CONFIG if isinstance(exc, ConfigError) else 1
        # The alert goes out alongside the sweep (bounded by its own timeout), not after it.
        alert = asyncio.ensure_future(self.oversight.failed(reason))
        if self.exchange is None:
            await alert
            return code
        await scope.end(_DRAIN_SECONDS)
        result = await self._sweep()
        await alert
        if result.confirmed:
            log.error("daemon.failed_swept", cancelled=result.cancelled, resting=0,
                      reason=str(exc) or reason)
        else:
            log.error("daemon.stop_unconfirmed", during="failure", remaining=result.remaining,
                      error=result.error, reason=str(exc) or reason,
                      detail="could not confirm that none of our orders rests; "
                             "run `tsad cancel-all` or check the exchange")
            await self.oversight.stopped(confirmed=False, resting=result.remaining)
        return code

    # --- side tasks ----------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            await self.queue.put(Tick())

    async def _resyncer(self, engine: Engine) -> None:
        while True:
            await asyncio.sleep(self.cfg.daemon.resync_interval)
            engine.request_resync()

    async def _announce_ready(self, engine: Engine) -> None:
        await engine.ready.wait()
        self.notifier.ready(status=engine.status_text())
        log.info("daemon.ready", event_ticker=engine.event.event_ticker
                 if engine.event else None, markets=len(engine.markets))

    async def _stop_after(self) -> None:
        if self.duration is None:
            return
        await asyncio.sleep(self.duration)
        self._stop("duration")

    async def _watchdog(self) -> None:
        """Feed systemd's watchdog from the start: while starting or waiting for the event to
        be listed (the loop turning is the proof of life), and while the engine progresses."""
        interval = self.notifier.watchdog_interval()
        if interval is None:
            return
        while True:
            engine = self.engine if self.engine_running else None
            idle = 0.0 if engine is None else self.clock.monotonic() - engine.stats.last_progress
            if idle < 2 * interval:
                self.notifier.watchdog()
            else:
                log.error("watchdog.engine_stalled", idle_s=round(idle, 1))
            await asyncio.sleep(interval)

    def _status_text(self) -> str:
        if self.stop_reason is not None:
            return f"stopping ({self.stop_reason})"
        if self.engine is not None and self.engine_running:
            try:
                return self.oversight.status_line()
            except Exception as exc:  # a status line must never take the daemon down
                return f"status unavailable: {type(exc).__name__}"
        return self.startup_status

    async def _status(self) -> None:
        """Keep ``systemctl status`` current: send STATUS= whenever the text changes."""
        last = None
        while True:
            text = self._status_text()
            if text != last:
                self.notifier.status(text)
                last = text
            await asyncio.sleep(_STATUS_SECONDS)

