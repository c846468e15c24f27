"""A small reference model of Kalshi's order semantics, for the stateful tests of the engine.

It follows the V2 spec, not the emulator: a create rests ``count`` (its ack carries the fills
on placement and what remains); an amend's ``count`` is the new total (filled + remaining)
and its ack reports ``fill_count`` = fills BY THE AMEND and ``remaining_count`` = resting
after it, both only when it filled or changed size; a decrease's ack carries what remains;
a cancel's ack remaining 0; any write on an order that no longer rests is a 404. Every change
emits a ``user_order`` message, every execution a ``fill`` message, onto one websocket queue
the test delivers in whatever order (or never) it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tsad.core.orders import BookSide, Fill, Order, OrderRequest, OrderStatus, WriteAck
from tsad.errors import Conflict, ExchangeError, NotFound, OrderRejected


@dataclass
class XOrder:
    """One order on the model exchange."""

    order_id: str
    cid: str
    ticker: str
    side: BookSide
    price: int
    total: int
    filled: int = 0
    status: OrderStatus = OrderStatus.RESTING

    @property
    def remaining(self) -> int:
        return self.total - self.filled if self.status is OrderStatus.RESTING else 0

    def report(self) -> Order:
        return Order(order_id=self.order_id, client_order_id=self.cid, ticker=self.ticker,
                     side=self.side, price=self.price, remaining=self.remaining,
                     filled=self.filled, initial=self.total, status=self.status,
                     created_time=datetime(2026, 11, 23, tzinfo=UTC))


@dataclass
class RefExchange:
    """The model exchange: orders, positions, and the websocket messages it emits."""

    orders: dict[str, XOrder] = field(default_factory=dict)
    by_cid: dict[str, str] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    ws: list[Fill | Order] = field(default_factory=list)
    seq: int = 0

    def _next(self, kind: str) -> str:
        self.seq += 1
        return f"{kind}{self.seq}"

    def resting(self) -> list[XOrder]:
        return [o for o in self.orders.values() if o.status is OrderStatus.RESTING]

    def _emit(self, o: XOrder) -> None:
        self.ws.append(o.report())

    def execute(self, o: XOrder, count: int) -> None:
        """A counterparty takes ``count`` of our resting order ``o``."""
        count = min(count, o.remaining)
        if count <= 0:
            return
        o.filled += count
        if o.filled == o.total:
            o.status = OrderStatus.EXECUTED
        signed = count if o.side is BookSide.BID else -count
        self.position[o.ticker] = self.position.get(o.ticker, 0) + signed
        f = Fill(trade_id=self._next("t"), order_id=o.order_id, ticker=o.ticker, side=o.side,
                 price=o.price, count=count, client_order_id=o.cid,
                 ts=datetime(2026, 11, 24, tzinfo=UTC))
        self.fills.append(f)
        self.ws.append(f)
        self._emit(o)

    def create(self, req: OrderRequest, *, cross: int = 0) -> WriteAck | ExchangeError:
        if req.client_order_id in self.by_cid:
            return Conflict("duplicate client_order_id", status=409)
        o = XOrder(order_id=self._next("o"), cid=req.client_order_id, ticker=req.ticker,
                   side=req.side, price=req.price, total=req.count)
        self.orders[o.order_id] = o
        self.by_cid[o.cid] = o.order_id
        self.execute(o, cross)
        self._emit(o)
        return WriteAck(order_id=o.order_id, client_order_id=o.cid, remaining=o.remaining,
                        filled=o.filled)

    def amend(self, order_id: str, *, price: int, count: int,
              cross: int = 0) -> WriteAck | ExchangeError:
        o = self.orders.get(order_id)
        if o is None or o.status is not OrderStatus.RESTING:
            return NotFound("order not found", status=404)
        if count <= o.filled:
            return OrderRejected("count not above filled", status=400, code="invalid_order")
        before = o.remaining
        o.price, o.total = price, count
        filled_before = o.filled
        self.execute(o, cross)
        by_amend = o.filled - filled_before
        self._emit(o)
        changed = by_amend > 0 or o.remaining != before
        return WriteAck(order_id=o.order_id, client_order_id=o.cid,
                        remaining=o.remaining if changed else None,
                        filled=by_amend if changed else None)

    def decrease(self, order_id: str, *, reduce_to: int) -> WriteAck | ExchangeError:
        o = self.orders.get(order_id)
        if o is None or o.status is not OrderStatus.RESTING:
            return NotFound("order not found", status=404)
        o.total = o.filled + min(o.remaining, reduce_to)
        if o.remaining == 0:
            o.status = OrderStatus.CANCELED
        self._emit(o)
        return WriteAck(order_id=o.order_id, client_order_id=o.cid, remaining=o.remaining)

    def cancel(self, order_id: str) -> WriteAck | ExchangeError:
        o = self.orders.get(order_id)
        if o is None or o.status is not OrderStatus.RESTING:
            return NotFound("order not found", status=404)
        reduced_by = o.remaining
        o.status = OrderStatus.CANCELED
        self._emit(o)
        return WriteAck(order_id=o.order_id, client_order_id=o.cid, remaining=0,
                        reduced_by=reduced_by if self.seq % 2 else None)
