"""Contract: a REST session against the emulator, every answer validated against Kalshi's
OpenAPI schemas (the 2026-08 fragments over v3.13) and against the spec's stated semantics."""

from __future__ import annotations

from tests.spec_client import SpecClient, contract_api, contract_sim  # noqa: F401
from tsad.core.money import PRICE_ONE, format_count, format_price, parse_count, parse_price
from tsad.core.orders import BookSide
from tsad.sim import Emulator
from tsad.sim.records import taker_fee


def mid_ticker(sim: Emulator) -> str:
    market = min(sim.event.markets, key=lambda m: abs(sim.fair[int(m.floor_strike or 0)] - 0.5))
    return market.ticker


def create_body(ticker: str, side: str, price: int, count: int, coid: str, **over) -> dict:
    body = {"ticker": ticker, "side": side, "price": format_price(price),
            "count": format_count(count), "client_order_id": coid,
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross"}
    body.update(over)
    return body


async def test_public_reads_conform(sim: Emulator, api: SpecClient):
    """Exchange status and schedule, series, events, markets, book and trades conform."""
    status = await api.get("/exchange/status")
    assert status["exchange_active"] and status["trading_active"]
    schedule = await api.get("/exchange/schedule")
    assert schedule["schedule"]["standard_hours"]
    series = await api.get("/series/KXTSAW")
    assert series["series"]["ticker"] == "KXTSAW"
    events = await api.get("/events?series_ticker=KXTSAW&with_nested_markets=true")
    assert [e["event_ticker"] for e in events["events"]] == [sim.event_ticker]
    assert events["events"][0]["settlement_sources"]
    one = await api.get(f"/events/{sim.event_ticker}?with_nested_markets=true")
    tickers = [m["ticker"] for m in one["markets"]]
    assert [m["ticker"] for m in one["event"]["markets"]] == tickers
    await api.get(f"/events/{sim.event_ticker}")
    markets = await api.get(f"/markets?event_ticker={sim.event_ticker}&limit=3")
    assert markets["cursor"] and len(markets["markets"]) == 3
    t = mid_ticker(sim)
    market = (await api.get(f"/markets/{t}"))["market"]
    book = (await api.get(f"/markets/{t}/orderbook"))["orderbook_fp"]
    yes = [parse_price(p) for p, _ in book["yes_dollars"]]
    no = [parse_price(p) for p, _ in book["no_dollars"]]
    assert yes == sorted(yes) and no == sorted(no)
    assert parse_price(market["yes_bid_dollars"]) == yes[-1]
    assert parse_price(market["yes_ask_dollars"]) == PRICE_ONE - no[-1]
    await api.get(f"/markets/{t}/orderbook?depth=2")
    await api.get(f"/markets/trades?ticker={t}")
    await api.call("GET", "/markets/NOPE-1", expect=404)
    await api.get("/account/endpoint_costs")
    assert api.violations == []


async def test_order_session_conforms_and_acks_mean_what_the_spec_says(
        sim: Emulator, api: SpecClient, key_id: str):
    """Create, partial fill, amends (size only, price only, crossing), decrease, cancel,
    batch create and batch cancel: every ack conforms and reports what the spec says."""
    t = mid_ticker(sim)
    bids, asks = sim.engine.levels(t)
    best_bid, (ask1, ask1_size) = bids[-1][0], asks[0]

    # A resting create: nothing filled, everything rests, no averages.
    rest = await api.call("POST", "/portfolio/events/orders", expect=201,
                          json=create_body(t, "bid", best_bid - 300, 700, "c-rest",
                                           post_only=True))
    assert (rest["fill_count"], rest["remaining_count"]) == ("0.00", "7.00")
    assert "average_fill_price" not in rest and "average_fee_paid" not in rest

    # A create that crosses the best ask and rests the remainder.
    cross = await api.call("POST", "/portfolio/events/orders", expect=201,
                           json=create_body(t, "bid", ask1, ask1_size + 500, "c-cross"))
    assert cross["fill_count"] == format_count(ask1_size)
    assert cross["remaining_count"] == "5.00"
    assert cross["average_fill_price"] == format_price(ask1)
    fee = taker_fee(ask1_size, ask1)
    assert cross["average_fee_paid"] == format_price(-(-fee // ask1_size))
    oid = cross["order_id"]

    # Amend after the partial fill, size only (no cross): the amend itself filled nothing.
    amended = await api.call("POST", f"/portfolio/events/orders/{oid}/amend", expect=200, json={
        "ticker": t, "side": "bid", "price": format_price(ask1),
        "count": format_count(ask1_size + 1000)})
    assert amended["fill_count"] == "0.00"
    assert amended["remaining_count"] == "10.00"
    assert "average_fill_price" not in amended

    # A price-only amend that neither fills nor changes the size reports no counts.
    moved = await api.call("POST", f"/portfolio/events/orders/{oid}/amend", expect=200, json={
        "ticker": t, "side": "bid", "price": format_price(ask1 - 100),
        "count": format_count(ask1_size + 1000), "updated_client_order_id": "c-cross-2"})
    assert moved["client_order_id"] == "c-cross-2"
    assert "fill_count" not in moved and "remaining_count" not in moved

    # An amend that crosses the next ask level: counts and averages of the amend's own fills.
    _, asks = sim.engine.levels(t)
    ask2, ask2_size = asks[0]
    total = ask1_size + ask2_size + 300
    crossed = await api.call("POST", f"/portfolio/events/orders/{oid}/amend", expect=200, json={
        "ticker": t, "side": "bid", "price": format_price(ask2), "count": format_count(total)})
    assert crossed["fill_count"] == format_count(ask2_size)
    assert crossed["remaining_count"] == "3.00"
    assert crossed["average_fill_price"] == format_price(ask2)
    fee2 = taker_fee(ask2_size, ask2)
    assert crossed["average_fee_paid"] == format_price(-(-fee2 // ask2_size))
    order = (await api.get(f"/portfolio/orders/{oid}"))["order"]
    assert order["fill_count_fp"] == format_count(ask1_size + ask2_size)
    assert order["remaining_count_fp"] == "3.00"

    # Decrease and cancel.
    dec = await api.call("POST", f"/portfolio/events/orders/{oid}/decrease", expect=200,
                         json={"reduce_by": "1.00"})
    assert dec["remaining_count"] == "2.00" and dec["client_order_id"] == "c-cross-2"
    cancel = await api.call("DELETE", f"/portfolio/events/orders/{oid}", expect=200)
    assert cancel["reduced_by"] == "2.00"
    await api.call("DELETE", f"/portfolio/events/orders/{oid}", expect=404)
    await api.call("POST", f"/portfolio/events/orders/{oid}/amend", expect=404, json={
        "ticker": t, "side": "bid", "price": "0.0100", "count": "50.00"})

    # Batch create: per-item results, a failed item carries an error and no ts_ms.
    batch = await api.call("POST", "/portfolio/events/orders/batched", expect=201, json={
        "orders": [create_body(t, "bid", 100, 100, "b-1"),
                   create_body(t, "bid", 200, 100, "b-2"),
                   create_body(t, "bid", 150, 100, "c-rest")]})
    items = batch["orders"]
    assert [i.get("client_order_id") for i in items] == ["b-1", "b-2", "c-rest"]
    assert all("error" not in i and i["remaining_count"] == "1.00" for i in items[:2])
    assert items[2]["error"]["code"] and "ts_ms" not in items[2]

    # Batch cancel: per-item reduced_by, an unknown id fails alone.
    bc = await api.call("DELETE", "/portfolio/events/orders/batched", expect=200, json={
        "orders": [{"order_id": items[0]["order_id"]}, {"order_id": "no-such-order"}]})
    assert bc["orders"][0]["reduced_by"] == "1.00" and "error" not in bc["orders"][0]
    assert bc["orders"][1]["reduced_by"] == "0.00" and bc["orders"][1]["error"]["code"]

    # Portfolio reads agree with what happened.
    filled = ask1_size + ask2_size
    positions = await api.get("/portfolio/positions")
    mine = {p["ticker"]: p for p in positions["market_positions"]}
    assert mine[t]["position_fp"] == format_count(filled)
    fills = await api.get(f"/portfolio/fills?ticker={t}")
    assert sum(parse_count(f["count_fp"]) for f in fills["fills"]) == filled
    assert all(f["is_taker"] and "client_order_id" not in f for f in fills["fills"])
    orders = await api.get(f"/portfolio/orders?event_ticker={sim.event_ticker}")
    statuses = {o["client_order_id"]: o["status"] for o in orders["orders"]}
    assert statuses == {"c-rest": "resting", "c-cross-2": "canceled", "b-1": "canceled",
                        "b-2": "resting"}
    await api.get("/portfolio/orders?status=resting&limit=1")
    balance = await api.get("/portfolio/balance")
    assert balance["balance"] == sim.balance(key_id) // 10_000
    await api.get("/account/limits")
    await api.get("/portfolio/settlements")

    # Cancel-all answers 204 without a body.
    await api.call("DELETE", "/portfolio/events/orders", expect=204)
    assert sim.resting_orders(key_id) == []
    assert api.violations == []


async def test_settlement_is_reported(sim: Emulator, api: SpecClient, key_id: str):
    """After a settlement, /portfolio/settlements lists it and positions drop the market."""
    t = mid_ticker(sim)
    ask, size = sim.engine.levels(t)[1][0]
    await api.call("POST", "/portfolio/events/orders", expect=201,
                   json=create_body(t, "bid", ask, size, "s-1"))
    before = sim.balance(key_id)
    sim.settle(t, 1)
    got = (await api.get("/portfolio/settlements"))["settlements"]
    assert len(got) == 1
    s = got[0]
    assert (s["ticker"], s["event_ticker"], s["market_result"]) == (t, sim.event_ticker, "yes")
    assert s["yes_count_fp"] == format_count(size) and s["no_count_fp"] == "0.00"
    assert parse_price(s["yes_total_cost_dollars"][:6]) == ask * size // 100
    assert s["revenue"] == size  # $1 (100 cents) per contract; size is in 0.01 contracts
    assert s["value"] == 100
    assert sim.balance(key_id) - before == size * PRICE_ONE
    assert (await api.get(f"/portfolio/settlements?ticker={t}"))["settlements"] == got
    assert (await api.get("/portfolio/settlements?ticker=OTHER"))["settlements"] == []
    positions = await api.get("/portfolio/positions")
    assert t not in {p["ticker"] for p in positions["market_positions"]}
    market = (await api.get(f"/markets/{t}"))["market"]
    assert market["status"] == "finalized" and market["result"] == "yes"
    assert api.violations == []


async def test_errors_conform(sim: Emulator, api: SpecClient):
    """Rejections carry the documented error object."""
    t = mid_ticker(sim)
    await api.call("POST", "/portfolio/events/orders", expect=400,
                   json=create_body(t, "bid", 55, 100, "off-grid"))
    await api.call("POST", "/portfolio/events/orders", expect=400,
                   json=create_body("KXTSAW-NOPE", "bid", 100, 100, "x"))
    await api.call("POST", "/portfolio/events/orders/nope/decrease", expect=404,
                   json={"reduce_by": "1.00"})
    await api.call("GET", "/portfolio/orders/nope", expect=404)
    assert api.violations == []


async def test_outside_and_user_trades_share_the_contract(sim: Emulator, api: SpecClient,
                                                          key_id: str):
    """A resting order taken by an outside trader shows as a maker fill."""
    t = mid_ticker(sim)
    bid = sim.engine.best(t, BookSide.BID)
    assert bid is not None
    ack = await api.call("POST", "/portfolio/events/orders", expect=201,
                         json=create_body(t, "bid", bid + 100, 300, "m-1", post_only=True))
    sim.fill_outside(ack["order_id"], 100)
    fills = (await api.get(f"/portfolio/fills?order_id={ack['order_id']}"))["fills"]
    assert [(f["count_fp"], f["is_taker"], f["fee_cost"]) for f in fills] == [
        ("1.00", False, "0.0000")]
    order = (await api.get(f"/portfolio/orders/{ack['order_id']}"))["order"]
    assert (order["fill_count_fp"], order["remaining_count_fp"]) == ("1.00", "2.00")
    assert api.violations == []
