"""The emulator's JSON shapes: markets, orders, fills and positions as Kalshi documents them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tsad.core.market import Market
from tsad.core.money import PRICE_ONE, format_count, format_money, format_price
from tsad.core.orders import BookSide
from tsad.sim.matching import MatchingEngine
from tsad.sim.records import BookOrder, FillRow, PositionState
from tsad.sim.week import rules_primary, rules_secondary


__all__ = [
    "error_body",
    "fill_json",
    "market_id",
    "market_json",
    "money_str",
    "order_json",
    "outcome_side",
    "position_json",
    "rfc3339",
    "ts_ms",
]

JSON = dict[str, Any]


def money_str(amount: int) -> str:
    """Format money units with 4 decimals when exact, else 6 (portfolio money fields)."""
    return format_money(amount, 4) if amount % 100 == 0 else format_money(amount, 6)


def rfc3339(dt: datetime) -> str:
    """Format an aware datetime as RFC3339 UTC with a ``Z``."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ts_ms(dt: datetime) -> int:
    """Return Unix milliseconds of an aware datetime."""
    return int(dt.timestamp() * 1000)


def market_id(ticker: str) -> str:
    """Return a stable UUID for a market (the websocket ``market_id``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-sim:{ticker}"))


def outcome_side(side: BookSide) -> str:
    """Return the canonical ``outcome_side`` of a book side: bid → yes, ask → no."""
    return "yes" if side is BookSide.BID else "no"


def error_body(code: str, message: str, details: str = "") -> JSON:
    """Return Kalshi's wrapped error body."""
    return {"error": {"code": code, "message": message, "details": details}}


def market_json(
    market: Market, engine: MatchingEngine, *, status: str, created: datetime,
    result: str = "", settlement_value: int | None = None, settled: datetime | None = None,
) -> JSON:
    """Return a Market object (v3.28 shape; optional fields omitted when absent)."""
    t = market.ticker
    strike = int(market.floor_strike or 0)
    millions = f"{strike / 1_000_000:.2f}".rstrip("0").rstrip(".")
    bid = engine.best(t, BookSide.BID)
    ask = engine.best(t, BookSide.ASK)
    bids, asks = engine.levels(t)
    bid_size = bids[-1][1] if bids else 0
    ask_size = asks[0][1] if asks else 0
    assert market.open_time is not None and market.close_time is not None
    close = market.close_time
    sunday = (close - timedelta(hours=5)).date()
    expiration = datetime(sunday.year, sunday.month, sunday.day, 14, tzinfo=UTC) + timedelta(days=7)
    out: JSON = {
        "ticker": t,
        "event_ticker": market.event_ticker,
        "market_type": "binary",
        "title": market.title,
        "subtitle": f"{millions} million",
        "yes_sub_title": f"Above {millions} million",
        "no_sub_title": f"Above {millions} million",
        "created_time": rfc3339(created),
        "updated_time": rfc3339(created),
        "open_time": rfc3339(market.open_time),
        "close_time": rfc3339(close),
        "expected_expiration_time": rfc3339(close + timedelta(hours=10)),
        "expiration_time": rfc3339(expiration),
        "latest_expiration_time": rfc3339(expiration),
        "settlement_timer_seconds": 3600,
        "status": status,
        "yes_bid_dollars": format_price(bid or 0),
        "yes_ask_dollars": format_price(ask if ask is not None else PRICE_ONE),
        "no_bid_dollars": format_price(PRICE_ONE - ask if ask is not None else 0),
        "no_ask_dollars": format_price(PRICE_ONE - bid if bid is not None else PRICE_ONE),
        "yes_bid_size_fp": format_count(bid_size),
        "yes_ask_size_fp": format_count(ask_size),
        "last_price_dollars": format_price(engine.last_price.get(t, 0)),
        "previous_yes_bid_dollars": format_price(0),
        "previous_yes_ask_dollars": format_price(PRICE_ONE),
        "previous_price_dollars": format_price(0),
        "volume_fp": format_count(engine.volume.get(t, 0)),
        "volume_24h_fp": format_count(engine.volume.get(t, 0)),
        "open_interest_fp": format_count(engine.open_interest(t)),
        "notional_value_dollars": "1.0000",
        "liquidity_dollars": "0.0000",
        "result": result,
        "can_close_early": True,
        "expiration_value": "",
        "strike_type": str(market.strike_type),
        "floor_strike": strike,
        "rules_primary": rules_primary(strike, sunday),
        "rules_secondary": rules_secondary(sunday),
        "price_level_structure": "linear_cent",
        "price_ranges": market.grid.to_wire(),
        "exchange_index": market.exchange_index,
    }
    if settlement_value is not None:
        out["settlement_value_dollars"] = format_price(settlement_value)
    if settled is not None:
        out["settlement_ts"] = rfc3339(settled)
    return out


def order_json(order: BookOrder, user_id: str) -> JSON:
    """Return an Order object (``GET /portfolio/orders``)."""
    return {
        "order_id": order.order_id,
        "user_id": user_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "outcome_side": outcome_side(order.side),
        "book_side": str(order.side),
        "side": outcome_side(order.side),
        "action": "buy",
        "type": "limit",
        "status": str(order.status),
        "yes_price_dollars": format_price(order.price),
        "no_price_dollars": format_price(PRICE_ONE - order.price),
        "fill_count_fp": format_count(order.filled),
        "remaining_count_fp": format_count(order.remaining),
        "initial_count_fp": format_count(order.initial),
        "taker_fill_cost_dollars": money_str(order.taker_fill_cost),
        "maker_fill_cost_dollars": money_str(order.maker_fill_cost),
        "taker_fees_dollars": money_str(order.taker_fees),
        "maker_fees_dollars": money_str(order.maker_fees),
        "created_time": rfc3339(order.created),
        "last_update_time": rfc3339(order.updated),
        "self_trade_prevention_type": order.self_trade_prevention_type,
        "cancel_order_on_pause": order.cancel_order_on_pause,
        "subaccount_number": 0,
        "exchange_index": 0,
    }


def fill_json(fill: FillRow) -> JSON:
    """Return a REST Fill object (``GET /portfolio/fills``; no client_order_id)."""
    return {
        "fill_id": fill.trade_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "ticker": fill.ticker,
        "market_ticker": fill.ticker,
        "side": outcome_side(fill.side),
        "action": "buy",
        "outcome_side": outcome_side(fill.side),
        "book_side": str(fill.side),
        "count_fp": format_count(fill.count),
        "yes_price_dollars": format_price(fill.price),
        "no_price_dollars": format_price(PRICE_ONE - fill.price),
        "is_taker": fill.is_taker,
        "created_time": rfc3339(fill.ts),
        "fee_cost": money_str(fill.fee),
        "subaccount_number": 0,
        "ts": int(fill.ts.timestamp()),
        "exchange_index": 0,
    }


def position_json(ticker: str, ps: PositionState) -> JSON:
    """Return a MarketPosition object (``GET /portfolio/positions``)."""
    out: JSON = {
        "ticker": ticker,
        "exchange_index": 0,
        "total_traded_dollars": money_str(ps.traded),
        "position_fp": format_count(ps.position),
        "market_exposure_dollars": money_str(ps.cost),
        "realized_pnl_dollars": money_str(ps.realized),
        "fees_paid_dollars": money_str(ps.fees),
    }
    if ps.updated is not None:
        out["last_updated_ts"] = rfc3339(ps.updated)
    return out
