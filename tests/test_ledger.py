"""The PnL ledger: fills at their true value, settlements once, throttled marks."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

from tsad.core.exchange import MarketSettlement
from tsad.core.market import Outcome, Valuation
from tsad.core.orders import BookSide, Fill
from tsad.runtime.journal import Journal
from tsad.runtime.ledger import Ledger, mid_of, yes_value


T = "KXTSAW-26DEC06-A2.50"
U = "KXTSAW-26DEC06-A2.55"


def test_fill_keeps_its_fee_and_true_value(tmp_path: Path) -> None:
    fill = Fill(trade_id="t-1", order_id="o-1", ticker=T, side=BookSide.BID, price=5400,
                count=1000, fee=1_700, ts=datetime(2026, 12, 6, 14, tzinfo=UTC))
    with Journal.open(tmp_path / "j.db") as j:
        ledger = Ledger(j)
        assert ledger.fill(fill, Fraction(3, 5))
        assert not ledger.fill(fill, Fraction(1, 2))  # exactly once
        assert j.fills()[0].fee == 1_700
        assert j.fill_true_values() == {"t-1": Fraction(3, 5)}


def test_settlement_once_from_the_feed_then_completed_by_the_exchange(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as j:
        ledger = Ledger(j)
        assert not ledger.lifecycle(T, "deactivated", None)
        assert not ledger.lifecycle(T, "determined", None)  # no result yet
        assert ledger.lifecycle(T, "determined", "yes")
        assert not ledger.lifecycle(T, "settled", "yes")
        row = MarketSettlement(ticker=T, result="yes", value=None, revenue=10_000_000,
                               fee=0, yes_count=1000, no_count=0,
                               settled_ts=datetime(2026, 12, 8, 14, tzinfo=UTC))
        assert ledger.settlements([row]) == 0  # completes the feed's row
        assert ledger.settlements([row]) == 0
        (st,) = j.settlements()
    assert (st.source, st.value, st.revenue, st.yes_count) == ("exchange", 10_000, 10_000_000,
                                                               1000)


def test_marks_at_most_every_interval(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as j:
        ledger = Ledger(j, mark_seconds=60)
        assert ledger.marks(100.0, {T: (5300, 5500)}, {T: Fraction(3, 5)})
        assert not ledger.marks(130.0, {T: (5000, 5200)}, {T: Fraction(1, 2)})
        assert j.marks()[T].mid == 5400
        assert ledger.marks(161.0, {T: (5000, 5200), U: (None, 4000)}, {T: Fraction(1, 2)})
        marks = j.marks()
    assert (marks[T].mid, marks[T].fair, marks[U].mid) == (5100, Fraction(1, 2), 4000)
    assert mid_of(None, None) is None and mid_of(5300, None) == 5300


def test_yes_value_of_either_leg() -> None:
    assert yes_value(Valuation(ticker=T, outcome=Outcome.YES, true_value=Fraction(3, 5))) == (
        Fraction(3, 5))
    assert yes_value(Valuation(ticker=T, outcome=Outcome.NO, true_value=Fraction(3, 5))) == (
        Fraction(2, 5))
    assert yes_value(Valuation(ticker=T, outcome=None, true_value=None, reason="x")) is None
    assert yes_value(None) is None


async def test_daemon_journals_fill_value_settlement_and_marks(tmp_path: Path, sim, key_id,
                                                              key_file) -> None:
    """The real daemon against the emulator: an outside trader fills one of our orders, the
    market settles; the journal holds the fill with its fee and true value, the settlement
    once (lifecycle, then the exchange's row with revenue) and marks written at the stop."""
    import asyncio
    import signal

    from daemon_process import DaemonProcess as Daemon
    from test_daemon import ours, settle, take, write_config

    from tsad.clock import SystemClock
    from tsad.runtime import paper

    paper.write_paper_inputs(
        prediction_path=tmp_path / "prediction.json", history_path=tmp_path / "history.csv",
        event_ticker=sim.event_ticker, center=float(sim.fair_center),
        now=SystemClock().now(), seed=1)
    cfg = write_config(tmp_path, sim, key_id, key_file)
    cfg.write_text(cfg.read_text().replace("resync_interval = 2.0", "resync_interval = 1.0"))
    d = Daemon(cfg)
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        await settle(sim, key_id)
        order = ours(sim, key_id)[0]
        take(sim, order, 300)
        await d.wait_for("order.filled", timeout=20)
        sim.settle(order.ticker, 1)
        journal = tmp_path / "state" / "journal.sqlite3"
        async with asyncio.timeout(20):  # the next resync reads the exchange's row
            while True:
                with Journal.open(journal) as j:
                    rows = [s for s in j.settlements() if s.ticker == order.ticker]
                if rows and rows[0].source == "exchange":
                    break
                await asyncio.sleep(0.2)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
    with Journal.open(journal) as j:
        fills = [f for f in j.fills() if f.ticker == order.ticker]
        values = j.fill_true_values()
        (st,) = [s for s in j.settlements() if s.ticker == order.ticker]
        marks = j.marks()
    assert fills and all(values.get(f.trade_id) is not None for f in fills)
    assert (st.result, st.value) == ("yes", 10_000) and st.revenue is not None
    assert any(m.mid is not None and m.fair is not None for m in marks.values())
