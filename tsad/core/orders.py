"""Our orders: value types as the exchange reports them, and the states the mirror gives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


__all__ = [
    "Balance",
    "BookSide",
    "Fill",
    "MirrorOrder",
    "MirrorState",
    "Order",
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

    ``remaining`` / ``filled`` are None when the exchange did not report them. ``filled`` is
    what THIS request filled (a create's fills on placement, an amend's fills by the amend),
    never an order's cumulative fills. ``reduced_by`` is a cancel's count cancelled (the
    remaining at that moment), None when not reported.
    """

    order_id: str
    client_order_id: str | None = None
    remaining: int | None = None
    filled: int | None = None
    ts_ms: int | None = None
    reduced_by: int | None = None


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
