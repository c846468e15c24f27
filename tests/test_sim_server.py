"""Tests of the emulator over loopback sockets: REST shapes, auth, writes, limits, websocket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect

from tests.conftest import public_pem
from tsad.clock import SystemClock
from tsad.core.money import PRICE_ONE, parse_count, parse_price
from tsad.core.orders import BookSide
from tsad.kalshi.signing import Signer
from tsad.sim import Emulator


WS_PATH = "/trade-api/ws/v2"


def signed(signer: Signer, method: str, url: str, *, skew_ms: int = 0) -> dict[str, str]:
    return signer.headers(method, urlsplit(url).path, SystemClock().time_ms() + skew_ms)


@pytest.fixture
def signer(rsa_key: rsa.RSAPrivateKey, key_id: str) -> Signer:
    return Signer(key_id, rsa_key)


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def order_body(ticker: str, **over):
    body = {"ticker": ticker, "side": "bid", "price": "0.0200", "count": "1.00",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross", "post_only": True}
    body.update(over)
    return body


async def call(http, signer, sim, method, path, **kw):
    url = sim.rest_url + path
    return await http.request(method, url, headers=signed(signer, method, url), **kw)


def mid_ticker(sim: Emulator) -> str:
    """The market whose fair value is closest to 50 %, so both sides of its book rest."""
    market = min(sim.event.markets, key=lambda m: abs(sim.fair[int(m.floor_strike or 0)] - 0.5))
    return market.ticker


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/exchange/status", {"exchange_active", "trading_active"}),
        ("/exchange/schedule", {"schedule"}),
        ("/series/KXTSAW", {"series"}),
        ("/events", {"events", "cursor"}),
        ("/markets", {"markets", "cursor"}),
        ("/portfolio/balance", {"balance", "balance_dollars", "portfolio_value", "updated_ts"}),
        ("/portfolio/orders", {"orders", "cursor"}),
        ("/portfolio/positions", {"market_positions", "event_positions", "cursor"}),
        ("/portfolio/fills", {"fills", "cursor"}),
        ("/account/limits", {"usage_tier", "read", "write", "grants"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_endpoint_top_level_shapes(sim, http, signer, path, keys):
    """Each read endpoint answers 200 with its documented top-level keys."""
    r = await call(http, signer, sim, "GET", path)
    assert r.status_code == 200
    assert keys <= set(r.json())


async def test_event_with_nested_markets(sim, http):
    """GET /events/{t}?with_nested_markets=true nests 23 documented market objects."""
    r = await http.get(f"{sim.rest_url}/events/{sim.event_ticker}",
                       params={"with_nested_markets": "true"})
    event = r.json()["event"]
    assert event["event_ticker"] == sim.event_ticker
    markets = event["markets"]
    assert len(markets) == 23
    m = markets[0]
    assert m["ticker"] == f"{sim.event_ticker}-A1.80"
    assert m["strike_type"] == "greater" and m["floor_strike"] == 1_800_000
    assert m["status"] == "active" and m["exchange_index"] == 0
    assert m["price_level_structure"] == "linear_cent"
    assert m["price_ranges"] == [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]
    assert m["close_time"].endswith("Z") and "cap_strike" not in m
    assert len(m["yes_bid_dollars"].split(".")[1]) == 4
    assert len(m["volume_fp"].split(".")[1]) == 2


async def test_markets_cursor_pagination(sim, http):
    """GET /markets pages with limit and cursor until the cursor is empty."""
    seen, cursor = [], ""
    for _ in range(10):
        params = {"event_ticker": sim.event_ticker, "limit": "10"}
        if cursor:
            params["cursor"] = cursor
        body = (await http.get(f"{sim.rest_url}/markets", params=params)).json()
        seen += [m["ticker"] for m in body["markets"]]
        cursor = body["cursor"]
        if not cursor:
            break
    assert seen == [m.ticker for m in sim.event.markets]


async def test_orderbook_shape(sim, http):
    """The REST book lists bids only, ascending, best last; NO levels at NO prices."""
    t = mid_ticker(sim)
    book = (await http.get(f"{sim.rest_url}/markets/{t}/orderbook")).json()["orderbook_fp"]
    yes = [(parse_price(p), parse_count(c)) for p, c in book["yes_dollars"]]
    no = [(parse_price(p), parse_count(c)) for p, c in book["no_dollars"]]
    assert yes == sorted(yes) and no == sorted(no)
    _, asks = sim.engine.levels(t)
    assert no == sorted((PRICE_ONE - p, c) for p, c in asks)
    assert yes[-1][0] < PRICE_ONE - no[-1][0]  # best bid below best ask


@pytest.mark.parametrize(
    "fault",
    ["wrong-key", "stale-timestamp", "missing-headers", "unknown-key-id", "other-path"],
)
async def test_bad_signature_is_401(sim, http, signer, key_id, fault):
    """A bad or missing signature, unknown key or stale timestamp answers 401."""
    url = sim.rest_url + "/portfolio/balance"
    if fault == "wrong-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        headers = signed(Signer(key_id, other), "GET", url)
    elif fault == "stale-timestamp":
        headers = signed(signer, "GET", url, skew_ms=-31_000)
    elif fault == "missing-headers":
        headers = {}
    elif fault == "unknown-key-id":
        headers = signed(signer, "GET", url)
        headers["KALSHI-ACCESS-KEY"] = "someone-else"
    else:
        headers = signed(signer, "GET", sim.rest_url + "/portfolio/orders")
    r = await http.get(url, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_error"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/portfolio/orders"),
        ("DELETE", "/portfolio/orders/abc"),
        ("POST", "/portfolio/orders/abc/amend"),
        ("POST", "/portfolio/orders/abc/decrease"),
        ("POST", "/portfolio/orders/batched"),
        ("DELETE", "/portfolio/orders/batched"),
    ],
    ids=["create", "cancel", "amend", "decrease", "batch-create", "batch-cancel"],
)
async def test_v1_writes_are_gone(sim, http, signer, method, path):
    """V1 order writes answer 410 deprecated_v1_order_endpoint."""
    r = await call(http, signer, sim, method, path, json={})
    assert r.status_code == 410
    err = r.json()["error"]
    assert err["code"] == "deprecated_v1_order_endpoint"
    assert err["message"] == "Please switch to the V2 endpoints"


async def test_create_cancel_and_reads(sim, http, signer, key_id):
    """Create answers 201 flat; the order is readable; cancel answers reduced_by; 404 after."""
    t = mid_ticker(sim)
    r = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                   json=order_body(t, client_order_id="c-1", count="3"))
    assert r.status_code == 201
    ack = r.json()
    assert ack["client_order_id"] == "c-1" and ack["remaining_count"] == "3.00"
    assert ack["fill_count"] == "0.00" and "average_fill_price" not in ack
    oid = ack["order_id"]
    assert [o.order_id for o in sim.resting_orders(key_id)] == [oid]
    order = (await call(http, signer, sim, "GET", f"/portfolio/orders/{oid}")).json()["order"]
    assert order["book_side"] == "bid" and order["yes_price_dollars"] == "0.0200"
    assert order["no_price_dollars"] == "0.9800" and order["status"] == "resting"
    listed = (await call(http, signer, sim, "GET", "/portfolio/orders",
                         params={"status": "resting", "event_ticker": sim.event_ticker})).json()
    assert [o["order_id"] for o in listed["orders"]] == [oid]
    r = await call(http, signer, sim, "DELETE", f"/portfolio/events/orders/{oid}")
    assert r.status_code == 200 and r.json()["reduced_by"] == "3.00"
    r = await call(http, signer, sim, "DELETE", f"/portfolio/events/orders/{oid}")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"price": "0.0250"}, 400, "invalid_order"),
        ({"count": "0"}, 400, "invalid_order_size"),
        ({"time_in_force": None}, 400, "invalid_order"),
        ({"side": "yes"}, 400, "invalid_order"),
        ({"price": "0.9900"}, 400, "invalid order"),
        ({"ticker": "KXTSAW-NOPE"}, 400, "market_not_found"),
    ],
    ids=["off-grid", "zero-count", "missing-tif", "v1-side", "post-only-cross", "unknown-market"],
)
async def test_create_rejections(sim, http, signer, over, status, code):
    """Bad creates answer the documented status and error code."""
    body = order_body(mid_ticker(sim), **over) if "ticker" not in over else order_body(**over)
    body = {k: v for k, v in body.items() if v is not None}
    r = await call(http, signer, sim, "POST", "/portfolio/events/orders", json=body)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    if code == "invalid order":
        assert r.json()["error"]["details"] == "post only cross"


async def test_duplicate_client_order_id_is_409(sim, http, signer):
    """Reusing a client_order_id answers 409."""
    body = order_body(mid_ticker(sim), client_order_id="dup")
    first = await call(http, signer, sim, "POST", "/portfolio/events/orders", json=body)
    second = await call(http, signer, sim, "POST", "/portfolio/events/orders", json=body)
    assert (first.status_code, second.status_code) == (201, 409)


async def test_taking_fills_updates_positions_and_fills(sim, http, signer):
    """A crossing IOC bid fills against outside asks; positions and fills report it exactly."""
    t = mid_ticker(sim)
    ask = sim.engine.best(t, BookSide.ASK)
    assert ask is not None
    body = order_body(t, price=f"{ask / PRICE_ONE:.4f}", count="2", post_only=False,
                      time_in_force="immediate_or_cancel")
    ack = (await call(http, signer, sim, "POST", "/portfolio/events/orders", json=body)).json()
    assert ack["fill_count"] == "2.00" and ack["remaining_count"] == "0.00"
    assert parse_price(ack["average_fill_price"]) == ask
    pos = (await call(http, signer, sim, "GET", "/portfolio/positions")).json()
    [mp] = pos["market_positions"]
    assert mp["ticker"] == t and mp["position_fp"] == "2.00"
    assert parse_price(mp["market_exposure_dollars"]) == 2 * ask
    fills = (await call(http, signer, sim, "GET", "/portfolio/fills")).json()["fills"]
    assert [f["count_fp"] for f in fills] == ["2.00"] and fills[0]["is_taker"] is True
    assert "client_order_id" not in fills[0]


async def test_amend_decrease_batch_and_cancel_all(sim, http, signer, key_id):
    """Amend sets the total count, decrease reduces, batches answer per item, cancel-all 204."""
    t = mid_ticker(sim)
    base = "/portfolio/events/orders"
    oid = (await call(http, signer, sim, "POST", base,
                      json=order_body(t, client_order_id="a", count="5"))).json()["order_id"]
    r = await call(http, signer, sim, "POST", f"{base}/{oid}/amend",
                   json={"ticker": t, "side": "bid", "price": "0.0300", "count": "4.00"})
    assert r.status_code == 200 and r.json()["remaining_count"] == "4.00"
    r = await call(http, signer, sim, "POST", f"{base}/{oid}/decrease", json={"reduce_by": "1"})
    assert r.json()["remaining_count"] == "3.00"
    r = await call(http, signer, sim, "POST", f"{base}/batched", json={"orders": [
        order_body(t, client_order_id="b1"), order_body(t, client_order_id="a"),
    ]})
    assert r.status_code == 201
    items = r.json()["orders"]
    assert "error" not in items[0] and items[1]["error"]["code"] == "order_already_exists"
    r = await call(http, signer, sim, "DELETE", f"{base}/batched",
                   json={"orders": [{"order_id": items[0]["order_id"]}, {"order_id": "nope"}]})
    results = r.json()["orders"]
    assert results[0]["reduced_by"] == "1.00" and "error" not in results[0]
    assert results[1]["reduced_by"] == "0.00" and "error" in results[1]
    r = await call(http, signer, sim, "DELETE", base)
    assert r.status_code == 204
    assert sim.resting_orders(key_id) == []


async def test_write_bucket_empties_to_429(sim, http, signer):
    """More than a basic write bucket's worth of writes at once answers 429 with the bare body."""
    t = mid_ticker(sim)
    # All at once, so the bucket cannot refill between them however slow the machine is.
    answers = await asyncio.gather(*(
        call(http, signer, sim, "POST", "/portfolio/events/orders",
             json=order_body(t, client_order_id=f"r{i}"))
        for i in range(30)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) == {201, 429}
    assert all(r.json() == {"error": "too many requests"} for r in answers if r.status_code == 429)


@pytest.mark.parametrize("status", [503, 429, 500])
async def test_fail_next(sim, http, status):
    """fail_next answers the next request with the status, then recovers."""
    sim.faults.fail_next(1, status)
    first = await http.get(sim.rest_url + "/exchange/status")
    second = await http.get(sim.rest_url + "/exchange/status")
    assert (first.status_code, second.status_code) == (status, 200)
    if status == 429:
        assert first.json() == {"error": "too many requests"}


async def test_delay_next_applies_then_answers_late(sim, http, signer, key_id):
    """A delayed write is applied even if the client times out before the answer."""
    sim.faults.delay_next(2.0)
    url = sim.rest_url + "/portfolio/events/orders"
    with pytest.raises(httpx.ReadTimeout):
        await http.post(url, headers=signed(signer, "POST", url), timeout=0.3,
                        json=order_body(mid_ticker(sim), client_order_id="slow"))
    assert [o.client_order_id for o in sim.resting_orders(key_id)] == ["slow"]


async def test_trading_pause_rejects_creates(sim, http, signer):
    """With trading paused, creates are rejected and the status says so."""
    sim.set_trading_active(False)
    status = (await http.get(sim.rest_url + "/exchange/status")).json()
    r = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                   json=order_body(mid_ticker(sim)))
    assert status["trading_active"] is False and r.status_code == 400


async def ws_connect(sim: Emulator, signer: Signer):
    return await connect(sim.ws_url, additional_headers=signed(signer, "GET", sim.ws_url))


async def recv(ws) -> dict:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())


@pytest.mark.parametrize("use_yes_price", [False, True], ids=["no-prices", "yes-prices"])
async def test_ws_snapshot_then_sequenced_deltas(sim, signer, use_yes_price):
    """Subscribe gives a snapshot with seq 1, then deltas 2, 3; NO levels per use_yes_price."""
    t = mid_ticker(sim)
    async with await ws_connect(sim, signer) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta"], "market_tickers": [t],
            "use_yes_price": use_yes_price}}))
        ack = await recv(ws)
        assert ack == {"id": 1, "type": "subscribed",
                       "msg": {"channel": "orderbook_delta", "sid": ack["msg"]["sid"]}}
        snap = await recv(ws)
        assert (snap["type"], snap["seq"]) == ("orderbook_snapshot", 1)
        _, asks = sim.engine.levels(t)
        no_prices = [parse_price(p) for p, _ in snap["msg"]["no_dollars_fp"]]
        if use_yes_price:
            assert no_prices == [p for p, _ in asks]
        else:
            assert no_prices == sorted(PRICE_ONE - p for p, _ in asks)
        ask = asks[0][0]
        sim.add_order(t, BookSide.ASK, ask + 500, 300)
        sim.add_order(t, BookSide.BID, 100, 200)
        d1, d2 = await recv(ws), await recv(ws)
        assert [d1["seq"], d2["seq"]] == [2, 3]
        assert (d1["msg"]["side"], d1["msg"]["delta_fp"]) == ("no", "3.00")
        expected = ask + 500 if use_yes_price else PRICE_ONE - ask - 500
        assert parse_price(d1["msg"]["price_dollars"]) == expected
        assert (d2["msg"]["side"], d2["msg"]["price_dollars"]) == ("yes", "0.0100")


async def test_ws_skip_seq_makes_a_gap(sim, signer):
    """skip_seq makes the next sequenced message skip a number."""
    t = mid_ticker(sim)
    async with await ws_connect(sim, signer) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta"], "market_ticker": t}}))
        await recv(ws)
        assert (await recv(ws))["seq"] == 1
        sim.faults.skip_seq()
        sim.add_order(t, BookSide.BID, 100, 100)
        sim.add_order(t, BookSide.BID, 100, 100)
        assert [(await recv(ws))["seq"], (await recv(ws))["seq"]] == [3, 4]


async def test_ws_private_channels_and_own_delta_tag(sim, http, signer):
    """Own orders tag their deltas with client_order_id; user_order and fill arrive."""
    t = mid_ticker(sim)
    async with await ws_connect(sim, signer) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta", "user_orders", "fill"], "market_tickers": [t]}}))
        types = {(await recv(ws))["type"] for _ in range(4)}
        assert types == {"subscribed", "orderbook_snapshot"}
        bid = sim.engine.best(t, BookSide.BID)
        assert bid is not None
        price = bid + 100
        await call(http, signer, sim, "POST", "/portfolio/events/orders",
                   json=order_body(t, client_order_id="mine", price=f"{price / PRICE_ONE:.4f}"))
        got = {}
        for _ in range(2):
            m = await recv(ws)
            got[m["type"]] = m["msg"]
        assert got["orderbook_delta"]["client_order_id"] == "mine"
        assert got["user_order"]["status"] == "resting"
        sim.add_order(t, BookSide.ASK, price, 100)
        seen = set()
        for _ in range(3):
            m = await recv(ws)
            seen.add(m["type"])
            if m["type"] == "fill":
                assert m["msg"]["is_taker"] is False and m["msg"]["post_position_fp"] == "1.00"
        assert seen == {"orderbook_delta", "fill", "user_order"}


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        ({"id": 5, "cmd": "nope"}, 5),
        ({"id": 5, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
        ({"id": 5, "cmd": "subscribe", "params": {"channels": ["ticker_v2"]}}, 8),
        ({"id": 5, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"],
                                                  "market_tickers": ["X-1"]}}, 16),
        ({"id": 5, "cmd": "unsubscribe", "params": {"sids": [99]}}, 7),
        ({"id": 5, "cmd": "update_subscription", "params": {"sids": [1, 2],
                                                            "action": "get_snapshot"}}, 12),
    ],
    ids=["unknown-command", "no-tickers", "unknown-channel", "unknown-market", "unknown-sid",
         "two-sids"],
)
async def test_ws_command_errors(sim, signer, cmd, code):
    """Bad commands answer an error with the documented code."""
    async with await ws_connect(sim, signer) as ws:
        await ws.send(json.dumps(cmd))
        reply = await recv(ws)
        assert reply["type"] == "error" and reply["id"] == 5 and reply["msg"]["code"] == code


async def test_ws_get_snapshot_and_list(sim, signer):
    """get_snapshot re-sends a snapshot on the same sid; list_subscriptions lists it."""
    t = mid_ticker(sim)
    async with await ws_connect(sim, signer) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta"], "market_tickers": [t]}}))
        sid = (await recv(ws))["msg"]["sid"]
        await recv(ws)
        await ws.send(json.dumps({"id": 2, "cmd": "update_subscription", "params": {
            "sids": [sid], "market_tickers": [t], "action": "get_snapshot"}}))
        ok, snap = await recv(ws), await recv(ws)
        assert (ok["type"], ok["seq"], snap["type"], snap["seq"]) == (
            "ok", 2, "orderbook_snapshot", 3)
        await ws.send(json.dumps({"id": 3, "cmd": "list_subscriptions"}))
        assert (await recv(ws))["msg"] == [{"channel": "orderbook_delta", "sid": sid}]


async def test_ws_handshake_needs_auth(sim):
    """An unsigned websocket handshake is refused with 401."""
    with pytest.raises(websockets.InvalidStatus) as info:
        async with asyncio.timeout(5):
            await connect(sim.ws_url)
    assert info.value.response.status_code == 401


async def test_drop_connections_closes_sockets(sim, signer):
    """drop_connections closes every open websocket."""
    async with await ws_connect(sim, signer) as ws:
        sim.faults.drop_connections()
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(5):
                await ws.recv()


async def test_separate_users_trade_with_each_other(sim, http, signer, key_id):
    """Each registered key is its own user; their orders match each other."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sim.register_key("other-key", public_pem(other))
    t = mid_ticker(sim)
    bid = sim.engine.best(t, BookSide.BID)
    assert bid is not None
    price = bid + 100
    await call(http, signer, sim, "POST", "/portfolio/events/orders",
               json=order_body(t, price=f"{price / PRICE_ONE:.4f}", count="2"))
    sim.add_order(t, BookSide.ASK, price, 100, user="other-key")
    assert sim.position(key_id, t) == 100 and sim.position("other-key", t) == -100


async def test_outside_traders_print_trades(rsa_key, key_id):
    """With outside traders on, trade messages appear on the public channel."""
    async with Emulator(seed=3, outside_traders=True, trader_rate=200.0) as sim:
        sim.register_key(key_id, public_pem(rsa_key))
        async with await ws_connect(sim, Signer(key_id, rsa_key)) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe",
                                      "params": {"channels": ["trade"]}}))
            async with asyncio.timeout(10):
                while (await recv(ws))["type"] != "trade":
                    pass


async def test_standalone_prints_one_json_line(tmp_path, rsa_key):
    """`python -m tsad.sim` prints one JSON line with the URLs, and stops on SIGTERM."""
    pem = tmp_path / "pub.pem"
    pem.write_bytes(public_pem(rsa_key))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad.sim", "--port", "0", "--key-id", "k",
        "--public-key", str(pem), "--no-outside-traders",
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            line = json.loads(await proc.stdout.readline())
        assert set(line) == {"rest_url", "ws_url", "event_ticker"}
        assert line["rest_url"].startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            r = await client.get(line["rest_url"] + "/exchange/status")
        assert r.status_code == 200
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            assert await proc.wait() == 0


async def test_fair_drift_moves_the_market_centre():
    """A drift step moves the fair centre and every market's fair value with it."""
    import random

    from tsad.sim import Emulator
    from tsad.sim.traders import drift_fair

    async with Emulator(seed=3) as sim:
        before_center, before = sim.fair_center, dict(sim.fair)
        drift_fair(sim, random.Random(1), 0.01)
        assert sim.fair_center != before_center
        assert sim.fair != before
        assert all(0 <= v <= 1 for v in sim.fair.values())


@pytest.mark.parametrize("exchange", [False, True], ids=["trading-pause", "exchange-pause"])
async def test_pause_cancels_only_cancel_order_on_pause(sim, http, signer, key_id, exchange):
    """A pause cancels the orders created with cancel_order_on_pause, and only those."""
    t = mid_ticker(sim)
    for coid, flag in (("keep", False), ("pause-cancel", True)):
        r = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                       json=order_body(t, client_order_id=coid, cancel_order_on_pause=flag))
        assert r.status_code == 201
    if exchange:
        sim.set_exchange_active(False)
    else:
        sim.pause()
    assert [o.client_order_id for o in sim.resting_orders(key_id)] == ["keep"]
    sim.resume()
    r = await call(http, signer, sim, "GET", "/portfolio/orders?status=canceled")
    assert [o["client_order_id"] for o in r.json()["orders"]] == ["pause-cancel"]


async def exchange_ids(sim: Emulator, http, signer) -> list[str]:
    t = mid_ticker(sim)
    ask = sim.engine.best(t, BookSide.ASK)
    assert ask is not None
    r = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                   json=order_body(t, price=f"{ask / PRICE_ONE:.4f}", post_only=False))
    fills = await call(http, signer, sim, "GET", "/portfolio/fills")
    return [r.json()["order_id"], *(f["trade_id"] for f in fills.json()["fills"])]


@pytest.mark.parametrize("nonce", [None, 7], ids=["random-nonce", "fixed-nonce"])
async def test_exchange_ids_never_repeat_across_instances(rsa_key, key_id, signer, http, nonce):
    """Two runs with the same seed give different order and trade ids (a journal keeps
    each trade id once), unless the caller fixes the nonce for repeatable ids."""
    runs = []
    for _ in range(2):
        async with Emulator(seed=0, id_nonce=nonce) as sim:
            sim.register_key(key_id, public_pem(rsa_key))
            runs.append(await exchange_ids(sim, http, signer))
    assert all(len(r) == 2 for r in runs)
    if nonce is None:
        assert not set(runs[0]) & set(runs[1])
    else:
        assert runs[0] == runs[1]


async def test_fail_after_apply_applies_the_write(sim, http, signer, key_id):
    """An applied-but-failed write answers 503 and yet the order rests."""
    sim.faults.fail_after_apply(1)
    r = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                   json=order_body(mid_ticker(sim), client_order_id="lost-answer"))
    assert r.status_code == 503 and r.json()["error"]["code"] == "internal_error"
    assert [o.client_order_id for o in sim.resting_orders(key_id)] == ["lost-answer"]
    again = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                       json=order_body(mid_ticker(sim), client_order_id="lost-answer"))
    assert again.status_code == 409


async def chaos_statuses(rsa_key, key_id, signer, http, seed: int) -> list[int]:
    from tsad.sim.faults import Chaos

    async with Emulator(seed=0, tier="prestige") as sim:
        sim.register_key(key_id, public_pem(rsa_key))
        sim.faults.start_chaos(Chaos(fail=0.2, applied_fail=0.2, burst_429=0.1), seed)
        out = []
        for i in range(30):
            r = await call(http, signer, sim, "POST", "/portfolio/events/orders",
                           json=order_body(mid_ticker(sim), client_order_id=f"c{i}"))
            out.append(r.status_code)
        applied = {o.client_order_id for o in sim.resting_orders(key_id)}
        by_status: dict[int, set[str]] = {}
        for i, status in enumerate(out):
            by_status.setdefault(status, set()).add(f"c{i}")
        assert by_status[201] <= applied and not by_status.get(429, set()) & applied
        assert applied <= by_status[201] | by_status.get(503, set())
        assert sim.faults.injected["applied_fail"] == len(by_status.get(503, set()) & applied)
        return out


async def test_chaos_is_seeded(rsa_key, key_id, signer, http):
    """Chaos draws 5xx, applied-but-503 and 429 bursts; a seed repeats the same run."""
    a = await chaos_statuses(rsa_key, key_id, signer, http, 1)
    b = await chaos_statuses(rsa_key, key_id, signer, http, 1)
    c = await chaos_statuses(rsa_key, key_id, signer, http, 2)
    assert a == b and a != c
    assert {201, 429, 503} <= set(a)


async def test_chaos_task_pauses_and_fills_from_outside(sim, http, signer, key_id):
    """The chaos task takes our resting orders from outside and pauses trading, which
    cancels the orders that asked for it."""
    from tsad.sim.faults import Chaos

    t = mid_ticker(sim)
    for coid, flag in (("taken", False), ("paused", True)):
        await call(http, signer, sim, "POST", "/portfolio/events/orders",
                   json=order_body(t, client_order_id=coid, cancel_order_on_pause=flag))
    sim.start_chaos(Chaos(outside_fill=0.5, pause=0.5, pause_s=0.05, tick_s=0.01), seed=4)
    async with asyncio.timeout(10):
        while sim.resting_orders(key_id) or sim.faults.injected.get("pause", 0) == 0:
            await asyncio.sleep(0.02)
    assert sim.faults.injected["outside_fill"] >= 1
    assert any(f.user == key_id and not f.is_taker for f in sim.engine.fills)
