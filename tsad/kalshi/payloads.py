"""Decoding Kalshi REST responses into tsad values (markets, events, orders, fills, acks…).

Unknown extra fields are ignored; optional fields may be missing; a missing or malformed
required field raises `ProtocolError` naming the field (``"order.remaining_count_fp:
missing"``). Field choices follow kalshi-api.md §3 (Aug 2026): fixed-point ``*_dollars`` and
``*_fp`` strings are read first; the legacy integer fields (cents, whole contracts) are only
a fallback when the fixed-point field is absent.

A list response with one bad row does not fail the whole read: the row is left out and its
error kept in `Page.bad` (the client logs it), so one malformed fill cannot stop every
future resync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tsad.core.exchange import ExchangeStatus, MarketSettlement, OrderbookLevels
from tsad.core.market import Event, Market, StrikeType
from tsad.core.money import MONEY_SCALE, PRICE_ONE, PriceGrid
from tsad.core.orders import Balance, Fill, Order, OrderStatus, Position, WriteAck
from tsad.errors import ExchangeError, ProtocolError
from tsad.kalshi.error_bodies import item_error
from tsad.kalshi.fields import Json, JsonObject, book_side, cursor, decoder, levels


__all__ = [
    "AccountLimits",
    "BucketLimit",
    "EndpointCost",
    "EndpointCosts",
    "OrderGroup",
    "Page",
    "Series",
    "decode_account_limits",
    "decode_balance",
    "decode_batch_acks",
    "decode_endpoint_costs",
    "decode_event",
    "decode_event_rows",
    "decode_exchange_status",
    "decode_fill",
    "decode_fills_page",
    "decode_market",
    "decode_market_response",
    "decode_markets_page",
    "decode_order",
    "decode_order_group",
    "decode_order_group_created",
    "decode_order_response",
    "decode_orderbook",
    "decode_orders_page",
    "decode_position",
    "decode_positions_page",
    "decode_series",
    "decode_settlement",
    "decode_settlements_page",
    "decode_write_ack",
    "fill_from",
    "order_from",
]

_T = TypeVar("_T")


def _rows(raw: list[Json], name: str, decode: Callable[[Json, str], _T]) -> tuple[
        tuple[_T, ...], tuple[str, ...]]:
    """Decode each row on its own: good rows, and one error line per bad row."""
    good: list[_T] = []
    bad: list[str] = []
    for i, item in enumerate(raw):
        try:
            good.append(decode(item, f"{name}[{i}]"))
        except ProtocolError as exc:
            bad.append(str(exc))
    return tuple(good), tuple(bad)


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a cursor-paginated list: the decoded items and the next cursor."""

    items: tuple[Any, ...]
    cursor: str | None
    bad: tuple[str, ...] = ()


def _page(payload: Json, what: str, key: str, decode: Callable[[Json, str], Any]) -> Page:
    """Decode one page of a list response: its ``key`` rows one by one, and the cursor."""
    o = JsonObject(payload, f"{what} response")
    items, bad = _rows(o.items(key, required=False), key, decode)
    return Page(items=items, cursor=cursor(o), bad=bad)


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """``GET /series/{ticker}``: the fields tsad uses."""

    ticker: str
    title: str = ""
    frequency: str = ""
    fee_type: str = ""
    fee_multiplier: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketLimit:
    """One token bucket of ``GET /account/limits``: tokens per second and capacity."""

    refill_rate: int
    bucket_capacity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountLimits:
    """``GET /account/limits``: the account's tier and its read and write buckets."""

    usage_tier: str
    read: BucketLimit
    write: BucketLimit


@decoder
def decode_market(data: Json, where: str = "market") -> Market:
    """Decode one Kalshi ``Market`` object.

    Raises:
        ProtocolError: a required field (ticker, event_ticker, strike_type) is missing or bad.
    """
    o = JsonObject(data, where)
    ticker = o.req_str("ticker")
    o.where = f"{where}[{ticker}]"
    st = o.req_str("strike_type")
    try:
        strike_type = StrikeType(st)
    except ValueError:
        raise o.bad("strike_type", f"unsupported value {st!r}") from None
    ranges = o.raw("price_ranges")
    if ranges is not None and not isinstance(ranges, list):
        raise o.bad("price_ranges", "expected a list")
    try:
        grid = PriceGrid.from_wire(ranges)
    except (ValueError, KeyError, TypeError) as exc:
        raise o.bad("price_ranges", f"malformed ({exc})") from None
    return Market(
        ticker=ticker,
        event_ticker=o.req_str("event_ticker"),
        strike_type=strike_type,
        floor_strike=o.opt_float("floor_strike"),
        cap_strike=o.opt_float("cap_strike"),
        grid=grid,
        status=o.opt_str("status") or "active",
        open_time=o.time("open_time"),
        close_time=o.time("close_time"),
        exchange_index=o.opt_int("exchange_index") or 0,
        title=o.opt_str("title") or o.opt_str("yes_sub_title") or "",
    )


def _strike_key(m: Market) -> tuple[bool, float, str]:
    return (m.floor_strike is None, m.floor_strike or 0.0, m.ticker)


@decoder
def decode_market_response(payload: Json) -> Market:
    """Decode ``GET /markets/{ticker}`` (``{"market": {...}}``)."""
    return decode_market(JsonObject(payload, "response").raw("market") or {}, "market")


@decoder
def decode_markets_page(payload: Json) -> Page:
    """Decode one page of ``GET /markets`` into `Market` items and the next cursor."""
    return _page(payload, "markets", "markets", decode_market)


@decoder
def decode_event_rows(payload: Json) -> tuple[Event, tuple[str, ...]]:
    """Decode ``GET /events/{t}?with_nested_markets=true``, leaving bad markets out.

    Markets come from ``event.markets`` (or the deprecated top-level ``markets``) and are
    sorted by ``floor_strike``. A market that does not decode (say a strike of ``inf``) is
    dropped; its error is returned beside the event so the caller can log it.
    """
    o = JsonObject(payload, "event response")
    ev = o.obj("event")
    raw = ev.items("markets", required=False) or o.items("markets", required=False)
    markets, bad = _rows(raw, "event.markets", decode_market)
    event = Event(
        event_ticker=ev.req_str("event_ticker"),
        series_ticker=ev.req_str("series_ticker"),
        title=ev.opt_str("title") or "",
        markets=tuple(sorted(markets, key=_strike_key)),
        fee_type_override=ev.opt_str("fee_type_override"),
        fee_multiplier_override=ev.opt_float("fee_multiplier_override"),
    )
    return event, bad


def decode_event(payload: Json) -> Event:
    """Decode ``GET /events/{t}`` into an `Event`, bad markets left out (`decode_event_rows`)."""
    return decode_event_rows(payload)[0]


@decoder
def decode_series(payload: Json) -> Series:
    """Decode ``GET /series/{ticker}`` (``{"series": {...}}``)."""
    s = JsonObject(payload, "series response").obj("series")
    return Series(
        ticker=s.req_str("ticker"),
        title=s.opt_str("title") or "",
        frequency=s.opt_str("frequency") or "",
        fee_type=s.opt_str("fee_type") or "",
        fee_multiplier=s.opt_float("fee_multiplier"),
    )


@decoder
def decode_exchange_status(payload: Json) -> ExchangeStatus:
    """Decode ``GET /exchange/status``."""
    o = JsonObject(payload, "exchange status")
    active, trading = o.opt_bool("exchange_active"), o.opt_bool("trading_active")
    if active is None:
        raise o.bad("exchange_active", "missing")
    if trading is None:
        raise o.bad("trading_active", "missing")
    return ExchangeStatus(exchange_active=active, trading_active=trading)


@decoder
def decode_account_limits(payload: Json) -> AccountLimits:
    """Decode ``GET /account/limits``."""
    o = JsonObject(payload, "account limits")

    def bucket(key: str) -> BucketLimit:
        b = o.obj(key)
        return BucketLimit(
            refill_rate=b.req_int("refill_rate"), bucket_capacity=b.req_int("bucket_capacity")
        )

    return AccountLimits(
        usage_tier=o.req_str("usage_tier"), read=bucket("read"), write=bucket("write")
    )


@decoder
def decode_orderbook(ticker: str, payload: Json) -> OrderbookLevels:
    """Decode ``GET /markets/{ticker}/orderbook`` (``orderbook_fp.yes_dollars/no_dollars``).

    Levels keep the REST order (ascending, best bid last); NO levels are in NO prices.
    """
    o = JsonObject(payload, f"orderbook[{ticker}]")
    ob = o.obj("orderbook_fp")
    return OrderbookLevels(
        ticker=ticker,
        yes=levels(ob.items("yes_dollars", required=False), f"{ob.where}.yes_dollars"),
        no=levels(ob.items("no_dollars", required=False), f"{ob.where}.no_dollars"),
    )


# ---------------------------------------------------------------------------------------
# REST: portfolio
# ---------------------------------------------------------------------------------------


def order_from(o: JsonObject) -> Order:
    st = o.req_str("status")
    try:
        status = OrderStatus(st)
    except ValueError:
        raise o.bad("status", f"unexpected value {st!r}") from None
    return Order(
        order_id=o.req_str("order_id"),
        client_order_id=o.opt_str("client_order_id") or "",
        ticker=o.req_str("ticker"),
        side=book_side(o),
        price=o.price("yes_price_dollars", cents="yes_price"),
        remaining=o.count("remaining_count_fp", legacy="remaining_count"),
        filled=o.count("fill_count_fp", legacy="fill_count"),
        initial=o.count("initial_count_fp", legacy="initial_count"),
        status=status,
        created_time=o.time("created_time"),
    )


@decoder
def decode_order(data: Json, where: str = "order") -> Order:
    """Decode one Kalshi ``Order`` object (REST) or ``user_order`` message body."""
    o = JsonObject(data, where)
    oid = o.d.get("order_id")
    if isinstance(oid, str):
        o.where = f"{where}[{oid}]"
    return order_from(o)


@decoder
def decode_order_response(payload: Json) -> Order:
    """Decode ``GET /portfolio/orders/{id}`` (``{"order": {...}}``)."""
    o = JsonObject(payload, "order response")
    return decode_order(o.obj("order").d, "order")


@decoder
def decode_orders_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/orders``."""
    return _page(payload, "orders", "orders", decode_order)


def fill_from(o: JsonObject, *, ticker_keys: Sequence[str]) -> Fill:
    ticker = next((o.req_str(k) for k in ticker_keys if o.has(k)), None)
    if ticker is None:
        raise o.bad(ticker_keys[0], "missing")
    if o.has("yes_price_dollars"):
        price = o.price("yes_price_dollars")
    elif isinstance(o.raw("price"), str):
        price = o.price("price")
    else:
        price = o.price("yes_price_dollars", cents="yes_price")
    ts: datetime | None = o.opt_ts_ms("ts_ms")
    if ts is None:
        ts = o.opt_ts_s("ts")
    if ts is None:
        ts = o.time("created_time")
    return Fill(
        trade_id=o.req_str("trade_id") if o.has("trade_id") else o.req_str("fill_id"),
        order_id=o.req_str("order_id"),
        ticker=ticker,
        side=book_side(o),
        price=price,
        count=o.count("count_fp", legacy="count"),
        fee=o.money("fee_cost", default=0),
        is_taker=bool(o.opt_bool("is_taker")),
        client_order_id=o.opt_str("client_order_id"),
        ts=ts,
    )


@decoder
def decode_fill(data: Json, where: str = "fill") -> Fill:
    """Decode one REST ``Fill`` (``side`` is our order's book side, from ``book_side``)."""
    return fill_from(JsonObject(data, where), ticker_keys=("ticker", "market_ticker"))


@decoder
def decode_fills_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/fills``."""
    return _page(payload, "fills", "fills", decode_fill)


@decoder
def decode_settlement(data: Json, where: str = "settlement") -> MarketSettlement:
    """Decode one ``Settlement`` (``revenue`` and ``value`` are integer cents)."""
    o = JsonObject(data, where)
    value = o.opt_int("value")
    return MarketSettlement(
        ticker=o.req_str("ticker"),
        result=o.enum_str("market_result", ("yes", "no", "scalar")),
        value=None if value is None else value * (PRICE_ONE // 100),
        revenue=o.req_int("revenue") * (MONEY_SCALE // 100),
        fee=o.money("fee_cost", default=0),
        yes_count=o.count("yes_count_fp"),
        no_count=o.count("no_count_fp"),
        settled_ts=o.time("settled_time"),
    )


@decoder
def decode_settlements_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/settlements``."""
    return _page(payload, "settlements", "settlements", decode_settlement)


@decoder
def decode_position(data: Json, where: str = "market_position") -> Position:
    """Decode one ``MarketPosition`` (money fields in $0.000001 units)."""
    o = JsonObject(data, where)
    return Position(
        ticker=o.req_str("ticker"),
        position=o.count("position_fp", legacy="position"),
        exposure=o.money("market_exposure_dollars", default=0),
        realized_pnl=o.money("realized_pnl_dollars", default=0),
        fees_paid=o.money("fees_paid_dollars", default=0),
    )


@decoder
def decode_positions_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/positions`` (its ``market_positions``)."""
    return _page(payload, "positions", "market_positions", decode_position)


_CENT_MONEY = 10_000  # $0.01 in $0.000001 units


@decoder
def decode_balance(payload: Json) -> Balance:
    """Decode ``GET /portfolio/balance``: ``balance_dollars`` if present, else integer cents."""
    o = JsonObject(payload, "balance")
    if o.has("balance_dollars"):
        balance = o.money("balance_dollars")
    else:
        balance = o.req_int("balance") * _CENT_MONEY
    pv = o.opt_int("portfolio_value")
    return Balance(balance=balance, portfolio_value=(pv or 0) * _CENT_MONEY)


# ---------------------------------------------------------------------------------------
# REST: V2 writes
# ---------------------------------------------------------------------------------------


@decoder
def decode_write_ack(payload: Json, *, cancelled: bool = False, where: str = "ack") -> WriteAck:
    """Decode a flat V2 write response (create, amend, decrease, cancel).

    Args:
        payload: the response object.
        cancelled: a cancel response (``CancelOrderV2Response`` or a batch cancel item):
            ``remaining`` is 0 after it, and ``reduced_by`` is the count it cancelled.
        where: the name used in error messages.
    """
    o = JsonObject(payload, where)
    remaining = 0 if cancelled else o.opt_count("remaining_count")
    return WriteAck(
        order_id=o.req_str("order_id"),
        client_order_id=o.opt_str("client_order_id"),
        remaining=remaining,
        filled=o.opt_count("fill_count"),
        ts_ms=o.opt_int("ts_ms"),
        reduced_by=o.opt_count("reduced_by") if cancelled else None,
    )

@decoder
def decode_batch_acks(payload: Json, *, cancelled: bool) -> list[WriteAck | ExchangeError]:
    """Decode a V2 batch create/cancel response: one ack or error per item, in order."""
    o = JsonObject(payload, "batch response")
    out: list[WriteAck | ExchangeError] = []
    for i, item in enumerate(o.items("orders", required=False)):
        it = JsonObject(item, f"batch response.orders[{i}]")
        err = it.raw("error")
        if err is not None:
            out.append(item_error(err, order_id=it.opt_str("order_id")))
        else:
            out.append(decode_write_ack(item, cancelled=cancelled, where=it.where))
    return out



@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointCost:
    """One endpoint whose token cost differs from the default (per order for batches)."""

    method: str
    path: str
    cost: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointCosts:
    """``GET /account/endpoint_costs``: the default cost and the endpoints priced otherwise."""

    default_cost: int
    endpoints: tuple[EndpointCost, ...] = ()


@decoder
def decode_endpoint_costs(payload: Json) -> EndpointCosts:
    """Decode ``GET /account/endpoint_costs`` (costs must be positive integers)."""
    o = JsonObject(payload, "endpoint costs")
    default = o.req_int("default_cost")
    if default <= 0:
        raise o.bad("default_cost", f"must be positive, got {default}")
    rows: list[EndpointCost] = []
    for i, item in enumerate(o.items("endpoint_costs")):
        e = JsonObject(item, f"endpoint costs.endpoint_costs[{i}]")
        cost = e.req_int("cost")
        if cost < 0:
            raise e.bad("cost", f"must not be negative, got {cost}")
        rows.append(EndpointCost(method=e.req_str("method").upper(), path=e.req_str("path"),
                                 cost=cost))
    return EndpointCosts(default_cost=default, endpoints=tuple(rows))


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderGroup:
    """``GET /portfolio/order_groups/{id}``: its limit, whether it fired, and its orders.

    ``is_auto_cancel_enabled`` is Kalshi's flag for the group's auto-cancel state;
    ``contracts_limit`` is in count units (0.01 contract), None when not reported.
    """

    order_group_id: str
    is_auto_cancel_enabled: bool
    contracts_limit: int | None
    orders: tuple[str, ...]


@decoder
def decode_order_group_created(payload: Json) -> str:
    """Decode ``POST /portfolio/order_groups/create`` (201) into the new group's id."""
    o = JsonObject(payload, "order group")
    gid = o.req_str("order_group_id")
    if not gid:
        raise o.bad("order_group_id", "empty")
    return gid


@decoder
def decode_order_group(order_group_id: str, payload: Json) -> OrderGroup:
    """Decode ``GET /portfolio/order_groups/{id}`` (``GetOrderGroupResponse``)."""
    o = JsonObject(payload, f"order group[{order_group_id}]")
    enabled = o.opt_bool("is_auto_cancel_enabled")
    if enabled is None:
        raise o.bad("is_auto_cancel_enabled", "missing")
    orders = o.items("orders", required=False)
    if not all(isinstance(x, str) for x in orders):
        raise o.bad("orders", "expected a list of order ids")
    return OrderGroup(
        order_group_id=order_group_id,
        is_auto_cancel_enabled=enabled,
        contracts_limit=o.opt_count("contracts_limit_fp"),
        orders=tuple(orders),
    )
