"""Mid-week adjustment hooks: the week context, the hook protocol, built-ins and their chaining.

A hook receives the week's context and the distribution produced so far and returns the
distribution used for pricing (DESIGN.md §2). Hooks run in the configured order; the first
receives the seed distribution ``OutcomeDistribution(errors=history.errors, prediction=P)``.

Built-ins:

* ``seed``: no adjustment (the seed's original method, for comparison and backtests);
* ``realized_days``: known days of the week enter as actuals and only the remaining days
  carry forecast error: the Monday-open errors scaled to the unknown days;
* ``state_errors``: the same, with the errors the forecaster made for the unknown days in
  the week's own information state (known days, holiday week).

Stale inputs are refused, never priced as fresh: ``value_week`` raises ``InputError``
naming the days TSA has already published (``published_through``) that the actuals lack.

Custom hooks are dotted paths ``pkg.mod:func``; importing them (``load_hook``) is the one
side effect this module allows.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Protocol

from tsad.core.holidays import is_holiday_week
from tsad.core.market import Market, Valuation
from tsad.core.model import MIN_HISTORY, ErrorHistory, OutcomeDistribution, value_markets
from tsad.core.tickers import ET, event_dates
from tsad.errors import ConfigError, HookError, InputError


__all__ = [
    "BUILTIN_HOOKS",
    "RELEASE_TIME",
    "STALE_GRACE",
    "Hook",
    "NamedHook",
    "WeekContext",
    "apply_hooks",
    "format_days",
    "known_days",
    "load_hook",
    "missing_published",
    "published_through",
    "realized_days",
    "resolve_hooks",
    "seed",
    "seed_distribution",
    "state_errors",
    "value_week",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekContext:
    """Everything a hook may use about the week being priced.

    Attributes:
        event_ticker: the week's event (``KXTSAW-26NOV29``).
        dates: the seven dates Monday … Sunday whose average settles the event.
        now: the aware time of the decision.
        known: actual daily numbers of this week known at ``now`` (see ``known_days``).
        prediction: the forecaster's prediction ``P`` of the week's average.
        history: the forecaster's error history.
        holiday: whether the week is a holiday week (``holidays.is_holiday_week``).
    """

    event_ticker: str
    dates: tuple[date, ...]
    now: datetime
    known: Mapping[date, int]
    prediction: float
    history: ErrorHistory
    holiday: bool = False


class Hook(Protocol):
    """A mid-week hook: turns the distribution so far into the one used for pricing."""

    def __call__(self, ctx: WeekContext, dist: OutcomeDistribution, /) -> OutcomeDistribution:
        """Return the adjusted distribution of the weekly average."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedHook:
    """A hook with the name it was configured under (used in errors and logs)."""

    name: str
    hook: Hook


def seed(ctx: WeekContext, dist: OutcomeDistribution, /) -> OutcomeDistribution:
    """Return ``dist`` unchanged: the seed's method, with no mid-week adjustment."""
    return dist


def _all_known(ctx: WeekContext) -> OutcomeDistribution | None:
    """Return the distribution collapsed to the known average once every day is known."""
    if any(d not in ctx.known for d in ctx.dates):
        return None
    average = sum(ctx.known[d] for d in ctx.dates) / len(ctx.dates)
    return OutcomeDistribution.from_outcomes([average], prediction=average)


def _remaining(ctx: WeekContext, dist: OutcomeDistribution, hook: str) -> float:
    """Return ``R = 7P - known sum``, the unknown days' forecast total, for ``hook``.

    Raises:
        HookError: ``R ≤ 0``, or ``dist`` is an explicit-outcome distribution.
    """
    p = ctx.prediction
    remaining = 7 * p - sum(ctx.known[d] for d in ctx.dates if d in ctx.known)
    if not remaining > 0:
        unknown = sum(1 for d in ctx.dates if d not in ctx.known)
        raise HookError(
            f"prediction {p} leaves no room for the {unknown} unknown days: "
            f"7P - known sum = {remaining} ≤ 0"
        )
    if dist.outcomes is not None:
        raise HookError(f"{hook} needs an error distribution, got explicit outcomes")
    return remaining


def realized_days(ctx: WeekContext, dist: OutcomeDistribution, /) -> OutcomeDistribution:
    """Let the known days enter as actuals; scale the error to the unknown rest of the week.

    The forecaster's ``P`` already includes the known days, so the remaining days'
    forecast is ``R = 7P - known_sum`` and the average is ``P + R·e/7``, i.e. errors ``e``
    of the remaining days with weight ``w = 7P / R`` (multiplied into any weight a previous
    hook set). With all seven known the distribution collapses to the known average.

    The errors are the history's Monday-open (state 0) errors only — a history that
    records states gives just those rows here, never a mix of states. Pricing each state
    with its own errors instead is the ``state_errors`` hook; on the walk-forward
    backtest the scaled Monday-open errors scored better at every state.

    Their spread is also scaled by the history's ``spread_scale``: the whole history gives
    the shape, its latest year how wide errors run now (`model.spread_ratio`). On the
    2023–2024 walk-forward this lowered the Brier score at Monday open, where the hook
    would otherwise be the seed's own distribution, and at most states after.

    Raises:
        HookError: ``R ≤ 0``, or ``dist`` is an explicit-outcome distribution.
    """
    done = _all_known(ctx)
    if done is not None:
        return done
    p = ctx.prediction
    remaining = _remaining(ctx, dist, "realized_days")
    return dist.reweighted(prediction=p, weight=dist.weight * (7 * p / remaining)
                           / ctx.history.spread_scale)


def state_errors(ctx: WeekContext, dist: OutcomeDistribution, /) -> OutcomeDistribution:
    """Like ``realized_days``, but with the errors of the week's own information state.

    Uses the history's errors of the unknown days made with ``len(known)`` days known in a
    week of the same holiday flag (``ErrorHistory.stratum``), weight ``7P / R``. Kept as an
    option: on the 2023–2024 walk-forward it scored worse than ``realized_days`` (smaller
    samples per state; see ``bench/forecast.py``).

    Raises:
        HookError: as ``realized_days``, or the history records no states or too few
            errors for this one (the message names the minimum).
    """
    done = _all_known(ctx)
    if done is not None:
        return done
    p = ctx.prediction
    weight = dist.weight * (7 * p / _remaining(ctx, dist, "state_errors"))
    known = sum(1 for d in ctx.dates if d in ctx.known)
    try:
        errors = ctx.history.stratum(known, ctx.holiday)
    except ValueError as exc:
        raise HookError(f"{exc}; rebuild it with `tsad forecast --history-out`") from None
    return OutcomeDistribution.from_sorted_errors(errors, prediction=p, weight=weight)


BUILTIN_HOOKS: Final[Mapping[str, Hook]] = {
    "seed": seed, "realized_days": realized_days, "state_errors": state_errors,
}


def load_hook(path: str) -> Hook:
    """Import a custom hook given as ``pkg.mod:func`` (or ``pkg.mod:Obj.attr``).

    This import is the only side effect of the pure core; it runs when the config is
    resolved, not when prices are computed.

    Raises:
        ConfigError: malformed path, import failure, missing attribute, or not callable.
    """
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise ConfigError(f"hook {path!r} is not a dotted path like 'pkg.mod:func'")
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"hook {path!r}: cannot import {module_name!r}: {exc}") from exc
    for attr in qualname.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ConfigError(f"hook {path!r}: {module_name!r} has no {qualname!r}") from None
    if not callable(obj):
        raise ConfigError(f"hook {path!r} is not callable")
    hook: Hook = obj
    return hook


def resolve_hooks(names: Sequence[str]) -> tuple[NamedHook, ...]:
    """Resolve configured hook names, in order, to callables.

    Args:
        names: built-in names (``seed``, ``realized_days``) or dotted paths ``pkg.mod:func``.

    Raises:
        ConfigError: an unknown name (the message lists the built-ins) or an unloadable path.
    """
    out = []
    for name in names:
        if name in BUILTIN_HOOKS:
            out.append(NamedHook(name=name, hook=BUILTIN_HOOKS[name]))
        elif ":" in name:
            out.append(NamedHook(name=name, hook=load_hook(name)))
        else:
            builtins = ", ".join(sorted(BUILTIN_HOOKS))
            raise ConfigError(
                f"unknown hook {name!r}: built-in hooks are {builtins}; "
                "custom hooks are dotted paths like 'pkg.mod:func'"
            )
    return tuple(out)


def seed_distribution(ctx: WeekContext) -> OutcomeDistribution:
    """Return the distribution the first hook receives: the history around ``P``, weight 1.

    Raises:
        ValueError: the history has fewer than ``MIN_HISTORY`` Monday-open errors.
    """
    if ctx.history.n < MIN_HISTORY:
        raise ValueError(
            f"the error history has {ctx.history.n} Monday-open errors; "
            f"at least {MIN_HISTORY} are needed to price"
        )
    return OutcomeDistribution.from_history(ctx.history, prediction=ctx.prediction)


def apply_hooks(ctx: WeekContext, hooks: Sequence[NamedHook]) -> OutcomeDistribution:
    """Run ``hooks`` in order from the seed distribution and return the last result.

    Raises:
        HookError: the seed distribution cannot be built, a hook raised, or a hook returned
            something other than an OutcomeDistribution; the message names the hook.
    """
    try:
        dist = seed_distribution(ctx)
    except Exception as exc:
        raise HookError(f"cannot build the seed distribution: {exc}") from exc
    for named in hooks:
        try:
            result: object = named.hook(ctx, dist)
        except Exception as exc:
            raise HookError(
                f"hook {named.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, OutcomeDistribution):
            raise HookError(
                f"hook {named.name!r} failed: returned {type(result).__name__}, "
                "not an OutcomeDistribution"
            )
        dist = result
    return dist


RELEASE_TIME: Final = time(9, 0)
"""When TSA's daily release is taken to be out, America/New_York (tsa-markets.md §1.3)."""

STALE_GRACE: Final = timedelta(hours=3)
"""How long after a release its days may still be missing before the actuals are stale.

The fetch timer runs at 09:30 and 11:30 ET and TSA has posted as late as 10:15 ET; three
hours covers a late release and a retry, after which pricing stops rather than price a
partly known week as if it were fresh.
"""


def published_through(now: datetime) -> date:
    """Return the last day whose TSA number is published at ``now``.

    TSA publishes on weekday mornings (RELEASE_TIME, 09:00 America/New_York); each release
    carries every day up to the day before it, so Monday's release carries Friday, Saturday
    and Sunday, Tuesday's carries Monday, and so on (tsa-markets.md §1.3). Equivalently, a
    day D is published on the first weekday morning after D. Holiday and weekend releases,
    seen occasionally, are not assumed: the model errs on the side of knowing less.

    Args:
        now: an aware datetime.

    Returns:
        The latest published day.

    Raises:
        ValueError: if ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ET)
    release = local.date()
    if release.weekday() >= 5 or local.time() < RELEASE_TIME:
        release -= timedelta(days=1)
        while release.weekday() >= 5:
            release -= timedelta(days=1)
    return release - timedelta(days=1)


def known_days(
    actuals: Mapping[date, int], dates: Sequence[date], now: datetime
) -> dict[date, int]:
    """Return the actuals of this week that count as known at ``now``.

    A day is known when it is one of ``dates``, present in ``actuals``, and already
    published at ``now`` (`published_through`): a row for a day TSA has not released yet —
    say a backfilled archive replayed for a past ``now`` — is not used.

    Args:
        actuals: daily actual numbers by date.
        dates: the week's seven dates.
        now: an aware datetime.

    Raises:
        ValueError: ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got naive {now.isoformat()}")
    last = published_through(now)
    return {d: actuals[d] for d in dates if d in actuals and d <= last}


def missing_published(
    actuals: Mapping[date, int], now: datetime, *, since: date
) -> list[date]:
    """Return the days from ``since`` on that TSA has published but ``actuals`` lack.

    A day counts as published once its release is ``STALE_GRACE`` old
    (``published_through(now - STALE_GRACE)``).

    Raises:
        ValueError: ``now`` is naive.
    """
    last = published_through(now - STALE_GRACE)
    out: list[date] = []
    day = since
    while day <= last:
        if day not in actuals:
            out.append(day)
        day += timedelta(days=1)
    return out


def format_days(days: Sequence[date], limit: int = 10) -> str:
    """Render dates for a message: ``Fri 2026-08-21, Sat 2026-08-22`` (… and N more)."""
    shown = ", ".join(f"{d.strftime('%a')} {d.isoformat()}" for d in days[:limit])
    return shown if len(days) <= limit else f"{shown} and {len(days) - limit} more"


def value_week(
    event_ticker: str,
    markets: Sequence[Market],
    *,
    now: datetime,
    prediction: float,
    history: ErrorHistory,
    actuals: Mapping[date, int],
    hooks: Sequence[NamedHook],
) -> list[Valuation]:
    """Value every market of a week: its context at ``now``, the hooks, then the model.

    This is the one path from the forecaster's inputs to true values, shared by the daemon
    and ``tsad quote``.

    Raises:
        InputError: ``actuals`` is given (non-empty) but lacks days of this week, or the
            Sunday before it, that TSA had published by ``now`` (named): stale data is
            never priced as fresh.
        HookError: a hook failed.
    """
    dates = event_dates(event_ticker)
    if actuals:
        missing = missing_published(actuals, now, since=dates[0] - timedelta(days=1))
        if missing:
            raise InputError(
                f"actuals are stale: TSA has published {format_days(missing)} "
                f"but the actuals file lacks {'it' if len(missing) == 1 else 'them'}"
            )
    ctx = WeekContext(
        event_ticker=event_ticker, dates=dates, now=now,
        known=known_days(actuals, dates, now), prediction=prediction, history=history,
        holiday=is_holiday_week(dates),
    )
    return value_markets(list(markets), apply_hooks(ctx, hooks))
