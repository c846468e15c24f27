"""The matching engine's records: fees, orders, positions, accounts and the events it emits.

Money is in $0.000001 units, prices in $0.0001, counts in 0.01 contracts (kalshi-api.md §8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Order, OrderStatus


__all__ = [
    "Account",
    "BookChange",
    "BookOrder",
    "EngineEvent",
    "FillRow",
    "LifecycleChange",
    "OrderChange",
    "PositionChange",
    "PositionState",
    "TradeRow",
    "leg_price",
    "taker_fee",
]


def leg_price(side: BookSide, price: int) -> int:
    """Return what one contract of an order costs its owner: p for a bid, 1 − p for an ask."""
    return price if side is BookSide.BID else PRICE_ONE - price


def taker_fee(count: int, price: int) -> int:
    """Return the taker fee of one fill in money units ($0.000001), rounded up to $0.0001.

    The general Kalshi fee ``0.07 × C × P × (1 − P)`` with C in contracts and P in dollars,
    which in our units is ``7·count·price·(1 − price) / 10^6`` micro-dollars.

    Args:
        count: contracts filled, in 0.01-contract units.
        price: the YES trade price in $0.0001 units.
    """
    numerator = 7 * count * price * (PRICE_ONE - price)
    return -(-numerator // 100_000_000) * 100


@dataclass(slots=True, kw_only=True)
class BookOrder:
    """One order's mutable state inside the engine."""

    order_id: str
    client_order_id: str
    user: str
    ticker: str
    side: BookSide
    price: int
    initial: int
    remaining: int
    filled: int = 0
    status: OrderStatus = OrderStatus.RESTING
    created: datetime
    updated: datetime
    priority: int = 0
    time_in_force: str = "good_till_canceled"
    self_trade_prevention_type: str = "taker_at_cross"
    post_only: bool = False
    cancel_order_on_pause: bool = False
    order_group_id: str = ""
    taker_fill_cost: int = 0
    maker_fill_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0

    def to_order(self) -> Order:
        """Return the order as the shared `Order` value."""
        return Order(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            ticker=self.ticker,
            side=self.side,
            price=self.price,
            remaining=self.remaining,
            filled=self.filled,
            initial=self.initial,
            status=self.status,
            created_time=self.created,
        )


@dataclass(slots=True, kw_only=True)
class PositionState:
    """A user's net position in one market (money in $0.000001, counts in 0.01)."""

    position: int = 0
    cost: int = 0
    realized: int = 0
    fees: int = 0
    traded: int = 0
    volume: int = 0
    updated: datetime | None = None


@dataclass(slots=True, kw_only=True)
class Account:
    """One user: cash and positions. ``unlimited`` accounts skip the balance check."""

    user: str
    user_id: str
    balance: int
    unlimited: bool = False
    positions: dict[str, PositionState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookChange:
    """The resting quantity at (side, YES price) changed by ``delta`` (signed count).

    ``client_order_id`` is set only when the owner's own action (place, cancel, decrease,
    amend) caused it, never for fills.
    """

    ticker: str
    side: BookSide
    price: int
    delta: int
    user: str
    client_order_id: str | None
    ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeRow:
    """One public execution."""

    trade_id: str
    ticker: str
    price: int
    count: int
    taker_side: BookSide
    ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FillRow:
    """One side of one execution, as its owner sees it."""

    trade_id: str
    order_id: str
    client_order_id: str
    user: str
    ticker: str
    side: BookSide
    price: int
    count: int
    fee: int
    is_taker: bool
    post_position: int
    ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderChange:
    """An order was created, filled, amended, decreased or cancelled (a copy of its state)."""

    order: BookOrder


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChange:
    """A user's position in a market changed."""

    user: str
    ticker: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleChange:
    """A market lifecycle event (``determined``, ``settled``)."""

    ticker: str
    event_type: str
    result: str | None = None
    settlement_value: int | None = None
    ts: datetime


EngineEvent = BookChange | TradeRow | FillRow | OrderChange | PositionChange | LifecycleChange
