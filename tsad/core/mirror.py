"""The order mirror: the local picture of our orders (pending / resting / cancelling / done).

Rules (h11 style; the engine calls ``on_*_sent`` as requests go out and the other ``on_*``
methods as answers, messages and reads come back):

1. Exchange-driven input never raises. Acks, ``user_order`` messages, fills and REST reads
   arrive in any order, twice, late, across reconnects and across the weekly roll. What
   cannot be reconciled is recorded as a `Problem` (its market, and why); the engine takes
   them with `take_problems`, freezes the market and reads it back. Only our own requests
   (``on_create_sent``, ``on_amend_sent``, ``on_cancel_sent``) raise `InvariantError`, for
   calls the engine must never make.
2. Each order has a ``total`` (the max fillable count: filled + remaining) and a cumulative
   ``filled``; ``remaining = max(0, total − filled)``. Fills never change the total; only
   our writes and the exchange's reports of the whole order do:
   * create: total = the request's count; its ack's ``fill_count`` is the order's fills;
   * amend (V2): the request's ``count`` IS the new total (filled + desired remaining, per
     the spec); the ack's ``fill_count`` counts only the fills BY THE AMEND and is never
     added to anything; its ``remaining_count`` (when present) says the order's cumulative
     fills were ``count − remaining_count`` at that moment;
   * decrease: the ack's ``remaining_count`` is the resting size after it; the total
     becomes what we know filled plus that, a lower bound when fills are still in the air;
   * ``user_order`` and REST reads: total = filled + remaining as reported.
3. ``filled`` is the larger of the sum of the order's fills (deduplicated by trade_id) and
   the cumulative count the exchange last reported, so every order of arrival gives the same
   answer once everything has arrived. A fill is counted once, whichever way it comes.
4. An order is DONE only on terminal evidence: a cancel ack or 404, a ``user_order`` that is
   not resting, an ack whose remaining is 0, a REST read that no longer shows it, or fills
   reaching the total of an order whose size we never changed. An order whose fills reach
   a total we changed (so the total may be stale) stays live with nothing remaining, and its
   (market, side) counts as in flight until that evidence comes: we never place a second
   order next to one that may still rest. Fills beyond the total are a `Problem`.
5. DONE is final for websocket messages (a late ``resting`` user_order does not resurrect
   it); only a REST read begun after the order ended can bring it back. An order that ended
   without telling us its fills (a cancel ack without ``reduced_by``, a 404) is SETTLING:
   its (market, side) counts as in flight until its final ``user_order`` or a REST read
   begun after it ended (with the fills read alongside) says what it filled, so the next
   quote is never sized off fills we have not heard of.
6. A pending create is keyed by its client_order_id; once acknowledged, by order_id too.
7. A REST read of resting orders replaces the resting set, except for creates still in
   flight (and orders acknowledged within the grace window), which stay until confirmed or
   timed out, since REST reads can lag the matching engine.
8. Every transition advances a logical clock (``mark()``). A read begun at mark ``m``
   (``on_resync(..., since=m)``) cannot revive an order that ended after ``m``, overwrite
   an order changed after ``m``, or drop an order changed after ``m``.
9. Positions come from fills (`Holdings`, with their cost) and REST reads. Fills an order
   reports (``user_order``, acks) before their fill messages arrive count in the position
   at the order's price until they do, so a quote is never sized off a stale position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from tsad.core.holdings import Holdings, fill_cost
from tsad.core.orders import (
    BookSide,
    Fill,
    MirrorOrder,
    MirrorState,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    WriteAck,
)
from tsad.errors import AmbiguousOutcome, Conflict, InvariantError, NotFound


__all__ = ["OrderMirror", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Exchange input the mirror could not reconcile: resync ``ticker`` (None: everything)."""

    ticker: str | None
    detail: str


@dataclass(slots=True, kw_only=True)
class _Entry:
    order_id: str | None
    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    total: int
    initial: int
    reported_filled: int
    fill_sum: int
    state: MirrorState
    since_ms: int
    confirmed: bool = False
    amending: bool = False
    pending_total: int | None = None
    resized: bool = False
    changed: int = 0

    @property
    def filled(self) -> int:
        return max(self.reported_filled, self.fill_sum)

    @property
    def top(self) -> int:
        """The largest total the order may have now (an amend up may be in flight)."""
        return max(self.total, self.pending_total or 0)

    @property
    def remaining(self) -> int:
        return max(0, self.top - self.filled)

    @property
    def unseen(self) -> int:
        """Fills the exchange reported that no fill message has told us of yet."""
        return max(0, self.reported_filled - self.fill_sum)

    def view(self) -> MirrorOrder:
        return MirrorOrder(
            order_id=self.order_id, client_order_id=self.client_order_id, ticker=self.ticker,
            side=self.side, price=self.price, remaining=self.remaining, filled=self.filled,
            state=self.state,
        )


def _order_key(o: MirrorOrder) -> tuple[str, str, int, str]:
    return (o.ticker, str(o.side), o.price, o.client_order_id)


class OrderMirror:
    """The local mirror of our orders (sans-I/O; see the module rules).

    Args:
        pending_timeout_ms: how long a create (or a fresh ack) may stay invisible to a REST
            read before the read's verdict wins.
    """

    def __init__(self, *, pending_timeout_ms: int = 30_000) -> None:
        self._timeout = pending_timeout_ms
        self._by_cid: dict[str, _Entry] = {}
        self._by_id: dict[str, _Entry] = {}
        self._done_ids: dict[str, int] = {}  # order_id → mark when it ended
        self._unseen_done: dict[str, tuple[str, BookSide, int, int]] = {}
        self._settling: dict[str, tuple[str, BookSide, int]] = {}  # id → ticker, side, mark
        self._mark = 0
        self._trades: set[str] = set()
        self._heard: dict[str, int] = {}  # order_id → count its fill messages told us of
        self._holdings = Holdings()
        self._problems: list[Problem] = []

    # -- queries -----------------------------------------------------------------------

    def mark(self) -> int:
        """Return the logical time now: pass it as ``since`` to the resync of a read begun now."""
        return self._mark

    def take_problems(self) -> list[Problem]:
        """Return (and forget) the inconsistencies recorded since the last call."""
        out, self._problems = self._problems, []
        return out

    def get(self, key: str) -> MirrorOrder | None:
        """Return the live order with this order_id or client_order_id, or None."""
        e = self._by_id.get(key) or self._by_cid.get(key)
        return e.view() if e is not None else None

    def resting(self) -> list[MirrorOrder]:
        """Return the orders resting on the exchange (not pending, not being cancelled)."""
        return sorted((e.view() for e in self._by_cid.values()
                       if e.state is MirrorState.RESTING and e.remaining > 0), key=_order_key)

    def live(self) -> list[MirrorOrder]:
        """Return every order not DONE (pending, resting and cancelling)."""
        return sorted((e.view() for e in self._by_cid.values()), key=_order_key)

    def in_flight_keys(self) -> set[tuple[str, BookSide]]:
        """Return the (ticker, side) pairs with a write awaiting its outcome, or an order whose
        fate is unknown (nothing remaining, no terminal status yet)."""
        keys = {
            (e.ticker, e.side)
            for e in self._by_cid.values()
            if e.state in (MirrorState.PENDING, MirrorState.CANCELLING) or e.amending
            or e.remaining == 0
        }
        return keys | {(t, s) for t, s, _ in self._settling.values()}

    def settling(self) -> bool:
        """Tell whether an order ended with fills we do not know yet (a read resolves it)."""
        return bool(self._settling)

    def position(self, ticker: str) -> int:
        """Return our net position in ``ticker`` (count units; > 0 long YES)."""
        extra, _ = self._unseen(ticker)
        return self._holdings.position(ticker) + extra

    def fills_position(self, ticker: str) -> int:
        """Return the position from fill messages (and REST reads) alone (count units)."""
        return self._holdings.position(ticker)

    def positions(self) -> dict[str, int]:
        """Return every non-zero net position by ticker (count units)."""
        tickers = set(self._holdings.tickers()) | {e.ticker for e in self._by_cid.values()}
        tickers |= {t for t, _, _, _ in self._unseen_done.values()}
        return {t: p for t in sorted(tickers) if (p := self.position(t))}

    def position_values(self) -> dict[str, Position]:
        """Return every non-zero position with its cost (``exposure``, money units)."""
        out = {}
        for t in self.positions():
            extra, extra_cost = self._unseen(t)
            out[t] = self._holdings.value(t, extra=extra, extra_cost=extra_cost)
        return out

    def _unseen(self, ticker: str) -> tuple[int, int]:
        n = cost = 0
        rows = [(e.side, e.price, e.unseen) for e in self._by_cid.values() if e.ticker == ticker]
        rows += [(s, p, u) for t, s, p, u in self._unseen_done.values() if t == ticker]
        for side, price, u in rows:
            n += u if side is BookSide.BID else -u
            cost += fill_cost(side, price, u)
        return n, cost

    def set_position(self, ticker: str, position: int, exposure: int | None = None) -> None:
        """Set a position (and its cost) from an authoritative source (REST read)."""
        extra, extra_cost = self._unseen(ticker)
        base_cost = None if exposure is None else max(0, abs(exposure) - extra_cost)
        self._holdings.set(ticker, position - extra, base_cost)

    # -- our requests (these raise on calls the engine must never make) ------------------

    def on_create_sent(self, request: OrderRequest, now_ms: int) -> None:
        """Record a create request as pending.

        Raises:
            InvariantError: its client_order_id is already live, or its count is not > 0.
        """
        if request.client_order_id in self._by_cid:
            raise InvariantError(f"client_order_id {request.client_order_id} is already live")
        if request.count <= 0:
            raise InvariantError(f"create {request.client_order_id} with count {request.count}")
        e = _Entry(
            order_id=None, client_order_id=request.client_order_id, ticker=request.ticker,
            side=request.side, price=request.price, total=request.count,
            initial=request.count, reported_filled=0,
            fill_sum=0, state=MirrorState.PENDING, since_ms=now_ms,
        )
        self._by_cid[request.client_order_id] = e
        self._touch(e)

    def on_amend_sent(self, order_id: str, *, total: int | None = None) -> None:
        """Record that an amend (``total``: its request count) or a decrease is in flight.

        Raises:
            InvariantError: the order is not resting, or already being amended.
        """
        e = self._by_id.get(order_id)
        if e is None or e.state is not MirrorState.RESTING or e.amending:
            state = e.state if e is not None else "unknown"
            raise InvariantError(f"amend of order {order_id} in state {state}")
        e.amending = True
        e.pending_total = total
        self._touch(e)

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

    # -- the exchange's answers (never raise) -------------------------------------------

    def on_ack(self, ack: WriteAck, now_ms: int) -> None:
        """Apply the synchronous answer to a create: the order rests (or is done at 0)."""
        e = self._find(ack.order_id, ack.client_order_id)
        if e is None:
            if ack.order_id not in self._done_ids:
                self._problem(None, f"create ack for unknown order {ack.order_id}")
            return
        if not self._link(e, ack.order_id):
            return
        if e.state is MirrorState.PENDING:
            e.state = MirrorState.RESTING
            e.since_ms = now_ms
        if ack.filled is not None:
            e.reported_filled = max(e.reported_filled, ack.filled)
        if ack.remaining is not None:  # of the create's own count, whatever came since
            e.reported_filled = max(e.reported_filled, e.initial - ack.remaining)
        self._settle(e, done=ack.remaining == 0)

    def on_amended(
        self, order_id: str, *, price: int, ack: WriteAck, total: int | None = None
    ) -> None:
        """Apply a successful amend (``total``: its request count) or decrease (None).

        ``ack.order_id`` may differ from ``order_id`` if the exchange re-keyed the order.
        """
        e = self._by_id.get(order_id)
        if e is None:
            if order_id not in self._done_ids:
                self._problem(None, f"amend ack for unknown order {order_id}")
            return
        e.amending, e.pending_total, e.resized = False, None, True
        e.price = price
        if ack.order_id != order_id:
            self._by_id.pop(order_id, None)
            e.order_id = None
            self._link(e, ack.order_id)
        if total is not None:  # amend: the request's count is the new total
            e.total = total
            if ack.remaining is not None:
                e.reported_filled = max(e.reported_filled, total - ack.remaining)
        elif ack.remaining is not None:  # decrease: what rests now, on top of known fills
            e.total = e.filled + ack.remaining
        self._settle(e, done=ack.remaining == 0)

    def on_user_order(self, order: Order) -> None:
        """Apply a ``user_order`` message (or any exchange report of one order).

        Unknown resting orders of ours are adopted; orders already DONE stay DONE.
        """
        if order.order_id in self._done_ids:
            if (self._settling.pop(order.order_id, None) is not None
                    and order.status is not OrderStatus.RESTING):
                self._remember_unseen(order.order_id, order.ticker, order.side, order.price,
                                      self._unseen_of(order.order_id, order.filled))
            return
        e = self._find(order.order_id, order.client_order_id)
        if e is None:
            if order.status is not OrderStatus.RESTING:
                self._remember_unseen(order.order_id, order.ticker, order.side, order.price,
                                      self._unseen_of(order.order_id, order.filled))
                self._ended(order.order_id)
                return
            e = self._adopt(order, now_ms=0)
            e.confirmed = False
        if not self._link(e, order.order_id):
            return
        e.reported_filled = max(e.reported_filled, order.filled)
        if order.status is not OrderStatus.RESTING:
            self._finish(e)
            return
        if e.state is MirrorState.PENDING:
            e.state = MirrorState.RESTING
        e.price = order.price
        e.total = order.filled + order.remaining
        e.resized = True
        self._settle(e, done=order.remaining == 0)

    def on_fill(self, fill: Fill) -> bool:
        """Apply one execution; update the order and the position.

        Returns:
            False when this trade_id was already applied (nothing changed), else True.
        """
        if fill.trade_id in self._trades:
            return False
        self._trades.add(fill.trade_id)
        self._holdings.apply(fill.ticker, fill.side, fill.price, fill.count)
        gone = self._unseen_done.get(fill.order_id)
        if gone is not None:
            t, s, p, u = gone
            if u > fill.count:
                self._unseen_done[fill.order_id] = (t, s, p, u - fill.count)
            else:
                del self._unseen_done[fill.order_id]
        e = self._find(fill.order_id, fill.client_order_id)
        linked = e is not None and self._link(e, fill.order_id)
        self._heard[fill.order_id] = self._heard.get(fill.order_id, 0) + fill.count
        if e is not None and linked:
            e.fill_sum += fill.count
            if e.state is MirrorState.PENDING:
                e.state = MirrorState.RESTING
            self._settle(e, done=False)
        return True

    def on_cancelled(self, order_id: str, *, reduced_by: int | None = None) -> None:
        """Record that ``order_id`` is gone (cancel acknowledged, or 404 on cancel).

        ``reduced_by`` (the cancel ack's count cancelled) tells the order's final fills;
        without it the order is SETTLING until they are known.
        """
        e = self._by_id.get(order_id)
        if e is not None:
            if reduced_by is not None:
                e.reported_filled = max(e.reported_filled, e.top - reduced_by)
            elif e.remaining > 0:
                self._settling[order_id] = (e.ticker, e.side, self._mark + 1)
            self._finish(e)
        elif order_id not in self._done_ids:
            self._ended(order_id)

    def on_error(
        self, exc: BaseException, *, client_order_id: str | None = None,
        order_id: str | None = None,
    ) -> None:
        """Apply a failed write.

        A failed create is forgotten unless its outcome is ambiguous or a `Conflict` (it then
        stays pending until a REST read or a message resolves it). A failed cancel or amend
        returns the order to RESTING, except `NotFound`, which means it is already gone; a
        write on an order whose outcome is ambiguous is a `Problem` (an amend's total is then
        taken as the larger of the two until a read says).
        """
        if order_id is not None:
            e = self._by_id.get(order_id)
            if e is None:
                return
            was_amending, e.amending = e.amending, False
            pending, e.pending_total = e.pending_total, None
            self._touch(e)
            if isinstance(exc, NotFound):
                self.on_cancelled(order_id)
                return
            if e.state is MirrorState.CANCELLING:
                e.state = MirrorState.RESTING
            if isinstance(exc, AmbiguousOutcome | Conflict):
                if was_amending:
                    e.total = max(e.total, pending or 0)  # the larger, until a read says
                    e.resized = True
                self._problem(e.ticker, f"write on {order_id} has an unknown outcome")
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
        for oid, (_, _, ended_at) in list(self._settling.items()):
            if since is None or ended_at <= since:
                del self._settling[oid]  # the read (and its fills) began after it ended
        seen: set[str] = set()
        for order in orders:
            if order.status is not OrderStatus.RESTING:
                continue
            seen.add(order.client_order_id)
            ended = self._done_ids.get(order.order_id)
            if ended is not None and since is not None and ended > since:
                continue  # it ended while the read was in flight
            self._done_ids.pop(order.order_id, None)
            e = self._by_id.get(order.order_id)
            other = self._by_cid.get(order.client_order_id)
            if e is None and other is not None and other.order_id not in (None, order.order_id):
                # REST truth: this client_order_id now names another order.
                self._problem(order.ticker, f"{order.client_order_id} re-keyed by a read")
                self._forget(other)
                other = None
            e = e or other
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
            e.total = order.filled + order.remaining
            e.resized = True
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

    # -- internals --------------------------------------------------------------------

    def _problem(self, ticker: str | None, detail: str) -> None:
        self._problems.append(Problem(ticker, detail))

    def _touch(self, e: _Entry) -> None:
        self._mark += 1
        e.changed = self._mark

    def _ended(self, order_id: str) -> None:
        self._mark += 1
        self._done_ids[order_id] = self._mark

    def _find(self, order_id: str, client_order_id: str | None) -> _Entry | None:
        e = self._by_id.get(order_id)
        if e is None and client_order_id is not None:
            e = self._by_cid.get(client_order_id)
        return e

    def _link(self, e: _Entry, order_id: str) -> bool:
        """Key ``e`` by ``order_id`` too; False (a `Problem`) if it already has another."""
        if e.order_id is not None and e.order_id != order_id:
            self._problem(e.ticker, f"{e.client_order_id} maps to {e.order_id} and {order_id}")
            return False
        if e.order_id is None:  # fills heard of before we knew its id are its own
            e.fill_sum = max(e.fill_sum, self._heard.get(order_id, 0))
        e.order_id = order_id
        self._by_id[order_id] = e
        return True

    def _settle(self, e: _Entry, *, done: bool) -> None:
        """After new counts: finish the order on terminal evidence, flag overfills."""
        self._touch(e)
        if done and not e.amending:
            self._finish(e)
            return
        if e.filled > e.top:
            self._problem(e.ticker, f"order {e.order_id or e.client_order_id}: filled "
                          f"{e.filled} > total {e.top}")
        elif e.filled == e.top and not e.resized and not e.amending:
            self._finish(e)  # fully executed at the size it was placed with

    def _unseen_of(self, order_id: str, filled: int) -> int:
        """Fills of a finished order beyond those its fill messages told us of."""
        heard = self._heard.get(order_id, 0)
        return max(0, filled - heard)

    def _remember_unseen(
        self, order_id: str, ticker: str, side: BookSide, price: int, unseen: int
    ) -> None:
        if unseen > 0:
            self._unseen_done[order_id] = (ticker, side, price, unseen)

    def _finish(self, e: _Entry) -> None:
        e.state = MirrorState.DONE
        self._forget(e)
        if e.order_id is not None:
            self._remember_unseen(e.order_id, e.ticker, e.side, e.price, e.unseen)
            self._ended(e.order_id)

    def _forget(self, e: _Entry) -> None:
        self._by_cid.pop(e.client_order_id, None)
        if e.order_id is not None:
            self._by_id.pop(e.order_id, None)

    def _adopt(self, order: Order, *, now_ms: int) -> _Entry:
        e = _Entry(
            order_id=order.order_id, client_order_id=order.client_order_id, ticker=order.ticker,
            side=order.side, price=order.price, total=order.remaining + order.filled,
            initial=order.initial, reported_filled=order.filled, fill_sum=0,
            state=MirrorState.RESTING, since_ms=now_ms, confirmed=True, resized=True,
        )
        self._by_cid[order.client_order_id] = e
        self._by_id[order.order_id] = e
        self._touch(e)
        return e
