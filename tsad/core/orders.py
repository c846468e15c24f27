"""Our orders: value types as the exchange reports them, and the local mirror of their states."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from tsad.errors import AmbiguousOutcome, Conflict, InvariantError, NotFound


__all__ = [
    "Balance",
    "BookSide",
    "Fill",
    "MirrorOrder",
    "MirrorState",
    "Order",
    "OrderMirror",
    "OrderRequest",
    "OrderStatus",
    "Position",
    "WriteAck",
]


class BookSide(StrEnum):
    """V2 order side on the single YES book: ``bid`` buys YES, ``ask`` sells YES (buys NO)."""

    BID = "bid"
    ASK = "ask"


class OrderStatus(StrEnum):
    """Kalshi's order status."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order as read from the exchange. Prices are YES prices in $0.0001, counts in 0.01."""

    order_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    remaining: int
    filled: int
    initial: int
    status: OrderStatus
    created_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """A V2 create request (``POST /portfolio/events/orders``)."""

    ticker: str
    side: BookSide
    price: int
    count: int
    client_order_id: str
    time_in_force: str = "good_till_canceled"
    self_trade_prevention_type: str = "taker_at_cross"
    post_only: bool = True
    cancel_order_on_pause: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteAck:
    """The synchronous answer to a V2 write (create, amend, decrease, cancel).

    ``remaining`` / ``filled`` are None when the exchange did not report them.
    """

    order_id: str
    client_order_id: str | None = None
    remaining: int | None = None
    filled: int | None = None
    ts_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution of one of our orders (``side`` is our order's book side)."""

    trade_id: str
    order_id: str
    ticker: str
    side: BookSide
    price: int
    count: int
    fee: int = 0
    is_taker: bool = False
    client_order_id: str | None = None
    ts: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """Net position in one market: ``position`` > 0 is long YES, < 0 long NO (count units).

    Money fields are in $0.000001 units.
    """

    ticker: str
    position: int
    exposure: int = 0
    realized_pnl: int = 0
    fees_paid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """Account balance in $0.000001 units."""

    balance: int
    portfolio_value: int = 0


# -- the local mirror of our orders --------------------------------------------------------
#
# Rules (h11 style; the engine calls these as requests go out and answers come back):
#
# * An order is PENDING from the moment its create request is sent until the exchange
#   acknowledges it (REST ack, a ``user_order`` message, or a REST read that shows it), then
#   RESTING; CANCELLING once a cancel is sent; DONE when cancelled, fully executed, or gone
#   from a REST read. DONE is final for websocket messages (a late ``resting`` user_order
#   does not resurrect it); only REST truth (``on_resync``) can bring an order back.
# * A pending create is keyed by its client_order_id; once acknowledged, by order_id too.
#   A client_order_id is never reused while its order is live (an InvariantError otherwise).
# * Fills are deduplicated by trade_id (the websocket and REST may both report one). The
#   filled amount of an order is the larger of the sum of its fills and what the exchange
#   last reported, so fills and user_order messages may arrive in either order.
# * ``remaining = initial - filled``; it never goes negative (an InvariantError otherwise);
#   at 0 the order is DONE.
# * A REST read of resting orders replaces the resting set, except for creates still in
#   flight (and orders acknowledged within the grace window), which stay until confirmed
#   or timed out, since REST reads can lag the matching engine (kalshi-api.md §8).
# * Every transition advances a logical clock (``mark()`` reads it). A read that began at
#   mark ``m`` (``on_resync(..., since=m)``) cannot revive an order that ended after ``m``,
#   overwrite an order changed after ``m``, or drop an order changed after ``m``: what we
#   learnt while the read was in flight is newer than the read.
# * Positions are the net YES count per market: a bid fill adds, an ask fill subtracts.


class MirrorState(StrEnum):
    """Where one of our orders is in its life, as far as we know."""

    PENDING = "pending"
    RESTING = "resting"
    CANCELLING = "cancelling"
    DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorOrder:
    """A snapshot of one of our orders in the mirror (price YES, counts in 0.01 units).

    ``order_id`` is None while the create is pending and unacknowledged.
    """

    order_id: str | None
    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    remaining: int
    filled: int
    state: MirrorState


@dataclass(slots=True, kw_only=True)
class _Entry:
    order_id: str | None
    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    initial: int
    reported_filled: int
    fill_sum: int
    state: MirrorState
    since_ms: int
    confirmed: bool = False
    amending: bool = False
    changed: int = 0

    @property
    def filled(self) -> int:
        return max(self.reported_filled, self.fill_sum)

    @property
    def remaining(self) -> int:
        return self.initial - self.filled

    def view(self) -> MirrorOrder:
        return MirrorOrder(
            order_id=self.order_id, client_order_id=self.client_order_id, ticker=self.ticker,
            side=self.side, price=self.price, remaining=self.remaining, filled=self.filled,
            state=self.state,
        )


class OrderMirror:
    """The local mirror of our orders: pending / resting / cancelling / done (sans-I/O).

    Args:
        pending_timeout_ms: how long a create (or a fresh ack) may stay invisible to a REST
            read before the read's verdict wins.
    """

    def __init__(self, *, pending_timeout_ms: int = 30_000) -> None:
        self._timeout = pending_timeout_ms
        self._by_cid: dict[str, _Entry] = {}
        self._by_id: dict[str, _Entry] = {}
        self._done_ids: dict[str, int] = {}  # order_id → mark when it ended
        self._mark = 0
        self._trades: set[str] = set()
        self._positions: dict[str, int] = {}

    # -- queries -----------------------------------------------------------------------

    def mark(self) -> int:
        """Return the logical time now: pass it as ``since`` to the resync of a read begun now."""
        return self._mark

    def _touch(self, e: _Entry) -> None:
        self._mark += 1
        e.changed = self._mark

    def _ended(self, order_id: str) -> None:
        self._mark += 1
        self._done_ids[order_id] = self._mark

    def get(self, key: str) -> MirrorOrder | None:
        """Return the live order with this order_id or client_order_id, or None."""
        e = self._by_id.get(key) or self._by_cid.get(key)
        return e.view() if e is not None else None

    def resting(self) -> list[MirrorOrder]:
        """Return the orders resting on the exchange (not pending, not being cancelled)."""
        return sorted(
            (e.view() for e in self._by_cid.values() if e.state is MirrorState.RESTING),
            key=lambda o: (o.ticker, o.side, o.price, o.client_order_id),
        )

    def live(self) -> list[MirrorOrder]:
        """Return every order not DONE (pending, resting and cancelling)."""
        return sorted(
            (e.view() for e in self._by_cid.values()),
            key=lambda o: (o.ticker, o.side, o.price, o.client_order_id),
        )

    def in_flight_keys(self) -> set[tuple[str, BookSide]]:
        """Return the (ticker, side) pairs with a create or cancel awaiting its outcome."""
        return {
            (e.ticker, e.side)
            for e in self._by_cid.values()
            if e.state in (MirrorState.PENDING, MirrorState.CANCELLING) or e.amending
        }

    def position(self, ticker: str) -> int:
        """Return our net position in ``ticker`` (count units; > 0 long YES)."""
        return self._positions.get(ticker, 0)

    def positions(self) -> dict[str, int]:
        """Return every non-zero net position by ticker (count units)."""
        return {t: p for t, p in self._positions.items() if p}

    def set_position(self, ticker: str, position: int) -> None:
        """Set a position from an authoritative source (REST read, ``post_position``)."""
        self._positions[ticker] = position

    # -- transitions -------------------------------------------------------------------

    def on_create_sent(self, request: OrderRequest, now_ms: int) -> None:
        """Record a create request as pending.

        Raises:
            InvariantError: its client_order_id is already live, or its count is not > 0.
        """
        if request.client_order_id in self._by_cid:
            raise InvariantError(f"client_order_id {request.client_order_id} is already live")
        if request.count <= 0:
            raise InvariantError(f"create {request.client_order_id} with count {request.count}")
        self._by_cid[request.client_order_id] = _Entry(
            order_id=None, client_order_id=request.client_order_id, ticker=request.ticker,
            side=request.side, price=request.price, initial=request.count, reported_filled=0,
            fill_sum=0, state=MirrorState.PENDING, since_ms=now_ms,
        )
        self._touch(self._by_cid[request.client_order_id])

    def _link(self, e: _Entry, order_id: str) -> None:
        if e.order_id is not None and e.order_id != order_id:
            raise InvariantError(
                f"client_order_id {e.client_order_id} maps to {e.order_id} and {order_id}"
            )
        e.order_id = order_id
        self._by_id[order_id] = e

    def _finish(self, e: _Entry) -> None:
        e.state = MirrorState.DONE
        self._by_cid.pop(e.client_order_id, None)
        if e.order_id is not None:
            self._by_id.pop(e.order_id, None)
            self._ended(e.order_id)

    def _report(self, e: _Entry, *, remaining: int | None, filled: int | None) -> None:
        self._touch(e)
        if filled is not None:
            e.reported_filled = max(e.reported_filled, filled)
        if remaining is not None and filled is not None:
            e.initial = filled + remaining
        elif remaining is not None:
            e.initial = e.filled + remaining
        if e.remaining < 0:
            raise InvariantError(
                f"order {e.order_id or e.client_order_id}: remaining {e.remaining} < 0"
            )
        if e.remaining == 0:
            self._finish(e)

    def on_ack(self, ack: WriteAck, now_ms: int) -> None:
        """Apply the synchronous answer to a create (by client_order_id) or another write.

        A create ack makes the order RESTING; an ack with ``remaining == 0`` makes it DONE.

        Raises:
            InvariantError: the ack matches no live order we sent.
        """
        e = self._by_id.get(ack.order_id)
        if e is None and ack.client_order_id is not None:
            e = self._by_cid.get(ack.client_order_id)
        if e is None:
            if ack.order_id in self._done_ids:
                return
            raise InvariantError(f"ack for unknown order {ack.order_id}")
        self._link(e, ack.order_id)
        if e.state is MirrorState.PENDING:
            e.state = MirrorState.RESTING
            e.since_ms = now_ms
        self._report(e, remaining=ack.remaining, filled=ack.filled)

    def on_user_order(self, order: Order) -> None:
        """Apply a ``user_order`` message (or any exchange report of one order).

        Unknown orders of ours are adopted; orders already DONE stay DONE.
        """
        if order.order_id in self._done_ids:
            return
        e = self._by_id.get(order.order_id) or self._by_cid.get(order.client_order_id)
        if e is None:
            if order.status is not OrderStatus.RESTING:
                self._ended(order.order_id)
                return
            e = self._adopt(order, now_ms=0)
            e.confirmed = False
        self._link(e, order.order_id)
        if order.status is not OrderStatus.RESTING:
            e.reported_filled = max(e.reported_filled, order.filled)
            self._finish(e)
            return
        if e.state is MirrorState.PENDING:
            e.state = MirrorState.RESTING
        e.price = order.price
        self._report(e, remaining=order.remaining, filled=order.filled)

    def _adopt(self, order: Order, *, now_ms: int) -> _Entry:
        if order.client_order_id in self._by_cid:
            raise InvariantError(f"client_order_id {order.client_order_id} is already live")
        e = _Entry(
            order_id=order.order_id, client_order_id=order.client_order_id, ticker=order.ticker,
            side=order.side, price=order.price, initial=order.remaining + order.filled,
            reported_filled=order.filled, fill_sum=0, state=MirrorState.RESTING, since_ms=now_ms,
            confirmed=True,
        )
        self._by_cid[order.client_order_id] = e
        self._by_id[order.order_id] = e
        self._touch(e)
        return e

    def on_fill(self, fill: Fill) -> bool:
        """Apply one execution; update the order and the position.

        Returns:
            False when this trade_id was already applied (nothing changed), else True.
        """
        if fill.trade_id in self._trades:
            return False
        self._trades.add(fill.trade_id)
        signed = fill.count if fill.side is BookSide.BID else -fill.count
        self._positions[fill.ticker] = self._positions.get(fill.ticker, 0) + signed
        e = self._by_id.get(fill.order_id)
        if e is None and fill.client_order_id is not None:
            e = self._by_cid.get(fill.client_order_id)
        if e is not None:
            self._link(e, fill.order_id)
            e.fill_sum += fill.count
            if e.state is MirrorState.PENDING:
                e.state = MirrorState.RESTING
            self._report(e, remaining=None, filled=None)
        return True

    def on_amend_sent(self, order_id: str) -> None:
        """Record that an amend (or decrease) of a resting order is in flight.

        Raises:
            InvariantError: the order is not resting, or already being amended.
        """
        e = self._by_id.get(order_id)
        if e is None or e.state is not MirrorState.RESTING or e.amending:
            state = e.state if e is not None else "unknown"
            raise InvariantError(f"amend of order {order_id} in state {state}")
        e.amending = True
        self._touch(e)

    def on_amended(self, order_id: str, *, price: int, ack: WriteAck) -> None:
        """Apply a successful amend or decrease: the new price and the acknowledged counts.

        ``ack.order_id`` may differ from ``order_id`` if the exchange re-keyed the order.
        """
        e = self._by_id.get(order_id)
        if e is None:
            return
        e.amending = False
        e.price = price
        if ack.order_id != order_id:
            self._by_id.pop(order_id, None)
            e.order_id = None
            self._link(e, ack.order_id)
        self._report(e, remaining=ack.remaining, filled=ack.filled)

    def on_cancel_sent(self, order_id: str) -> None:
        """Record that a cancel of ``order_id`` is in flight.

        Raises:
            InvariantError: the order is not resting (unknown, pending or already cancelling).
        """
        e = self._by_id.get(order_id)
        if e is None or e.state is not MirrorState.RESTING:
            state = e.state if e is not None else "unknown"
            raise InvariantError(f"cancel of order {order_id} in state {state}")
        e.state = MirrorState.CANCELLING
        self._touch(e)

    def on_cancelled(self, order_id: str) -> None:
        """Record that ``order_id`` is gone (cancel acknowledged, or 404 on cancel)."""
        e = self._by_id.get(order_id)
        if e is not None:
            self._finish(e)
        else:
            self._ended(order_id)

    def on_error(
        self, exc: BaseException, *, client_order_id: str | None = None,
        order_id: str | None = None,
    ) -> None:
        """Apply a failed write.

        A failed create is forgotten unless its outcome is ambiguous or a `Conflict` (it then
        stays pending until a REST read or a message resolves it). A failed cancel or amend
        returns the order to RESTING, except `NotFound`, which means it is already gone.
        """
        if order_id is not None:
            e = self._by_id.get(order_id)
            if e is None:
                return
            e.amending = False
            self._touch(e)
            if isinstance(exc, NotFound):
                self._finish(e)
            elif e.state is MirrorState.CANCELLING:
                e.state = MirrorState.RESTING
            return
        if client_order_id is not None:
            e = self._by_cid.get(client_order_id)
            if e is None or e.state is not MirrorState.PENDING:
                return
            if isinstance(exc, AmbiguousOutcome | Conflict):
                return
            del self._by_cid[client_order_id]

    def on_resync(
        self, orders: Iterable[Order], now_ms: int, *, since: int | None = None
    ) -> list[MirrorOrder]:
        """Replace the resting set with a REST read of our resting orders.

        Pending creates (and orders acknowledged less than ``pending_timeout_ms`` ago) that
        the read does not show are kept; older ones are dropped.

        Args:
            orders: our resting orders as the exchange reported them.
            now_ms: monotonic milliseconds (for the pending grace window).
            since: `mark()` when the read began; what changed after it is newer than the
                read and wins over it. None: the read is newer than everything we know.

        Returns:
            The orders dropped because the exchange no longer shows them.
        """
        seen: set[str] = set()
        for order in orders:
            if order.status is not OrderStatus.RESTING:
                continue
            seen.add(order.client_order_id)
            ended = self._done_ids.get(order.order_id)
            if ended is not None and since is not None and ended > since:
                continue  # it ended while the read was in flight
            self._done_ids.pop(order.order_id, None)
            e = self._by_id.get(order.order_id) or self._by_cid.get(order.client_order_id)
            if e is None:
                e = self._adopt(order, now_ms=now_ms)
            self._link(e, order.order_id)
            e.confirmed = True
            if since is not None and e.changed > since:
                continue  # we heard of a newer state of it meanwhile
            if e.state is MirrorState.PENDING:
                e.state = MirrorState.RESTING
            e.price = order.price
            e.reported_filled = order.filled
            e.fill_sum = min(e.fill_sum, order.filled)
            e.initial = order.filled + order.remaining
            self._touch(e)
        dropped = []
        for cid, e in list(self._by_cid.items()):
            if cid in seen:
                continue
            if since is not None and e.changed > since:
                continue
            fresh = not e.confirmed and now_ms - e.since_ms < self._timeout
            if fresh and e.state in (MirrorState.PENDING, MirrorState.RESTING):
                continue
            dropped.append(e.view())
            self._finish(e)
        return [replace(o, state=MirrorState.DONE) for o in dropped]
