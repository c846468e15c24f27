"""The Kalshi JSON boundary: decode REST and websocket payloads into tsad values, encode requests.

This is the only module where ``Any`` appears: every payload is validated here into the
frozen dataclasses of ``tsad.market``, ``tsad.orders`` and ``tsad.exchange`` (and the small
websocket message types below). Unknown extra fields are ignored; optional fields may be
missing; a missing or malformed required field raises `ProtocolError` naming the field
(``"order.remaining_count_fp: missing"``).

Field choices follow kalshi-api.md §3 and §5 (Aug 2026): fixed-point ``*_dollars`` and
``*_fp`` strings are read first; the legacy integer fields (cents, whole contracts) are only
a fallback when the fixed-point field is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from tsad.core.exchange import ExchangeStatus, OrderbookLevels
from tsad.core.market import Event, Market, Outcome, StrikeType
from tsad.core.money import (
    PRICE_ONE,
    PriceGrid,
    contracts,
    format_count,
    format_price,
    parse_count,
    parse_money,
    parse_price,
)
from tsad.core.orders import (
    Balance,
    BookSide,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    WriteAck,
)
from tsad.errors import (
    Conflict,
    ExchangeError,
    NotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
)


__all__ = [
    "AccountLimits",
    "BucketLimit",
    "CommandAck",
    "ErrorBody",
    "ErrorMsg",
    "FillMsg",
    "LifecycleMsg",
    "OrderbookDelta",
    "OrderbookSnapshot",
    "Page",
    "PositionMsg",
    "Series",
    "Subscribed",
    "TickerUpdate",
    "TradeMsg",
    "UnknownMsg",
    "UserOrderMsg",
    "WsMessage",
    "decode_account_limits",
    "decode_balance",
    "decode_batch_acks",
    "decode_error_body",
    "decode_event",
    "decode_exchange_status",
    "decode_fill",
    "decode_fills_page",
    "decode_json",
    "decode_market",
    "decode_market_response",
    "decode_markets_page",
    "decode_order",
    "decode_order_response",
    "decode_orderbook",
    "decode_orders_page",
    "decode_position",
    "decode_positions_page",
    "decode_series",
    "decode_write_ack",
    "decode_ws",
    "encode_amend",
    "encode_batch_cancel",
    "encode_batch_create",
    "encode_decrease",
    "encode_order_request",
    "item_error",
]

Json: TypeAlias = Any
Levels: TypeAlias = tuple[tuple[int, int], ...]


# ---------------------------------------------------------------------------------------
# Field access with errors that name the field
# ---------------------------------------------------------------------------------------


class _Obj:
    """A JSON object being decoded; ``where`` prefixes every error message."""

    __slots__ = ("d", "where")

    def __init__(self, data: Json, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ProtocolError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.d: Mapping[str, Json] = data
        self.where = where

    def _bad(self, key: str, why: str) -> ProtocolError:
        return ProtocolError(f"{self.where}.{key}: {why}")

    def has(self, key: str) -> bool:
        return self.d.get(key) is not None

    def raw(self, key: str) -> Json:
        return self.d.get(key)

    def obj(self, key: str) -> _Obj:
        if key not in self.d or self.d[key] is None:
            raise self._bad(key, "missing")
        return _Obj(self.d[key], f"{self.where}.{key}")

    def items(self, key: str, *, required: bool = True) -> list[Json]:
        v = self.d.get(key)
        if v is None:
            if required:
                raise self._bad(key, "missing")
            return []
        if not isinstance(v, list):
            raise self._bad(key, f"expected a list, got {type(v).__name__}")
        return v

    def req_str(self, key: str) -> str:
        v = self.d.get(key)
        if v is None:
            raise self._bad(key, "missing")
        if not isinstance(v, str):
            raise self._bad(key, f"expected a string, got {v!r}")
        return v

    def opt_str(self, key: str) -> str | None:
        v = self.d.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self._bad(key, f"expected a string, got {v!r}")
        return v

    def req_int(self, key: str) -> int:
        v = self.d.get(key)
        if v is None:
            raise self._bad(key, "missing")
        return self._as_int(key, v)

    def opt_int(self, key: str) -> int | None:
        v = self.d.get(key)
        return None if v is None else self._as_int(key, v)

    def _as_int(self, key: str, v: Json) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._bad(key, f"expected an integer, got {v!r}")
        return v

    def opt_bool(self, key: str) -> bool | None:
        v = self.d.get(key)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise self._bad(key, f"expected a boolean, got {v!r}")
        return v

    def opt_float(self, key: str) -> float | None:
        v = self.d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise self._bad(key, f"expected a number, got {v!r}")
        try:
            return float(v)
        except ValueError:
            raise self._bad(key, f"expected a number, got {v!r}") from None

    def _fixed(self, key: str, parse: Any, what: str) -> int:
        v = self.d.get(key)
        if v is None:
            raise self._bad(key, "missing")
        if not isinstance(v, str):
            raise self._bad(key, f"expected a {what} string, got {v!r}")
        try:
            out: int = parse(v)
        except ValueError as exc:
            raise self._bad(key, str(exc)) from None
        return out

    def price(self, key: str, *, cents: str | None = None) -> int:
        """A FixedPointDollars price; ``cents`` names a legacy integer-cent fallback field."""
        if cents is not None and not self.has(key) and self.has(cents):
            return self.req_int(cents) * (PRICE_ONE // 100)
        return self._fixed(key, parse_price, "dollar")

    def opt_price(self, key: str) -> int | None:
        return self.price(key) if self.has(key) else None

    def count(self, key: str, *, legacy: str | None = None) -> int:
        """A FixedPointCount; ``legacy`` names a whole-contract fallback field."""
        if legacy is not None and not self.has(key) and self.has(legacy):
            v = self.d[legacy]
            if isinstance(v, str):
                return self._fixed(legacy, parse_count, "count")
            return contracts(self.req_int(legacy))
        return self._fixed(key, parse_count, "count")

    def opt_count(self, key: str) -> int | None:
        return self.count(key) if self.has(key) else None

    def money(self, key: str, default: int | None = None) -> int:
        if default is not None and not self.has(key):
            return default
        return self._fixed(key, parse_money, "dollar")

    def time(self, key: str) -> datetime | None:
        v = self.opt_str(key)
        if not v:
            return None
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            raise self._bad(key, f"not an RFC3339 time: {v!r}") from None
        return t if t.tzinfo is not None else t.replace(tzinfo=UTC)

    def enum_str(self, key: str, allowed: Iterable[str]) -> str:
        v = self.req_str(key)
        if v not in allowed:
            raise self._bad(key, f"unexpected value {v!r}")
        return v


def decode_json(body: str | bytes, where: str = "response") -> Json:
    """Parse a JSON document.

    Raises:
        ProtocolError: the body is not JSON.
    """
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{where}: not valid JSON ({exc})") from None


def _levels(items: list[Json], where: str) -> Levels:
    out: list[tuple[int, int]] = []
    for i, lvl in enumerate(items):
        if (
            not isinstance(lvl, list | tuple)
            or len(lvl) != 2
            or not all(isinstance(x, str) for x in lvl)
        ):
            raise ProtocolError(f"{where}[{i}]: expected [price_dollars, count_fp], got {lvl!r}")
        try:
            out.append((parse_price(lvl[0]), parse_count(lvl[1])))
        except ValueError as exc:
            raise ProtocolError(f"{where}[{i}]: {exc}") from None
    return tuple(out)


def _cursor(o: _Obj) -> str | None:
    c = o.opt_str("cursor")
    return c or None


def _book_side(o: _Obj) -> BookSide:
    """V2 ``book_side``; else ``outcome_side``; else the deprecated ``side``/``action`` pair."""
    bs = o.opt_str("book_side")
    if bs is not None:
        try:
            return BookSide(bs)
        except ValueError:
            raise o._bad("book_side", f"unexpected value {bs!r}") from None
    outcome = o.opt_str("outcome_side")
    if outcome is not None:
        if outcome not in ("yes", "no"):
            raise o._bad("outcome_side", f"unexpected value {outcome!r}")
        return BookSide.BID if outcome == "yes" else BookSide.ASK
    side = o.opt_str("side")
    if side is None:
        raise o._bad("book_side", "missing (and no outcome_side or side/action)")
    if side in ("bid", "ask"):
        return BookSide(side)
    if side not in ("yes", "no"):
        raise o._bad("side", f"unexpected value {side!r}")
    action = o.opt_str("action") or "buy"
    if action not in ("buy", "sell"):
        raise o._bad("action", f"unexpected value {action!r}")
    # buy YES and sell NO rest on the bid; buy NO and sell YES on the ask.
    return BookSide.BID if (side == "yes") == (action == "buy") else BookSide.ASK


# ---------------------------------------------------------------------------------------
# REST: markets, events, series, exchange
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a cursor-paginated list: the decoded items and the next cursor."""

    items: tuple[Any, ...]
    cursor: str | None


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


def decode_market(data: Json, where: str = "market") -> Market:
    """Decode one Kalshi ``Market`` object.

    Raises:
        ProtocolError: a required field (ticker, event_ticker, strike_type) is missing or bad.
    """
    o = _Obj(data, where)
    ticker = o.req_str("ticker")
    o.where = f"{where}[{ticker}]"
    st = o.req_str("strike_type")
    try:
        strike_type = StrikeType(st)
    except ValueError:
        raise o._bad("strike_type", f"unsupported value {st!r}") from None
    ranges = o.raw("price_ranges")
    if ranges is not None and not isinstance(ranges, list):
        raise o._bad("price_ranges", "expected a list")
    try:
        grid = PriceGrid.from_wire(ranges)
    except (ValueError, KeyError, TypeError) as exc:
        raise o._bad("price_ranges", f"malformed ({exc})") from None
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


def decode_market_response(payload: Json) -> Market:
    """Decode ``GET /markets/{ticker}`` (``{"market": {...}}``)."""
    return decode_market(_Obj(payload, "response").raw("market") or {}, "market")


def decode_markets_page(payload: Json) -> Page:
    """Decode one page of ``GET /markets`` into `Market` items and the next cursor."""
    o = _Obj(payload, "markets response")
    raw = o.items("markets", required=False)
    items = tuple(decode_market(m, f"markets[{i}]") for i, m in enumerate(raw))
    return Page(items=items, cursor=_cursor(o))


def decode_event(payload: Json) -> Event:
    """Decode ``GET /events/{t}?with_nested_markets=true`` into an `Event`.

    Markets come from ``event.markets`` (or the deprecated top-level ``markets``) and are
    sorted by ``floor_strike``.
    """
    o = _Obj(payload, "event response")
    ev = o.obj("event")
    raw = ev.items("markets", required=False) or o.items("markets", required=False)
    markets = [decode_market(m, f"event.markets[{i}]") for i, m in enumerate(raw)]
    return Event(
        event_ticker=ev.req_str("event_ticker"),
        series_ticker=ev.req_str("series_ticker"),
        title=ev.opt_str("title") or "",
        markets=tuple(sorted(markets, key=_strike_key)),
    )


def decode_series(payload: Json) -> Series:
    """Decode ``GET /series/{ticker}`` (``{"series": {...}}``)."""
    s = _Obj(payload, "series response").obj("series")
    return Series(
        ticker=s.req_str("ticker"),
        title=s.opt_str("title") or "",
        frequency=s.opt_str("frequency") or "",
        fee_type=s.opt_str("fee_type") or "",
        fee_multiplier=s.opt_float("fee_multiplier"),
    )


def decode_exchange_status(payload: Json) -> ExchangeStatus:
    """Decode ``GET /exchange/status``."""
    o = _Obj(payload, "exchange status")
    active, trading = o.opt_bool("exchange_active"), o.opt_bool("trading_active")
    if active is None:
        raise o._bad("exchange_active", "missing")
    if trading is None:
        raise o._bad("trading_active", "missing")
    return ExchangeStatus(exchange_active=active, trading_active=trading)


def decode_account_limits(payload: Json) -> AccountLimits:
    """Decode ``GET /account/limits``."""
    o = _Obj(payload, "account limits")

    def bucket(key: str) -> BucketLimit:
        b = o.obj(key)
        return BucketLimit(
            refill_rate=b.req_int("refill_rate"), bucket_capacity=b.req_int("bucket_capacity")
        )

    return AccountLimits(
        usage_tier=o.req_str("usage_tier"), read=bucket("read"), write=bucket("write")
    )


def decode_orderbook(ticker: str, payload: Json) -> OrderbookLevels:
    """Decode ``GET /markets/{ticker}/orderbook`` (``orderbook_fp.yes_dollars/no_dollars``).

    Levels keep the REST order (ascending, best bid last); NO levels are in NO prices.
    """
    o = _Obj(payload, f"orderbook[{ticker}]")
    ob = o.obj("orderbook_fp")
    return OrderbookLevels(
        ticker=ticker,
        yes=_levels(ob.items("yes_dollars", required=False), f"{ob.where}.yes_dollars"),
        no=_levels(ob.items("no_dollars", required=False), f"{ob.where}.no_dollars"),
    )


# ---------------------------------------------------------------------------------------
# REST: portfolio
# ---------------------------------------------------------------------------------------


def _order_from(o: _Obj) -> Order:
    st = o.req_str("status")
    try:
        status = OrderStatus(st)
    except ValueError:
        raise o._bad("status", f"unexpected value {st!r}") from None
    return Order(
        order_id=o.req_str("order_id"),
        client_order_id=o.opt_str("client_order_id") or "",
        ticker=o.req_str("ticker"),
        side=_book_side(o),
        price=o.price("yes_price_dollars", cents="yes_price"),
        remaining=o.count("remaining_count_fp", legacy="remaining_count"),
        filled=o.count("fill_count_fp", legacy="fill_count"),
        initial=o.count("initial_count_fp", legacy="initial_count"),
        status=status,
        created_time=o.time("created_time"),
    )


def decode_order(data: Json, where: str = "order") -> Order:
    """Decode one Kalshi ``Order`` object (REST) or ``user_order`` message body."""
    o = _Obj(data, where)
    oid = o.d.get("order_id")
    if isinstance(oid, str):
        o.where = f"{where}[{oid}]"
    return _order_from(o)


def decode_order_response(payload: Json) -> Order:
    """Decode ``GET /portfolio/orders/{id}`` (``{"order": {...}}``)."""
    o = _Obj(payload, "order response")
    return decode_order(o.obj("order").d, "order")


def decode_orders_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/orders``."""
    o = _Obj(payload, "orders response")
    raw = o.items("orders", required=False)
    items = tuple(decode_order(x, f"orders[{i}]") for i, x in enumerate(raw))
    return Page(items=items, cursor=_cursor(o))


def _fill_from(o: _Obj, *, ticker_keys: Sequence[str]) -> Fill:
    ticker = next((o.req_str(k) for k in ticker_keys if o.has(k)), None)
    if ticker is None:
        raise o._bad(ticker_keys[0], "missing")
    if o.has("yes_price_dollars"):
        price = o.price("yes_price_dollars")
    elif isinstance(o.raw("price"), str):
        price = o.price("price")
    else:
        price = o.price("yes_price_dollars", cents="yes_price")
    ts_s = o.opt_int("ts")
    ts_ms = o.opt_int("ts_ms")
    if ts_ms is not None:
        ts: datetime | None = datetime.fromtimestamp(ts_ms / 1000, UTC)
    elif ts_s is not None:
        ts = datetime.fromtimestamp(ts_s, UTC)
    else:
        ts = o.time("created_time")
    return Fill(
        trade_id=o.req_str("trade_id") if o.has("trade_id") else o.req_str("fill_id"),
        order_id=o.req_str("order_id"),
        ticker=ticker,
        side=_book_side(o),
        price=price,
        count=o.count("count_fp", legacy="count"),
        fee=o.money("fee_cost", default=0),
        is_taker=bool(o.opt_bool("is_taker")),
        client_order_id=o.opt_str("client_order_id"),
        ts=ts,
    )


def decode_fill(data: Json, where: str = "fill") -> Fill:
    """Decode one REST ``Fill`` (``side`` is our order's book side, from ``book_side``)."""
    return _fill_from(_Obj(data, where), ticker_keys=("ticker", "market_ticker"))


def decode_fills_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/fills``."""
    o = _Obj(payload, "fills response")
    raw = o.items("fills", required=False)
    items = tuple(decode_fill(x, f"fills[{i}]") for i, x in enumerate(raw))
    return Page(items=items, cursor=_cursor(o))


def decode_position(data: Json, where: str = "market_position") -> Position:
    """Decode one ``MarketPosition`` (money fields in $0.000001 units)."""
    o = _Obj(data, where)
    return Position(
        ticker=o.req_str("ticker"),
        position=o.count("position_fp", legacy="position"),
        exposure=o.money("market_exposure_dollars", default=0),
        realized_pnl=o.money("realized_pnl_dollars", default=0),
        fees_paid=o.money("fees_paid_dollars", default=0),
    )


def decode_positions_page(payload: Json) -> Page:
    """Decode one page of ``GET /portfolio/positions`` (its ``market_positions``)."""
    o = _Obj(payload, "positions response")
    raw = o.items("market_positions", required=False)
    items = tuple(decode_position(x, f"market_positions[{i}]") for i, x in enumerate(raw))
    return Page(items=items, cursor=_cursor(o))


_CENT_MONEY = 10_000  # $0.01 in $0.000001 units


def decode_balance(payload: Json) -> Balance:
    """Decode ``GET /portfolio/balance``: ``balance_dollars`` if present, else integer cents."""
    o = _Obj(payload, "balance")
    if o.has("balance_dollars"):
        balance = o.money("balance_dollars")
    else:
        balance = o.req_int("balance") * _CENT_MONEY
    pv = o.opt_int("portfolio_value")
    return Balance(balance=balance, portfolio_value=(pv or 0) * _CENT_MONEY)


# ---------------------------------------------------------------------------------------
# REST: V2 writes
# ---------------------------------------------------------------------------------------


def decode_write_ack(payload: Json, *, cancelled: bool = False, where: str = "ack") -> WriteAck:
    """Decode a flat V2 write response (create, amend, decrease, cancel).

    Args:
        payload: the response object.
        cancelled: a cancel response: ``remaining`` is 0 after it (``reduced_by`` was left).
        where: the name used in error messages.
    """
    o = _Obj(payload, where)
    remaining = 0 if cancelled else o.opt_count("remaining_count")
    return WriteAck(
        order_id=o.req_str("order_id"),
        client_order_id=o.opt_str("client_order_id"),
        remaining=remaining,
        filled=o.opt_count("fill_count"),
        ts_ms=o.opt_int("ts_ms"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorBody:
    """A Kalshi error body, wrapped or not (``code``, ``message``, ``details``; may be empty)."""

    code: str | None
    message: str
    details: str = ""


def _error_fields(err: Mapping[str, Json]) -> ErrorBody:
    code = err.get("code")
    message = err.get("message")
    details = err.get("details")
    return ErrorBody(
        code=str(code) if code is not None else None,
        message=str(message) if message is not None else "",
        details=str(details) if details is not None else "",
    )


def decode_error_body(body: bytes | str) -> ErrorBody:
    """Read an error response in any of its observed shapes.

    Accepts ``{"error": {code, message, details}}``, ``{code, message, details}``, the 429
    form ``{"error": "too many requests"}``, and non-JSON text. Never raises.
    """
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping):
            return _error_fields(err)
        if isinstance(err, str):
            return ErrorBody(code=None, message=err)
        return _error_fields(data)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return ErrorBody(code=None, message=text[:200])


def item_error(err: Json, *, order_id: str | None = None) -> ExchangeError:
    """Map one batch item's ``error`` (an ``ErrorResponse``) into the exception tree."""
    e = _error_fields(err) if isinstance(err, Mapping) else ErrorBody(code=None, message=str(err))
    text = " ".join(x for x in (e.code or "", e.message, e.details) if x)
    lowered = text.lower()
    label = f"order {order_id}: " if order_id else ""
    if "not_found" in lowered or "not found" in lowered:
        return NotFound(f"{label}{text}", code=e.code)
    if "already exists" in lowered or "already_exists" in lowered:
        return Conflict(f"{label}{text}", code=e.code)
    if "too many requests" in lowered:
        return RateLimited(f"{label}{text}", code=e.code)
    return OrderRejected(f"{label}{text or 'rejected'}", code=e.code)


def decode_batch_acks(payload: Json, *, cancelled: bool) -> list[WriteAck | ExchangeError]:
    """Decode a V2 batch create/cancel response: one ack or error per item, in order."""
    o = _Obj(payload, "batch response")
    out: list[WriteAck | ExchangeError] = []
    for i, item in enumerate(o.items("orders", required=False)):
        it = _Obj(item, f"batch response.orders[{i}]")
        err = it.raw("error")
        if err is not None:
            out.append(item_error(err, order_id=it.opt_str("order_id")))
        else:
            out.append(decode_write_ack(item, cancelled=cancelled, where=it.where))
    return out


def encode_order_request(request: OrderRequest) -> dict[str, Json]:
    """Encode a `OrderRequest` as ``CreateOrderV2Request`` JSON (4-decimal price, 2-decimal count).

    ``exchange_index`` is omitted so Kalshi auto-routes by ticker.
    """
    return {
        "ticker": request.ticker,
        "client_order_id": request.client_order_id,
        "side": request.side.value,
        "count": format_count(request.count),
        "price": format_price(request.price),
        "time_in_force": request.time_in_force,
        "self_trade_prevention_type": request.self_trade_prevention_type,
        "post_only": request.post_only,
        "cancel_order_on_pause": request.cancel_order_on_pause,
    }


def encode_batch_create(requests: Sequence[OrderRequest]) -> dict[str, Json]:
    """Encode ``BatchCreateOrdersV2Request``."""
    return {"orders": [encode_order_request(r) for r in requests]}


def encode_amend(
    *, ticker: str, side: str, price: int, count: int,
    client_order_id: str | None = None, updated_client_order_id: str | None = None,
) -> dict[str, Json]:
    """Encode ``AmendOrderV2Request``: ``count`` is the new total (filled + resting)."""
    body: dict[str, Json] = {
        "ticker": ticker,
        "side": BookSide(side).value,
        "price": format_price(price),
        "count": format_count(count),
    }
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    if updated_client_order_id is not None:
        body["updated_client_order_id"] = updated_client_order_id
    return body


def encode_decrease(*, reduce_to: int) -> dict[str, Json]:
    """Encode ``DecreaseOrderV2Request`` with ``reduce_to``."""
    return {"reduce_to": format_count(reduce_to)}


def encode_batch_cancel(order_ids: Sequence[str]) -> dict[str, Json]:
    """Encode ``BatchCancelOrdersV2Request``."""
    return {"orders": [{"order_id": oid} for oid in order_ids]}


# ---------------------------------------------------------------------------------------
# Websocket messages (kalshi-api.md §5)
# ---------------------------------------------------------------------------------------


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
    """``market_lifecycle_v2`` / ``event_lifecycle``: a market or event changed state.

    ``kind`` is the message type; ``event_type`` is ``created``, ``activated``,
    ``deactivated``, ``close_date_updated``, ``determined``, ``settled``,
    ``price_level_structure_updated`` or ``metadata_updated`` (empty for event_lifecycle).
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
    | PositionMsg | LifecycleMsg | Subscribed | CommandAck | ErrorMsg | UnknownMsg
)


def _ws_snapshot(env: _Obj, m: _Obj) -> OrderbookSnapshot:
    return OrderbookSnapshot(
        sid=env.req_int("sid"),
        seq=env.req_int("seq"),
        market_ticker=m.req_str("market_ticker"),
        yes=_levels(m.items("yes_dollars_fp", required=False), f"{m.where}.yes_dollars_fp"),
        no=_levels(m.items("no_dollars_fp", required=False), f"{m.where}.no_dollars_fp"),
    )


def _ws_delta(env: _Obj, m: _Obj) -> OrderbookDelta:
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


def _ws_ticker(env: _Obj, m: _Obj) -> TickerUpdate:
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


def _ws_trade(env: _Obj, m: _Obj) -> TradeMsg:
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


def _ws_fill(env: _Obj, m: _Obj) -> FillMsg:
    return FillMsg(
        sid=env.req_int("sid"),
        fill=_fill_from(m, ticker_keys=("market_ticker", "ticker")),
        post_position=m.opt_count("post_position_fp"),
    )


def _ws_position(env: _Obj, m: _Obj) -> PositionMsg:
    return PositionMsg(
        sid=env.req_int("sid"),
        market_ticker=m.req_str("market_ticker"),
        position=m.count("position_fp"),
        position_cost=m.money("position_cost_dollars", default=0),
        realized_pnl=m.money("realized_pnl_dollars", default=0),
        fees_paid=m.money("fees_paid_dollars", default=0),
    )


def _ws_lifecycle(kind: str, env: _Obj, m: _Obj) -> LifecycleMsg:
    meta = _Obj(m.raw("additional_metadata") or {}, f"{m.where}.additional_metadata")
    grid: PriceGrid | None = None
    ranges = m.raw("price_ranges")
    if ranges is not None:
        try:
            grid = PriceGrid.from_wire(ranges)
        except (ValueError, KeyError, TypeError) as exc:
            raise m._bad("price_ranges", f"malformed ({exc})") from None
    sv = m.raw("settlement_value")
    settlement: int | None = None
    if isinstance(sv, str):
        settlement = m.price("settlement_value")
    elif isinstance(sv, int) and not isinstance(sv, bool):
        settlement = sv * (PRICE_ONE // 100)
    return LifecycleMsg(
        sid=env.req_int("sid"),
        kind=kind,
        event_type=m.opt_str("event_type") or "",
        market_ticker=m.opt_str("market_ticker"),
        event_ticker=m.opt_str("event_ticker") or meta.opt_str("event_ticker"),
        close_ts=m.opt_int("close_ts"),
        result=m.opt_str("result"),
        settlement_value=settlement,
        is_deactivated=m.opt_bool("is_deactivated"),
        grid=grid,
        strike_type=m.opt_str("strike_type") or meta.opt_str("strike_type"),
        floor_strike=m.opt_float("floor_strike") if m.has("floor_strike")
        else meta.opt_float("floor_strike"),
        cap_strike=m.opt_float("cap_strike") if m.has("cap_strike")
        else meta.opt_float("cap_strike"),
    )


def decode_ws(frame: str | bytes) -> WsMessage:
    """Decode one websocket text frame into a message value.

    Unknown message types become `UnknownMsg` (never an error), so new Kalshi channels do
    not break the feed.

    Raises:
        ProtocolError: not JSON, or a known message with a missing/malformed field.
    """
    env = _Obj(decode_json(frame, "ws frame"), "ws")
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
    decoders: dict[str, Callable[[_Obj, _Obj], WsMessage]] = {
        "orderbook_snapshot": _ws_snapshot,
        "orderbook_delta": _ws_delta,
        "ticker": _ws_ticker,
        "trade": _ws_trade,
        "fill": _ws_fill,
        "market_position": _ws_position,
    }
    if kind in decoders:
        return decoders[kind](env, env.obj("msg"))
    if kind == "user_order":
        return UserOrderMsg(sid=env.req_int("sid"), order=_order_from(env.obj("msg")))
    if kind in ("market_lifecycle_v2", "event_lifecycle"):
        return _ws_lifecycle(kind, env, env.obj("msg"))
    return UnknownMsg(kind=kind, sid=env.opt_int("sid"), seq=env.opt_int("seq"))
