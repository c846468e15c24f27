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
