"""Tests for mid-week hooks: built-ins, resolution by name or dotted path, and chaining."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from tsad.core.midweek import (
    BUILTIN_HOOKS,
    NamedHook,
    WeekContext,
    apply_hooks,
    known_days,
    realized_days,
    resolve_hooks,
    seed,
    value_week,
)
from tsad.core.model import ErrorHistory, OutcomeDistribution, spread_ratio
from tsad.core.tickers import event_dates
from tsad.errors import ConfigError, HookError


EVENT = "KXTSAW-26NOV29"
DATES = event_dates(EVENT)
P = 2_400_000.0
HISTORY = ErrorHistory(errors=(-0.07, 0.0, 0.07) * 7)  # 21 errors: at least MIN_HISTORY
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def ctx(known: Mapping[date, int] | None = None, prediction: float = P) -> WeekContext:
    return WeekContext(
        event_ticker=EVENT,
        dates=DATES,
        now=NOW,
        known=dict(known or {}),
        prediction=prediction,
        history=HISTORY,
    )


def seed_dist(c: WeekContext) -> OutcomeDistribution:
    return OutcomeDistribution(errors=c.history.errors, prediction=c.prediction)


def test_seed_returns_its_input() -> None:
    """The seed hook changes nothing."""
    c = ctx()
    d = seed_dist(c)
    assert seed(c, d) is d


def test_realized_days_with_no_known_day_is_the_seed() -> None:
    """With nothing known the weight is exactly 1.0: identical to the seed distribution."""
    c = ctx()
    d = realized_days(c, seed_dist(c))
    assert d == seed_dist(c)
    assert d.weight == 1.0


def test_realized_days_takes_the_spread_of_the_latest_year() -> None:
    """A history whose latest errors run at half its overall size prices Monday open
    with the same errors at half the spread (and the seed hook does not)."""
    c = ctx()
    narrow = WeekContext(event_ticker=EVENT, dates=DATES, now=NOW, known={}, prediction=P,
                         history=ErrorHistory(errors=HISTORY.errors, spread_scale=0.5))
    d = realized_days(narrow, seed_dist(c))
    assert d.weight == 2.0
    assert d.prob_above(P * 1.034) == Fraction(1, 3)  # the +7 % errors now reach +3.5 %
    assert d.prob_above(P * 1.036) == 0
    assert seed(narrow, seed_dist(c)).weight == 1.0


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        pytest.param([0.02] * 52 + [0.01] * 52, 0.01 / 0.015, id="latest-year-half-as-large"),
        pytest.param([0.01] * 60 + [-0.04] * 52, 1.5, id="clipped-above"),
        pytest.param([0.05] * 60 + [0.0] * 52, 0.5, id="clipped-below"),
        pytest.param([0.03] * 52, 1.0, id="no-longer-than-a-year"),
        pytest.param([0.0] * 80, 1.0, id="no-error-at-all"),
    ],
)
def test_spread_ratio(errors: list[float], expected: float) -> None:
    """Mean absolute error of the latest 52 weeks over the whole list's, clipped."""
    assert spread_ratio(errors) == pytest.approx(expected)


def test_realized_days_with_four_known_days() -> None:
    """Four known days scale the error to the three remaining days: P ± R·e/7."""
    c = ctx({d: 2_300_000 for d in DATES[:4]})
    d = realized_days(c, seed_dist(c))
    # R = 7·2.4M − 9.2M = 7.6M; averages 2.4M + 7.6M·e/7 = 2,324,000 / 2,400,000 / 2,476,000
    assert d.prediction == P
    assert d.weight == 7 * P / 7_600_000
    assert d.prob_above(2_475_000) == Fraction(1, 3)
    assert d.prob_above(2_477_000) == 0
    assert d.prob_above(2_323_000) == 1
    assert d.prob_above(2_325_000) == Fraction(2, 3)


def test_realized_days_with_all_days_known() -> None:
    """Seven known days collapse the distribution to the known average."""
    known = {d: 2_300_000 for d in DATES}
    known[DATES[0]] += 7  # average 2,300,001
    c = ctx(known)
    d = realized_days(c, seed_dist(c))
    assert d.outcomes == (2_300_001.0,)
    assert d.prediction == 2_300_001.0
    assert d.prob_above(2_300_000) == 1
    assert d.prob_above(2_300_001) == 0


def test_realized_days_ignores_days_outside_the_week() -> None:
    """Known numbers for dates outside the event's week do not count."""
    c = ctx({date(2026, 11, 22): 3_000_000})
    assert realized_days(c, seed_dist(c)) == seed_dist(c)


@pytest.mark.parametrize(
    ("known", "dist"),
    [
        pytest.param({d: 4_200_000 for d in DATES[:4]}, None, id="remaining-zero"),
        pytest.param({d: 4_500_000 for d in DATES[:5]}, None, id="remaining-negative"),
        pytest.param({}, OutcomeDistribution.from_outcomes([2.4e6]), id="explicit-outcomes"),
    ],
)
def test_realized_days_refuses(known, dist) -> None:
    """R ≤ 0 or an explicit-outcome input raise HookError."""
    c = ctx(known)
    with pytest.raises(HookError):
        realized_days(c, dist or seed_dist(c))


@pytest.mark.parametrize(
    ("actuals", "now", "expected"),
    [
        pytest.param({}, NOW, {}, id="none"),
        pytest.param(
            {date(2026, 11, 22): 2_000_000, date(2026, 11, 23): 2_100_000},
            NOW,
            {date(2026, 11, 23): 2_100_000},
            id="previous-week-excluded",
        ),
        pytest.param(
            {date(2026, 11, 26): 1_600_000, date(2026, 11, 28): 2_600_000},
            NOW,
            {date(2026, 11, 26): 1_600_000},
            id="after-now-excluded",
        ),
        # 2026-11-28 03:00 UTC is still Friday 2026-11-27 in New York: Thursday is the last
        # day out (Friday's number comes with Monday's release).
        pytest.param(
            {date(2026, 11, 26): 2_000_000, date(2026, 11, 27): 2_600_000},
            datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
            {date(2026, 11, 26): 2_000_000},
            id="et-date-not-utc",
        ),
        # Friday 08:30 ET: Thursday's number is not out until 09:00.
        pytest.param(
            {date(2026, 11, 25): 2_000_000, date(2026, 11, 26): 1_600_000},
            datetime(2026, 11, 27, 13, 30, tzinfo=UTC),
            {date(2026, 11, 25): 2_000_000},
            id="before-release",
        ),
        # Sunday: no weekend release, so Thursday is still the last day known.
        pytest.param(
            {d: 2_000_000 for d in DATES[:6]},
            datetime(2026, 11, 29, 18, 0, tzinfo=UTC),
            {d: 2_000_000 for d in DATES[:4]},
            id="weekend-no-release",
        ),
        pytest.param(
            {d: 2_000_000 for d in DATES},
            datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
            {d: 2_000_000 for d in DATES},
            id="whole-week-after",
        ),
    ],
)
def test_known_days(actuals, now: datetime, expected) -> None:
    """Known days are this week's actuals that TSA had published by now."""
    assert known_days(actuals, DATES, now) == expected


def test_known_days_needs_aware_now() -> None:
    """A naive now is refused."""
    with pytest.raises(ValueError, match="aware"):
        known_days({}, DATES, datetime(2026, 11, 27))


@pytest.fixture(name="hook_module")
def _hook_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real module file on sys.path holding custom hooks; returns its name."""
    name = f"custom_hooks_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from tsad.core.model import OutcomeDistribution

            def widen(ctx, dist):
                return OutcomeDistribution(
                    errors=dist.errors, prediction=dist.prediction, weight=dist.weight / 2
                )

            def explode(ctx, dist):
                raise RuntimeError("boom")

            def wrong(ctx, dist):
                return [1, 2, 3]

            def point(ctx, dist):
                return OutcomeDistribution.from_outcomes([2_000_000.0])

            class Holder:
                @staticmethod
                def nested(ctx, dist):
                    return dist

            NOT_CALLABLE = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_resolve_builtins_in_order() -> None:
    """Built-in names resolve to their functions, keeping the configured order."""
    hooks = resolve_hooks(["realized_days", "seed"])
    assert [h.name for h in hooks] == ["realized_days", "seed"]
    assert [h.hook for h in hooks] == [BUILTIN_HOOKS["realized_days"], BUILTIN_HOOKS["seed"]]


def test_resolve_dotted_paths(hook_module: str) -> None:
    """Dotted paths import the named function, including attributes of objects."""
    hooks = resolve_hooks([f"{hook_module}:widen", f"{hook_module}:Holder.nested"])
    assert [h.name for h in hooks] == [f"{hook_module}:widen", f"{hook_module}:Holder.nested"]
    assert all(callable(h.hook) for h in hooks)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        pytest.param("sead", r"unknown hook 'sead'.*realized_days, seed", id="unknown"),
        pytest.param("nonexistent_mod_xyz:f", "cannot import", id="no-module"),
        pytest.param("{mod}:missing", "has no 'missing'", id="no-attr"),
        pytest.param("{mod}:NOT_CALLABLE", "not callable", id="not-callable"),
        pytest.param("{mod}:", "dotted path", id="empty-attr"),
        pytest.param(":widen", "dotted path", id="empty-module"),
    ],
)
def test_resolve_errors(hook_module: str, name: str, match: str) -> None:
    """Unresolvable hook names are ConfigErrors naming the hook."""
    with pytest.raises(ConfigError, match=match):
        resolve_hooks([name.format(mod=hook_module)])


def test_apply_no_hooks_gives_the_seed_distribution() -> None:
    """With no hooks configured the seed distribution is used."""
    c = ctx()
    assert apply_hooks(c, ()) == seed_dist(c)


def test_apply_hooks_chains_in_order(hook_module: str) -> None:
    """Each hook receives the previous one's output."""
    c = ctx({d: 2_300_000 for d in DATES[:4]})
    widen_then_realized = apply_hooks(c, resolve_hooks([f"{hook_module}:widen", "realized_days"]))
    assert widen_then_realized.weight == 0.5 * (7 * P / 7_600_000)
    point_last = apply_hooks(c, resolve_hooks(["realized_days", f"{hook_module}:point"]))
    assert point_last.outcomes == (2_000_000.0,)


@pytest.mark.parametrize(
    ("attr", "match"),
    [
        pytest.param("explode", r"failed: RuntimeError: boom", id="raises"),
        pytest.param("wrong", r"failed: returned list", id="wrong-type"),
    ],
)
def test_apply_hooks_wraps_failures(hook_module: str, attr: str, match: str) -> None:
    """A failing or misbehaving hook becomes a HookError naming it."""
    name = f"{hook_module}:{attr}"
    with pytest.raises(HookError, match=f"hook '{name}' {match}"):
        apply_hooks(ctx(), resolve_hooks(["seed", name]))


def test_apply_hooks_wraps_builtin_refusal() -> None:
    """realized_days refusing (R ≤ 0) surfaces as a HookError naming it."""
    c = ctx({d: 4_200_000 for d in DATES[:4]})
    with pytest.raises(HookError, match="hook 'realized_days' failed"):
        apply_hooks(c, resolve_hooks(["realized_days"]))


def test_named_hook_accepts_plain_functions() -> None:
    """Any function with the hook signature can be named and applied."""

    def shift(c: WeekContext, d: OutcomeDistribution, /) -> OutcomeDistribution:
        return OutcomeDistribution.from_outcomes([c.prediction + 1])

    dist = apply_hooks(ctx(), [NamedHook(name="shift", hook=shift)])
    assert dist.outcomes == (P + 1,)


def test_value_week_refuses_stale_actuals() -> None:
    """Actuals through Thu 2026-11-19 used on Fri 2026-11-27 15:00 UTC: the valuation raises
    InputError naming the published days the file lacks (the engine pulls its quotes)."""
    from tsad.errors import InputError

    stale = {date(2026, 11, 19) - timedelta(days=i): 2_400_000 for i in range(30)}
    with pytest.raises(InputError, match="stale") as info:
        value_week(EVENT, [], now=NOW, prediction=P, history=HISTORY, actuals=stale,
                   hooks=resolve_hooks(["realized_days"]))
    for day in ("2026-11-22", "2026-11-23", "2026-11-25"):
        assert day in str(info.value)
    fresh = {d: 2_400_000 for d in DATES[:4]} | stale | {date(2026, 11, 22): 2_400_000}
    assert value_week(EVENT, [], now=NOW, prediction=P, history=HISTORY, actuals=fresh,
                      hooks=resolve_hooks(["realized_days"])) == []
