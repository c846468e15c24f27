"""The journal records the engine keeps of its orders and fills (what ``tsad report``
reads): each order's current state, the final state of orders a read no longer shows, and
each fill once at its true value."""

from __future__ import annotations

from dataclasses import replace

import structlog

from tsad.core.market import Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.orders import Fill, MirrorOrder, Order, OrderStatus
from tsad.runtime.journal import Journal
from tsad.runtime.ledger import Ledger, yes_value


__all__ = ["journal_final", "journal_order", "record_fill"]

log = structlog.get_logger("tsad.runtime.engine")


def journal_order(journal: Journal, mirror: OrderMirror, before: MirrorOrder | None,
                  order_id: str | None, gone: OrderStatus) -> None:
    """Keep the journal's view of one order current.

    Args:
        journal: the journal.
        mirror: our orders as the engine knows them now.
        before: the mirror's view before the change (used if the order is now gone).
        order_id: the order.
        gone: the status to record if the order is no longer live.
    """
    if order_id is None:
        return
    mo = mirror.get(order_id)
    status = OrderStatus.RESTING
    if mo is None:
        mo, status = before, gone
    if mo is None or mo.order_id is None:
        return
    resting = status is OrderStatus.RESTING
    total = mo.filled + mo.remaining
    journal.record_orders([Order(
        order_id=mo.order_id, client_order_id=mo.client_order_id, ticker=mo.ticker,
        side=mo.side, price=mo.price, remaining=mo.remaining if resting else 0,
        filled=total if status is OrderStatus.EXECUTED else mo.filled, initial=total,
        status=status,
    )])


def journal_final(journal: Journal, dropped: list[MirrorOrder], fills: list[Fill]) -> None:
    """Record the final status of orders a read no longer shows (filled or cancelled while
    we were not listening), so the journal never keeps them as resting."""
    filled: dict[str, int] = {}
    for f in fills:
        filled[f.order_id] = filled.get(f.order_id, 0) + f.count
    for mo in dropped:
        if mo.order_id is None:
            continue
        total = mo.filled + mo.remaining
        done = max(mo.filled, filled.get(mo.order_id, 0))
        status = OrderStatus.EXECUTED if done >= total else OrderStatus.CANCELED
        journal.record_orders([Order(
            order_id=mo.order_id, client_order_id=mo.client_order_id, ticker=mo.ticker,
            side=mo.side, price=mo.price, remaining=0, filled=min(done, total),
            initial=total, status=status,
        )])


def record_fill(ledger: Ledger, valuations: dict[str, Valuation], fill: Fill) -> bool:
    """Journal a fill once, at its market's true value (a timestamp out of range is
    dropped, not fatal). Returns whether it was new."""
    value = yes_value(valuations.get(fill.ticker))
    try:
        return ledger.fill(fill, value)
    except (ValueError, OverflowError) as exc:
        log.warning("fill.bad_timestamp", trade_id=fill.trade_id, error=str(exc))
        return ledger.fill(replace(fill, ts=None), value)
