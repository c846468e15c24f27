"""The engine's runner: the single consumer of the event queue and the only writer of state.

The decisions are the pure core's (`tsad.core.engine.decide`, `tsad.core.mirror`), and so
is the handling of book and feed events, of the order-group backstop, of what a tick
reads (the halt file, the forecaster's files and their age), of the exchange status and
of failed writes (cooldown, pause, per-market refusals), the weekly roll and the pulls
a valuation sets, and the read-back decisions, in
`tsad.core.engine_state.handle`, which returns commands this module executes; this
module keeps the other inputs current from events (valuation, fills, our orders and
reads back, reload, stop), does the I/O they need, and posts every outcome back as an
event. Its I/O pieces: `engine_startup` (the startup picture), `engine_feed` (feed
messages and read backs applied to the mirror and journal), `engine_inputs` (the
forecaster's files, hooks, valuation and config reloads), `engine_tasks` (the spawned
exchange requests), `engine_reads` (what a tick reads from disk), `engine_records` (the
journal's records of our orders and fills), `engine_writes` (the write path: a plan's
journaled writes and their outcomes), `engine_stop` (the stop sequence). Rules (what
the runner guarantees, h11-style):

1. Everything that can change what we want on the exchange arrives as an event on one
   queue: feed frames, REST results, timer ticks (which also watch the forecaster's
   files), reload and stop requests. One task consumes it; nothing else mutates trading
   state, so there are no locks.
2. Every task it spawns (writes, resync, status poll, roll, group reset: the I/O of
   `tsad.runtime.engine_tasks`; and the stop) posts its outcome for ANY exception, so no
   pending flag sticks and nothing dies silently. A handler or cycle that
   raises marks every market dirty and reads back; a journal failure (and 20 unexpected
   errors in a row) raises `FatalError` out of `run` for the daemon's cancel-all sweep.
3. Nothing is placed before the startup picture is complete (exchange status, the event,
   our resting orders on every open event of the series, positions, fills, fresh books).
   (`engine_startup`.)
4. Our orders live in the core's `OrderMirror`; exchange input never raises there, and
   what it cannot reconcile freezes the market until a read begun after it lands (so does
   a reconnect: messages may have been missed). At most one request is in flight per
   (market, side); reconcile never plans a second. Feed messages and reads are applied
   to it in `engine_feed`.
5. Every write is journaled as an intent *before* it is sent and its outcome right after.
   ``client_order_id`` is deterministic (prefix, market, side, journaled generation), so a
   retry after a timeout reuses the same id and the exchange refuses a duplicate.
   (`engine_writes`.)
6. An outcome we cannot know (timeout, any unexpected failure) is resolved by reading our
   orders back (REST resync), never by assuming "not placed". Fills a read recovers count
   in the position; orders it no longer shows are journaled with their final status.
   Whether a read is started (one at a time), what its outcome thaws, whether its
   positions are taken and when to read again are the core's (rule 10 of
   `tsad.core.engine_state`); the runner reads and applies orders and fills.
7. Quotes are pulled everywhere while halted, paused (rules 6-7 of the core state machine),
   the prediction is stale or invalid, a hook failed, or stopping; per market while it has
   no fresh data past ``daemon.stale_market_seconds`` (from startup on), its strike is not
   a number, or it refused a write. Our orders on other open weeks of the series are
   managed too (cancelled), and their fills journaled. A triggered order group pulls
   everywhere for a cool-off, then the group is reset (rule 4 of `tsad.core.engine_state`);
   halt and input pulls are set and lifted there too (its rule 5), and so are the
   per-market refusal pulls and write cooldowns (its rule 6) and the prediction, hook
   and valuation pulls (its rule 9: the runner only computes the values and posts them).
8. A reload whose changed keys need a restart is refused whole (`engine_inputs`). A stop
   waits for writes in flight, sweeps the series (`sweep.cancel_ours`), cancels any create
   that lands after, and sets ``stop_confirmed`` (`engine_stop`).
9. Bursts coalesce: all events already queued are applied before one decision.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from tsad.core import engine as core, engine_messages, engine_state, midweek, quoting
from tsad.core.book import BookResynced, BookStale, BookUpdated
from tsad.core.clock import Clock
from tsad.core.engine import BookView
from tsad.core.exchange import Exchange
from tsad.core.fees import FeeSchedule
from tsad.core.market import Event, Market, Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.orders import BookSide, Fill, MirrorOrder, OrderStatus
from tsad.errors import FatalError
from tsad.kalshi.feed import FeedConnected, FeedDisconnected
from tsad.kalshi.wire import EventFeeUpdate, FillMsg, LifecycleMsg, OrderGroupUpdate, UserOrderMsg
from tsad.runtime import (
    engine_feed,
    engine_fees,
    engine_inputs,
    engine_reads,
    engine_records,
    engine_startup,
    engine_stop,
    engine_tasks,
    engine_writes,
)
from tsad.runtime.config import Config
from tsad.runtime.engine_events import (
    EngineStats,
    GroupReset,
    OrderGroupControl,
    ReloadRequested,
    ResyncDone,
    RolledOver,
    StatusChecked,
    StopRequested,
    Tick,
    WriteDone,
)
from tsad.runtime.journal import Journal, JournalError
from tsad.runtime.ledger import Ledger, yes_value


__all__ = [
    "BookView",
    "Engine",
    "EngineStats",
    "ReloadRequested",
    "ResyncDone",
    "StopRequested",
    "Tick",
    "WriteDone",
]

log = structlog.get_logger("tsad.runtime.engine")

Key = tuple[str, BookSide]

# A resync reads fills this far back (seconds) before the previous read, for clock skew.
_FILL_LOOKBACK = 300

# Unexpected exceptions in a row (handlers, cycles) before the engine gives up (FatalError).
_MAX_FAILURES = 20

# After our order group is triggered (fills passed its contracts limit within 15 s: a
# safety trip), quotes stay pulled this long before the group is reset, so a market that
# ran through our quotes has a minute to settle instead of filling the fresh ones at once.
GROUP_COOLOFF_SECONDS = 60.0

# Feed messages that change the event's markets (tsad.kalshi.messages): read the event again.
_REFRESHING = frozenset({"MarketCreated", "PriceGridChanged", "EventCreated"})


class Engine:
    """Keeps our resting orders equal to what the quoting policy wants.

    Args:
        config: the validated configuration.
        config_path: where it was read from (SIGHUP re-reads it).
        exchange: the exchange (REST client, or the shadow-mode wrapper).
        journal: the open journal.
        clock: time source.
        queue: the one event queue (feed, timers, signals and REST results all post here).
        load_config: how to (re)load the config file (validates; raises ConfigError).
        on_event_change: called with the new ticker list when the event rolls over.
        on_reload: called after each SIGHUP with the config in force and whether the new
            file was taken.
        order_group: the client's order group, reset after a trigger's cool-off (default:
            the exchange itself when it has one).
        group_cooloff: seconds quotes stay pulled after the group triggered.
        on_reconcile: called with each reconcile cycle's duration in seconds.
    """

    def __init__(
        self,
        *,
        config: Config,
        config_path: Path,
        exchange: Exchange,
        journal: Journal,
        clock: Clock,
        queue: asyncio.Queue[object],
        load_config: Callable[[Path], Config],
        on_event_change: Callable[[list[str]], None] | None = None,
        on_reload: Callable[[Config, bool], None] | None = None,
        order_group: OrderGroupControl | None = None,
        group_cooloff: float = GROUP_COOLOFF_SECONDS,
        on_reconcile: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.exchange = exchange
        self.journal = journal
        # Fills at their true value, settlements, marks: what `tsad report` values PnL by.
        self.ledger = Ledger(journal)
        # The fees quotes are priced with: the series' as the exchange reports them, or the
        # event's override (`engine_fees`); None until read: KXTSAW's default.
        self.fees: FeeSchedule | None = None
        self.series_fees: FeeSchedule | None = None
        self.fee_override: tuple[str | None, float | None] = (None, None)
        self.clock = clock
        self.queue = queue
        self._load_config = load_config
        self._on_event_change = on_event_change
        self._reload_cb = on_reload
        if order_group is None and isinstance(exchange, OrderGroupControl):
            order_group = exchange
        self._group = order_group
        self._on_reconcile = on_reconcile
        self.stats = EngineStats()
        self.mirror = OrderMirror()
        # What the pure state machine (`tsad.core.engine_state.handle`) owns.
        self.state = engine_state.State(mirror=self.mirror, group_cooloff=group_cooloff,
                                        event_fixed=bool(config.market.event))
        self.ready = asyncio.Event()
        self.stopped = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._hooks: tuple[midweek.NamedHook, ...] = ()
        self._input_mtimes: dict[str, int] = {}
        self._last_status_log = 0.0
        self._ready_deadline = float("inf")
        self._last_fill_read = 0
        self._stop_cancels_done = False
        self._failures = 0
        self.stop_confirmed = False

    # --- read-only views of the core state (status and tests read them; writes: state) -

    @property
    def event(self) -> Event | None:
        """The event we trade (None before startup read it)."""
        return self.state.event

    @property
    def valuations(self) -> dict[str, Valuation]:
        """Each market's true value as quotes are priced from it: the model's, pooled with
        the market's mid of others (empty while it cannot be valued)."""
        return core.pooled_valuations(self._inputs())

    @property
    def markets(self) -> dict[str, Market]:
        """This event's markets, by ticker."""
        return self.state.markets

    @property
    def books(self) -> dict[str, BookView]:
        """Each market's top of book and freshness."""
        return self.state.books

    @property
    def pull_reasons(self) -> dict[str, str]:
        """Why quotes are pulled everywhere, by key (empty: quoting)."""
        return self.state.pull_reasons

    @property
    def market_pulls(self) -> dict[str, str]:
        """Markets whose quotes are pulled on their own (a write refused there), with why."""
        return self.state.market_pulls

    @property
    def trading_active(self) -> bool:
        """The exchange lets us trade (as last polled, or as a refusal told)."""
        return self.state.trading_active

    @property
    def exchange_active(self) -> bool:
        """The exchange is up (a pause refuses cancels too, kalshi-api.md §8: send nothing)."""
        return self.state.exchange_active

    @property
    def stopping(self) -> bool:
        """A stop was requested."""
        return self.state.stopping

    def _core(self, ev: object) -> None:
        """Hand one event to the pure state machine and execute what it returns."""
        self._execute(engine_state.handle(self.state, ev, self.clock.monotonic()))

    def _execute(self, commands: Iterable[engine_messages.Command]) -> None:
        for cmd in commands:
            if isinstance(cmd, engine_messages.Log):
                getattr(log, cmd.level)(cmd.event, **cmd.fields)
            elif isinstance(cmd, engine_messages.Resync):
                self._read_back(cmd.refresh)
            elif isinstance(cmd, engine_messages.PollStatus):
                self._request_status()
            elif isinstance(cmd, engine_messages.FetchEvent):
                self._fetch_event(cmd.event_ticker)
            elif isinstance(cmd, engine_messages.Revalue):
                self._revalue()
            elif isinstance(cmd, engine_messages.EventChanged):
                if self._on_event_change:
                    self._on_event_change(list(cmd.tickers))
            elif isinstance(cmd, engine_messages.ResetGroup):
                self._reset_group()

    # --- startup -----------------------------------------------------------------------

    async def start(self) -> None:
        """Build the startup picture (`engine_startup.start`).

        Raises:
            ExchangeError: the exchange could not be read (the daemon exits; systemd retries).
        """
        await engine_startup.start(self)

    @property
    def in_flight(self) -> set[Key]:
        """The (market, side) keys with a write awaiting its outcome."""
        return self.mirror.in_flight_keys()

    def _now_ms(self) -> int:
        return int(self.clock.monotonic() * 1000)

    def _journal_order(
        self, before: MirrorOrder | None, order_id: str | None, gone: OrderStatus
    ) -> None:
        engine_records.journal_order(self.journal, self.mirror, before, order_id, gone)

    def _series(self) -> str:
        """The series we trade (every open event of it is ours to manage)."""
        if self.event is not None:
            return self.event.event_ticker.split("-", 1)[0]
        return self.config.market.series

    def _in_series(self, ticker: str) -> bool:
        return ticker.startswith(self._series() + "-")

    def _mark(self, *, force: bool = False) -> None:
        """Journal each market's mid and true value (at most once a minute unless forced)."""
        fair = {t: v for t, val in self.valuations.items() if (v := yes_value(val)) is not None}
        books = {t: (b.best_bid, b.best_ask) for t, b in self.books.items()}
        self.ledger.marks(self.clock.monotonic(), books, fair, force=force)

    def _record_fill(self, fill: Fill) -> bool:
        return engine_records.record_fill(self.ledger, self.valuations, fill)

    # --- inputs ------------------------------------------------------------------------

    def _revalue(self) -> None:
        """Value every market through the configured hooks and post the outcome to the core
        (which sets or lifts the prediction, hook and valuation pulls)."""
        self._core(engine_inputs.valuation(self))

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Consume the queue until a stop completes."""
        while not self.stopped.is_set():
            ev = await self.queue.get()
            self._handle(ev)
            # Coalesce: apply everything already queued before deciding once.
            for _ in range(10_000):
                try:
                    ev = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                self._handle(ev)
            self.stats.last_progress = self.clock.monotonic()
            if not self.ready.is_set() and not self.stopping:
                self._maybe_ready()
            if self.stopping:
                await engine_stop.finish_if_done(self)
                continue
            if self.state.dirty and self.ready.is_set():
                self._guarded("cycle", self._cycle)

    def _guarded(self, where: str, step: Callable[[], None]) -> None:
        """Run one step of the loop; nothing but a fatal error escapes it.

        A journal failure (SQLite error, disk full) is fatal: nothing can be sent without
        its intent on disk. Any other exception is logged, marks every market dirty and
        asks for a read back; too many in a row are fatal too.

        Raises:
            FatalError: the journal failed, or steps keep failing.
        """
        try:
            step()
        except FatalError:
            raise
        except (JournalError, sqlite3.Error, OSError) as exc:
            raise FatalError(f"journal write failed in {where}: {exc}") from exc
        except Exception as exc:
            self._failures += 1
            self.stats.errors["unexpected"] = self.stats.errors.get("unexpected", 0) + 1
            log.error("engine.unexpected", where=where, error=f"{type(exc).__name__}: {exc}",
                      in_a_row=self._failures, exc_info=True)
            for t in self.markets:
                self.state.dirty_markets[t] = self.mirror.mark()
            self.request_resync()
            if self._failures >= _MAX_FAILURES:
                raise FatalError(f"{self._failures} unexpected errors in a row, last in "
                                 f"{where}: {type(exc).__name__}: {exc}") from exc
        else:
            self._failures = 0
        self._take_problems()

    def _take_problems(self) -> None:
        """Freeze the markets the mirror could not reconcile and read them back."""
        problems = self.mirror.take_problems()
        if not problems:
            return
        mark = self.mirror.mark()
        for p in problems:
            log.warning("mirror.inconsistent", ticker=p.ticker, detail=p.detail)
            for t in ([p.ticker] if p.ticker is not None else list(self.markets)):
                self.state.dirty_markets[t] = mark
        self.request_resync()

    def _maybe_ready(self) -> None:
        """Become ready once every book is fresh (or the startup grace period is over)."""
        fresh = all(top.fresh for top in self.books.values())
        if fresh or self.clock.monotonic() >= self._ready_deadline:
            self.ready.set()
            self.state.dirty = True
            log.info("engine.ready", fresh_books=sum(t.fresh for t in self.books.values()),
                     markets=len(self.books))

    def _handle(self, ev: object) -> None:
        self.stats.events += 1
        handler = _HANDLERS.get(type(ev))
        if handler is not None:
            self._guarded(type(ev).__name__, lambda: handler(self, ev))
        elif type(ev).__name__ in _REFRESHING:
            # A market was created or its price grid changed: read the event again.
            log.info("event.changed", message=type(ev).__name__)
            self._core(engine_messages.ResyncWanted(refresh=True))

    # --- shell events --------------------------------------------------------------------

    def _on_tick(self, ev: Tick) -> None:
        cfg = self.config
        now_m = self.clock.monotonic()
        self._core(engine_reads.halt(cfg.risk.halt_file))
        sigs = engine_reads.signatures(cfg.model)
        changed = [p for p, sig in sigs.items() if self._input_mtimes.get(p) != sig]
        if changed:  # reload the forecaster's files (revalued just below)
            log.info("inputs.changed", path=changed[0])
            engine_inputs.load_inputs(self)
        self._core(engine_reads.prediction_age(cfg.model, self.clock.now()))
        self._revalue()
        self._mark()
        self._core(engine_messages.Tick(self.clock.now()))
        if now_m - self._last_status_log >= 60.0:
            self._last_status_log = now_m
            self._log_status()
        self.state.dirty = True

    def _on_status_checked(self, ev: StatusChecked) -> None:
        self._core(engine_messages.StatusPolled(ev.trading_active, ev.exchange_active))

    # --- order group -------------------------------------------------------------------

    def _reset_group(self) -> None:
        """Reset our triggered order group; the outcome comes back as `GroupReset`."""
        self._post(lambda: engine_tasks.reset_group(self._group), "group_reset")

    def _on_group_reset(self, ev: GroupReset) -> None:
        err = None if ev.error is None else f"{type(ev.error).__name__}: {ev.error}"
        self._core(engine_messages.GroupResetDone(err))

    def _on_rolled_over(self, ev: RolledOver) -> None:
        engine_fees.take_series(self, ev.fees)
        if ev.event is not None:
            engine_fees.take_event(self, ev.event)
        err = None if ev.error is None else str(ev.error)
        self._core(engine_messages.EventFetched(ev.event, err))

    # --- decisions -----------------------------------------------------------------------

    def _inputs(self) -> core.Inputs:
        """The state one decision reads (see `tsad.core.engine`)."""
        now_m = self.clock.monotonic()
        cfg = self.config
        return core.Inputs(
            markets=self.markets, valuations=self.state.valuations, books=self.books,
            mirror=self.mirror, policy=cfg.quoting_policy(self.fees), limits=cfg.risk_limits(),
            now=now_m, stale_seconds=cfg.daemon.stale_market_seconds,
            global_pull=bool(self.stopping or self.pull_reasons or not self.trading_active
                             or self.event is None),
            market_pulls=self.market_pulls, dirty=set(self.state.dirty_markets),
            cooling={k for k, (until, _) in self.state.cooldown.items() if until > now_m},
            min_reprice_ticks=cfg.quoting.min_reprice_ticks,
            prefix=cfg.exchange.client_order_prefix, post_only=cfg.quoting.post_only,
            self_trade_prevention=cfg.quoting.self_trade_prevention,
            cancel_order_on_pause=cfg.risk.cancel_order_on_pause,
            market_weight=cfg.model.market_weight, market_max_spread=cfg.model.market_max_spread,
        )

    def desired(self) -> list[quoting.Quote]:
        """Return the quotes we want now (after risk), empty while quotes are pulled."""
        return list(core.decide(self._inputs()).quotes)

    def _cycle(self) -> None:
        self.state.dirty = False
        if not self.exchange_active:
            return  # every write would be refused, cancels included: wait for the status poll
        t0 = self.clock.monotonic()
        decision = core.decide(self._inputs())
        self._core(engine_messages.MarketsPulled(decision.pulled))
        for viol in decision.violations:
            log.debug("risk.violation", control=viol.control, ticker=viol.ticker,
                      detail=viol.detail)
        desired = list(decision.quotes)
        self.stats.cycles += 1
        counts = engine_writes.dispatch(self, decision.plan, desired)
        elapsed = self.clock.monotonic() - t0
        elapsed_ms = elapsed * 1000
        if self._on_reconcile is not None:
            self._on_reconcile(elapsed)
        if any(counts.values()):
            log.info(
                "reconcile.cycle",
                cycle=self.stats.cycles,
                quoted=len(desired),
                resting=len(self.mirror.resting()),
                in_flight=len(self.in_flight),
                pulled=sorted(self.pull_reasons) or None,
                latency_ms=round(elapsed_ms, 3),
                **counts,
            )

    def _post(self, task: Callable[[], Awaitable[object]], name: str) -> None:
        """Run one I/O task (`tsad.runtime.engine_tasks`) and post its outcome event (the
        task is made inside, so one cancelled before it starts leaves nothing unawaited)."""

        async def run() -> None:
            await self.queue.put(await task())

        self._spawn(run(), name)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- resync, status, roll ------------------------------------------------------------

    def _read_back(self, refresh: bool) -> None:
        """Read our orders back (the core asked, `engine_messages.Resync`); the outcome comes
        back as `ResyncDone`."""
        assert self.event is not None  # the core asks for no read before there is an event
        started = self.mirror.mark()
        event_ticker = self.event.event_ticker
        # Fills since shortly before the last read: any the websocket missed get journaled.
        now_s = int(self.clock.now().timestamp())
        since = (self._last_fill_read or now_s) - _FILL_LOOKBACK
        self._last_fill_read = now_s
        self._post(lambda: engine_tasks.read_back(
            self.exchange, started=started, event_ticker=event_ticker, since=since,
            refresh=refresh), "resync")

    def request_resync(self) -> None:
        """Ask the core for a REST read-back of our orders and positions (periodic timer,
        unexpected errors; one at a time: rule 10 of `tsad.core.engine_state`)."""
        self._core(engine_messages.ResyncWanted())

    def _request_status(self) -> None:
        """Poll the exchange status (the core asked, `engine_messages.PollStatus`)."""
        self._post(lambda: engine_tasks.poll_status(self.exchange), "status")

    def _fetch_event(self, event_ticker: str) -> None:
        """Read the next week's event; the outcome comes back as `RolledOver`."""
        self._post(lambda: engine_tasks.fetch_event(
            self.exchange, event_ticker, self.config.market.series), "roll")

    # --- reporting -----------------------------------------------------------------------

    def _log_status(self) -> None:
        log.info(
            "engine.status",
            event_ticker=self.event.event_ticker if self.event else None,
            resting=len(self.mirror.resting()),
            in_flight=len(self.in_flight),
            pulled=sorted(self.pull_reasons) or None,
            prediction=self.state.prediction,
            trading_active=self.trading_active,
            cycles=self.stats.cycles,
            writes=dict(self.stats.writes),
            fills=self.stats.fills,
        )

    def status_text(self) -> str:
        """A one-line status for ``systemctl status``."""
        pulled = ",".join(sorted(self.pull_reasons))
        return (
            f"{self.event.event_ticker if self.event else '-'}: "
            f"{len(self.mirror.resting())} resting, {len(self.mirror.positions())} positions"
            + (f", quotes pulled ({pulled})" if pulled else "")
        )


_HANDLERS: Mapping[type, Callable[[Engine, Any], None]] = {
    Tick: Engine._on_tick,
    ReloadRequested: engine_inputs.on_reload,
    StopRequested: engine_stop.on_stop,
    WriteDone: engine_writes.on_write_done,
    ResyncDone: engine_feed.on_resync_done,
    StatusChecked: Engine._on_status_checked,
    RolledOver: Engine._on_rolled_over,
    BookUpdated: engine_feed.on_feed,
    BookStale: engine_feed.on_feed,
    BookResynced: engine_feed.on_feed,
    FeedConnected: engine_feed.on_feed,
    FeedDisconnected: engine_feed.on_feed,
    FillMsg: engine_feed.on_fill,
    UserOrderMsg: engine_feed.on_user_order,
    LifecycleMsg: engine_feed.on_lifecycle,
    EventFeeUpdate: engine_fees.on_event_fee,
    OrderGroupUpdate: engine_feed.on_order_group,
    GroupReset: Engine._on_group_reset,
}

