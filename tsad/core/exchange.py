"""The seam between the engine and an exchange: the `Exchange` protocol every backend satisfies.

The Kalshi REST client (`tsad.kalshi.rest.KalshiClient`) satisfies it structurally, and so
does the shadow-mode wrapper that logs writes instead of sending them. The engine knows
nothing else about the exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tsad.core.fees import FeeSchedule
from tsad.core.market import Event, Market
from tsad.core.orders import Balance, Fill, Order, OrderRequest, Position, WriteAck
from tsad.errors import ExchangeError


__all__ = ["Exchange", "ExchangeStatus", "MarketSettlement", "OrderbookLevels"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeStatus:
    """``GET /exchange/status``."""

    exchange_active: bool
    trading_active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderbookLevels:
    """A REST order book: resting bids of each leg as ``(price, count)``, best last.

    ``yes`` holds YES bids at YES prices; ``no`` holds NO bids at **NO** prices, as the
    REST endpoint returns them (a NO bid at q is a YES ask at 1 − q).
    """

    ticker: str
    yes: tuple[tuple[int, int], ...]
    no: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSettlement:
    """One market as the exchange settled it for us (``GET /portfolio/settlements``).

    ``value`` is the YES payout per contract in price units (None when not reported);
    ``revenue`` and ``fee`` are money ($0.000001), the counts in 0.01 contract.
    """

    ticker: str
    result: str
    value: int | None
    revenue: int
    fee: int
    yes_count: int
    no_count: int
    settled_ts: datetime | None


class Exchange(Protocol):
    """What the engine needs from an exchange. All money and counts are exact ints."""

    async def get_exchange_status(self) -> ExchangeStatus:
        """Return whether the exchange and trading are active."""
        ...

    async def get_fee_schedule(self, series_ticker: str) -> FeeSchedule:
        """Return the series' fee schedule (``GET /series/{t}``: fee_type, fee_multiplier)."""
        ...

    async def get_event(self, event_ticker: str) -> Event:
        """Return the event with its nested markets."""
        ...

    async def list_markets(
        self, *, event_ticker: str | None = None, status: str | None = None
    ) -> list[Market]:
        """Return markets (all pages)."""
        ...

    async def get_orderbook(self, ticker: str) -> OrderbookLevels:
        """Return the market's order book."""
        ...

    async def list_orders(
        self, *, event_ticker: str | None = None, ticker: str | None = None,
        status: str | None = "resting",
    ) -> list[Order]:
        """Return our orders (all pages)."""
        ...

    async def get_order(self, order_id: str) -> Order:
        """Return one of our orders by id."""
        ...

    async def list_positions(self, *, event_ticker: str | None = None) -> list[Position]:
        """Return our market positions (all pages)."""
        ...

    async def list_fills(
        self, *, ticker: str | None = None, min_ts: int | None = None
    ) -> list[Fill]:
        """Return our fills (all pages), optionally since ``min_ts`` (Unix seconds)."""
        ...

    async def list_settlements(
        self, *, event_ticker: str | None = None
    ) -> list[MarketSettlement]:
        """Return our settled markets (all pages), of one event if given."""
        ...

    async def get_balance(self) -> Balance:
        """Return our balance."""
        ...

    async def create_order(self, request: OrderRequest) -> WriteAck:
        """Place an order. Raises `Conflict` if its client_order_id already exists."""
        ...

    async def batch_create(
        self, requests: Sequence[OrderRequest]
    ) -> list[WriteAck | ExchangeError]:
        """Place several orders in one batch; one result per request, in order.

        A result is a `WriteAck`, or that item's error (an `AmbiguousOutcome` when its
        outcome is unknown: read our orders back before placing it again).
        """
        ...

    async def amend_order(
        self, order_id: str, *, ticker: str, side: str, price: int, count: int,
        client_order_id: str | None = None, updated_client_order_id: str | None = None,
    ) -> WriteAck:
        """Change an order's price (and total count = filled + new remaining)."""
        ...

    async def decrease_order(self, order_id: str, *, reduce_to: int) -> WriteAck:
        """Reduce an order's remaining count to ``reduce_to``."""
        ...

    async def cancel_order(self, order_id: str) -> WriteAck:
        """Cancel one order. Raises `NotFound` if it is already gone."""
        ...

    async def batch_cancel(self, order_ids: Sequence[str]) -> list[WriteAck | ExchangeError]:
        """Cancel several orders; one result per id, in order."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
