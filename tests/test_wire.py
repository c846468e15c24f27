"""Golden-JSON tests of the Kalshi wire codec: REST payloads, write acks and websocket frames."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from tsad.core.market import Outcome, StrikeType
from tsad.core.money import CENT_GRID, PriceGrid, PriceRange
from tsad.core.orders import BookSide, Fill, Order, OrderRequest, OrderStatus, Position, WriteAck
from tsad.errors import Conflict, NotFound, OrderRejected, ProtocolError
from tsad.kalshi import wire


DATA = Path(__file__).parent / "data" / "wire"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def frame(name: str) -> str:
    return (DATA / "ws" / f"{name}.json").read_text()


# --------------------------------------------------------------------------- REST decoding


def test_event_nested_markets_sorted_by_floor_strike():
    """An event's nested markets decode and come back sorted by floor_strike."""
    ev = wire.decode_event(load("event_nested.json"))
    assert ev.event_ticker == "KXTSAW-26AUG30"
    assert ev.series_ticker == "KXTSAW"
    assert [m.floor_strike for m in ev.markets] == [1800000, 2450000, 2500000]
    m = ev.markets[0]
    assert m.ticker == "KXTSAW-26AUG30-A1.80"
    assert m.strike_type is StrikeType.GREATER
    assert m.cap_strike is None
    assert m.grid == CENT_GRID
    assert m.close_time == datetime(2026, 8, 31, 3, 59, tzinfo=UTC)
    assert m.exchange_index == 0
    tapered = ev.markets[1].grid
    assert tapered.contains(50) and not tapered.contains(1050)


def test_event_falls_back_to_top_level_markets():
    """When the event has no nested markets, the deprecated top-level list is used."""
    payload = load("event_nested.json")
    payload["markets"] = payload["event"].pop("markets")
    assert len(wire.decode_event(payload).markets) == 3


def test_markets_page_has_cursor():
    """A markets page decodes its items and its cursor."""
    page = wire.decode_markets_page(load("markets_page.json"))
    assert page.cursor == "page2"
    assert [m.ticker for m in page.items] == ["KXTSAW-26AUG30-A2.50", "KXTSAW-26AUG30-A1.80"]


def test_orderbook_levels_keep_rest_order():
    """The REST book keeps ascending levels; NO levels stay in NO prices; counts are exact."""
    ob = wire.decode_orderbook("T", load("orderbook.json"))
    assert ob.yes == ((100, 20000), (1500, 10000), (4200, 1300))
    assert ob.no[-1] == (5600, 1750)


def test_orderbook_empty_sides():
    """An orderbook with empty or missing sides decodes to empty tuples."""
    ob = wire.decode_orderbook("T", {"orderbook_fp": {"yes_dollars": []}})
    assert ob.yes == () and ob.no == ()


ORDER_CASES = [
    pytest.param(0, Order(
        order_id="3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d",
        client_order_id="8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1", ticker="KXTSAW-26AUG30-A2.30",
        side=BookSide.BID, price=5600, remaining=750, filled=250, initial=1000,
        status=OrderStatus.RESTING, created_time=datetime(2026, 8, 25, 14, tzinfo=UTC),
    ), id="bid"),
    pytest.param(1, "ask", id="ask-from-book_side"),
    pytest.param(2, "legacy", id="legacy-side-action"),
]


@pytest.mark.parametrize(("index", "expected"), ORDER_CASES)
def test_orders_page(index, expected):
    """Orders decode from book_side, or from deprecated side/action when book_side is absent."""
    page = wire.decode_orders_page(load("orders_page.json"))
    assert page.cursor is None
    order = page.items[index]
    if expected == "ask":
        assert (order.side, order.price) == (BookSide.ASK, 7000)
    elif expected == "legacy":
        # buy NO rests on the ask of the YES book
        assert (order.side, order.status, order.remaining) == (
            BookSide.ASK, OrderStatus.CANCELED, 0)
    else:
        assert order == expected


@pytest.mark.parametrize(
    ("side", "action", "expected"),
    [
        ("yes", "buy", BookSide.BID),
        ("no", "sell", BookSide.BID),
        ("no", "buy", BookSide.ASK),
        ("yes", "sell", BookSide.ASK),
    ],
    ids=["buy-yes", "sell-no", "buy-no", "sell-yes"],
)
def test_legacy_side_action_mapping(side, action, expected):
    """The deprecated side/action pair maps onto the single YES book."""
    raw = load("order.json")["order"]
    del raw["book_side"], raw["outcome_side"]
    raw.update(side=side, action=action)
    assert wire.decode_order(raw).side is expected


def test_single_order_response():
    """GET /portfolio/orders/{id} unwraps ``order``."""
    assert wire.decode_order_response(load("order.json")).price == 5600


def test_fills_page():
    """A REST fill decodes price, count, fee in money units, book side and time."""
    page = wire.decode_fills_page(load("fills_page.json"))
    assert page.cursor == "next"
    assert page.items == (Fill(
        trade_id="t1", order_id="ask-1", ticker="KXTSAW-26AUG30-A2.30", side=BookSide.ASK,
        price=7000, count=300, fee=12300, is_taker=False, client_order_id=None,
        ts=datetime.fromtimestamp(1787670000, UTC),
    ),)


def test_positions_page():
    """market_positions decode with 6-decimal money fields exact."""
    page = wire.decode_positions_page(load("positions_page.json"))
    assert page.items == (Position(
        ticker="KXTSAW-26AUG30-A2.30", position=-300, exposure=900000, realized_pnl=-50000,
        fees_paid=12300,
    ),)


@pytest.mark.parametrize(
    ("payload", "balance", "portfolio"),
    [
        ({"balance": 123456, "balance_dollars": "1234.5612", "portfolio_value": 150000},
         1234561200, 1500000000),
        ({"balance": 123456, "portfolio_value": 1}, 1234560000, 10000),
    ],
    ids=["dollars-preferred", "integer-cents"],
)
def test_balance(payload, balance, portfolio):
    """Balance reads balance_dollars when present, else integer cents."""
    b = wire.decode_balance(payload)
    assert (b.balance, b.portfolio_value) == (balance, portfolio)


def test_balance_golden():
    """The saved balance response decodes."""
    assert wire.decode_balance(load("balance.json")).balance == 1234561200


def test_exchange_status_and_limits():
    """Exchange status and account limits decode."""
    st_ = wire.decode_exchange_status(load("exchange_status.json"))
    assert (st_.exchange_active, st_.trading_active) == (True, False)
    lim = wire.decode_account_limits(load("account_limits.json"))
    assert (lim.usage_tier, lim.write.refill_rate, lim.write.bucket_capacity) == (
        "premier", 1000, 2000)


# --------------------------------------------------------------------------- writes


def test_create_ack():
    """A flat V2 create response becomes a WriteAck."""
    assert wire.decode_write_ack(load("create_ack.json")) == WriteAck(
        order_id="3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d",
        client_order_id="8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1",
        remaining=1000, filled=0, ts_ms=1715793600123,
    )


def test_cancel_ack_has_zero_remaining():
    """A cancel response leaves nothing resting and tells the count it cancelled."""
    ack = wire.decode_write_ack(load("cancel_ack.json"), cancelled=True)
    assert (ack.order_id, ack.remaining, ack.reduced_by) == ("3b23c1c7", 0, 1000)


@pytest.mark.parametrize(
    ("name", "cancelled", "error_type"),
    [("batch_create.json", False, OrderRejected), ("batch_cancel.json", True, NotFound)],
    ids=["create", "cancel"],
)
def test_batch_items(name, cancelled, error_type):
    """Batch responses give one ack or one typed error per item, in order."""
    out = wire.decode_batch_acks(load(name), cancelled=cancelled)
    assert isinstance(out[0], WriteAck) and out[0].order_id == "o1"
    assert out[0].reduced_by == (1000 if cancelled else None)
    assert isinstance(out[1], error_type)


def test_encode_order_request():
    """An OrderRequest encodes as CreateOrderV2Request with fixed-point strings."""
    req = OrderRequest(ticker="KXTSAW-26AUG30-A2.30", side=BookSide.ASK, price=4400,
                       count=1050, client_order_id="c1")
    assert wire.encode_order_request(req) == {
        "ticker": "KXTSAW-26AUG30-A2.30", "client_order_id": "c1", "side": "ask",
        "count": "10.50", "price": "0.4400", "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross", "post_only": True,
        "cancel_order_on_pause": False,
    }


def test_encode_amend_decrease_batch_cancel():
    """Amend, decrease and batch-cancel bodies follow the V2 request schemas."""
    assert wire.encode_amend(ticker="T", side="bid", price=5700, count=800,
                             updated_client_order_id="u") == {
        "ticker": "T", "side": "bid", "price": "0.5700", "count": "8.00",
        "updated_client_order_id": "u"}
    assert wire.encode_decrease(reduce_to=0) == {"reduce_to": "0.00"}
    assert wire.encode_batch_cancel(["a", "b"]) == {"orders": [{"order_id": "a"},
                                                               {"order_id": "b"}]}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b'{"error": {"code": "authentication_error", "message": "m", "details": "d"}}',
         "authentication_error", "m"),
        (b'{"code": "invalid_order", "message": "invalid order", "details": "post only cross"}',
         "invalid_order", "invalid order"),
        (b'{"error": "too many requests"}', None, "too many requests"),
        (b"<html>bad gateway</html>", None, "<html>bad gateway</html>"),
        (b"", None, ""),
    ],
    ids=["wrapped", "unwrapped", "bare-429", "not-json", "empty"],
)
def test_error_body_shapes(body, code, message):
    """Error bodies are read in every observed shape, never raising."""
    err = wire.decode_error_body(body)
    assert (err.code, err.message) == (code, message)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o.pop("order_id"), "order_id"),
        (lambda o: o.update(yes_price_dollars="0.56001"), "yes_price_dollars"),
        (lambda o: o.update(remaining_count_fp=7), "remaining_count_fp"),
        (lambda o: o.update(status="pending"), "status"),
        (lambda o: [o.pop(k) for k in ("book_side", "outcome_side", "side")], "book_side"),
        (lambda o: o.update(created_time="yesterday"), "created_time"),
    ],
    ids=["missing-id", "too-many-decimals", "int-count", "bad-status", "no-side", "bad-time"],
)
def test_malformed_order_names_field(mutate, field):
    """A missing or malformed required field raises ProtocolError naming that field."""
    raw = load("order.json")["order"]
    mutate(raw)
    with pytest.raises(ProtocolError, match=field):
        wire.decode_order(raw)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ticker": "X", "event_ticker": "E"}, "strike_type"),
        ({"ticker": "X", "event_ticker": "E", "strike_type": "functional"}, "strike_type"),
        ({"ticker": "X", "strike_type": "greater"}, "event_ticker"),
        ({"ticker": "X", "event_ticker": "E", "strike_type": "greater",
          "price_ranges": [{"start": "0"}]}, "price_ranges"),
        ([], "market"),
    ],
    ids=["no-strike-type", "unsupported-strike-type", "no-event", "bad-ranges", "not-object"],
)
def test_malformed_market_names_field(payload, field):
    """Market errors name the market and the field."""
    with pytest.raises(ProtocolError, match=field):
        wire.decode_market(payload)


def test_item_error_mapping():
    """Batch item errors map to the exception tree by code/message."""
    assert isinstance(wire.item_error({"code": "invalid_order"}), OrderRejected)
    assert isinstance(wire.item_error({"code": "order_already_exists"}), Conflict)
    assert isinstance(wire.item_error({"message": "Order not found"}), NotFound)


# --------------------------------------------------------------------------- websocket


WS_CASES = [
    pytest.param("subscribed", wire.Subscribed(id=1, channel="orderbook_delta", sid=1),
                 id="subscribed"),
    pytest.param("ok", wire.CommandAck(kind="ok", id=123, sid=456, seq=222,
                                       market_tickers=("MARKET-1", "MARKET-2")), id="ok"),
    pytest.param("unsubscribed", wire.CommandAck(kind="unsubscribed", id=102, sid=2, seq=7),
                 id="unsubscribed"),
    pytest.param("error", wire.ErrorMsg(id=127, code=16, msg="Market not found",
                                        market_ticker="INVALID-MARKET"), id="error"),
    pytest.param("orderbook_snapshot", wire.OrderbookSnapshot(
        sid=2, seq=2, market_ticker="FED-23DEC-T3.00",
        yes=((800, 30000), (2200, 33300)), no=()), id="snapshot-missing-side"),
    pytest.param("orderbook_delta", wire.OrderbookDelta(
        sid=2, seq=3, market_ticker="FED-23DEC-T3.00", side=Outcome.NO, price=9600,
        delta=-5400, client_order_id="my-1", ts_ms=1669149841000), id="delta"),
    pytest.param("ticker", wire.TickerUpdate(
        sid=11, market_ticker="FED-23DEC-T3.00", price=4800, yes_bid=4500, yes_ask=5300,
        yes_bid_size=30000, yes_ask_size=15000, volume=3389600, open_interest=2042200,
        ts_ms=1669149841000), id="ticker"),
    pytest.param("trade", wire.TradeMsg(
        sid=11, trade_id="d91bc706", market_ticker="HIGHNY-22DEC23-B53.5", price=3600,
        count=13600, taker_side=BookSide.ASK, ts_ms=1669149841000), id="trade"),
    pytest.param("fill", wire.FillMsg(sid=13, post_position=50000, fill=Fill(
        trade_id="d91bc706", order_id="ee587a1c", ticker="HIGHNY-22DEC23-B53.5",
        side=BookSide.BID, price=7500, count=27800, fee=1230000, is_taker=True,
        client_order_id="my-1", ts=datetime.fromtimestamp(1671899397, UTC))), id="fill"),
    pytest.param("user_order", wire.UserOrderMsg(sid=22, order=Order(
        order_id="ee587a1c", client_order_id="my-order-1", ticker="FED-23DEC-T3.00",
        side=BookSide.ASK, price=3500, remaining=1000, filled=0, initial=1000,
        status=OrderStatus.RESTING, created_time=datetime(2024, 12, 1, 10, tzinfo=UTC))),
        id="user_order"),
    pytest.param("market_position", wire.PositionMsg(
        sid=14, market_ticker="FED-23DEC-T3.00", position=10000, position_cost=50000000,
        realized_pnl=10000000, fees_paid=1000000), id="market_position"),
    pytest.param("market_lifecycle_v2", wire.MarketCreated(
        sid=13, market_ticker="INXD-23SEP14-B4487", event_ticker="INXD-23SEP14",
        open_time=datetime.fromtimestamp(1694635200, UTC),
        close_time=datetime.fromtimestamp(1694721600, UTC),
        grid=PriceGrid((PriceRange(start=0, end=10000, step=100),)),
        price_level_structure="linear_cent", strike_type="greater", floor_strike=4487.0,
        title="t"), id="lifecycle-created"),
    pytest.param("price_level_structure_updated", wire.PriceGridChanged(
        sid=13, market_ticker="INXD-23SEP14-B4487", price_level_structure="deci_cent",
        grid=PriceGrid((PriceRange(start=0, end=10000, step=10),))),
        id="lifecycle-price-levels"),
    pytest.param("determined", wire.LifecycleMsg(
        sid=13, kind="market_lifecycle_v2", event_type="determined",
        market_ticker="KXTSAW-26AUG30-A2.30", result="yes", settlement_value=10000),
        id="lifecycle-determined"),
    pytest.param("event_lifecycle", wire.EventCreated(
        sid=5, event_ticker="KXQUICKSETTLE-26JAN25H2150", series_ticker="KXQUICKSETTLE",
        title="t", subtitle="Jan 25 at 21:50"), id="event_lifecycle"),
    pytest.param("order_group_updates", wire.OrderGroupUpdate(
        sid=21, seq=7, event_type="limit_updated", order_group_id="og_123",
        contracts_limit=15000, ts_ms=1), id="order-group-update"),
]


@pytest.mark.parametrize(("name", "expected"), WS_CASES)
def test_decode_ws_golden(name, expected):
    """Each documented websocket frame decodes to its message value."""
    assert wire.decode_ws(frame(name)) == expected


def test_decode_ws_accepts_bytes():
    """Binary frames holding UTF-8 JSON decode too."""
    assert isinstance(wire.decode_ws(frame("subscribed").encode()), wire.Subscribed)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", "not valid JSON"),
        ('{"sid": 1}', "type"),
        ('{"type": "orderbook_delta", "sid": 1, "msg": {"market_ticker": "T", '
         '"price_dollars": "0.5", "delta_fp": "1.00", "side": "yes"}}', "seq"),
        ('{"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {"market_ticker": "T", '
         '"price_dollars": "0.5", "delta_fp": "1.00", "side": "maybe"}}', "side"),
        ('{"type": "orderbook_snapshot", "sid": 1, "seq": 2, "msg": {"market_ticker": "T", '
         '"yes_dollars_fp": [["0.5"]]}}', "yes_dollars_fp"),
    ],
    ids=["not-json", "no-type", "delta-no-seq", "bad-side", "bad-level"],
)
def test_decode_ws_errors_name_field(text, field):
    """Malformed frames raise ProtocolError naming what is wrong."""
    with pytest.raises(ProtocolError, match=field):
        wire.decode_ws(text)


@given(
    price=st.integers(min_value=1, max_value=9999),
    count=st.integers(min_value=1, max_value=10**9),
    side=st.sampled_from(list(BookSide)),
)
def test_order_request_roundtrip(price, count, side):
    """Encoded price/count strings parse back to the same integers (no float anywhere)."""
    req = OrderRequest(ticker="T", side=side, price=price, count=count, client_order_id="c")
    body = wire.encode_order_request(req)
    echoed = {
        "order_id": "o", "client_order_id": "c", "ticker": "T", "book_side": body["side"],
        "status": "resting", "yes_price_dollars": body["price"], "remaining_count_fp":
        body["count"], "fill_count_fp": "0.00", "initial_count_fp": body["count"],
    }
    order = wire.decode_order(echoed)
    assert (order.price, order.remaining, order.side) == (price, count, side)


# --------------------------------------------------------------------------- the decode boundary


def _golden_payloads() -> list[tuple[str, Any]]:
    """Every REST decoder with its golden payload, and every websocket frame."""
    rest = [
        ("event", lambda p: wire.decode_event(p), load("event_nested.json")),
        ("markets", wire.decode_markets_page, load("markets_page.json")),
        ("orders", wire.decode_orders_page, load("orders_page.json")),
        ("fills", wire.decode_fills_page, load("fills_page.json")),
        ("positions", wire.decode_positions_page, load("positions_page.json")),
        ("balance", wire.decode_balance, load("balance.json")),
        ("order", wire.decode_order_response, load("order.json")),
        ("limits", wire.decode_account_limits, load("account_limits.json")),
        ("create", wire.decode_write_ack, load("create_ack.json")),
        ("batch", lambda p: wire.decode_batch_acks(p, cancelled=False),
         load("batch_create.json")),
        ("orderbook", lambda p: wire.decode_orderbook("T", p), load("orderbook.json")),
    ]
    ws = [(f.stem, lambda p: wire.decode_ws(json.dumps(p)), json.loads(f.read_text()))
          for f in sorted((DATA / "ws").glob("*.json"))]
    return rest + ws


_JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    copy = list(obj)
    copy[head] = _replace(copy[head], rest, value)
    return copy


@given(data=st.data())
def test_any_mutation_decodes_or_raises_protocol_error(data):
    """Put any junk anywhere in any exchange payload: decoding succeeds or raises ProtocolError."""
    _name, decode, payload = data.draw(st.sampled_from(_golden_payloads()))
    path = data.draw(st.sampled_from(_paths(payload)))
    mutated = _replace(payload, path, data.draw(_JUNK))
    with contextlib.suppress(ProtocolError):
        decode(mutated)


@pytest.mark.parametrize("ts_ms", [10**20, -(10**20), 2**63])
def test_fill_with_out_of_range_ts_ms_is_a_protocol_error(ts_ms):
    """A websocket fill with an impossible ts_ms is a ProtocolError, never an OverflowError."""
    raw = json.loads(frame("fill"))
    raw["msg"]["ts_ms"] = ts_ms
    with pytest.raises(ProtocolError, match="ts_ms"):
        wire.decode_ws(json.dumps(raw))


def test_fills_page_skips_a_bad_row_and_keeps_the_rest():
    """One REST fill with an out-of-range timestamp is left out (and reported), not the page."""
    payload = load("fills_page.json")
    good = payload["fills"][0]
    payload["fills"] = [{**good, "ts": 10**18, "trade_id": "bad"}, good]
    page = wire.decode_fills_page(payload)
    assert [f.trade_id for f in page.items] == ["t1"]
    assert len(page.bad) == 1 and "fills[0]" in page.bad[0]


@pytest.mark.parametrize("strike", ["inf", "nan", "-inf", float("inf"), float("nan")])
def test_market_with_non_finite_strike_is_rejected(strike):
    """A strike of inf or nan is refused at decode; in an event, only that market is dropped."""
    payload = load("event_nested.json")
    bad = payload["event"]["markets"][0]
    bad["floor_strike"] = strike
    with pytest.raises(ProtocolError, match="floor_strike"):
        wire.decode_market(bad)
    event, errors = wire.decode_event_rows(payload)
    assert bad["ticker"] not in [m.ticker for m in event.markets]
    assert len(event.markets) == 2 and len(errors) == 1


def test_deeply_nested_frame_is_a_protocol_error():
    """A frame nested past the parser's recursion limit is a ProtocolError."""
    with pytest.raises(ProtocolError):
        wire.decode_ws("[" * 100_000 + "]" * 100_000)


def test_frame_header_reads_what_it_can():
    """After a refused frame the feed still learns its type, sid, seq and market."""
    raw = {"type": "orderbook_delta", "sid": 3, "seq": 9,
           "msg": {"market_ticker": "T", "price_dollars": "x"}}
    with pytest.raises(ProtocolError):
        wire.decode_ws(json.dumps(raw))
    assert wire.frame_header(json.dumps(raw)) == wire.FrameHeader(
        kind="orderbook_delta", sid=3, seq=9, market_ticker="T")
    assert wire.frame_header("not json") == wire.FrameHeader()


def test_order_group_shapes():
    """Order-group create and get responses decode as the spec defines them."""
    assert wire.decode_order_group_created(
        {"order_group_id": "og_1", "subaccount": 0, "exchange_index": 0}) == "og_1"
    group = wire.decode_order_group("og_1", {"is_auto_cancel_enabled": False,
                                             "contracts_limit_fp": "50.00",
                                             "orders": ["a", "b"], "exchange_index": 0})
    assert group == wire.OrderGroup(order_group_id="og_1", is_auto_cancel_enabled=False,
                                    contracts_limit=5000, orders=("a", "b"))
    with pytest.raises(ProtocolError, match="order_group_id"):
        wire.decode_order_group_created({"subaccount": 0})
    assert wire.encode_order_group(contracts_limit=50) == {"contracts_limit": 50}


def test_create_carries_pause_flag_and_group():
    """Every create says cancel_order_on_pause; a grouped create names its group."""
    req = OrderRequest(ticker="T", side=BookSide.BID, price=5600, count=1000,
                       client_order_id="c", cancel_order_on_pause=True)
    assert wire.encode_order_request(req)["cancel_order_on_pause"] is True
    assert "order_group_id" not in wire.encode_order_request(req)
    body = wire.encode_batch_create([req], order_group_id="og_1")
    assert body["orders"][0]["order_group_id"] == "og_1"


def test_endpoint_costs_decode():
    """GET /account/endpoint_costs decodes its default and per-endpoint costs."""
    costs = wire.decode_endpoint_costs({"default_cost": 10, "endpoint_costs": [
        {"method": "delete", "path": "/portfolio/events/orders/batched", "cost": 2}]})
    assert costs == wire.EndpointCosts(default_cost=10, endpoints=(wire.EndpointCost(
        method="DELETE", path="/portfolio/events/orders/batched", cost=2),))
