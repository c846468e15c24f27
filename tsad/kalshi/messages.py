"""Decoding Kalshi websocket frames into message values (kalshi-api.md §5; the AsyncAPI spec).

`decode_ws` is the one entry point: a frame of a type tsad does not use becomes `UnknownMsg`
(so new channels never break the feed); a frame of a known type that does not decode raises
`ProtocolError`, whatever went wrong inside. `frame_header` then recovers, without raising,
what the feed needs to recover from it (type, sid, seq, market).

Lifecycle messages the engine acts on have their own types: `MarketCreated` (a new market,
``market_lifecycle_v2`` ``created``), `PriceGridChanged` (``price_level_structure_updated``:
the market's valid prices changed), `EventCreated` (``event_lifecycle``: a new event) and
`EventFeeUpdate` (``event_fee_update``: the event's fee override was set or cleared);
every other ``market_lifecycle_v2`` event type is a `LifecycleMsg`. `OrderGroupUpdate`
(``order_group_updates``) tells when our order group was triggered by its contracts limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from tsad.core.market import Outcome
from tsad.core.money import PRICE_ONE, PriceGrid
from tsad.core.orders import BookSide, Fill, Order
from tsad.kalshi.fields import Json, JsonObject, Levels, decode_json, decoder, levels
from tsad.kalshi.payloads import fill_from, order_from


__all__ = [
    "CommandAck",
    "ErrorMsg",
    "EventCreated",
    "EventFeeUpdate",
    "FillMsg",
    "FrameHeader",
    "LifecycleMsg",
    "MarketCreated",
    "OrderGroupUpdate",
    "OrderbookDelta",
    "OrderbookSnapshot",
    "PositionMsg",
    "PriceGridChanged",
    "Subscribed",
    "TickerUpdate",
    "TradeMsg",
    "UnknownMsg",
    "UserOrderMsg",
    "WsMessage",
    "decode_ws",
    "frame_header",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderbookSnapshot:
    """``orderbook_snapshot``: aggregated ``(price, count)`` levels per leg, as sent.

    NO levels are in NO prices unless the subscription used ``use_yes_price``, in which case
    they are at YES prices; the feed knows which, this codec does not convert.
    """

    sid: int
    seq: int
    market_ticker: str
    yes: Levels
    no: Levels


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderbookDelta:
    """``orderbook_delta``: signed change ``delta`` (count units) at (``side``, ``price``)."""

    sid: int
    seq: int
    market_ticker: str
    side: Outcome
    price: int
    delta: int
    client_order_id: str | None = None
    ts_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TickerUpdate:
    """``ticker``: top of book and activity of one market (fields None when absent)."""

    sid: int
    market_ticker: str
    price: int | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    yes_bid_size: int | None = None
    yes_ask_size: int | None = None
    volume: int | None = None
    open_interest: int | None = None
    ts_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeMsg:
    """``trade``: a public print (``taker_side`` is the taker's book side)."""

    sid: int
    trade_id: str
    market_ticker: str
    price: int
    count: int
    taker_side: BookSide | None = None
    ts_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FillMsg:
    """``fill``: one of our executions; ``post_position`` is our net position after it."""

    sid: int
    fill: Fill
    post_position: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserOrderMsg:
    """``user_order``: the new state of one of our orders."""

    sid: int
    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionMsg:
    """``market_position``: our position in one market (money in $0.000001 units)."""

    sid: int
    market_ticker: str
    position: int
    position_cost: int = 0
    realized_pnl: int = 0
    fees_paid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleMsg:
    """``market_lifecycle_v2``: an existing market changed state.

    ``event_type`` is ``activated``, ``deactivated``, ``close_date_updated``, ``determined``,
    ``settled`` or ``metadata_updated`` (``created`` is a `MarketCreated`,
    ``price_level_structure_updated`` a `PriceGridChanged`). ``is_deactivated`` is True when
    trading on the open market is paused; ``settlement_value`` is a YES price ($0.0001 units).
    """

    sid: int
    kind: str
    event_type: str
    market_ticker: str | None = None
    event_ticker: str | None = None
    close_ts: int | None = None
    result: str | None = None
    settlement_value: int | None = None
    is_deactivated: bool | None = None
    grid: PriceGrid | None = None
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketCreated:
    """``market_lifecycle_v2`` ``created``: a new market (its event from the metadata).

    ``grid`` holds its valid prices (``price_ranges``), None when not sent; times are
    aware UTC datetimes. The engine decides whether the market belongs to the week it trades.
    """

    sid: int
    market_ticker: str
    event_ticker: str | None = None
    open_time: datetime | None = None
    close_time: datetime | None = None
    grid: PriceGrid | None = None
    price_level_structure: str | None = None
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    title: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceGridChanged:
    """``market_lifecycle_v2`` ``price_level_structure_updated``: the valid prices changed.

    Quotes priced on the old grid may now be off-grid: re-price them on ``grid`` (None when
    the message carried no ``price_ranges``: read the market back over REST).
    """

    sid: int
    market_ticker: str
    price_level_structure: str | None = None
    grid: PriceGrid | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFeeUpdate:
    """``event_fee_update`` (``market_lifecycle_v2`` channel): an event's fee override was set,
    or cleared (both fields None): its markets now pay it instead of the series' fees."""

    sid: int
    event_ticker: str
    fee_type: str | None = None
    fee_multiplier: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventCreated:
    """``event_lifecycle``: a new event of ``series_ticker`` (markets follow as `MarketCreated`)."""

    sid: int
    event_ticker: str
    series_ticker: str
    title: str = ""
    subtitle: str = ""
    strike_date: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderGroupUpdate:
    """``order_group_updates``: one of our order groups changed.

    ``event_type`` is ``created``, ``triggered`` (its limit was hit: Kalshi cancelled its
    resting orders and rejects new ones in it until it is reset), ``reset``, ``deleted`` or
    ``limit_updated``; ``contracts_limit`` (count units) comes with ``created`` and
    ``limit_updated`` only.
    """

    sid: int
    seq: int | None
    event_type: str
    order_group_id: str
    contracts_limit: int | None = None
    ts_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribed:
    """``subscribed``: command ``id`` created subscription ``sid`` on ``channel``."""

    id: int | None
    channel: str
    sid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandAck:
    """``ok`` / ``unsubscribed`` replies; ``seq`` is set when the ack is sequenced."""

    kind: str
    id: int | None = None
    sid: int | None = None
    seq: int | None = None
    market_tickers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMsg:
    """``error``: command ``id`` failed with websocket error ``code`` (10, 17, 25: terminal)."""

    id: int | None
    code: int
    msg: str
    market_ticker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMsg:
    """A message type tsad does not use (kept so the feed can still check ``seq``)."""

    kind: str
    sid: int | None = None
    seq: int | None = None


WsMessage: TypeAlias = (
    OrderbookSnapshot | OrderbookDelta | TickerUpdate | TradeMsg | FillMsg | UserOrderMsg
    | PositionMsg | LifecycleMsg | MarketCreated | PriceGridChanged | EventCreated
    | EventFeeUpdate
    | OrderGroupUpdate | Subscribed | CommandAck | ErrorMsg | UnknownMsg
)


def _ws_snapshot(env: JsonObject, m: JsonObject) -> OrderbookSnapshot:
    return OrderbookSnapshot(
        sid=env.req_int("sid"),
        seq=env.req_int("seq"),
        market_ticker=m.req_str("market_ticker"),
        yes=levels(m.items("yes_dollars_fp", required=False), f"{m.where}.yes_dollars_fp"),
        no=levels(m.items("no_dollars_fp", required=False), f"{m.where}.no_dollars_fp"),
    )


def _ws_delta(env: JsonObject, m: JsonObject) -> OrderbookDelta:
    side = m.enum_str("side", ("yes", "no"))
    return OrderbookDelta(
        sid=env.req_int("sid"),
        seq=env.req_int("seq"),
        market_ticker=m.req_str("market_ticker"),
        side=Outcome(side),
        price=m.price("price_dollars"),
        delta=m.count("delta_fp"),
        client_order_id=m.opt_str("client_order_id"),
        ts_ms=m.opt_int("ts_ms"),
    )


def _ws_ticker(env: JsonObject, m: JsonObject) -> TickerUpdate:
    return TickerUpdate(
        sid=env.req_int("sid"),
        market_ticker=m.req_str("market_ticker"),
        price=m.opt_price("price_dollars"),
        yes_bid=m.opt_price("yes_bid_dollars"),
        yes_ask=m.opt_price("yes_ask_dollars"),
        yes_bid_size=m.opt_count("yes_bid_size_fp"),
        yes_ask_size=m.opt_count("yes_ask_size_fp"),
        volume=m.opt_count("volume_fp"),
        open_interest=m.opt_count("open_interest_fp"),
        ts_ms=m.opt_int("ts_ms"),
    )


def _ws_trade(env: JsonObject, m: JsonObject) -> TradeMsg:
    tbs = m.opt_str("taker_book_side")
    if tbs is None and m.has("taker_outcome_side"):
        tbs = "bid" if m.req_str("taker_outcome_side") == "yes" else "ask"
    return TradeMsg(
        sid=env.req_int("sid"),
        trade_id=m.req_str("trade_id"),
        market_ticker=m.req_str("market_ticker"),
        price=m.price("yes_price_dollars"),
        count=m.count("count_fp"),
        taker_side=BookSide(tbs) if tbs in ("bid", "ask") else None,
        ts_ms=m.opt_int("ts_ms"),
    )


def _ws_fill(env: JsonObject, m: JsonObject) -> FillMsg:
    return FillMsg(
        sid=env.req_int("sid"),
        fill=fill_from(m, ticker_keys=("market_ticker", "ticker")),
        post_position=m.opt_count("post_position_fp"),
    )


def _ws_position(env: JsonObject, m: JsonObject) -> PositionMsg:
    return PositionMsg(
        sid=env.req_int("sid"),
        market_ticker=m.req_str("market_ticker"),
        position=m.count("position_fp"),
        position_cost=m.money("position_cost_dollars", default=0),
        realized_pnl=m.money("realized_pnl_dollars", default=0),
        fees_paid=m.money("fees_paid_dollars", default=0),
    )


def _grid(m: JsonObject) -> PriceGrid | None:
    ranges = m.raw("price_ranges")
    if ranges is None:
        return None
    if not isinstance(ranges, list) or not ranges:
        raise m.bad("price_ranges", f"expected a non-empty list, got {ranges!r}")
    try:
        return PriceGrid.from_wire(ranges)
    except (ValueError, KeyError, TypeError) as exc:
        raise m.bad("price_ranges", f"malformed ({exc})") from None


def _strike(m: JsonObject, meta: JsonObject, key: str) -> float | None:
    return m.opt_float(key) if m.has(key) else meta.opt_float(key)


def _ws_event_fee(env: JsonObject, m: JsonObject) -> WsMessage:
    return EventFeeUpdate(sid=env.req_int("sid"), event_ticker=m.req_str("event_ticker"),
                          fee_type=m.opt_str("fee_type_override"),
                          fee_multiplier=m.opt_float("fee_multiplier_override"))


def _ws_lifecycle(env: JsonObject, m: JsonObject) -> WsMessage:
    event_type = m.req_str("event_type")
    ticker = m.req_str("market_ticker")
    meta = JsonObject(m.raw("additional_metadata") or {}, f"{m.where}.additional_metadata")
    sid = env.req_int("sid")
    if event_type == "created":
        return MarketCreated(
            sid=sid,
            market_ticker=ticker,
            event_ticker=meta.opt_str("event_ticker"),
            open_time=m.opt_ts_s("open_ts"),
            close_time=m.opt_ts_s("close_ts"),
            grid=_grid(m),
            price_level_structure=m.opt_str("price_level_structure"),
            strike_type=m.opt_str("strike_type") or meta.opt_str("strike_type"),
            floor_strike=_strike(m, meta, "floor_strike"),
            cap_strike=_strike(m, meta, "cap_strike"),
            title=meta.opt_str("yes_sub_title") or meta.opt_str("title") or "",
        )
    if event_type == "price_level_structure_updated":
        return PriceGridChanged(sid=sid, market_ticker=ticker,
                                price_level_structure=m.opt_str("price_level_structure"),
                                grid=_grid(m))
    sv = m.raw("settlement_value")
    settlement: int | None = None
    if isinstance(sv, str):
        settlement = m.price("settlement_value")
    elif isinstance(sv, int) and not isinstance(sv, bool):
        settlement = sv * (PRICE_ONE // 100)
    return LifecycleMsg(
        sid=sid,
        kind="market_lifecycle_v2",
        event_type=event_type,
        market_ticker=ticker,
        event_ticker=m.opt_str("event_ticker") or meta.opt_str("event_ticker"),
        close_ts=m.opt_int("close_ts"),
        result=m.opt_str("result"),
        settlement_value=settlement,
        is_deactivated=m.opt_bool("is_deactivated"),
        grid=_grid(m),
        strike_type=m.opt_str("strike_type") or meta.opt_str("strike_type"),
        floor_strike=_strike(m, meta, "floor_strike"),
        cap_strike=_strike(m, meta, "cap_strike"),
    )


def _ws_order_group(env: JsonObject, m: JsonObject) -> OrderGroupUpdate:
    return OrderGroupUpdate(
        sid=env.req_int("sid"),
        seq=env.opt_int("seq"),
        event_type=m.enum_str("event_type",
                              ("created", "triggered", "reset", "deleted", "limit_updated")),
        order_group_id=m.req_str("order_group_id"),
        contracts_limit=m.opt_count("contracts_limit_fp"),
        ts_ms=m.opt_int("ts_ms"),
    )


def _ws_event(env: JsonObject, m: JsonObject) -> EventCreated:
    return EventCreated(
        sid=env.req_int("sid"),
        event_ticker=m.req_str("event_ticker"),
        series_ticker=m.req_str("series_ticker"),
        title=m.opt_str("title") or "",
        subtitle=m.opt_str("subtitle") or "",
        strike_date=m.opt_ts_s("strike_date"),
    )


@decoder
def decode_ws(frame: str | bytes) -> WsMessage:
    """Decode one websocket text frame into a message value.

    Unknown message types become `UnknownMsg` (never an error), so new Kalshi channels do
    not break the feed.

    Raises:
        ProtocolError: not JSON, or a known message with a missing/malformed field.
    """
    env = JsonObject(decode_json(frame, "ws frame"), "ws")
    kind = env.req_str("type")
    env.where = f"ws {kind}"
    msg_raw = env.raw("msg")
    if kind == "subscribed":
        m = env.obj("msg")
        return Subscribed(id=env.opt_int("id"), channel=m.req_str("channel"), sid=m.req_int("sid"))
    if kind in ("ok", "unsubscribed"):
        tickers: Json = env.raw("market_tickers")
        if isinstance(msg_raw, Mapping):
            tickers = msg_raw.get("market_tickers", tickers)
        return CommandAck(
            kind=kind,
            id=env.opt_int("id"),
            sid=env.opt_int("sid"),
            seq=env.opt_int("seq"),
            market_tickers=tuple(t for t in tickers or () if isinstance(t, str)),
        )
    if kind == "error":
        m = env.obj("msg")
        return ErrorMsg(
            id=env.opt_int("id"),
            code=m.req_int("code"),
            msg=m.opt_str("msg") or "",
            market_ticker=m.opt_str("market_ticker"),
        )
    decoders: dict[str, Callable[[JsonObject, JsonObject], WsMessage]] = {
        "orderbook_snapshot": _ws_snapshot,
        "orderbook_delta": _ws_delta,
        "ticker": _ws_ticker,
        "trade": _ws_trade,
        "fill": _ws_fill,
        "market_position": _ws_position,
        "market_lifecycle_v2": _ws_lifecycle,
        "event_lifecycle": _ws_event,
        "event_fee_update": _ws_event_fee,
        "order_group_updates": _ws_order_group,
    }
    if kind in decoders:
        return decoders[kind](env, env.obj("msg"))
    if kind == "user_order":
        return UserOrderMsg(sid=env.req_int("sid"), order=order_from(env.obj("msg")))
    return UnknownMsg(kind=kind, sid=env.opt_int("sid"), seq=env.opt_int("seq"))


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameHeader:
    """What can be read of a frame that did not decode (each field None when unreadable)."""

    kind: str | None = None
    sid: int | None = None
    seq: int | None = None
    market_ticker: str | None = None


def _as_int(v: Json) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def frame_header(frame: str | bytes) -> FrameHeader:
    """Read a frame's ``type``, ``sid``, ``seq`` and ``msg.market_ticker`` as far as possible.

    Never raises: used after `decode_ws` refused a frame, to know which book it concerned.
    """
    try:
        data = json.loads(frame)
    except Exception:
        return FrameHeader()
    if not isinstance(data, Mapping):
        return FrameHeader()
    kind = data.get("type")
    msg = data.get("msg")
    ticker = msg.get("market_ticker") if isinstance(msg, Mapping) else None
    return FrameHeader(
        kind=kind if isinstance(kind, str) else None,
        sid=_as_int(data.get("sid")),
        seq=_as_int(data.get("seq")),
        market_ticker=ticker if isinstance(ticker, str) else None,
    )
