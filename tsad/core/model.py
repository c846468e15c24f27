"""The pricing model: an outcome distribution of the weekly average and each market's true value.

The seed's method (DESIGN.md §2), made exact:

* error history ``e_i = actual_i / prediction_i - 1`` (Python floats, computed exactly like
  that, so counts match a float/pandas reimplementation bit for bit);
* with prediction ``P`` and error weight ``w`` the weekly average is ``P·(1 + e/w)``, so it
  exceeds ``K`` iff ``e > (K / P - 1) * w``; with ``w == 1.0`` this is the seed's
  ``e > K/P - 1``;
* probabilities are exact ``Fraction(count, n)`` found by binary search on the sorted
  errors: O(log n) per strike after one sort, no pandas on this path.

Strike semantics (Kalshi ``strike_type``; ``X`` is the weekly average):
``greater`` X > floor, ``greater_or_equal`` X ≥ floor, ``less`` X < cap,
``less_or_equal`` X ≤ cap, ``between`` floor ≤ X ≤ cap (inclusive at both ends).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from heapq import merge
from typing import assert_never

from tsad.core.market import Market, Outcome, StrikeType, Valuation


__all__ = [
    "MIN_HISTORY",
    "RECENT_WEEKS",
    "SPREAD_LIMITS",
    "ErrorHistory",
    "OutcomeDistribution",
    "spread_ratio",
    "value_market",
    "value_markets",
]


MIN_HISTORY = 20
"""Fewest past errors a distribution may be priced from (below it, a share is too coarse)."""

Stratum = tuple[int, bool]
"""``(known days 0–6, holiday week)``: the information state an error was made in."""


def _sorted_finite(values: Iterable[float], what: str) -> tuple[float, ...]:
    """Return ``values`` as a sorted tuple of floats, refusing NaN, infinities and emptiness."""
    out = tuple(sorted(float(v) for v in values))
    if not out:
        raise ValueError(f"{what} is empty")
    if not (math.isfinite(out[0]) and math.isfinite(out[-1])) or any(map(math.isnan, out)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return out


RECENT_WEEKS = 52
"""How many of the latest weekly errors set the spread (`spread_ratio`)."""

SPREAD_LIMITS = (0.5, 1.5)
"""The spread ratio is clipped to this range."""


def spread_ratio(errors_by_week: Sequence[float], recent: int = RECENT_WEEKS) -> float:
    """Return the mean absolute error of the latest ``recent`` weeks over the whole list's.

    ``errors_by_week`` is in week order. The history gives the distribution's shape; its
    last year says how wide it runs now (forecasts get better or worse by regime). Clipped
    to `SPREAD_LIMITS`; 1 when the list is no longer than ``recent`` or has no error.
    """
    if len(errors_by_week) <= recent:
        return 1.0
    whole = math.fsum(abs(e) for e in errors_by_week) / len(errors_by_week)
    if not whole > 0:
        return 1.0
    latest = math.fsum(abs(e) for e in errors_by_week[-recent:]) / recent
    lo, hi = SPREAD_LIMITS
    return min(max(latest / whole, lo), hi)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorHistory:
    """Past relative forecast errors, sorted ascending, optionally by information state.

    Attributes:
        errors: whole-week errors ``actual / prediction - 1`` of forecasts made at Monday
            open (the seed's single history; what the ``seed`` hook prices with).
        strata: errors of the *unknown rest* of the week, ``(7A - S) / (7P - S) - 1`` with
            ``S`` the known days' sum, by ``(known days, holiday week)``; empty for a
            history that does not record its state (the seed's ``lagged_tsa_data.csv``).
            In state 0 (``S = 0``) a stratum's error is the whole-week error.
        spread_scale: how large the latest errors run against the whole history's
            (`spread_ratio`); 1 for a history without dated weeks.
    """

    errors: tuple[float, ...]
    strata: Mapping[Stratum, tuple[float, ...]] = field(default_factory=dict)
    spread_scale: float = 1.0
    _pooled: dict[int, tuple[float, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.spread_scale) and self.spread_scale > 0):
            raise ValueError(f"spread_scale must be a positive number, got {self.spread_scale}")
        object.__setattr__(self, "errors", _sorted_finite(self.errors, "error history"))
        strata = {
            key: _sorted_finite(values, f"error history (known days {key[0]})")
            for key, values in sorted(self.strata.items())
        }
        object.__setattr__(self, "strata", strata)
        pooled: dict[int, tuple[float, ...]] = {}
        for (known, _holiday), values in strata.items():
            pooled[known] = tuple(merge(pooled.get(known, ()), values))
        object.__setattr__(self, "_pooled", pooled)

    @property
    def states(self) -> tuple[int, ...]:
        """The known-days states this history has errors for (empty: it records none)."""
        return tuple(sorted(self._pooled))

    def stratum(
        self, known: int, holiday: bool, *, minimum: int = MIN_HISTORY
    ) -> tuple[float, ...]:
        """Return the sorted errors of the unknown days for a state, in O(1).

        The ``(known, holiday)`` stratum when it has ``minimum`` errors, else every error
        of that state (holiday and not) when those have ``minimum``.

        Raises:
            ValueError: the history records no states, or too few errors for this one
                (the message names the state, the count and the minimum).
        """
        if not self.strata:
            raise ValueError("the error history records no information state")
        exact = self.strata.get((known, holiday), ())
        if len(exact) >= minimum:
            return exact
        pooled = self._pooled.get(known, ())
        if len(pooled) >= minimum:
            return pooled
        have = ", ".join(str(k) for k in self.states) or "none"
        raise ValueError(
            f"the error history has {len(pooled)} errors for {known} known days "
            f"(states present: {have}); at least {minimum} are needed to price"
        )

    @property
    def n(self) -> int:
        """The number of errors in the history."""
        return len(self.errors)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[float, float | None]]) -> ErrorHistory:
        """Build the history from ``(actual 7-day average, prediction)`` pairs.

        Pairs whose prediction is None or NaN are ignored (the seed drops rows with no
        prediction). Each error is computed as ``actual / prediction - 1`` in floats.

        Args:
            pairs: ``(actual, prediction)`` pairs.

        Returns:
            The sorted error history.

        Raises:
            ValueError: a non-finite actual, a non-positive prediction, or no usable pair.
        """
        errors = []
        for actual, prediction in pairs:
            if prediction is None or math.isnan(prediction):
                continue
            if not math.isfinite(prediction) or prediction <= 0:
                raise ValueError(f"prediction must be a positive number, got {prediction!r}")
            if not math.isfinite(actual):
                raise ValueError(f"actual must be a finite number, got {actual!r}")
            errors.append(actual / prediction - 1)
        return cls(errors=tuple(errors))


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeDistribution:
    """An empirical distribution of the weekly average ``X``, each sample equally likely.

    Two forms answer the same questions in O(log n):

    * error form (the constructor): ``X_i = prediction · (1 + errors_i / weight)``; queries
      compare errors with the threshold ``(k / prediction - 1) * weight``, so ``weight=1.0``
      reproduces the seed's floats exactly;
    * outcome form (``from_outcomes``): an explicit sorted list of possible weekly averages,
      for hooks that model the week another way.

    ``prediction`` is the point forecast used to choose a market's side.
    """

    errors: tuple[float, ...]
    prediction: float
    weight: float = 1.0
    outcomes: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_scale(self.prediction, self.weight)
        if self.outcomes is None:
            object.__setattr__(self, "errors", _sorted_finite(self.errors, "error distribution"))
        else:
            object.__setattr__(self, "outcomes", _sorted_finite(self.outcomes, "outcomes"))

    @classmethod
    def from_history(
        cls, history: ErrorHistory, *, prediction: float, weight: float = 1.0
    ) -> OutcomeDistribution:
        """Build the error form around ``prediction`` in O(1): the history is already sorted.

        This is the per-update path (a new prediction, a new known day): nothing is copied or
        sorted again.

        Raises:
            ValueError: a non-positive or non-finite prediction or weight.
        """
        return cls._sorted(history.errors, prediction=prediction, weight=weight)

    @classmethod
    def from_sorted_errors(
        cls, errors: tuple[float, ...], *, prediction: float, weight: float = 1.0
    ) -> OutcomeDistribution:
        """Build the error form from errors already sorted and finite (a history's stratum).

        O(1): nothing is copied or checked but the scale.

        Raises:
            ValueError: empty errors, a non-positive or non-finite prediction or weight.
        """
        if not errors:
            raise ValueError("error distribution is empty")
        return cls._sorted(errors, prediction=prediction, weight=weight)

    def reweighted(self, *, prediction: float, weight: float) -> OutcomeDistribution:
        """Return the same errors around another prediction and weight, in O(1).

        Raises:
            ValueError: this is an explicit-outcome distribution, or a bad prediction/weight.
        """
        if self.outcomes is not None:
            raise ValueError("an explicit-outcome distribution has no errors to reweight")
        return self._sorted(self.errors, prediction=prediction, weight=weight)

    @classmethod
    def _sorted(
        cls, errors: tuple[float, ...], *, prediction: float, weight: float
    ) -> OutcomeDistribution:
        """Construct from errors known to be sorted and finite, skipping the O(n) checks."""
        _check_scale(prediction, weight)
        dist = object.__new__(cls)
        object.__setattr__(dist, "errors", errors)
        object.__setattr__(dist, "prediction", prediction)
        object.__setattr__(dist, "weight", weight)
        object.__setattr__(dist, "outcomes", None)
        return dist

    @classmethod
    def from_outcomes(
        cls, outcomes: Iterable[float], *, prediction: float | None = None
    ) -> OutcomeDistribution:
        """Build a distribution from explicit, equally likely weekly averages.

        Args:
            outcomes: the possible weekly averages (sorted here if they are not).
            prediction: the point forecast for side selection; defaults to their mean.

        Raises:
            ValueError: empty, NaN or infinite outcomes; a non-positive prediction.
        """
        values = _sorted_finite(outcomes, "outcomes")
        if prediction is None:
            prediction = math.fsum(values) / len(values)
        return cls(errors=(), prediction=prediction, outcomes=values)

    @property
    def n(self) -> int:
        """The number of equally likely samples."""
        return len(self.errors) if self.outcomes is None else len(self.outcomes)

    def count_above(self, k: float, *, inclusive: bool = False) -> int:
        """Return how many samples have ``X > k`` (``X ≥ k`` when ``inclusive``)."""
        if self.outcomes is None:
            values, key = self.errors, (k / self.prediction - 1) * self.weight
        else:
            values, key = self.outcomes, k
        cut = bisect_left(values, key) if inclusive else bisect_right(values, key)
        return len(values) - cut

    def prob_above(self, k: float, *, inclusive: bool = False) -> Fraction:
        """Return P(X > k), or P(X ≥ k) when ``inclusive``, as an exact fraction."""
        return _share(self.count_above(k, inclusive=inclusive), self.n)

    def prob_below(self, k: float, *, inclusive: bool = False) -> Fraction:
        """Return P(X < k), or P(X ≤ k) when ``inclusive``: the complement of ``prob_above``."""
        n = self.n
        return _share(n - self.count_above(k, inclusive=not inclusive), n)

    def prob_between(self, lo: float, hi: float) -> Fraction:
        """Return P(lo ≤ X ≤ hi), inclusive at both ends (zero when ``lo > hi``)."""
        count = self.count_above(lo, inclusive=True) - self.count_above(hi)
        return Fraction(max(count, 0), self.n)


def _check_scale(prediction: float, weight: float) -> None:
    if not (math.isfinite(prediction) and prediction > 0):
        raise ValueError(f"prediction must be a positive number, got {prediction!r}")
    if not (math.isfinite(weight) and weight > 0):
        raise ValueError(f"weight must be a positive number, got {weight!r}")


def _no_quote(market: Market, reason: str) -> Valuation:
    return Valuation(ticker=market.ticker, outcome=None, true_value=None, reason=reason)


def _strike(value: float | None) -> float | None:
    """Return a usable strike or None (missing, NaN or infinite)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def value_market(market: Market, dist: OutcomeDistribution) -> Valuation:
    """Choose the leg to buy in ``market`` and its exact probability of paying out.

    Side selection follows the point forecast ``P = dist.prediction``:

    * ``greater``/``greater_or_equal`` (strike ``K = floor_strike``): YES iff P > K, NO iff
      P < K, no quote iff P == K (the seed's rule, unchanged);
    * ``less``/``less_or_equal`` (``K = cap_strike``): YES iff P < K, NO iff P > K, no quote
      iff P == K;
    * ``between``: YES iff floor ≤ P ≤ cap, else NO.

    The true value is the probability of the chosen leg under ``dist``.

    Args:
        market: the market; its strikes come from ``floor_strike``/``cap_strike`` only.
        dist: the outcome distribution of the weekly average.

    Returns:
        A Valuation; ``outcome`` None with a ``reason`` when there is nothing to quote.
    """
    p = dist.prediction
    st = market.strike_type
    if st in (StrikeType.GREATER, StrikeType.GREATER_OR_EQUAL):
        k = _strike(market.floor_strike)
        if k is None:
            return _no_quote(market, "missing floor_strike")
        inclusive = st is StrikeType.GREATER_OR_EQUAL
        if p == k:
            return _no_quote(market, "prediction equals strike")
        if p > k:
            yes = dist.prob_above(k, inclusive=inclusive)
            return Valuation(ticker=market.ticker, outcome=Outcome.YES, true_value=yes)
        no = dist.prob_below(k, inclusive=not inclusive)
        return Valuation(ticker=market.ticker, outcome=Outcome.NO, true_value=no)
    if st in (StrikeType.LESS, StrikeType.LESS_OR_EQUAL):
        k = _strike(market.cap_strike)
        if k is None:
            return _no_quote(market, "missing cap_strike")
        inclusive = st is StrikeType.LESS_OR_EQUAL
        if p == k:
            return _no_quote(market, "prediction equals strike")
        if p < k:
            yes = dist.prob_below(k, inclusive=inclusive)
            return Valuation(ticker=market.ticker, outcome=Outcome.YES, true_value=yes)
        no = dist.prob_above(k, inclusive=not inclusive)
        return Valuation(ticker=market.ticker, outcome=Outcome.NO, true_value=no)
    if st is StrikeType.BETWEEN:  # inclusive at both ends (Kalshi's 'between')
        lo, hi = _strike(market.floor_strike), _strike(market.cap_strike)
        if lo is None or hi is None:
            missing = "floor_strike" if lo is None else "cap_strike"
            return _no_quote(market, f"missing {missing}")
        if lo > hi:
            return _no_quote(market, "floor_strike above cap_strike")
        inside = dist.prob_between(lo, hi)
        if lo <= p <= hi:
            return Valuation(ticker=market.ticker, outcome=Outcome.YES, true_value=inside)
        return Valuation(ticker=market.ticker, outcome=Outcome.NO, true_value=1 - inside)
    assert_never(st)


def value_markets(markets: Sequence[Market], dist: OutcomeDistribution) -> list[Valuation]:
    """Value every market of an event with one distribution (see ``value_market``).

    The weekly ladder (``greater`` strikes, error form) takes an inlined path that computes
    exactly what ``value_market`` does — the same float threshold, the same bisect — without
    its per-market dispatch; everything else goes through ``value_market``.
    """
    if dist.outcomes is not None:
        return [value_market(m, dist) for m in markets]
    errors, p, w, n = dist.errors, dist.prediction, dist.weight, len(dist.errors)
    out: list[Valuation] = []
    add, valuation, greater = out.append, _valuation, StrikeType.GREATER
    for m in markets:
        k = m.floor_strike
        if m.strike_type is not greater or k is None or not math.isfinite(k) or p == k:
            add(value_market(m, dist))
            continue
        below = bisect_right(errors, (float(k) / p - 1) * w)  # errors with X ≤ k
        add(valuation(m.ticker, True, n - below, n) if p > k else
            valuation(m.ticker, False, below, n))
    return out


@lru_cache(maxsize=1 << 16)
def _valuation(ticker: str, yes: bool, count: int, n: int) -> Valuation:
    """Return the (immutable, hence shareable) valuation of a leg worth ``count / n``."""
    return Valuation(ticker=ticker, outcome=Outcome.YES if yes else Outcome.NO,
                     true_value=_share(count, n))


@lru_cache(maxsize=1 << 16)
def _share(count: int, n: int) -> Fraction:
    """Return ``count / n`` exactly; cached, as the same few shares recur on every update."""
    return Fraction(count, n)
