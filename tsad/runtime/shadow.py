"""Shadow mode: an `Exchange` that passes reads through and only logs the writes it would send."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import structlog

from tsad.core.exchange import Exchange, ExchangeStatus, MarketSettlement, OrderbookLevels
from tsad.core.fees import FeeSchedule
from tsad.core.market import Event, Market
from tsad.core.money import format_count, format_price
from tsad.core.orders import Balance, Fill, Order, OrderRequest, Position, WriteAck
from tsad.errors import ExchangeError


__all__ = ["ShadowExchange"]

log = structlog.get_logger("tsad.runtime.shadow")


class ShadowExchange:
    """Wraps an exchange: reads pass through, writes are logged and answered as accepted.

    The engine then evolves exactly as if its orders rested, so the log shows every
    action the daemon would take over time, while nothing reaches the exchange.
    """

    def __init__(self, inner: Exchange) -> None:
        self._inner = inner
        self._ids = itertools.count(1)

    def _fake_id(self) -> str:
        return f"shadow-{next(self._ids)}"

    async def get_exchange_status(self) -> ExchangeStatus:
        """Pass through."""
        return await self._inner.get_exchange_status()

    async def get_fee_schedule(self, series_ticker: str) -> FeeSchedule:
        """Pass the read through."""
        return await self._inner.get_fee_schedule(series_ticker)

    async def get_event(self, event_ticker: str) -> Event:
        """Pass through."""
        return await self._inner.get_event(event_ticker)

    async def list_markets(
        self, *, event_ticker: str | None = None, status: str | None = None
    ) -> list[Market]:
        """Pass through."""
        return await self._inner.list_markets(event_ticker=event_ticker, status=status)

    async def get_orderbook(self, ticker: str) -> OrderbookLevels:
        """Pass through."""
        return await self._inner.get_orderbook(ticker)

    async def list_orders(
        self, *, event_ticker: str | None = None, ticker: str | None = None,
        status: str | None = "resting",
    ) -> list[Order]:
        """Nothing of ours rests in shadow mode (the engine keeps its own picture)."""
        return []

    async def get_order(self, order_id: str) -> Order:
        """Pass through."""
        return await self._inner.get_order(order_id)

    async def list_positions(self, *, event_ticker: str | None = None) -> list[Position]:
        """Pass through."""
        return await self._inner.list_positions(event_ticker=event_ticker)

    async def list_fills(
        self, *, ticker: str | None = None, min_ts: int | None = None
    ) -> list[Fill]:
        """Pass through."""
        return await self._inner.list_fills(ticker=ticker, min_ts=min_ts)

    async def list_settlements(
        self, *, event_ticker: str | None = None
    ) -> list[MarketSettlement]:
        """Pass through."""
        return await self._inner.list_settlements(event_ticker=event_ticker)

    async def get_balance(self) -> Balance:
        """Pass through."""
        return await self._inner.get_balance()

    async def create_order(self, request: OrderRequest) -> WriteAck:
        """Log the create and pretend it rests."""
        log.info("shadow.would_create", ticker=request.ticker, side=request.side.value,
                 price=format_price(request.price), count=format_count(request.count),
                 client_order_id=request.client_order_id)
        return WriteAck(order_id=self._fake_id(), client_order_id=request.client_order_id,
                        remaining=request.count, filled=0)

    async def batch_create(
        self, requests: Sequence[OrderRequest]
    ) -> list[WriteAck | ExchangeError]:
        """Log each create and pretend they all rest."""
        return [await self.create_order(r) for r in requests]

    async def amend_order(
        self, order_id: str, *, ticker: str, side: str, price: int, count: int,
        client_order_id: str | None = None, updated_client_order_id: str | None = None,
    ) -> WriteAck:
        """Log the amend."""
        log.info("shadow.would_amend", ticker=ticker, side=side, price=format_price(price),
                 count=format_count(count), order_id=order_id)
        return WriteAck(order_id=order_id, client_order_id=client_order_id)

    async def decrease_order(self, order_id: str, *, reduce_to: int) -> WriteAck:
        """Log the decrease."""
        log.info("shadow.would_decrease", order_id=order_id, reduce_to=format_count(reduce_to))
        return WriteAck(order_id=order_id, remaining=reduce_to)

    async def cancel_order(self, order_id: str) -> WriteAck:
        """Log the cancel."""
        log.info("shadow.would_cancel", order_id=order_id)
        return WriteAck(order_id=order_id, remaining=0)

    async def batch_cancel(self, order_ids: Sequence[str]) -> list[WriteAck | ExchangeError]:
        """Log the cancels."""
        return [await self.cancel_order(oid) for oid in order_ids]

    async def aclose(self) -> None:
        """Close the wrapped exchange."""
        await self._inner.aclose()
