"""Contract: a websocket session against the emulator covering every channel, its subscribe and
unsubscribe replies and every message type, each message validated against the AsyncAPI
document and against the stated semantics (per-sid seq, fills, order-group events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import public_pem
from tests.kalshi_schema import AsyncApi, asyncapi, openapi
from tests.spec_client import SpecClient
from tsad.clock import SystemClock
from tsad.core.money import format_count, format_price, parse_count
from tsad.core.orders import BookSide
from tsad.kalshi.signing import Signer
from tsad.sim import Emulator


CHANNELS = ["orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions",
            "market_lifecycle_v2", "order_group_updates"]
SEQUENCED = {"orderbook_delta", "order_group_updates"}
Message = dict[str, Any]


class WsSession:
    """One websocket connection whose every message is validated as it arrives."""

    def __init__(self, ws: ClientConnection, spec: AsyncApi) -> None:
        self.ws = ws
        self.spec = spec
        self.messages: list[Message] = []
        self.violations: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            msg = json.loads(text)
            self.violations.extend(f"{e} in {msg}" for e in self.spec.errors(msg))
            self.messages.append(msg)

    async def send(self, cmd: Message) -> None:
        await self.ws.send(json.dumps(cmd))

    async def wait(self, pred: Callable[[Message], bool], n: int = 1) -> list[Message]:
        """Wait (bounded) until ``n`` messages match ``pred``; return them."""
        async with asyncio.timeout(5):
            while True:
                found = [m for m in self.messages if pred(m)]
                if len(found) >= n:
                    return found
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


@pytest.fixture
async def sim(rsa_key, key_id) -> AsyncIterator[Emulator]:
    async with Emulator(seed=0, tier="premier") as emulator:
        emulator.register_key(key_id, public_pem(rsa_key))
        yield emulator


def mid_ticker(sim: Emulator) -> str:
    market = min(sim.event.markets, key=lambda m: abs(sim.fair[int(m.floor_strike or 0)] - 0.5))
    return market.ticker


def typed(kind: str, **fields: Any) -> Callable[[Message], bool]:
    def pred(m: Message) -> bool:
        msg = m.get("msg") if isinstance(m.get("msg"), dict) else {}
        return m.get("type") == kind and all(msg.get(k) == v for k, v in fields.items())
    return pred


async def test_every_channel_conforms_message_by_message(sim: Emulator, rsa_key, key_id):
    """Subscribe to every channel, trade, run an order group through its life, settle a
    market, update and unsubscribe: every message conforms, seq is gapless per sid."""
    signer = Signer(key_id, rsa_key)
    headers = signer.headers("GET", urlsplit(sim.ws_url).path, SystemClock().time_ms())
    t = mid_ticker(sim)
    other = next(m.ticker for m in sim.event.markets if m.ticker != t)
    ws = WsSession(await connect(sim.ws_url, additional_headers=headers), asyncapi())
    async with httpx.AsyncClient(timeout=10) as http:
        api = SpecClient(http, signer, sim.rest_url, openapi())
        try:
            await ws.send({"id": 1, "cmd": "subscribe", "params": {
                "channels": CHANNELS, "market_tickers": [t]}})
            subscribed = await ws.wait(typed("subscribed"), len(CHANNELS))
            sids = {m["msg"]["channel"]: m["msg"]["sid"] for m in subscribed}
            assert sorted(sids) == sorted(CHANNELS) and all(m["id"] == 1 for m in subscribed)
            await ws.wait(typed("orderbook_snapshot", market_ticker=t))
            await ws.send({"id": 2, "cmd": "subscribe", "params": {
                "channels": ["ticker"], "market_tickers": [other],
                "send_initial_snapshot": True}})
            await ws.wait(lambda m: m.get("id") == 2)

            # An order group and a resting order in it.
            group = await api.call("POST", "/portfolio/order_groups/create", expect=201,
                                   json={"contracts_limit": 2})
            gid = group["order_group_id"]
            created = await ws.wait(typed("order_group_updates", event_type="created"))
            assert created[0]["msg"]["contracts_limit_fp"] == "2.00"
            bid = sim.engine.best(t, BookSide.BID)
            assert bid is not None
            rest = await api.call("POST", "/portfolio/events/orders", expect=201, json={
                "ticker": t, "side": "bid", "price": format_price(bid + 100), "count": "3.00",
                "client_order_id": "g-1", "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross", "post_only": True,
                "order_group_id": gid})
            mine = await ws.wait(typed("user_order", order_id=rest["order_id"]))
            assert mine[0]["msg"]["order_group_id"] == gid
            assert mine[0]["msg"]["status"] == "resting"
            tagged = await ws.wait(typed("orderbook_delta", client_order_id="g-1"))
            assert tagged[0]["msg"]["delta_fp"] == "3.00"

            # We take liquidity: trade, fill, user_order, market_position and ticker follow.
            ask, ask_size = sim.engine.levels(t)[1][0]
            take = await api.call("POST", "/portfolio/events/orders", expect=201, json={
                "ticker": t, "side": "bid", "price": format_price(ask),
                "count": format_count(ask_size), "client_order_id": "take-1",
                "time_in_force": "immediate_or_cancel",
                "self_trade_prevention_type": "taker_at_cross"})
            fills = await ws.wait(typed("fill", order_id=take["order_id"]))
            trades = await ws.wait(typed("trade", trade_id=fills[0]["msg"]["trade_id"]))
            assert fills[0]["msg"]["is_taker"] is True
            assert fills[0]["msg"]["count_fp"] == trades[0]["msg"]["count_fp"]
            assert fills[0]["msg"]["post_position_fp"] == format_count(ask_size)
            await ws.wait(typed("user_order", order_id=take["order_id"], status="executed"))
            await ws.wait(typed("market_position", position_fp=format_count(ask_size)))
            await ws.wait(typed("ticker", market_ticker=t))

            # Outside fills of the group's order up to its limit trigger the group: the rest
            # of its resting order is cancelled.
            sim.fill_outside(rest["order_id"], 100)
            sim.fill_outside(rest["order_id"], 100)
            await ws.wait(typed("order_group_updates", event_type="triggered"))
            order = (await api.get(f"/portfolio/orders/{rest['order_id']}"))["order"]
            assert (order["status"], order["fill_count_fp"]) == ("canceled", "2.00")
            await api.call("PUT", f"/portfolio/order_groups/{gid}/limit", expect=200,
                           json={"contracts_limit_fp": "50.00"})
            await ws.wait(typed("order_group_updates", event_type="limit_updated"))
            await api.call("PUT", f"/portfolio/order_groups/{gid}/reset", expect=200)
            await ws.wait(typed("order_group_updates", event_type="reset"))
            await api.call("DELETE", f"/portfolio/order_groups/{gid}", expect=200)
            await ws.wait(typed("order_group_updates", event_type="deleted"))

            # Subscription updates: add a market (ok + its snapshot), then a fresh snapshot.
            book_sid = sids["orderbook_delta"]
            await ws.send({"id": 3, "cmd": "update_subscription", "params": {
                "sids": [book_sid], "market_tickers": [other], "action": "add_markets"}})
            ok = (await ws.wait(lambda m: m.get("id") == 3))[0]
            assert ok["type"] == "ok" and sorted(ok["msg"]["market_tickers"]) == sorted([t, other])
            await ws.wait(typed("orderbook_snapshot", market_ticker=other))
            await ws.send({"id": 4, "cmd": "update_subscription", "params": {
                "sids": [book_sid], "market_tickers": [t], "action": "get_snapshot"}})
            await ws.wait(lambda m: m.get("id") == 4)
            await ws.wait(typed("orderbook_snapshot", market_ticker=t), 2)

            # Settlement: determined and settled lifecycle messages.
            sim.settle(other, 0)
            await ws.wait(typed("market_lifecycle_v2", market_ticker=other, event_type="settled"))
            determined = await ws.wait(typed("market_lifecycle_v2", event_type="determined"))
            assert determined[0]["msg"]["result"] == "no"

            # An event fee override set, then cleared: event_fee_update on the lifecycle sid,
            # and GET /events/{t} shows it while set (both validated against the specs).
            sim.set_event_fee_override(sim.event_ticker, "quadratic_with_maker_fees", 0.5)
            fee = await ws.wait(typed("event_fee_update", event_ticker=sim.event_ticker))
            assert fee[0]["sid"] == sids["market_lifecycle_v2"]
            assert fee[0]["msg"]["fee_type_override"] == "quadratic_with_maker_fees"
            event = (await api.get(f"/events/{sim.event_ticker}"))["event"]
            assert event["fee_multiplier_override"] == 0.5
            sim.set_event_fee_override(sim.event_ticker, None)
            await ws.wait(typed("event_fee_update", fee_type_override=None), 1)
            cleared = (await api.get(f"/events/{sim.event_ticker}"))["event"]
            assert "fee_type_override" not in cleared

            # Errors and the subscription list.
            await ws.send({"id": 5, "cmd": "subscribe", "params": {"channels": ["nope"]}})
            assert (await ws.wait(lambda m: m.get("id") == 5))[0]["type"] == "error"
            await ws.send({"id": 6, "cmd": "list_subscriptions"})
            listed = (await ws.wait(lambda m: m.get("id") == 6))[0]["msg"]
            assert sorted(s["channel"] for s in listed) == sorted(CHANNELS)

            # Unsubscribe every sid: each ack carries its sid and that sid's next seq.
            await ws.send({"id": 7, "cmd": "unsubscribe", "params": {"sids": list(sids.values())}})
            acks = await ws.wait(typed("unsubscribed"), len(sids))
            assert sorted(a["sid"] for a in acks) == sorted(sids.values())
            assert all(a["id"] == 7 for a in acks)
        finally:
            await ws.close()
    assert ws.violations == []
    assert api.violations == []

    # Per-sid sequencing: gapless from 1 on the sequenced channels (acks included), absent
    # on the others' data messages.
    by_sid: dict[int, list[Message]] = {}
    for m in ws.messages:
        if "sid" in m:
            by_sid.setdefault(m["sid"], []).append(m)
    channel_of = {sid: ch for ch, sid in sids.items()}
    for sid, msgs in by_sid.items():
        if channel_of[sid] in SEQUENCED:
            assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1)), channel_of[sid]
        else:
            assert all("seq" not in m for m in msgs if m["type"] != "unsubscribed")
    groups = [m["msg"]["event_type"] for m in by_sid[sids["order_group_updates"]]
              if m["type"] == "order_group_updates"]
    assert groups == ["created", "triggered", "limit_updated", "reset", "deleted"]
    positions = [parse_count(m["msg"]["position_fp"]) for m in ws.messages
                 if m["type"] == "market_position"]
    assert positions[-1] == sim.position(key_id, t)
