"""The emulator's matching engine: price-time priority on one YES book per market, with accounts.

Pure: no I/O, no clock (``now`` is a parameter), no randomness (ids come from a callable).

Conventions (kalshi-api.md §3.8, §8):

* one YES book per market; a ``bid`` buys YES at p, an ``ask`` sells YES at p (= buys NO at
  1 − p). A bid at p matches an ask at p; the resting order's price is the trade price.
* a bid pays ``p × count``, an ask pays ``(1 − p) × count``; opposite legs held by one user
  net out and return $1 per netted pair, so money stays exact in $0.000001 units.
* fees: Kalshi's general trading fee for takers, ``ceil_$0.0001(0.07 × C × P × (1 − P))``
  per fill; makers pay 0 (KXTSAW's series fee type is believed to be ``quadratic``, which
  has no maker fee; no documented maker fee was found for this series).
* realized PnL excludes fees (fees are reported separately in ``fees_paid``); the cost
  basis of a partly closed position is split pro rata, flooring, with the remainder going
  to the last contract closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from tsad.core.fees import FeeSchedule
from tsad.core.money import CENT_GRID, PRICE_ONE, PriceGrid
from tsad.core.orders import BookSide, OrderStatus
from tsad.errors import Conflict, NotFound, OrderRejected
from tsad.sim.book import Book
from tsad.sim.records import (
    Account,
    BookChange,
    BookOrder,
    EngineEvent,
    FillRow,
    LifecycleChange,
    OrderChange,
    PositionChange,
    PositionState,
    TradeRow,
    leg_price,
    taker_fee,
)


__all__ = ["MatchingEngine"]

TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
STP_TYPES = ("taker_at_cross", "maker")


class MatchingEngine:
    """All markets, orders and accounts of the emulated exchange.

    Every mutating call appends `EngineEvent`s to an outbox that the caller drains with
    `drain` (to feed websocket subscribers).
    """

    def __init__(self, *, new_id: Callable[[], str]) -> None:
        """Create an empty engine.

        Args:
            new_id: returns a fresh unique id (orders, trades).
        """
        self._new_id = new_id
        self._books: dict[str, Book] = {}
        self._orders: dict[str, BookOrder] = {}
        self._by_client: dict[tuple[str, str], str] = {}
        self._accounts: dict[str, Account] = {}
        self._priority = 0
        self._outbox: list[EngineEvent] = []
        self.fills: list[FillRow] = []
        self.trades: list[TradeRow] = []
        self.volume: dict[str, int] = {}
        self.notional: dict[str, int] = {}
        self.last_price: dict[str, int] = {}
        self.last_size: dict[str, int] = {}
        # A market's own fee schedule (its event's override); absent: the quadratic default.
        self.fee_schedules: dict[str, FeeSchedule] = {}

    # ----------------------------------------------------------------- setup and reads

    def add_market(self, ticker: str, grid: PriceGrid = CENT_GRID) -> None:
        """Register a market with its price grid."""
        self._books.setdefault(ticker, Book(grid))

    def add_account(
        self, user: str, user_id: str, balance: int, *, unlimited: bool = False
    ) -> None:
        """Register a user (no-op if known).

        An ``unlimited`` account stands for many anonymous outside traders: no balance
        check and no self-trade prevention between its own orders.
        """
        if user not in self._accounts:
            self._accounts[user] = Account(
                user=user, user_id=user_id, balance=balance, unlimited=unlimited
            )

    def account(self, user: str) -> Account:
        """Return a user's account.

        Raises:
            NotFound: unknown user.
        """
        try:
            return self._accounts[user]
        except KeyError:
            raise NotFound("unknown user", status=404, code="not_found") from None

    def accounts(self) -> list[Account]:
        """Return every account."""
        return list(self._accounts.values())

    def has_market(self, ticker: str) -> bool:
        """Tell whether ``ticker`` is a known market."""
        return ticker in self._books

    def drain(self) -> list[EngineEvent]:
        """Return and clear the events produced since the last call."""
        out, self._outbox = self._outbox, []
        return out

    def levels(self, ticker: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Return ``(bids, asks)`` aggregated at YES prices, each ascending by price."""
        book = self._books[ticker]
        return book.levels(BookSide.BID), book.levels(BookSide.ASK)

    def best(self, ticker: str, side: BookSide) -> int | None:
        """Return the best resting price on one side, or None."""
        return self._books[ticker].best(side)

    def orders(self, user: str | None = None) -> list[BookOrder]:
        """Return all orders (of ``user`` if given), oldest first."""
        return [o for o in self._orders.values() if user is None or o.user == user]

    def order(self, user: str, order_id: str) -> BookOrder:
        """Return one of ``user``'s orders.

        Raises:
            NotFound: no such order for this user.
        """
        o = self._orders.get(order_id)
        if o is None or o.user != user:
            raise NotFound(f"order {order_id} not found", status=404, code="not_found")
        return o

    def committed(self, user: str) -> int:
        """Return the money held by ``user``'s resting orders (count × leg price)."""
        return sum(
            o.remaining * leg_price(o.side, o.price)
            for o in self._orders.values()
            if o.user == user and o.status is OrderStatus.RESTING
        )

    def open_interest(self, ticker: str) -> int:
        """Return the number of YES contracts held (count units)."""
        return sum(
            max(a.positions[ticker].position, 0) for a in self._accounts.values()
            if ticker in a.positions
        )

    # ----------------------------------------------------------------- writes

    def place(
        self,
        user: str,
        *,
        ticker: str,
        side: BookSide,
        price: int,
        count: int,
        client_order_id: str,
        now: datetime,
        time_in_force: str = "good_till_canceled",
        self_trade_prevention_type: str = "taker_at_cross",
        post_only: bool = False,
        cancel_order_on_pause: bool = False,
        order_group_id: str = "",
    ) -> BookOrder:
        """Place an order, match it, rest what is left (good-till-cancelled only).

        Raises:
            NotFound: unknown market.
            OrderRejected: off-grid price, bad count/tif/STP, post-only cross, no balance.
            Conflict: ``client_order_id`` already used by this user.
        """
        book = self._book(ticker)
        self._validate(book, price, count, time_in_force, self_trade_prevention_type)
        if client_order_id and (user, client_order_id) in self._by_client:
            raise Conflict(
                "Order with this client_order_id already exists", status=409,
                code="order_already_exists",
            )
        if post_only and self._would_cross(book, side, price):
            raise OrderRejected("post only cross", status=400, code="invalid order")
        acct = self.account(user)
        need = count * leg_price(side, price)
        if not acct.unlimited and need > acct.balance - self.committed(user):
            raise OrderRejected(
                "available balance too low", status=400, code="available_balance_too_low"
            )
        if time_in_force == "fill_or_kill" and self._fillable(book, user, side, price) < count:
            order = self._new_order(
                user, ticker, side, price, count, client_order_id, now, time_in_force,
                self_trade_prevention_type, post_only, cancel_order_on_pause, order_group_id,
            )
            order.remaining = 0
            order.status = OrderStatus.CANCELED
            self._outbox.append(OrderChange(order=replace(order)))
            return order
        order = self._new_order(
            user, ticker, side, price, count, client_order_id, now, time_in_force,
            self_trade_prevention_type, post_only, cancel_order_on_pause, order_group_id,
        )
        self._match_and_rest(book, order, now)
        return order

    def cancel(self, user: str, order_id: str, *, now: datetime) -> tuple[BookOrder, int]:
        """Cancel a resting order; return it and the count it was reduced by.

        Raises:
            NotFound: unknown, or already filled or cancelled.
        """
        order = self.order(user, order_id)
        if order.status is not OrderStatus.RESTING:
            raise NotFound(f"order {order_id} is {order.status}", status=404, code="not_found")
        reduced = order.remaining
        self._remove_resting(order, now, tagged=True)
        order.status = OrderStatus.CANCELED
        self._outbox.append(OrderChange(order=replace(order)))
        return order, reduced

    def decrease(
        self, user: str, order_id: str, *, now: datetime,
        reduce_by: int | None = None, reduce_to: int | None = None,
    ) -> BookOrder:
        """Reduce a resting order's remaining count (to 0 cancels it); keeps priority.

        Raises:
            NotFound: unknown or no longer resting.
            OrderRejected: neither or both of reduce_by/reduce_to, or out of range.
        """
        order = self.order(user, order_id)
        if order.status is not OrderStatus.RESTING:
            raise NotFound(f"order {order_id} is {order.status}", status=404, code="not_found")
        if (reduce_by is None) == (reduce_to is None):
            raise OrderRejected(
                "exactly one of reduce_by and reduce_to is required", status=400,
                code="invalid_parameters",
            )
        target = order.remaining - reduce_by if reduce_by is not None else reduce_to
        assert target is not None
        if target < 0 or target > order.remaining:
            raise OrderRejected(
                "reduce_by/reduce_to out of range", status=400, code="invalid_order_size"
            )
        if target == 0:
            self._remove_resting(order, now, tagged=True)
            order.status = OrderStatus.CANCELED
        elif target < order.remaining:
            self._emit_book(order, target - order.remaining, now, tagged=True)
            order.remaining = target
            order.initial = order.filled + target
            order.updated = now
        self._outbox.append(OrderChange(order=replace(order)))
        return order

    def amend(
        self, user: str, order_id: str, *, ticker: str, side: BookSide, price: int, count: int,
        now: datetime, updated_client_order_id: str | None = None,
    ) -> BookOrder:
        """Change price and total count (= filled + new remaining); may cross and fill.

        A pure size-down at the same price keeps time priority; anything else re-queues.

        Raises:
            NotFound: unknown or no longer resting.
            OrderRejected: ticker/side mismatch, bad price or count, post-only cross.
            Conflict: ``updated_client_order_id`` already used.
        """
        order = self.order(user, order_id)
        if order.status is not OrderStatus.RESTING:
            raise NotFound(f"order {order_id} is {order.status}", status=404, code="not_found")
        if ticker != order.ticker:
            raise OrderRejected("ticker does not match the order", status=400,
                                code="order_ticker_mismatch")
        if side is not order.side:
            raise OrderRejected("side does not match the order", status=400,
                                code="order_side_mismatch")
        book = self._book(ticker)
        self._validate(book, price, count, order.time_in_force, order.self_trade_prevention_type)
        new_remaining = count - order.filled
        if new_remaining <= 0:
            raise OrderRejected(
                "count must exceed the filled count", status=400, code="invalid_order_size"
            )
        renamed = bool(updated_client_order_id) and updated_client_order_id != order.client_order_id
        if renamed and (user, updated_client_order_id) in self._by_client:
            raise Conflict(
                "Order with this client_order_id already exists", status=409,
                code="order_already_exists",
            )
        others_cross = self._would_cross(book, side, price)
        if order.post_only and others_cross:
            raise OrderRejected("post only cross", status=400, code="invalid order")
        acct = self.account(user)
        need = new_remaining * leg_price(side, price)
        held = order.remaining * leg_price(order.side, order.price)
        if not acct.unlimited and need > acct.balance - self.committed(user) + held:
            raise OrderRejected(
                "available balance too low", status=400, code="available_balance_too_low"
            )
        if updated_client_order_id and updated_client_order_id != order.client_order_id:
            self._by_client.pop((user, order.client_order_id), None)
            order.client_order_id = updated_client_order_id
            self._by_client[(user, updated_client_order_id)] = order.order_id
        if price == order.price and new_remaining <= order.remaining:
            if new_remaining < order.remaining:
                self._emit_book(order, new_remaining - order.remaining, now, tagged=True)
            order.remaining = new_remaining
            order.initial = count
            order.updated = now
            self._outbox.append(OrderChange(order=replace(order)))
            return order
        self._remove_resting(order, now, tagged=True)
        order.status = OrderStatus.RESTING
        order.price = price
        order.remaining = new_remaining
        order.initial = count
        order.updated = now
        self._priority += 1
        order.priority = self._priority
        self._match_and_rest(book, order, now)
        return order

    def take(self, taker_user: str, order_id: str, count: int, *, now: datetime) -> BookOrder:
        """Have ``taker_user`` take ``count`` of one resting order directly, at its price.

        Returns the taker's (immediate-or-cancel) order.

        Raises:
            NotFound: unknown order, or not resting.
        """
        maker = self._orders.get(order_id)
        if maker is None or maker.status is not OrderStatus.RESTING:
            raise NotFound(f"order {order_id} is not resting", status=404, code="not_found")
        side = BookSide.ASK if maker.side is BookSide.BID else BookSide.BID
        count = min(count, maker.remaining)
        taker = self._new_order(
            taker_user, maker.ticker, side, maker.price, count, "", now, "immediate_or_cancel",
            "taker_at_cross", False, False, "",
        )
        self._execute(self._books[maker.ticker], taker, maker, count, now)
        taker.status = OrderStatus.EXECUTED
        taker.updated = now
        self._outbox.append(OrderChange(order=replace(taker)))
        return taker

    def cancel_where(
        self, now: datetime, predicate: Callable[[BookOrder], bool]
    ) -> list[BookOrder]:
        """Cancel every resting order matching ``predicate``; return them."""
        out = []
        for o in list(self._orders.values()):
            if o.status is OrderStatus.RESTING and predicate(o):
                self._remove_resting(o, now, tagged=True)
                o.status = OrderStatus.CANCELED
                self._outbox.append(OrderChange(order=replace(o)))
                out.append(o)
        return out

    def settle(self, ticker: str, value: int, *, now: datetime) -> None:
        """Settle a market: cancel its orders, pay ``value`` per YES and 1 − value per NO.

        Args:
            ticker: the market.
            value: the YES payout per contract in price units (PRICE_ONE = result yes).
            now: settlement time.
        """
        self._book(ticker)
        self.cancel_where(now, lambda o: o.ticker == ticker)
        result = "yes" if value == PRICE_ONE else "no" if value == 0 else "scalar"
        self._outbox.append(LifecycleChange(
            ticker=ticker, event_type="determined", result=result, settlement_value=value, ts=now,
        ))
        for acct in self._accounts.values():
            ps = acct.positions.get(ticker)
            if ps is None:
                continue
            pos = ps.position
            payout = pos * value if pos > 0 else -pos * (PRICE_ONE - value)
            acct.balance += payout
            ps.realized += payout - ps.cost
            ps.cost = 0
            ps.position = 0
            ps.updated = now
            self._outbox.append(PositionChange(user=acct.user, ticker=ticker))
        self._outbox.append(LifecycleChange(
            ticker=ticker, event_type="settled", result=result, settlement_value=value, ts=now,
        ))

    # ----------------------------------------------------------------- internals

    def _book(self, ticker: str) -> Book:
        try:
            return self._books[ticker]
        except KeyError:
            raise NotFound(f"market {ticker} not found", status=404, code="not_found") from None

    @staticmethod
    def _validate(book: Book, price: int, count: int, tif: str, stp: str) -> None:
        if not book.grid.contains(price):
            raise OrderRejected(
                f"price {price} is not on the market's price grid", status=400,
                code="invalid_order",
            )
        if count <= 0:
            raise OrderRejected("count must be positive", status=400, code="invalid_order")
        if tif not in TIME_IN_FORCE:
            raise OrderRejected(f"unknown time_in_force {tif!r}", status=400,
                                code="invalid_order")
        if stp not in STP_TYPES:
            raise OrderRejected(f"unknown self_trade_prevention_type {stp!r}", status=400,
                                code="invalid_order")

    @staticmethod
    def _would_cross(book: Book, side: BookSide, price: int) -> bool:
        return next(book.crossing(side, price), None) is not None

    def _fillable(self, book: Book, user: str, side: BookSide, price: int) -> int:
        total = 0
        for o in book.crossing(side, price):
            if o.user == user and not self._accounts[user].unlimited:
                break
            total += o.remaining
        return total

    def _new_order(
        self, user: str, ticker: str, side: BookSide, price: int, count: int,
        client_order_id: str, now: datetime, tif: str, stp: str, post_only: bool,
        cancel_on_pause: bool, order_group_id: str,
    ) -> BookOrder:
        self._priority += 1
        order = BookOrder(
            order_id=self._new_id(), client_order_id=client_order_id, user=user, ticker=ticker,
            side=side, price=price, initial=count, remaining=count, created=now, updated=now,
            priority=self._priority, time_in_force=tif, self_trade_prevention_type=stp,
            post_only=post_only, cancel_order_on_pause=cancel_on_pause,
            order_group_id=order_group_id,
        )
        self._orders[order.order_id] = order
        if client_order_id:
            self._by_client[(user, client_order_id)] = order.order_id
        return order

    def _emit_book(self, order: BookOrder, delta: int, now: datetime, *, tagged: bool) -> None:
        if delta:
            self._outbox.append(BookChange(
                ticker=order.ticker, side=order.side, price=order.price, delta=delta,
                user=order.user, client_order_id=order.client_order_id if tagged else None, ts=now,
            ))

    def _remove_resting(self, order: BookOrder, now: datetime, *, tagged: bool) -> None:
        book = self._books[order.ticker]
        if order.status is OrderStatus.RESTING and order.remaining:
            book.remove(order)
            self._emit_book(order, -order.remaining, now, tagged=tagged)
        order.remaining = 0
        order.updated = now

    def _match_and_rest(self, book: Book, order: BookOrder, now: datetime) -> None:
        stopped = False
        for maker in book.crossing(order.side, order.price):
            if order.remaining == 0:
                break
            if maker.user == order.user and not self._accounts[order.user].unlimited:
                if order.self_trade_prevention_type == "maker":
                    self._remove_resting(maker, now, tagged=True)
                    maker.status = OrderStatus.CANCELED
                    self._outbox.append(OrderChange(order=replace(maker)))
                    continue
                stopped = True
                break
            self._execute(book, order, maker, min(order.remaining, maker.remaining), now)
        if order.remaining and (stopped or order.time_in_force != "good_till_canceled"):
            order.remaining = 0
            order.status = OrderStatus.CANCELED
        elif order.remaining:
            order.status = OrderStatus.RESTING
            book.add(order)
            self._emit_book(order, order.remaining, now, tagged=True)
        else:
            order.status = OrderStatus.EXECUTED
        order.updated = now
        self._outbox.append(OrderChange(order=replace(order)))

    def _execute(
        self, book: Book, taker: BookOrder, maker: BookOrder, count: int, now: datetime
    ) -> None:
        price = maker.price
        trade = TradeRow(
            trade_id=self._new_id(), ticker=taker.ticker, price=price, count=count,
            taker_side=taker.side, ts=now,
        )
        self.trades.append(trade)
        self._outbox.append(trade)
        self.volume[taker.ticker] = self.volume.get(taker.ticker, 0) + count
        self.notional[taker.ticker] = self.notional.get(taker.ticker, 0) + count * price
        self.last_price[taker.ticker] = price
        self.last_size[taker.ticker] = count
        maker.remaining -= count
        maker.filled += count
        maker.updated = now
        self._emit_book(maker, -count, now, tagged=False)
        if maker.remaining == 0:
            book.remove(maker)
            maker.status = OrderStatus.EXECUTED
        taker.remaining -= count
        taker.filled += count
        schedule = self.fee_schedules.get(taker.ticker)
        for order, is_taker in ((taker, True), (maker, False)):
            if schedule is not None:
                fee = schedule.trade_fee(count, price, is_taker=is_taker)
            else:
                fee = taker_fee(count, price) if is_taker else 0
            leg = leg_price(order.side, price)
            if is_taker:
                order.taker_fill_cost += count * leg
                order.taker_fees += fee
            else:
                order.maker_fill_cost += count * leg
                order.maker_fees += fee
            delta = count if order.side is BookSide.BID else -count
            post = self._apply_fill(order.user, order.ticker, delta, leg, fee, now)
            row = FillRow(
                trade_id=trade.trade_id, order_id=order.order_id,
                client_order_id=order.client_order_id, user=order.user, ticker=order.ticker,
                side=order.side, price=price, count=count, fee=fee, is_taker=is_taker,
                post_position=post, ts=now,
            )
            self.fills.append(row)
            self._outbox.append(row)
            self._outbox.append(PositionChange(user=order.user, ticker=order.ticker))
        self._outbox.append(OrderChange(order=replace(maker)))

    def _apply_fill(
        self, user: str, ticker: str, delta: int, leg: int, fee: int, now: datetime
    ) -> int:
        acct = self._accounts[user]
        ps = acct.positions.setdefault(ticker, PositionState())
        old = ps.position
        size = abs(delta)
        closed = min(abs(old), size) if old and (old > 0) != (delta > 0) else 0
        opened = size - closed
        basis_removed = ps.cost * closed // abs(old) if closed else 0
        ps.cost -= basis_removed
        payout = closed * PRICE_ONE
        ps.realized += payout - closed * leg - basis_removed
        ps.cost += opened * leg
        ps.position = old + delta
        if ps.position == 0:
            ps.realized -= ps.cost
            ps.cost = 0
        ps.fees += fee
        ps.traded += size * leg
        ps.volume += size
        ps.updated = now
        acct.balance += payout - size * leg - fee
        return ps.position
