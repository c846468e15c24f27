"""Tests of Kalshi's fees: series schedules, trade fees rounded up, and the rounding accumulator."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from tsad.core.fees import CENT, CENTICENT, FeeAccumulator, FeeSchedule, FeeType, fee_schedule
from tsad.core.money import parse_money


QUAD = FeeSchedule()
MAKERS = fee_schedule("quadratic_with_maker_fees", 1.0)


@pytest.mark.parametrize(
    ("schedule", "count", "price", "is_taker", "fee"),
    [
        # 0.07 × 10 × 0.56 × 0.44 = 0.17248 → up to $0.1725
        pytest.param(QUAD, 1000, 5600, True, "0.1725", id="taker-10-at-56c"),
        pytest.param(QUAD, 1000, 5600, False, "0.0000", id="quadratic-makers-free"),
        # 0.0175 × 10 × 0.56 × 0.44 = 0.04312 → $0.0432
        pytest.param(MAKERS, 1000, 5600, False, "0.0432", id="maker-fee-series"),
        # 0.07 × 1 × 0.5 × 0.5 = 0.0175 exactly: no rounding
        pytest.param(QUAD, 100, 5000, True, "0.0175", id="exact"),
        # 0.07 × 0.01 × 0.01 × 0.99 = 0.00000693 → $0.0001
        pytest.param(QUAD, 1, 100, True, "0.0001", id="tiny-rounds-up"),
        # half multiplier: 0.035 × 10 × 0.56 × 0.44 = 0.08624 → $0.0863
        pytest.param(fee_schedule("quadratic", 0.5), 1000, 5600, True, "0.0863", id="half"),
        pytest.param(fee_schedule("flat", "0.01"), 250, 5600, True, "0.0250", id="flat"),
    ],
)
def test_trade_fee(schedule: FeeSchedule, count: int, price: int, is_taker: bool,
                   fee: str) -> None:
    """Trade fees follow the series' formula and round up to $0.0001."""
    assert schedule.trade_fee(count, price, is_taker=is_taker) == parse_money(fee)


def test_fee_schedule_from_wire() -> None:
    """The series' wire fields build the schedule; absent means quadratic × 1."""
    assert fee_schedule(None, None) == QUAD
    assert fee_schedule("quadratic_with_maker_fees", 2).multiplier == 2
    assert fee_schedule("quadratic", 0.1).multiplier == Fraction(1, 10)
    assert MAKERS.charges_makers and not QUAD.charges_makers
    assert MAKERS.fee_type is FeeType.QUADRATIC_WITH_MAKER_FEES
    with pytest.raises(ValueError):
        fee_schedule("percent", 1)
    with pytest.raises(ValueError):
        fee_schedule("quadratic", -1)


def test_fee_per_contract_symmetric() -> None:
    """P(1 − P) is symmetric: a YES price and its NO complement cost the same fee."""
    assert QUAD.fee_per_contract(3000, is_taker=True) == QUAD.fee_per_contract(7000, is_taker=True)
    assert QUAD.fee_per_contract(5000, is_taker=True) == Fraction(175, 10_000)


def test_rounding_accumulator_rebates_whole_cents() -> None:
    """Sub-cent balance changes are floored; the overpayment comes back as whole cents."""
    acc = FeeAccumulator()
    # Buy 1 contract at $0.0550 (sub-penny price), no trade fee: −0.055 floors to −0.06.
    first = acc.fill(-55_000, 0)
    assert (first.rounding_fee, first.rebate, first.balance_change) == (5_000, 0, -60_000)
    # A second identical fill: the accumulator reaches a cent, which is rebated.
    second = acc.fill(-55_000, 0)
    assert (second.rounding_fee, second.rebate, second.balance_change) == (5_000, CENT, -50_000)
    assert first.balance_change + second.balance_change == -110_000  # = one fill of 2
    assert acc.accumulated == 0


def test_direct_member_precision() -> None:
    """A direct member's balance moves to the $0.0001: no rounding fee on a centicent fee."""
    fee = FeeAccumulator(precision=CENTICENT).fill(-560_000, 17_300)
    assert (fee.rounding_fee, fee.rebate, fee.net, fee.balance_change) == (0, 0, 17_300, -577_300)


@given(
    st.lists(st.tuples(st.integers(1, 5_000), st.integers(1, 9_999), st.booleans()),
             min_size=1, max_size=30),
)
def test_accumulated_fees_converge(fills: list[tuple[int, int, bool]]) -> None:
    """Across an order's fills the balance only moves in cents, the fees so far are never
    negative, and the total fee exceeds the sum of trade fees by less than a cent."""
    acc = FeeAccumulator()
    total_change = total_trade = total_net = 0
    for count, price, buy in fills:
        revenue = -count * price if buy else count * price
        trade = QUAD.trade_fee(count, price, is_taker=True)
        f = acc.fill(revenue, trade)
        assert f.balance_change % CENT == 0
        assert f.balance_change == revenue - f.net
        total_change += f.balance_change
        total_trade += trade
        total_net += f.net
        assert total_net >= 0
    assert 0 <= total_net - total_trade == acc.accumulated < CENT


@settings(deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 9_999))
def test_matches_emulator_taker_fee(count: int, price: int) -> None:
    """The emulator's taker fee and the core's agree on every fill."""
    from tsad.sim.records import taker_fee

    assert QUAD.trade_fee(count, price, is_taker=True) == taker_fee(count, price)
