"""In-process: the real Engine (real client, emulator, journal, config files) survives what
breaks around it, and ends with FatalError only when the journal fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from test_daemon import take
from test_roll import WEEK1, WEEK2, WEEK2_TICKER, Rig, _rig  # noqa: F401 (the rig fixture)

from tsad.core.orders import BookSide, Fill, OrderRequest, OrderStatus
from tsad.errors import FatalError
from tsad.kalshi.wire import FillMsg, OrderGroupUpdate
from tsad.runtime.engine import GROUP_COOLOFF_SECONDS, ReloadRequested, StopRequested, Tick


pytestmark = pytest.mark.timeout(60)


class Faulty:
    """The real exchange client, except that the next write of one kind raises ``exc``.

    The fault sits at the process boundary (what the network or a client bug could do).
    """

    def __init__(self, inner: Any, kind: str, exc: BaseException) -> None:
        self._inner = inner
        self._kind = kind
        self._exc: BaseException | None = exc

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == f"{self._kind}_order" and self._exc is not None:
            exc, self._exc = self._exc, None

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise exc

            return fail
        return attr


async def test_a_write_that_raises_anything_is_posted_back(rig: Rig) -> None:
    """A write whose call raises a non-exchange exception leaves nothing stuck in flight:
    its outcome is resolved by a read back and quoting carries on."""
    engine = rig.engine
    engine.exchange = Faulty(engine.exchange, "create", RuntimeError("client bug"))  # type: ignore[assignment]
    rig.write_prediction({WEEK1: rig.sim.fair_center + 100_000})
    # The create's fate is unknown: reads back (and the mirror's grace window) settle it.
    for step in range(60):
        rig.clock.advance(1.0)
        if step % 2 == 0:
            engine.request_resync()
        await rig.put(Tick())
        await asyncio.sleep(0.02)
    assert engine.stats.errors.get("AmbiguousOutcome", 0) >= 1
    await rig.quiet()
    assert rig.task is not None and not rig.task.done()
    assert not engine.in_flight
    assert rig.matches_desired()


async def test_a_recursive_prediction_file_pulls_quotes(rig: Rig) -> None:
    """A prediction file that makes the parser recurse too deep pulls the quotes with the
    reason; the engine keeps running and quotes again once the file is fixed."""
    path = rig.workdir / "prediction.json"
    good = path.read_text()
    path.write_text("[" * 200_000 + "]" * 200_000)
    await rig.until(lambda: "inputs" in rig.engine.pull_reasons, tick=True, step=1.0)
    await rig.until(lambda: rig.ours() == [], tick=True)
    assert rig.task is not None and not rig.task.done()
    path.write_text(good)
    await rig.until(lambda: bool(rig.ours()), tick=True, step=1.0)
    assert "inputs" not in rig.engine.pull_reasons


async def test_journal_failure_is_fatal(rig: Rig) -> None:
    """When the journal cannot be written, the engine ends with FatalError (the daemon then
    sweeps our orders and exits non-zero) instead of trading without its journal."""
    rig.engine.journal._db.close()  # the disk goes away under the journal
    rig.write_prediction({WEEK1: rig.sim.fair_center + 30_000})
    assert rig.task is not None
    for _ in range(50):
        if rig.task.done():
            break
        rig.clock.advance(1.0)
        await rig.put(Tick())
        await asyncio.sleep(0.02)
    with pytest.raises(FatalError, match="journal"):
        await asyncio.wait_for(rig.task, timeout=5)


async def test_reload_with_a_restart_key_is_refused_whole(
    rig: Rig, capsys: pytest.CaptureFixture[str],
) -> None:
    """A reload that changes a key needing a restart is refused as a whole: nothing of the
    new file applies, not even the keys that could have."""
    engine = rig.engine
    old = engine.config
    cfg = rig.workdir / "config.toml"
    cfg.write_text(cfg.read_text().replace('tier = "basic"', 'tier = "advanced"')
                   .replace("count = 10", "count = 7"))
    await rig.put(ReloadRequested())
    await rig.until(lambda: True, tick=True)
    assert engine.config is old
    out = capsys.readouterr().out
    assert "config.reload_refused" in out and "exchange.tier" in out
    assert {o.remaining for o in rig.ours()} == {1000}


async def test_orders_on_another_open_week_are_managed(rig: Rig) -> None:
    """An order of ours on another open event of the series (a previous instance's) is
    cancelled by the next read back, and the stop sweeps the series and confirms."""
    sim, engine = rig.sim, rig.engine
    sim.add_week(WEEK2)
    other = next(m.ticker for m in sim.markets.values() if m.event_ticker == WEEK2_TICKER)
    client = engine.exchange
    await client.create_order(OrderRequest(
        ticker=other, side=BookSide.BID, price=100, count=100,
        client_order_id=f"tsad-{WEEK2_TICKER.split('-', 1)[1]}-old-bid-1"))
    assert rig.ours(WEEK2_TICKER)
    engine.request_resync()
    await rig.until(lambda: rig.ours(WEEK2_TICKER) == [], tick=True)
    await rig.put(StopRequested("test over"))
    await asyncio.wait_for(engine.stopped.wait(), timeout=30)
    assert engine.stop_confirmed
    assert rig.ours() == []


async def test_fills_missed_by_the_feed_are_recovered_by_a_read(rig: Rig) -> None:
    """An order filled while no message reached us (the rig has no feed at all): the next
    read back applies its fills to the position once, and the journal records it executed
    instead of keeping it resting."""
    engine = rig.engine
    o = rig.ours()[0]
    take(rig.sim, o, o.remaining)
    engine.request_resync()
    signed = o.remaining if o.side is BookSide.BID else -o.remaining
    await rig.until(lambda: engine.mirror.position(o.ticker) == signed, tick=True)
    engine.request_resync()  # a second read changes nothing: each trade counts once
    await rig.until(lambda: True, tick=True)
    assert engine.mirror.position(o.ticker) == signed
    seen = {r.order_id: r.status for r in engine.journal.orders_seen()}
    assert seen[o.order_id] is OrderStatus.EXECUTED


async def test_a_market_refusing_writes_is_pulled_alone(rig: Rig) -> None:
    """A per-market refusal (the market deactivated) pulls that market alone: trading is
    not paused, and the other markets keep their quotes."""
    engine, sim = rig.engine, rig.sim
    o = rig.ours()[0]
    sim.set_market_status(o.ticker, "inactive")  # refuses every write there
    rig.write_prediction({WEEK1: sim.fair_center + 5_000})  # re-pricing meets the refusal
    for _ in range(30):
        rig.clock.advance(1.0)
        await rig.put(Tick())
        await asyncio.sleep(0.02)
        if o.ticker in engine.market_pulls:
            break
    assert o.ticker in engine.market_pulls
    assert engine.trading_active and engine.exchange_active
    assert {x.ticker for x in rig.ours()} - {o.ticker}
    sim.set_market_status(o.ticker, "active")


async def test_fills_on_other_weeks_of_the_series_are_journaled(rig: Rig) -> None:
    """A fill on last week's market (an order of ours left there at the roll) is journaled
    and counted; a fill outside the series is not ours."""
    engine = rig.engine
    old = "KXTSAW-26AUG02-A2.45"
    for trade_id, ticker in (("t-old", old), ("t-other", "KXOTHER-26AUG02-A1")):
        await rig.put(FillMsg(sid=1, fill=Fill(
            trade_id=trade_id, order_id="o-old", ticker=ticker, side=BookSide.BID,
            price=4000, count=100, ts=datetime(2026, 8, 2, tzinfo=UTC))))
    await rig.until(lambda: True, tick=True)
    assert [f.trade_id for f in engine.journal.fills()] == ["t-old"]
    assert engine.mirror.position(old) == 100


class Gated:
    """The real exchange client, except that creates wait at a gate the test opens."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.gate = asyncio.Event()
        self.waiting = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != "create_order":
            return attr

        async def create(*args: Any, **kwargs: Any) -> Any:
            self.waiting += 1
            await self.gate.wait()
            return await attr(*args, **kwargs)

        return create


async def test_a_create_landing_after_the_stop_sweep_is_cancelled(rig: Rig) -> None:
    """A create still in flight when the stop's sweep has run is cancelled when it lands:
    the stop leaves nothing of ours resting."""
    engine, sim = rig.engine, rig.sim
    gated = Gated(engine.exchange)
    engine.exchange = gated  # type: ignore[assignment]
    rig.write_prediction({WEEK1: sim.fair_center + 100_000})  # sides flip: new creates
    for _ in range(100):
        if gated.waiting:
            break
        rig.clock.advance(1.0)
        await rig.put(Tick())
        await asyncio.sleep(0.02)
    assert gated.waiting
    await rig.put(StopRequested("test over"))
    for _ in range(200):  # the stop waits (10 s of the engine's clock) for writes to land
        if engine._stop_cancels_done:
            break
        rig.clock.advance(1.0)
        await asyncio.sleep(0.02)
    assert engine._stop_cancels_done
    gated.gate.set()  # the creates land after the sweep
    await asyncio.wait_for(engine.stopped.wait(), timeout=30)
    assert rig.ours() == []
    assert engine.stop_confirmed


async def test_a_new_market_or_price_grid_reads_the_event_again(rig: Rig) -> None:
    """A market created, or a market's price grid changed, makes the next read fetch the
    event again (the feed's message types are matched by name: the adapter owns them)."""

    class PriceGridChanged:  # the shape does not matter to the engine, only the kind
        pass

    def event_reads() -> int:
        return sum(1 for r in rig.sim.request_log
                   if r.method == "GET" and "/events/" in r.path)

    before = event_reads()
    await rig.put(PriceGridChanged())
    await rig.until(lambda: event_reads() > before, tick=True)


@pytest.mark.parametrize("announced", [
    pytest.param(True, id="order_group_updates-message"),
    pytest.param(False, id="create-refused-only"),
])
async def test_a_triggered_order_group_pulls_quotes_then_resets(
    rig: Rig, announced: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fills faster than the order group's contracts limit (50 in 15 s): the exchange cancels
    our orders; the engine pulls every quote (an error line), places nothing through the
    cool-off, then resets the group and quotes again. It learns of the trip from the
    websocket message, or else from a create refused with the group's code."""
    sim, engine = rig.sim, rig.engine
    gid = engine.exchange.order_group_id
    assert gid is not None, "every create joins the configured order group"
    group = next(g for g in sim.venue.groups.of(rig.key_id) if g.group_id == gid)
    while not group.triggered:  # fill every quote, let the engine re-quote, again
        for o in rig.ours():
            if not group.triggered:
                take(sim, o, o.remaining)
        if group.triggered:
            break
        engine.request_resync()
        await rig.until(lambda: bool(rig.ours()) or group.triggered, tick=True)
    assert rig.ours() == [], "the trip cancelled the group's orders"
    if announced:
        await rig.put(OrderGroupUpdate(sid=1, seq=None, event_type="triggered",
                                       order_group_id=gid))
    else:
        engine.request_resync()  # the read back finds our orders gone: creates are refused
    await rig.until(lambda: "order_group" in engine.pull_reasons, tick=True)
    await rig.ride(GROUP_COOLOFF_SECONDS - 10)
    assert "order_group" in engine.pull_reasons
    assert rig.ours() == []
    await rig.ride(20)
    await rig.until(lambda: bool(rig.ours()), tick=True)
    assert "order_group" not in engine.pull_reasons
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "order_group.triggered" in x)
    assert "error" in line
    assert "order_group.reset" in out


async def test_the_series_fees_come_from_the_exchange(rig: Rig) -> None:
    """Startup reads the series' fee schedule, and the edge policy prices with it."""
    from dataclasses import replace

    from tsad.core.fees import FeeSchedule, FeeType
    from tsad.core.quoting import EdgePolicy

    assert rig.engine.fees == FeeSchedule(fee_type=FeeType.QUADRATIC)  # what the emulator says
    cfg = rig.engine.config
    edge = replace(cfg, quoting=replace(cfg.quoting, policy="edge"))
    makers = FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES)
    policy = edge.quoting_policy(makers)
    assert isinstance(policy, EdgePolicy) and policy.fees == makers
