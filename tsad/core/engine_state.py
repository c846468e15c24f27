"""The engine's event-handling state machine: ``handle(state, event, now) -> commands``.

Pure and sans-I/O, like h11 or python-websockets' ``protocol.py``: it reads no clock (``now``,
monotonic seconds, is passed in), does no I/O and never awaits. Its events and commands
are `tsad.core.engine_messages`. The runner
(`tsad.runtime.engine`) feeds it every event, executes the commands it returns, and posts
each command's outcome back as an event. The families moved here so far: book and feed
events, the order-group backstop, the halt file and forecaster inputs the runner reads
on each tick, the exchange status and pause, the rules on failed writes, the weekly
roll, the pulls a valuation sets and lifts, and the read-back decisions (one at a time,
what its outcome thaws, when to read again); the rest still lives in the runner (see
its rules). The global pulls and what sets and lifts them (rules 5 and 9, and the
per-market pull lines of rule 7) are `tsad.core.engine_pulls`, which `handle` calls.

Rules (what `handle` guarantees):

1. Nothing raises out of `handle` for any event; an event it does not know is ignored.
2. A book snapshot or delta makes its market fresh; a stale book or a dropped feed makes it
   stale from ``now`` (the decision pulls it past ``stale_market_seconds``, rule 4 of
   `tsad.core.engine`). Any change to what a decision reads sets ``state.dirty``.
3. A (re)connected feed may have missed order and fill messages: every market is frozen
   (dirty at the mirror's mark now) and a `Resync` is asked for; a read begun after the
   mark thaws it.
4. Our order group triggered (its message, or a create refused with its code): quotes are
   pulled everywhere with reason "order group triggered" (logged at error once: fills came
   faster than the limit), a `Resync` learns what the exchange cancelled, and once
   ``group_cooloff`` seconds passed a tick asks for one `ResetGroup` at a time. A reset
   that worked lifts the pull; one that failed is tried again after another cool-off.
   No reset is asked for while stopping.
5. Global pulls are keyed and logged once per new reason, not per re-check; lifting one
   logs "quotes.resumed". A halt file present (or one that cannot be read: we cannot tell)
   pulls "halt", its absence lifts it. Inputs that fail to load pull "inputs" and forget
   this week's prediction but keep the last good files' contents; a good load replaces
   them and lifts the pull. A prediction file missing, or older than its maximum age,
   pulls "prediction_stale".
6. A failed write (other than a 404) cools its (market, side) down: no new request for
   0.5 s, doubling per failure in a row up to 30 s; an accepted write clears it. A 404 on
   an order, a conflict or an unknown outcome reads back (`Resync`); a rate limit only
   logs; any other failure logs and reads back. Refusals: the group's code is rule 4;
   past the market's close_time the order is forgotten (the exchange cancels there
   itself), nothing pauses; an exchange- or trading-wide pause code pauses everything
   (an ``exchange_`` one stops cancels too) and polls the status; a ``market_``, pause or
   inactive code pulls that market alone and reads the event again (`Resync(refresh)`).
7. The exchange status is polled (`PollStatus`, one at a time) every 30 s, every 2 s
   while trading is paused; its answer sets trading / exchange activity (a failed poll
   changes nothing), a change is logged. Each market a decision pulls on its own (stale
   data, closed, unusable strike or value: rule 4 of `tsad.core.engine`) is logged once
   per reason, and once when it resumes.
8. Once the event we trade has closed (a tick's wall-clock time past its Sunday close;
   never for an event named in the config), quotes are pulled with reason "roll" and the
   next week's event is fetched (`FetchEvent`, one at a time). When it comes back it
   replaces the event (new markets, every book stale from now, per-market pulls and
   values cleared; the mirror is kept, so last week's orders are still cancelled), the
   pull lifts, and the markets are valued again, announced and read back. A fetch that
   failed (not listed yet) is retried after 5 s, doubling up to 300 s.
9. The runner values the markets (`tsad.core.midweek`) and posts the outcome: `Valued`
   keeps the values and this week's prediction and lifts the "prediction", "hook" and
   "valuation" pulls; `ValuationFailed` forgets the values and pulls its kind (no
   prediction for the week, a hook raised, the arithmetic failed), logged once per new
   reason; `Unvalued` (no event or history yet) forgets the values and touches no pull.
   A change of values sets ``state.dirty``.
10. At most one read back (`Resync`) is outstanding: the reads rules ask for while one is
   (or before there is an event) are dropped, and whether any asked to read the event
   again is kept for the next; a read also reads the event while a market is not
   active. `ResyncRead` (the runner applied the read's orders and fills) clears it,
   takes the read's positions unless a websocket fill (`FillApplied`) moved one since the
   read began, thaws each frozen market whose mark is not after the read's start, and
   reads again while an order settles or a market stays frozen. `ResyncFailed` clears
   it and logs; nothing is read again until asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from tsad.core import engine_pulls, quoting, tickers
from tsad.core.book import BookResynced, BookStale, BookUpdated
from tsad.core.engine import BookView
from tsad.core.engine_messages import (
    Command,
    EventChanged,
    EventFetched,
    FeedDown,
    FeedUp,
    FetchEvent,
    FillApplied,
    GroupResetDone,
    GroupTriggered,
    HaltChanged,
    InputsInvalid,
    InputsLoaded,
    Log,
    MarketsPulled,
    PollStatus,
    PredictionAged,
    ResetGroup,
    Resync,
    ResyncFailed,
    ResyncRead,
    ResyncWanted,
    Revalue,
    StatusPolled,
    Tick,
    Unvalued,
    ValuationFailed,
    Valued,
    WriteAcked,
    WriteFailed,
)
from tsad.core.engine_pulls import pull, unpull
from tsad.core.market import Event as MarketEvent, Market, Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.model import ErrorHistory
from tsad.core.orders import BookSide
from tsad.errors import (
    AmbiguousOutcome,
    Conflict,
    NotFound,
    OrderRejected,
    RateLimited,
)


__all__ = ["GROUP_PULL", "State", "handle", "pull", "set_event", "unpull"]

# The pull reason key (and text) of a triggered order group.
GROUP_PULL = "order_group"
_GROUP_REASON = "order group triggered"


# Back-off of a (market, side) after a failed write: first delay and cap, in seconds.
COOLDOWN_MIN = 0.5
COOLDOWN_MAX = 30.0

# Exchange status polls, seconds: while trading is paused, and otherwise.
STATUS_POLL_PAUSED = 2.0
STATUS_POLL = 30.0

# The reject code of a create into a triggered group (kalshi-api.md §3.11).
_GROUP_TRIGGERED = "order_group_triggered"

# Asking for a next event that is not listed yet: first retry delay and cap, in seconds
# (Kalshi lists next week's event hours after the previous one closes).
ROLL_RETRY_MIN = 5.0
ROLL_RETRY_MAX = 300.0

Key = tuple[str, BookSide]


# --- state -----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class State:
    """What the engine knows between events (the part `handle` owns so far)."""

    mirror: OrderMirror
    # The event we trade (None before startup read it) and its markets' values.
    event: MarketEvent | None = None
    valuations: dict[str, Valuation] = field(default_factory=dict)
    # The event was named in the config: it is never rolled.
    event_fixed: bool = False
    roll_pending: bool = False
    roll_retry_at: float = 0.0
    roll_delay: float = 0.0
    markets: dict[str, Market] = field(default_factory=dict)
    books: dict[str, BookView] = field(default_factory=dict)
    # Global pulls, by key (halt, inputs, prediction, hook, roll, order_group), with why.
    pull_reasons: dict[str, str] = field(default_factory=dict)
    # Markets frozen until a read begun after the mirror mark given lands.
    dirty_markets: dict[str, int] = field(default_factory=dict)
    # A decision is due (something it reads changed).
    dirty: bool = True
    stopping: bool = False
    group_cooloff: float = 60.0
    # Monotonic time the triggered group is reset at (None: not triggered).
    group_reset_at: float | None = None
    group_reset_pending: bool = False
    # The forecaster's inputs as last loaded (kept when a later load fails).
    predictions: dict[date, float] = field(default_factory=dict)
    history: ErrorHistory | None = None
    actuals: dict[date, int] = field(default_factory=dict)
    prediction_version: str = "none"
    # This week's prediction (None while the inputs are invalid or not valued yet).
    prediction: float | None = None
    # The exchange lets us trade / is up at all (a pause refuses cancels too: send nothing).
    trading_active: bool = True
    exchange_active: bool = True
    status_pending: bool = False
    last_status_poll: float = 0.0
    # Markets whose quotes are pulled on their own (a write refused there), with why.
    market_pulls: dict[str, str] = field(default_factory=dict)
    # Keys whose last write failed: no new request until the monotonic time given, with the
    # delay doubling per consecutive failure, so a refusing exchange sees no storm.
    cooldown: dict[Key, tuple[float, float]] = field(default_factory=dict)
    # The markets the last decision pulled on their own, with why (as logged).
    shown_pulls: dict[str, str] = field(default_factory=dict)
    # A read back is outstanding; the next one reads the event again; a websocket fill
    # moved a position since the outstanding read began (its positions are older).
    resync_pending: bool = False
    refresh_event: bool = False
    fills_since_resync: bool = False


def handle(state: State, event: object, now: float) -> list[Command]:
    """Apply one event to ``state``; return the commands the runner must execute."""
    return _one_resync(state, _apply(state, event, now))


def _one_resync(state: State, out: list[Command]) -> list[Command]:
    """Turn the reads the rules asked for into at most one `Resync`, and none while one is
    outstanding (rule 10)."""
    wants = [c for c in out if isinstance(c, Resync)]
    if not wants:
        return out
    state.refresh_event = state.refresh_event or any(c.refresh for c in wants)
    first = out.index(wants[0])
    rest: list[Command] = [c for c in out if not isinstance(c, Resync)]
    if state.resync_pending or state.event is None:
        return rest
    state.resync_pending = True
    state.fills_since_resync = False
    # A market not yet open becomes active without any websocket message (kalshi-api.md
    # §5.5): while one is not active, each read reads the event again too.
    refresh = state.refresh_event or any(
        m.status not in quoting.QUOTABLE_STATUSES for m in state.markets.values())
    state.refresh_event = False
    return [*rest[:first], Resync(refresh), *rest[first:]]


def _apply(state: State, event: object, now: float) -> list[Command]:
    if isinstance(event, BookUpdated):
        top = state.books.get(event.ticker)
        if top is not None and (top.best_bid, top.best_ask, top.bids, top.asks, top.fresh) != (
                event.best_bid, event.best_ask, event.bids, event.asks, True):
            top.best_bid, top.best_ask = event.best_bid, event.best_ask
            top.bids, top.asks = event.bids, event.asks
            top.fresh, top.stale_since = True, None
            state.dirty = True
        return []
    if isinstance(event, BookResynced):
        top = state.books.get(event.ticker)
        if top is not None and not top.fresh:
            top.fresh, top.stale_since = True, None
            state.dirty = True
        return []
    if isinstance(event, BookStale):
        return _stale(state, event.tickers, event.reason, now)
    if isinstance(event, FeedDown):
        return _stale(state, tuple(state.books), event.reason, now)
    if isinstance(event, FeedUp):
        mark = state.mirror.mark()
        for t in state.markets:
            state.dirty_markets[t] = mark
        return [Resync()]
    if isinstance(event, GroupTriggered):
        return _group_triggered(state, event, now)
    if isinstance(event, GroupResetDone):
        return _group_reset_done(state, event, now)
    if isinstance(event, HaltChanged):
        return engine_pulls.halt(state, event)
    if isinstance(event, InputsLoaded):
        return engine_pulls.inputs_loaded(state, event)
    if isinstance(event, InputsInvalid):
        state.prediction = None
        state.dirty = True
        return pull(state, "inputs", event.reason, "inputs.invalid")
    if isinstance(event, PredictionAged):
        return engine_pulls.prediction_aged(state, event)
    if isinstance(event, StatusPolled):
        return _status_polled(state, event)
    if isinstance(event, WriteAcked):
        state.cooldown.pop((event.ticker, event.side), None)
        state.dirty = True
        return []
    if isinstance(event, WriteFailed):
        return _write_failed(state, event, now)
    if isinstance(event, EventFetched):
        return _event_fetched(state, event, now)
    if isinstance(event, MarketsPulled):
        return engine_pulls.markets_pulled(state, event)
    if isinstance(event, Valued | ValuationFailed | Unvalued):
        return engine_pulls.valued(state, event)
    if isinstance(event, ResyncWanted):
        return [Resync(event.refresh)]
    if isinstance(event, ResyncRead):
        return _resync_read(state, event)
    if isinstance(event, ResyncFailed):
        state.resync_pending = False
        return [Log("warning", "resync.failed", {"error": event.error})]
    if isinstance(event, FillApplied):
        state.fills_since_resync = True
        state.dirty = True
        return []
    if isinstance(event, Tick):
        return [*_maybe_reset_group(state, now), *_maybe_poll_status(state, now),
                *_maybe_roll(state, event.at, now)]
    return []


def _resync_read(state: State, event: ResyncRead) -> list[Command]:
    state.resync_pending = False
    if event.positions is not None and not state.fills_since_resync:
        rest = {p.ticker: p for p in event.positions}
        for t in state.markets:
            p = rest.get(t)
            state.mirror.set_position(t, p.position if p else 0, p.exposure if p else 0)
    for t, mark in list(state.dirty_markets.items()):
        if mark <= event.started_at:  # the read began after what made it dirty
            del state.dirty_markets[t]
    state.dirty = True
    if state.mirror.settling() or state.dirty_markets:  # newer than this read: again
        return [Resync()]
    return []


def set_event(state: State, event: MarketEvent, now: float) -> None:
    """Trade ``event`` from now on. The mirror is kept: our orders on last week's markets
    stay managed (cancelled) and their fills still count."""
    state.event = event
    state.markets = {m.ticker: m for m in event.markets}
    # No fresh data yet: the stale clock runs from now (rule 4 of tsad.core.engine).
    state.books = {t: BookView(stale_since=now) for t in state.markets}
    state.market_pulls = {}
    state.valuations = {}
    state.dirty = True


def _maybe_roll(state: State, at: datetime | None, now: float) -> list[Command]:
    ev = state.event
    if (ev is None or at is None or state.event_fixed or state.roll_pending
            or now < state.roll_retry_at):
        return []
    try:
        closes = tickers.event_close_time(tickers.parse_event_ticker(ev.event_ticker).sunday)
        nxt = tickers.next_event_ticker(ev.event_ticker)
    except ValueError:  # not a weekly ticker: nothing to roll to
        return []
    if at < closes:
        return []
    state.roll_pending = True
    state.pull_reasons["roll"] = f"rolling to {nxt}"
    state.dirty = True
    return [FetchEvent(nxt)]


def _event_fetched(state: State, ev: EventFetched, now: float) -> list[Command]:
    state.roll_pending = False
    if ev.event is None:
        state.roll_delay = min(ROLL_RETRY_MAX, max(ROLL_RETRY_MIN, state.roll_delay * 2))
        state.roll_retry_at = now + state.roll_delay
        return [Log("warning", "event.roll_failed",
                    {"error": ev.error, "retry_in_s": state.roll_delay})]
    state.roll_delay = 0.0
    old = state.event.event_ticker if state.event else None
    set_event(state, ev.event, now)
    state.pull_reasons.pop("roll", None)
    return [Revalue(),
            Log("info", "event.rolled", {"old": old, "new": ev.event.event_ticker,
                                         "markets": len(state.markets)}),
            EventChanged(tuple(state.markets)), Resync()]


def _poll_status(state: State) -> list[Command]:
    if state.status_pending:
        return []
    state.status_pending = True
    return [PollStatus()]


def _maybe_poll_status(state: State, now: float) -> list[Command]:
    # Often while paused, now and then otherwise (a pause that meets no write of ours would
    # not be noticed from refusals alone).
    every = STATUS_POLL if state.trading_active else STATUS_POLL_PAUSED
    if now - state.last_status_poll < every:
        return []
    state.last_status_poll = now
    return _poll_status(state)


def _status_polled(state: State, event: StatusPolled) -> list[Command]:
    state.status_pending = False
    if event.trading_active is None:
        return []
    out: list[Command] = []
    if event.trading_active != state.trading_active:
        out.append(Log("info", "exchange.trading_active",
                       {"active": event.trading_active,
                        "exchange_active": event.exchange_active}))
    state.trading_active = event.trading_active
    if event.exchange_active is not None:
        state.exchange_active = event.exchange_active
    state.dirty = True
    return out


def _write_failed(state: State, ev: WriteFailed, now: float) -> list[Command]:
    err = ev.error
    state.dirty = True
    if not isinstance(err, NotFound):
        key = (ev.ticker, ev.side)
        _, prev = state.cooldown.get(key, (0.0, 0.0))
        delay = min(COOLDOWN_MAX, max(COOLDOWN_MIN, prev * 2))
        state.cooldown[key] = (now + delay, delay)
    if isinstance(err, NotFound):
        # Already gone (filled or cancelled): read back to learn which.
        return [Resync()] if ev.order_id else []
    if isinstance(err, OrderRejected):
        return [*_rejected(state, ev, err, now),
                Log("warning", "order.rejected", {"ticker": ev.ticker, "kind": ev.kind,
                                                  "code": err.code, "detail": str(err)})]
    if isinstance(err, Conflict | AmbiguousOutcome):
        return [Resync()]
    if isinstance(err, RateLimited):
        return [Log("warning", "order.rate_limited", {"ticker": ev.ticker, "kind": ev.kind})]
    return [Log("warning", "order.failed", {"ticker": ev.ticker, "kind": ev.kind,
                                            "error": type(err).__name__,
                                            "detail": str(err)}),
            Resync()]


def _rejected(state: State, ev: WriteFailed, err: OrderRejected,
              now: float) -> list[Command]:
    code = (err.code or "").lower()
    market = state.markets.get(ev.ticker)
    if code == _GROUP_TRIGGERED:
        return _group_triggered(state, GroupTriggered(f"{ev.kind} refused"), now)
    if market is None or (market.close_time is not None and ev.at >= market.close_time):
        # Past close_time Kalshi refuses every write there (cancels too) and cancels what
        # rests itself: forget the order; this is not an exchange pause.
        if ev.order_id:
            state.mirror.on_cancelled(ev.order_id)
        return []
    if code.startswith(("exchange_", "trading_")) and (
            "pause" in code or "inactive" in code or "closed" in code):
        # Only an exchange-wide or trading-wide code pauses everything.
        state.trading_active = False
        if code.startswith("exchange_"):
            state.exchange_active = False
        return _poll_status(state)
    if code.startswith("market_") or "pause" in code or "inactive" in code:
        # One market refused (deactivated, closed early): pull it alone, and read the
        # event again to learn its status (the pull lifts when it is active).
        state.market_pulls[ev.ticker] = f"the exchange refused a write: {err.code}"
        return [Resync(refresh=True)]
    return []


def _stale(state: State, tickers: tuple[str, ...], reason: str, now: float) -> list[Command]:
    for t in tickers:
        top = state.books.get(t)
        if top is not None and top.fresh:
            top.fresh, top.stale_since = False, now
            state.dirty = True
    return [Log("info", "book.stale", {"tickers": len(tickers), "reason": reason})]


def _group_triggered(state: State, event: GroupTriggered, now: float) -> list[Command]:
    if state.group_reset_at is None:
        state.group_reset_at = now + state.group_cooloff
    out = pull(state, GROUP_PULL, _GROUP_REASON, "order_group.triggered",
               source=event.source, cooloff_s=state.group_cooloff,
               detail="fills came faster than [risk] order_group_contracts_limit")
    state.dirty = True
    return [*out, Resync()]


def _maybe_reset_group(state: State, now: float) -> list[Command]:
    at = state.group_reset_at
    if at is None or state.group_reset_pending or state.stopping or now < at:
        return []
    state.group_reset_pending = True
    return [ResetGroup()]


def _group_reset_done(state: State, event: GroupResetDone, now: float) -> list[Command]:
    state.group_reset_pending = False
    if state.group_reset_at is None:
        return []
    if event.error is not None:  # still triggered: try again after another cool-off
        state.group_reset_at = now + state.group_cooloff
        return [Log("warning", "order_group.reset_failed",
                    {"error": event.error, "retry_in_s": state.group_cooloff})]
    state.group_reset_at = None
    state.dirty = True
    return [Log("info", "order_group.reset"), *unpull(state, GROUP_PULL)]
