"""Tests for the outcome distribution and market true values."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tsad.core.market import Market, Outcome, StrikeType, Valuation
from tsad.core.model import ErrorHistory, OutcomeDistribution, value_market, value_markets


P = 2_400_000.0
ERRORS = (-0.10, -0.04, -0.01, 0.02, 0.03, 0.08)
DIST = OutcomeDistribution(errors=ERRORS, prediction=P)


def mk(
    strike_type: StrikeType, floor: float | None = None, cap: float | None = None
) -> Market:
    return Market(
        ticker="KXTSAW-26NOV29-X",
        event_ticker="KXTSAW-26NOV29",
        strike_type=strike_type,
        floor_strike=floor,
        cap_strike=cap,
    )


@pytest.mark.parametrize(
    ("market", "outcome", "value"),
    [
        # threshold 2.30/2.40 - 1 = -0.0417: above are -0.04, -0.01, 0.02, 0.03, 0.08
        pytest.param(mk(StrikeType.GREATER, 2_300_000), Outcome.YES, Fraction(5, 6),
                     id="greater-yes"),
        # threshold +0.0208: at or below are -0.10, -0.04, -0.01, 0.02
        pytest.param(mk(StrikeType.GREATER, 2_450_000), Outcome.NO, Fraction(4, 6),
                     id="greater-no"),
        pytest.param(mk(StrikeType.GREATER_OR_EQUAL, 2_300_000), Outcome.YES, Fraction(5, 6),
                     id="geq-yes"),
        pytest.param(mk(StrikeType.GREATER_OR_EQUAL, 2_450_000), Outcome.NO, Fraction(4, 6),
                     id="geq-no"),
        pytest.param(mk(StrikeType.LESS, cap=2_450_000), Outcome.YES, Fraction(4, 6),
                     id="less-yes"),
        pytest.param(mk(StrikeType.LESS, cap=2_300_000), Outcome.NO, Fraction(5, 6),
                     id="less-no"),
        pytest.param(mk(StrikeType.LESS_OR_EQUAL, cap=2_450_000), Outcome.YES, Fraction(4, 6),
                     id="leq-yes"),
        pytest.param(mk(StrikeType.LESS_OR_EQUAL, cap=2_300_000), Outcome.NO, Fraction(5, 6),
                     id="leq-no"),
        # [-0.0208, +0.0208] holds -0.01 and 0.02
        pytest.param(mk(StrikeType.BETWEEN, 2_350_000, 2_450_000), Outcome.YES, Fraction(2, 6),
                     id="between-yes"),
        # [+0.0208, +0.0417] holds 0.03 only; P is outside, so NO = 5/6
        pytest.param(mk(StrikeType.BETWEEN, 2_450_000, 2_500_000), Outcome.NO, Fraction(5, 6),
                     id="between-no"),
        pytest.param(mk(StrikeType.GREATER, 1_000_000), Outcome.YES, Fraction(1),
                     id="deep-yes"),
        pytest.param(mk(StrikeType.GREATER, 4_000_000), Outcome.NO, Fraction(1),
                     id="deep-no"),
    ],
)
def test_known_values(market: Market, outcome: Outcome, value: Fraction) -> None:
    """Each strike type picks the side the point forecast favours, valued by hand counts."""
    v = value_market(market, DIST)
    assert v == Valuation(ticker=market.ticker, outcome=outcome, true_value=value)


@pytest.mark.parametrize(
    ("market", "reason"),
    [
        pytest.param(mk(StrikeType.GREATER, P), "prediction equals strike", id="greater-at-P"),
        pytest.param(mk(StrikeType.GREATER_OR_EQUAL, P), "prediction equals strike",
                     id="geq-at-P"),
        pytest.param(mk(StrikeType.LESS, cap=P), "prediction equals strike", id="less-at-P"),
        pytest.param(mk(StrikeType.GREATER), "missing floor_strike", id="no-floor"),
        pytest.param(mk(StrikeType.GREATER, math.nan), "missing floor_strike", id="nan-floor"),
        pytest.param(mk(StrikeType.LESS_OR_EQUAL), "missing cap_strike", id="no-cap"),
        pytest.param(mk(StrikeType.BETWEEN, 2_000_000), "missing cap_strike", id="between-cap"),
        pytest.param(mk(StrikeType.BETWEEN, cap=2_000_000), "missing floor_strike",
                     id="between-floor"),
        pytest.param(mk(StrikeType.BETWEEN, 2_500_000, 2_000_000),
                     "floor_strike above cap_strike", id="between-inverted"),
    ],
)
def test_no_quote(market: Market, reason: str) -> None:
    """Markets at the prediction or with unusable strikes get no side and a reason."""
    v = value_market(market, DIST)
    assert (v.outcome, v.true_value, v.reason) == (None, None, reason)


def test_between_with_p_on_boundary_is_yes() -> None:
    """'between' is inclusive, so a prediction equal to the floor picks YES."""
    v = value_market(mk(StrikeType.BETWEEN, P, 2_500_000), DIST)
    assert v.outcome is Outcome.YES


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(lambda d: d.prob_above(2), Fraction(1, 4), id="above"),
        pytest.param(lambda d: d.prob_above(2, inclusive=True), Fraction(3, 4), id="above-incl"),
        pytest.param(lambda d: d.prob_below(2), Fraction(1, 4), id="below"),
        pytest.param(lambda d: d.prob_below(2, inclusive=True), Fraction(3, 4), id="below-incl"),
        pytest.param(lambda d: d.prob_between(2, 2), Fraction(1, 2), id="between-point"),
        pytest.param(lambda d: d.prob_between(1, 3), Fraction(1), id="between-all"),
        pytest.param(lambda d: d.prob_between(3, 1), Fraction(0), id="between-empty"),
        pytest.param(lambda d: d.prob_above(0), Fraction(1), id="above-all"),
        pytest.param(lambda d: d.prob_above(3), Fraction(0), id="above-none"),
    ],
)
def test_explicit_outcomes_ties(query, expected: Fraction) -> None:
    """Explicit-outcome distributions count ties by the strict/inclusive flag."""
    dist = OutcomeDistribution.from_outcomes([3, 2, 1, 2])
    assert dist.prediction == 2
    assert query(dist) == expected


def test_ties_at_threshold_follow_the_seed() -> None:
    """A history error equal to K/P − 1 counts as 'not above' (the seed's strict >)."""
    k, p = 2_450_000.0, 2_400_000.0
    hist = ErrorHistory.from_pairs([(k, p), (2 * k, 2 * p), (2_600_000.0, p), (2_000_000.0, p)])
    dist = OutcomeDistribution(errors=hist.errors, prediction=p)
    assert dist.count_above(k) == 1
    assert dist.count_above(k, inclusive=True) == 3
    assert value_market(mk(StrikeType.GREATER, k), dist).true_value == Fraction(3, 4)


@pytest.mark.parametrize(
    ("pairs", "errors"),
    [
        pytest.param([(110.0, 100.0), (90.0, 100.0)], (90 / 100 - 1, 110 / 100 - 1), id="plain"),
        pytest.param([(110.0, None), (90.0, 100.0)], (90 / 100 - 1,), id="missing-prediction"),
        pytest.param([(110.0, math.nan), (100.0, 100.0)], (0.0,), id="nan-prediction"),
    ],
)
def test_error_history_from_pairs(pairs, errors) -> None:
    """Errors are actual / prediction − 1, sorted; rows without a prediction are ignored."""
    hist = ErrorHistory.from_pairs(pairs)
    assert hist.errors == errors
    assert hist.n == len(errors)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        pytest.param(lambda: ErrorHistory.from_pairs([]), "empty", id="history-empty"),
        pytest.param(lambda: ErrorHistory.from_pairs([(1.0, 0.0)]), "positive", id="pred-zero"),
        pytest.param(lambda: ErrorHistory.from_pairs([(math.inf, 1.0)]), "finite",
                     id="actual-inf"),
        pytest.param(lambda: OutcomeDistribution(errors=(), prediction=1.0), "empty",
                     id="dist-empty"),
        pytest.param(lambda: OutcomeDistribution(errors=(math.nan,), prediction=1.0), "NaN",
                     id="dist-nan"),
        pytest.param(lambda: OutcomeDistribution(errors=(0.0,), prediction=0.0), "prediction",
                     id="dist-zero-p"),
        pytest.param(lambda: OutcomeDistribution(errors=(0.0,), prediction=1.0, weight=0.0),
                     "weight", id="dist-zero-w"),
        pytest.param(lambda: OutcomeDistribution.from_outcomes([]), "empty", id="outcomes-empty"),
    ],
)
def test_invalid_distributions(build, match: str) -> None:
    """Empty, NaN or non-positive inputs are refused with ValueError."""
    with pytest.raises(ValueError, match=match):
        build()


def test_errors_are_sorted_on_construction() -> None:
    """Unsorted errors are sorted once when the distribution is built."""
    dist = OutcomeDistribution(errors=(0.1, -0.1, 0.0), prediction=1.0)
    assert dist.errors == (-0.1, 0.0, 0.1)


def seed_pandas(actual: list[float], pred: list[float | None], p: float, k: float):
    """The seed's filter, written plainly with pandas: (side, count, n) or None."""
    df = pd.DataFrame({"passengers_7_day_moving_average": actual, "prediction": pred})
    df = df.dropna(subset=["prediction"])
    df["error"] = df["passengers_7_day_moving_average"] / df["prediction"] - 1
    threshold = k / p - 1
    if p > k:
        return Outcome.YES, int((df["error"] > threshold).sum()), len(df)
    if p < k:
        return Outcome.NO, int((df["error"] <= threshold).sum()), len(df)
    return None


volumes = st.integers(min_value=1_500_000, max_value=3_000_000)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(volumes, st.one_of(st.none(), volumes)), min_size=1, max_size=60),
    p=volumes,
    strikes=st.lists(st.integers(min_value=1_800_000, max_value=2_900_000), min_size=1,
                     max_size=5),
)
def test_matches_pandas_seed(rows, p, strikes) -> None:
    """Side and true value equal a plain pandas reimplementation of the seed, ties included."""
    rows = list(rows)
    for k in strikes:
        rows.append((k, p))  # an error exactly at the threshold K/P − 1
        rows.append((2 * k, 2 * p))  # the same ratio from other numbers
    actual = [float(a) for a, _ in rows]
    pred = [None if q is None else float(q) for _, q in rows]
    hist = ErrorHistory.from_pairs(list(zip(actual, pred, strict=True)))
    dist = OutcomeDistribution(errors=hist.errors, prediction=float(p))
    for k in [*strikes, p]:
        expected = seed_pandas(actual, pred, float(p), float(k))
        got = value_market(mk(StrikeType.GREATER, float(k)), dist)
        if expected is None:
            assert got.outcome is None
        else:
            side, count, n = expected
            assert (got.outcome, got.true_value) == (side, Fraction(count, n))


def test_matches_pandas_seed_on_seeded_random_ladder() -> None:
    """A 2,000-row history and a 21-strike ladder agree with pandas market by market."""
    rng = random.Random(20260829)
    actual = [float(rng.randint(1_900_000, 2_900_000)) for _ in range(2000)]
    pred: list[float | None] = [
        None if rng.random() < 0.05 else a * rng.uniform(0.92, 1.08) for a in actual
    ]
    p = 2_437_512.5
    dist = OutcomeDistribution(
        errors=ErrorHistory.from_pairs(list(zip(actual, pred, strict=True))).errors, prediction=p
    )
    ladder = [mk(StrikeType.GREATER, 1_800_000 + 50_000 * i) for i in range(21)]
    for market, got in zip(ladder, value_markets(ladder, dist), strict=True):
        assert market.floor_strike is not None
        side, count, n = seed_pandas(actual, pred, p, market.floor_strike)
        assert (got.outcome, got.true_value) == (side, Fraction(count, n))


@settings(max_examples=100, deadline=None)
@given(
    errors=st.lists(st.floats(min_value=-0.5, max_value=0.5), min_size=1, max_size=40),
    p=st.floats(min_value=1e6, max_value=4e6),
    w=st.floats(min_value=0.5, max_value=20.0),
    ks=st.lists(st.floats(min_value=5e5, max_value=5e6), min_size=2, max_size=6),
    inclusive=st.booleans(),
)
def test_monotone_in_strike(errors, p, w, ks, inclusive) -> None:
    """P(X > K) never increases with K; above and below are exact complements."""
    dist = OutcomeDistribution(errors=tuple(errors), prediction=p, weight=w)
    ks = sorted(ks)
    above = [dist.prob_above(k, inclusive=inclusive) for k in ks]
    assert above == sorted(above, reverse=True)
    for k, a in zip(ks, above, strict=True):
        assert a + dist.prob_below(k, inclusive=not inclusive) == 1
        assert 0 <= a <= 1
    yes = [value_market(mk(StrikeType.GREATER, k), dist) for k in ks if k < p]
    values = [v.true_value for v in yes]
    assert values == sorted(values, reverse=True)  # type: ignore[type-var]


@settings(max_examples=100, deadline=None)
@given(
    errors=st.lists(st.floats(min_value=-0.5, max_value=0.5), min_size=1, max_size=40),
    w=st.floats(min_value=0.5, max_value=20.0),
    lo=st.floats(min_value=1e6, max_value=3e6),
    width=st.floats(min_value=0, max_value=1e6),
)
def test_between_equals_difference(errors, w, lo, width) -> None:
    """P(lo ≤ X ≤ hi) equals P(X ≥ lo) − P(X > hi)."""
    dist = OutcomeDistribution(errors=tuple(errors), prediction=2.4e6, weight=w)
    hi = lo + width
    assert dist.prob_between(lo, hi) == dist.prob_above(lo, inclusive=True) - dist.prob_above(hi)


def test_weight_one_is_the_seed_threshold() -> None:
    """With weight 1.0 the threshold (K/P − 1)·w is the seed's float K/P − 1 exactly."""
    k = 2_450_000.0
    dist = OutcomeDistribution(errors=(k / P - 1,), prediction=P, weight=1.0)
    assert dist.count_above(k) == 0 and dist.count_above(k, inclusive=True) == 1


def test_weight_shrinks_the_spread() -> None:
    """A larger weight narrows the distribution: an error of 0.07 with w=7 moves X by 1%."""
    dist = OutcomeDistribution(errors=(-0.07, 0.07), prediction=2_000_000, weight=7.0)
    assert dist.prob_above(2_019_000) == Fraction(1, 2)
    assert dist.prob_above(2_021_000) == 0


def test_from_history_and_reweighted_match_the_constructor():
    """The O(1) constructors answer exactly like the validating one."""
    from tsad.core.model import ErrorHistory, OutcomeDistribution

    hist = ErrorHistory.from_pairs([(2_400_000 * (1 + e / 100), 2_400_000) for e in range(-9, 10)])
    fast = OutcomeDistribution.from_history(hist, prediction=2_450_000.0)
    slow = OutcomeDistribution(errors=hist.errors, prediction=2_450_000.0)
    again = fast.reweighted(prediction=2_450_000.0, weight=1.4)
    slow_w = OutcomeDistribution(errors=hist.errors, prediction=2_450_000.0, weight=1.4)
    for k in range(2_200_000, 2_700_000, 25_000):
        assert fast.prob_above(k) == slow.prob_above(k)
        assert again.prob_above(k) == slow_w.prob_above(k)
    with pytest.raises(ValueError, match="explicit-outcome"):
        OutcomeDistribution.from_outcomes([1.0, 2.0]).reweighted(prediction=1.0, weight=1.0)
    with pytest.raises(ValueError, match="prediction"):
        OutcomeDistribution.from_history(hist, prediction=0.0)
