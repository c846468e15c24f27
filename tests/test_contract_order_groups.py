"""Order groups (kalshi-api.md §3.11): every endpoint's answers conform to the spec, and the
rolling 15-second contracts limit cancels the group's orders and refuses new ones until reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.spec_client import SpecClient, contract_api, contract_sim  # noqa: F401
from tsad.core.money import format_price
from tsad.core.orders import BookSide
from tsad.sim import Emulator
from tsad.sim.order_groups import OrderGroups


def low_bid(sim: Emulator, ticker: str, coid: str, gid: str, count: str = "2.00") -> dict:
    bid = sim.engine.best(ticker, BookSide.BID)
    assert bid is not None
    return {"ticker": ticker, "side": "bid", "price": format_price(bid - 100), "count": count,
            "client_order_id": coid, "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross", "order_group_id": gid}


async def test_group_limit_cancels_and_blocks_until_reset(sim: Emulator, api: SpecClient,
                                                          key_id: str):
    """Fills reaching the limit cancel every resting order of the group; creates in it are
    refused until reset; orders outside the group are untouched."""
    t = sim.event.markets[len(sim.event.markets) // 2].ticker
    gid = (await api.call("POST", "/portfolio/order_groups/create", expect=201,
                          json={"contracts_limit_fp": "3.00"}))["order_group_id"]
    a = await api.call("POST", "/portfolio/events/orders", expect=201,
                       json=low_bid(sim, t, "g-a", gid))
    b = await api.call("POST", "/portfolio/events/orders", expect=201,
                       json=low_bid(sim, t, "g-b", gid))
    await api.call("POST", "/portfolio/events/orders", expect=201,
                   json=low_bid(sim, t, "free", ""))
    group = await api.get(f"/portfolio/order_groups/{gid}")
    assert sorted(group["orders"]) == sorted([a["order_id"], b["order_id"]])
    assert group["contracts_limit_fp"] == "3.00"

    sim.fill_outside(a["order_id"])        # 2 matched: below the limit
    assert {o.client_order_id for o in sim.resting_orders(key_id)} == {"g-b", "free"}
    sim.fill_outside(b["order_id"], 100)   # 3 matched: the limit is reached
    assert {o.client_order_id for o in sim.resting_orders(key_id)} == {"free"}
    refused = await api.call("POST", "/portfolio/events/orders", expect=400,
                             json=low_bid(sim, t, "g-c", gid))
    assert refused["error"]["code"] == "order_group_triggered"

    await api.call("PUT", f"/portfolio/order_groups/{gid}/reset", expect=200)
    c = await api.call("POST", "/portfolio/events/orders", expect=201,
                       json=low_bid(sim, t, "g-c", gid))
    # A manual trigger cancels the group's orders too.
    await api.call("PUT", f"/portfolio/order_groups/{gid}/trigger", expect=200)
    assert (await api.get(f"/portfolio/orders/{c['order_id']}"))["order"]["status"] == "canceled"
    await api.call("PUT", f"/portfolio/order_groups/{gid}/reset", expect=200)

    # Lowering the limit below what was matched in the window triggers at once.
    d = await api.call("POST", "/portfolio/events/orders", expect=201,
                       json=low_bid(sim, t, "g-d", gid))
    sim.fill_outside(d["order_id"], 100)
    await api.call("PUT", f"/portfolio/order_groups/{gid}/limit", expect=200,
                   json={"contracts_limit": 1})
    assert (await api.get(f"/portfolio/orders/{d['order_id']}"))["order"]["status"] == "canceled"

    listed = await api.get("/portfolio/order_groups")
    assert [(g["id"], g["contracts_limit_fp"]) for g in listed["order_groups"]] == [
        (gid, "1.00")]
    await api.call("PUT", f"/portfolio/order_groups/{gid}/reset", expect=200)
    e = await api.call("POST", "/portfolio/events/orders", expect=201,
                       json=low_bid(sim, t, "g-e", gid))
    await api.call("DELETE", f"/portfolio/order_groups/{gid}", expect=200)
    assert (await api.get(f"/portfolio/orders/{e['order_id']}"))["order"]["status"] == "canceled"
    await api.call("GET", f"/portfolio/order_groups/{gid}", expect=404)
    gone = await api.call("POST", "/portfolio/events/orders", expect=400,
                          json=low_bid(sim, t, "g-f", gid))
    assert gone["error"]["code"] == "order_group_not_found"
    assert {o.client_order_id for o in sim.resting_orders(key_id)} == {"free"}
    assert api.violations == []


@pytest.mark.parametrize("body", [{}, {"contracts_limit": 0}, {"contracts_limit_fp": "1.50"},
                                  {"contracts_limit": 2, "contracts_limit_fp": "3.00"}],
                         ids=["missing", "zero", "fractional", "disagree"])
async def test_bad_limits_are_400(api: SpecClient, body: dict):
    """A limit must be given once (or twice, equal), in whole contracts, at least 1."""
    await api.call("POST", "/portfolio/order_groups/create", expect=400, json=body)
    assert api.violations == []


def test_rolling_window_forgets_fills_older_than_15_s():
    """Only the fills of the last 15 seconds count toward the limit."""
    groups = OrderGroups(iter(f"g{i}" for i in range(10)).__next__)
    g = groups.create("u", 500)
    t0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert groups.record(g.group_id, 300, t0) is None
    assert groups.record(g.group_id, 100, t0 + timedelta(seconds=14)) is None
    assert groups.record(g.group_id, 100, t0 + timedelta(seconds=15)) is None  # t0 dropped
    assert g.rolling(t0 + timedelta(seconds=15)) == 200
    assert groups.record(g.group_id, 300, t0 + timedelta(seconds=16)) is g
    assert g.triggered
    groups.reset(g)
    assert not g.triggered and g.rolling(t0 + timedelta(seconds=16)) == 0
