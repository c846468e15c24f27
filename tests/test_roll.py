"""In-process: the real Engine rolls to next week's event and rides out a trading pause."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import write_demo_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.core import tickers
from tsad.core.book import BookUpdated
from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Order
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer
from tsad.runtime import paper
from tsad.runtime.config import load_config
from tsad.runtime.engine import Engine, StopRequested, Tick
from tsad.runtime.journal import Journal
from tsad.sim import Emulator


pytestmark = pytest.mark.timeout(60)

# A Wednesday afternoon of the week ending Sunday 2026-08-09; the next week ends 08-16.
START = datetime(2026, 8, 5, 16, 0, tzinfo=UTC)
WEEK1 = date(2026, 8, 9)
WEEK2 = date(2026, 8, 16)
WAIT = 5.0  # seconds of real time any one condition may take



class FakeClock:
    """A clock whose wall and monotonic time move only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._mono = 1_000.0

    def now(self) -> datetime:
        """Return the current (fake) aware UTC time."""
        return self._now

    def monotonic(self) -> float:
        """Return the current (fake) monotonic seconds."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


class Rig:
    """The real Engine wired to the real REST client, emulator, journal and config files."""

    def __init__(self, sim: Emulator, engine: Engine, clock: FakeClock, key_id: str,
                 workdir: Path, rolled: list[list[str]]) -> None:
        self.sim = sim
        self.engine = engine
        self.clock = clock
        self.key_id = key_id
        self.workdir = workdir
        self.rolled = rolled
        self.task: asyncio.Task[None] | None = None

    async def put(self, ev: object) -> None:
        """Put one event on the engine's queue."""
        await self.engine.queue.put(ev)

    async def fresh_books(self, market_tickers: list[str]) -> None:
        """Give each market a fresh top of book read from the emulator (as the feed would)."""
        for t in market_tickers:
            levels = self.sim.book_levels(t)
            best_bid = max((p for p, _ in levels.yes), default=None)
            best_no = max((p for p, _ in levels.no), default=None)
            best_ask = None if best_no is None else PRICE_ONE - best_no
            await self.put(BookUpdated(ticker=t, best_bid=best_bid, best_ask=best_ask))

    def ours(self, event_ticker: str | None = None) -> list[Order]:
        """Return our resting orders at the emulator (of one event, if given)."""
        return [o for o in self.sim.resting_orders(user=self.key_id)
                if event_ticker is None or o.ticker.startswith(event_ticker + "-")]

    def writes(self) -> int:
        """Return how many order writes the emulator has processed (429s not counted)."""
        return sum(1 for r in self.sim.request_log
                   if r.method in ("POST", "DELETE") and "/portfolio/events/orders" in r.path
                   and r.status != 429)

    def status_polls(self) -> int:
        """Return how many exchange status reads the emulator has received so far."""
        return sum(1 for r in self.sim.request_log if r.path.endswith("/exchange/status"))

    async def until(self, cond: Callable[[], bool], *, tick: bool = False,
                    step: float = 0.0, timeout: float = WAIT) -> None:
        """Wait until ``cond()`` holds and the engine has no write in flight.

        With ``tick``, put a `Tick` each round (advancing the fake clock by ``step``).
        """
        async with asyncio.timeout(timeout):
            while not (cond() and not self.engine.in_flight and self.engine.queue.empty()):
                if tick:
                    self.clock.advance(step)
                    await self.put(Tick())
                await asyncio.sleep(0.01)

    async def quiet(self, *, rounds: int = 3) -> None:
        """Wait until our resting orders stay the same over a few ticks."""
        last: object = None
        same = 0
        async with asyncio.timeout(WAIT):
            while same < rounds:
                await self.until(lambda: True, tick=True)
                now = sorted((o.ticker, o.side, o.price, o.remaining) for o in self.ours())
                same = same + 1 if now == last else 0
                last = now

    async def ride(self, seconds: float, *, step: float = 1.0) -> None:
        """Tick through ``seconds`` of fake time, letting each tick's writes land.

        Like the daemon's timers: a `Tick` per step, a REST resync per ``resync_interval``.
        """
        interval = self.engine.config.daemon.resync_interval
        last_resync = self.clock.monotonic()
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            if self.clock.monotonic() - last_resync >= interval:
                last_resync = self.clock.monotonic()
                self.engine.request_resync()
            await self.put(Tick())
            await self.until(lambda: True)

    def matches_desired(self) -> bool:
        """Tell whether our resting orders are exactly the engine's desired quotes."""
        want = {(q.ticker, q.side, q.price, q.count) for q in self.engine.desired()}
        have = [(o.ticker, o.side, o.price, o.remaining) for o in self.ours()]
        return len(have) == len(set(have)) and set(have) == want

    def write_prediction(self, weeks: dict[date, float]) -> None:
        """Rewrite the prediction file with one prediction per week."""
        body = {d.isoformat(): {"prediction": round(v)} for d, v in weeks.items()}
        path = self.workdir / "prediction.json"
        tmp = path.with_name("prediction.json.tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.replace(path)


def one_per_side(orders: list[Order]) -> dict[tuple[str, BookSide], int]:
    """Return the (market, side) keys holding more than one resting order."""
    return {k: n for k, n in Counter((o.ticker, o.side) for o in orders).items() if n > 1}


@pytest.fixture(name="rig")
async def _rig(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, key_id: str,
               key_file: Path) -> AsyncIterator[Rig]:
    """A quoting engine on week 1 (the emulator hosts week 2 only once a test adds it)."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    clock = FakeClock(START)
    async with Emulator(now=START, seed=0, outside_traders=False) as sim:
        sim.register_key(key_id, pem)
        paper.write_paper_inputs(
            prediction_path=tmp_path / "prediction.json",
            history_path=tmp_path / "history.csv",
            event_ticker=sim.event_ticker, center=sim.fair_center, now=START, seed=1,
        )
        cfg_path = write_demo_config(tmp_path, sim, key_id, key_file, hooks="[]",
                                     max_prediction_age=8_640_000, order_group_limit=50)
        cfg = load_config(cfg_path)
        journal = Journal.open(cfg.journal.path)
        client = KalshiClient(
            sim.rest_url, Signer(key_id, rsa_key), tier=cfg.exchange.tier,
            timeout=cfg.exchange.request_timeout,
            order_group_contracts_limit=cfg.risk.order_group_contracts_limit)
        rolled: list[list[str]] = []
        engine = Engine(
            config=cfg, config_path=cfg_path, exchange=client, journal=journal, clock=clock,
            queue=asyncio.Queue(), load_config=load_config, on_event_change=rolled.append,
        )
        rig = Rig(sim, engine, clock, key_id, tmp_path, rolled)
        try:
            async with asyncio.timeout(WAIT):
                await engine.start()
            rig.task = asyncio.create_task(engine.run(), name="engine")
            await rig.fresh_books(list(engine.markets))
            async with asyncio.timeout(WAIT):
                await engine.ready.wait()
            await rig.quiet()
            assert rig.ours(sim.event_ticker), "the engine quotes week 1"
            yield rig
        finally:
            if rig.task is not None and not rig.task.done():
                await rig.put(StopRequested("test over"))
                async with asyncio.timeout(WAIT):
                    await engine.stopped.wait()
                    await rig.task
            await client.aclose()
            journal.close()


WEEK1_TICKER = tickers.event_ticker(WEEK1)
WEEK2_TICKER = tickers.event_ticker(WEEK2)


@pytest.mark.parametrize(
    "close_at_exchange",
    [
        pytest.param(False, id="markets-still-accept-writes"),
        pytest.param(True, id="markets-closed-at-close-time"),
    ],
)
async def test_weekly_roll_moves_quotes_to_next_week(rig: Rig, close_at_exchange: bool) -> None:
    """Past Sunday 23:59 ET the engine pulls week 1, switches to week 2 and quotes it."""
    sim, engine = rig.sim, rig.engine
    sim.add_week(WEEK2)
    week1_orders = rig.ours(WEEK1_TICKER)
    assert engine.event is not None and engine.event.event_ticker == WEEK1_TICKER
    writes_before = rig.writes()
    close = tickers.event_close_time(WEEK1)
    rig.clock.advance((close - rig.clock.now()).total_seconds() + 1)
    if close_at_exchange:
        # As on Kalshi: after close_time every write (cancels too) is refused, and the
        # resting orders are cancelled by the exchange a little later.
        sim.close_event(WEEK1_TICKER, cancel_resting=False)
    await rig.put(Tick())
    # The roll drops week 1's in-flight bookkeeping, so wait for the cancels themselves.
    await rig.until(lambda: engine.event is not None
                    and engine.event.event_ticker == WEEK2_TICKER
                    and rig.writes() - writes_before >= len(week1_orders))
    week2_tickers = [m.ticker for m in sim.markets.values()
                     if m.event_ticker == WEEK2_TICKER]
    assert rig.rolled == [week2_tickers], "on_event_change got the week-2 tickers once"
    assert set(engine.markets) == set(week2_tickers)
    # Week 1: the engine sent one cancel per order of ours when it pulled for the roll.
    week1_writes = rig.writes() - writes_before
    assert week1_writes == len(week1_orders)
    if close_at_exchange:
        assert len(rig.ours(WEEK1_TICKER)) == len(week1_orders), "refused: left to the close"
        sim.close_event(WEEK1_TICKER)
    assert rig.ours(WEEK1_TICKER) == []
    # No prediction for week 2 yet, and no fresh week-2 book: nothing is placed.
    await rig.until(lambda: True, tick=True)
    assert "prediction" in engine.pull_reasons
    assert rig.ours(WEEK2_TICKER) == []
    rig.write_prediction({WEEK1: sim.fair_center, WEEK2: sim.fair_center})
    await rig.fresh_books(week2_tickers)
    await rig.until(lambda: bool(rig.ours(WEEK2_TICKER)), tick=True)
    await rig.quiet()
    assert not engine.pull_reasons
    assert engine.trading_active
    assert rig.ours(WEEK2_TICKER)
    assert rig.ours(WEEK1_TICKER) == []
    assert not one_per_side(rig.ours())
    assert rig.matches_desired()
    assert {mo.ticker for mo in engine.mirror.live()} <= set(week2_tickers)


@pytest.mark.parametrize(
    ("mode", "max_writes_per_key"),
    [
        # No write of ours meets the pause: the periodic status poll has to reveal it.
        pytest.param("trading-silent", 1, id="trading-pause-silent"),
        # The prediction moves during the pause: each (market, side) gets at most one
        # refused write (trading_paused) and then one cancel.
        pytest.param("trading-reprice", 2, id="trading-pause-reprice-refused"),
        # Exchange pause: cancels are refused too, so our orders stay and the engine sends
        # nothing until the status poll says the exchange is back (a write that met the
        # pause before the poll is the most there can be).
        pytest.param("exchange", 2, id="exchange-pause"),
    ],
)
async def test_pause_pulls_quotes_without_a_storm_then_resumes(
    rig: Rig, mode: str, max_writes_per_key: int,
) -> None:
    """A pause pulls our quotes with a bounded number of requests; quoting resumes after."""
    sim, engine = rig.sim, rig.engine
    before = rig.ours()
    writes0, polls0, t0 = rig.writes(), rig.status_polls(), rig.clock.monotonic()
    if mode == "exchange":
        sim.set_exchange_active(False)
    else:
        sim.set_trading_active(False)
    if mode == "trading-reprice":
        rig.write_prediction({WEEK1: sim.fair_center + 40_000})
    # The engine polls the status at least every 30 s, so it knows within 40 fake seconds.
    await rig.until(lambda: not engine.trading_active, tick=True, step=1.0, timeout=WAIT)
    await rig.ride(60.0)
    assert not engine.trading_active
    # Every create carries cancel_order_on_pause: the exchange itself cancels our orders
    # when it pauses (and a trading pause allows our own cancels anyway).
    assert rig.ours() == [], "orders do not outlive a pause"
    pause_writes = rig.writes() - writes0
    # One poll per 2 s while paused, plus (today) one per refused write: bounded either way.
    fake_seconds = rig.clock.monotonic() - t0
    assert rig.status_polls() - polls0 <= fake_seconds / 2 + pause_writes + 2
    if mode != "exchange":
        settled = rig.writes()
        await rig.ride(20.0)
        assert rig.writes() == settled, "nothing more is sent once the quotes are pulled"
    sim.resume()
    await rig.until(lambda: engine.trading_active and bool(rig.ours()), tick=True, step=1.0)
    await rig.quiet()
    assert rig.matches_desired()
    assert not one_per_side(rig.ours())
    touched = {(o.ticker, o.side) for o in before} | {(o.ticker, o.side) for o in rig.ours()}
    assert 0 <= pause_writes <= max_writes_per_key * len(touched)


async def test_emulator_serves_an_added_week_and_refuses_writes_after_close(
    sim: Emulator, rsa_key: rsa.RSAPrivateKey, key_id: str,
) -> None:
    """`add_week` hosts next week's event over REST; `close_event` refuses every write."""
    sunday = tickers.week_sunday(datetime.now(UTC)) + timedelta(days=7)
    added = sim.add_week(sunday)
    client = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), timeout=5.0)
    try:
        async with asyncio.timeout(WAIT):
            first = await client.get_event(sim.event_ticker)
            second = await client.get_event(added.event_ticker)
            listed = await client.list_markets(event_ticker=added.event_ticker)
            book = await client.get_orderbook(added.markets[10].ticker)
        assert second.event_ticker == tickers.event_ticker(sunday)
        assert [m.ticker for m in second.markets] == [m.ticker for m in added.markets]
        assert {m.event_ticker for m in first.markets} == {sim.event_ticker}
        assert len(listed) == len(added.markets)
        assert book.yes or book.no, "the added week's books are seeded"
        sim.close_event(added.event_ticker, cancel_resting=False)
        async with asyncio.timeout(WAIT):
            after = await client.get_event(added.event_ticker)
        assert {m.status for m in after.markets} == {"closed"}
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("sunday_offset_days", "message"),
    [
        pytest.param(6, "not a Sunday", id="not-a-sunday"),
        pytest.param(0, "already hosted", id="first-week-again"),
    ],
)
def test_add_week_refuses_bad_weeks(sunday_offset_days: int, message: str) -> None:
    """`add_week` refuses a non-Sunday and a week it already hosts, naming it."""
    sim = Emulator(now=START)
    with pytest.raises(ValueError, match=message):
        sim.add_week(WEEK1 + timedelta(days=sunday_offset_days))



def event_reads(rig: Rig, event_ticker: str) -> int:
    """Return how many ``GET /events/{event_ticker}`` the emulator has answered."""
    return sum(1 for r in rig.sim.request_log
               if r.method == "GET" and r.path.endswith("/events/" + event_ticker))


async def close_week1(rig: Rig) -> None:
    """Move past week 1's close; the exchange closes its markets and cancels our orders."""
    close = tickers.event_close_time(WEEK1)
    rig.clock.advance((close - rig.clock.now()).total_seconds() + 1)
    rig.sim.close_event(WEEK1_TICKER)
    await rig.put(Tick())


async def test_roll_waits_until_next_week_is_listed(rig: Rig) -> None:
    """Before next week's event exists the engine stays pulled; it rolls once it is listed."""
    engine = rig.engine
    week1_orders = rig.ours()
    writes0 = rig.writes()
    await close_week1(rig)
    await rig.ride(300.0, step=5.0)  # Kalshi lists the next event hours after the close
    assert engine.event is not None and engine.event.event_ticker == WEEK1_TICKER
    assert "roll" in engine.pull_reasons
    assert rig.ours() == []
    # At most the roll's one (refused) cancel per order; the next resync forgets them.
    assert rig.writes() - writes0 <= len(week1_orders)
    assert event_reads(rig, WEEK2_TICKER) >= 1
    rig.sim.add_week(WEEK2)
    rig.write_prediction({WEEK1: rig.sim.fair_center, WEEK2: rig.sim.fair_center})
    await rig.until(lambda: engine.event is not None
                    and engine.event.event_ticker == WEEK2_TICKER, tick=True, step=5.0)
    await rig.fresh_books(list(engine.markets))
    await rig.until(lambda: bool(rig.ours(WEEK2_TICKER)), tick=True, step=1.0)
    await rig.quiet()
    assert rig.matches_desired()
    assert not one_per_side(rig.ours())


async def test_roll_retries_back_off_while_next_week_is_not_listed(rig: Rig) -> None:
    """Asking for a not-yet-listed next event backs off instead of repeating every tick."""
    await close_week1(rig)
    for _ in range(60):  # ten fake minutes; each tick's request gets time to come back
        rig.clock.advance(10.0)
        await rig.put(Tick())
        await asyncio.sleep(0.02)
    reads = event_reads(rig, WEEK2_TICKER)
    assert reads <= 10, f"{reads} reads of the unlisted event in 60 ticks"
