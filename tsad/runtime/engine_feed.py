"""What the exchange tells the engine about our orders and its markets: feed messages
(fills, our order updates, market lifecycle, the order group) and the read backs' orders
and fills, applied to the mirror, the journal and the ledger (rules 4 and 6 of the runner,
`tsad.runtime.engine`); what a read thaws and when to read again are the core's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from tsad.core import engine_messages, quoting, reconcile, tickers
from tsad.core.engine import BookView
from tsad.core.market import Event
from tsad.core.orders import MirrorOrder, Order, OrderStatus
from tsad.kalshi.feed import FeedConnected, FeedDisconnected
from tsad.kalshi.wire import FillMsg, LifecycleMsg, OrderGroupUpdate, UserOrderMsg
from tsad.runtime import engine_records
from tsad.runtime.engine_events import ResyncDone


if TYPE_CHECKING:
    from tsad.runtime.engine import Engine


__all__ = [
    "adopt",
    "managed",
    "on_feed",
    "on_fill",
    "on_lifecycle",
    "on_order_group",
    "on_resync_done",
    "on_user_order",
    "ours",
    "refresh_markets",
]

log = structlog.get_logger("tsad.runtime.engine")


def managed(eng: Engine, ticker: str) -> bool:
    """Tell whether we manage orders on ``ticker``: this event's markets, and any other
    event of the series not yet closed (past close_time the exchange refuses every
    write there and cancels what rests itself)."""
    if ticker in eng.markets:
        return True
    if not eng._in_series(ticker):
        return False
    try:
        sunday = tickers.parse_event_ticker(ticker.rsplit("-", 1)[0]).sunday
    except ValueError:
        return False
    return eng.clock.now() < tickers.event_close_time(sunday)


def ours(eng: Engine, orders: Iterable[Order]) -> list[Order]:
    """Our orders (by client_order_id prefix) on the markets of the series we manage."""
    prefix = eng.config.exchange.client_order_prefix
    return [o for o in orders
            if managed(eng, o.ticker) and reconcile.is_ours(o.client_order_id, prefix)]


def adopt(
    eng: Engine, orders: Iterable[Order], since: int | None = None
) -> tuple[list[str], list[MirrorOrder]]:
    """Take a REST read of resting orders as the truth for ours (see `OrderMirror.on_resync`).

    Returns:
        The ids of ours the read added to the mirror, and the orders it dropped.
    """
    mine = ours(eng, orders)
    known = {o.order_id for o in eng.mirror.live()}
    dropped = eng.mirror.on_resync(mine, eng._now_ms(), since=since)
    if mine:
        eng.journal.record_orders(mine)
    return [o.order_id for o in mine if o.order_id not in known], dropped


def on_feed(eng: Engine, ev: object) -> None:
    """Book and feed events: the core state machine's (rules 2-3 of its module)."""
    if isinstance(ev, FeedConnected):
        ev = engine_messages.FeedUp()
    elif isinstance(ev, FeedDisconnected):
        ev = engine_messages.FeedDown(ev.reason)
    eng._core(ev)


def on_fill(eng: Engine, ev: FillMsg) -> None:
    """A fill of ours: journal and count it once, and take the position it reports."""
    fill = ev.fill
    if not eng._in_series(fill.ticker):
        return  # not a market of ours
    new = eng._record_fill(fill)
    before = eng.mirror.get(fill.order_id)
    if not eng.mirror.on_fill(fill) or not new:
        return  # a fill already counted
    eng.stats.fills += 1
    if ev.post_position is not None:  # authoritative (kalshi-api.md §5.5)
        eng.mirror.set_position(fill.ticker, ev.post_position)
    eng._journal_order(before, fill.order_id, OrderStatus.EXECUTED)
    log.info("order.filled", ticker=fill.ticker, side=fill.side.value, price=fill.price,
             count=fill.count, trade_id=fill.trade_id,
             position=eng.mirror.position(fill.ticker))
    eng._core(engine_messages.FillApplied())


def on_user_order(eng: Engine, ev: UserOrderMsg) -> None:
    """An update of one of our orders: the mirror and the journal take it."""
    order = ev.order
    if not ours(eng, [order]):
        return
    eng.mirror.on_user_order(order)
    eng.journal.record_orders([order])
    eng.state.dirty = True


def on_lifecycle(eng: Engine, ev: LifecycleMsg) -> None:
    """A market opened, closed or settled: the ledger and the market's status take it."""
    ticker, kind = ev.market_ticker, ev.event_type
    if ticker is not None and eng._in_series(ticker):  # determined/settled, once
        eng.ledger.lifecycle(ticker, kind, ev.result, ev.settlement_value)
    if ticker is None or ticker not in eng.markets:
        return
    if kind in {"deactivated", "determined", "settled"}:
        eng.markets[ticker] = replace(eng.markets[ticker], status="closed")
        eng.state.dirty = True
    elif kind == "activated":
        eng.markets[ticker] = replace(eng.markets[ticker], status="active")
        eng.state.dirty = True


def on_order_group(eng: Engine, ev: OrderGroupUpdate) -> None:
    """Our order group triggered: the core pulls every quote (its rule 4)."""
    ours = eng._group.order_group_id if eng._group is not None else None
    if ev.event_type == "triggered" and ours in (None, ev.order_group_id):
        eng._core(engine_messages.GroupTriggered("order_group_updates"))


def on_resync_done(eng: Engine, ev: ResyncDone) -> None:
    """Apply a read's orders and fills to the mirror and journal; what it thaws and
    whether to read again are the core's (rule 10 of `tsad.core.engine_state`)."""
    if ev.error is not None or ev.orders is None:
        eng._core(engine_messages.ResyncFailed(f"{type(ev.error).__name__}: {ev.error}"))
        return
    fills = [f for f in ev.fills if eng._in_series(f.ticker)]
    missed = [f for f in fills if eng._record_fill(f)]
    eng.ledger.settlements(s for s in ev.settlements if eng._in_series(s.ticker))
    # What changed after the read began (ev.started_at) is newer than the read: kept.
    added, dropped = adopt(eng, ev.orders, since=ev.started_at)
    # Then the read's fills (after the orders: they are not newer than the read): fills
    # the websocket missed count in the position now, each trade once; an order they
    # complete is journaled as executed.
    before = {f.order_id: eng.mirror.get(f.order_id) for f in fills}
    recovered = [f for f in fills if eng.mirror.on_fill(f)]
    for oid in {f.order_id for f in recovered}:
        if before.get(oid) is not None and eng.mirror.get(oid) is None:
            eng._journal_order(before[oid], oid, OrderStatus.EXECUTED)
    if missed or recovered:
        eng.stats.fills += len(missed)
        log.warning("resync.fills_recovered", journaled=len(missed),
                    applied=len(recovered),
                    trade_ids=[f.trade_id for f in (missed or recovered)][:20])
    engine_records.journal_final(eng.journal, dropped, fills)
    if added or dropped:
        log.warning("resync.corrected", added=len(added), removed=len(dropped))
    if ev.event is not None and eng.event is not None:
        refresh_markets(eng, ev.event)
    eng._core(engine_messages.ResyncRead(ev.started_at, ev.positions))


def refresh_markets(eng: Engine, event: Event) -> None:
    """Take the latest state of this event's markets (status, close time, grid)."""
    if event.event_ticker != (eng.event.event_ticker if eng.event else None):
        return
    added = []
    for m in event.markets:
        old = eng.markets.get(m.ticker)
        if old is not None and old.status != m.status:
            log.info("market.status", ticker=m.ticker, old=old.status, new=m.status)
        if old is None:  # a market created since: quote it once its book is fresh
            added.append(m.ticker)
            eng.books[m.ticker] = BookView(stale_since=eng.clock.monotonic())
        elif m.status in quoting.QUOTABLE_STATUSES and m.ticker in eng.market_pulls:
            del eng.market_pulls[m.ticker]  # the refusal that pulled it is over
        eng.markets[m.ticker] = m
    if added:
        log.info("event.markets_added", tickers=added)
        if eng._on_event_change:
            eng._on_event_change(list(eng.markets))
    eng._revalue()
