"""Pre-trade risk controls: named checks that approve desired quotes or return violations.

Each control is a small named function (flumine style); `check_quotes` runs them in order
and returns the approved quotes with every violation, which the shell logs and skips.

Money is exact: worst-case losses are ints in $0.000001 units (count units × price units).

``max_event_loss`` approximation: the worst case is taken over every settlement outcome of
the event, counting our current positions, every resting order and every desired quote as
if filled. A desired quote supersedes our resting orders on its own (ticker, side), because
reconciliation turns them into it, or cancels them if a control drops the quote (so dropping
a quote never leaves its resting order counted, which would make quotes churn); resting
orders on a (ticker, side) that no desired quote names are counted as they stand. Existing
positions carry their cost through ``Position.exposure`` (the money paid for them); with
exposure 0 they are valued at price 0, i.e. they never lose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Protocol

from tsad.core.market import Market, StrikeType
from tsad.core.money import PRICE_ONE, format_count, format_money, format_price
from tsad.core.orders import BookSide, Position
from tsad.core.quoting import Quote


__all__ = [
    "RestingOrder",
    "RiskLimits",
    "Violation",
    "check_quotes",
    "event_worst_loss",
    "halted",
    "max_event_loss",
    "max_order_size",
    "max_position",
    "price_band",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """A control refused something: ``ticker`` is None when it concerns the whole event."""

    control: str
    ticker: str | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """The limits the controls enforce.

    Attributes:
        max_order_size: largest single order, count units.
        max_position: largest net position per market on either leg, count units.
        max_event_loss: largest worst-case loss over the event, money units ($0.000001).
        min_price: lowest YES price we may quote (price units; default 1¢).
        max_price: highest YES price we may quote (price units; default 99¢).
        halted: refuse everything (the halt file exists, or an operator said so).
    """

    max_order_size: int
    max_position: int
    max_event_loss: int
    min_price: int = 100
    max_price: int = 9_900
    halted: bool = False


class RestingOrder(Protocol):
    """What the controls read of one of our live orders (`Order` and `LiveOrder` fit)."""

    @property
    def ticker(self) -> str: ...

    @property
    def side(self) -> BookSide: ...

    @property
    def price(self) -> int: ...

    @property
    def remaining(self) -> int: ...


def halted(quote: Quote, limits: RiskLimits) -> Violation | None:
    """Refuse every quote while trading is halted."""
    if limits.halted:
        return Violation(control="halted", ticker=quote.ticker, detail="trading halted")
    return None


def price_band(quote: Quote, limits: RiskLimits) -> Violation | None:
    """Refuse a quote whose YES price lies outside ``[min_price, max_price]``."""
    if not limits.min_price <= quote.price <= limits.max_price:
        return Violation(
            control="price_band", ticker=quote.ticker,
            detail=(
                f"{quote.side} price {format_price(quote.price)} outside "
                f"[{format_price(limits.min_price)}, {format_price(limits.max_price)}]"
            ),
        )
    return None


def max_order_size(quote: Quote, limits: RiskLimits) -> Violation | None:
    """Refuse a quote larger than ``max_order_size`` (or not positive)."""
    if not 0 < quote.count <= limits.max_order_size:
        return Violation(
            control="max_order_size", ticker=quote.ticker,
            detail=f"count {format_count(quote.count)} > {format_count(limits.max_order_size)}"
            if quote.count > 0 else f"count {format_count(quote.count)} not positive",
        )
    return None


def max_position(quote: Quote, position: int, limits: RiskLimits) -> Violation | None:
    """Refuse a quote that, if filled, would leave more than ``max_position`` on a leg.

    Args:
        quote: the desired order.
        position: our net position in its market (> 0 long YES), count units.
        limits: the limits.
    """
    after = position + (quote.count if quote.side is BookSide.BID else -quote.count)
    if abs(after) > limits.max_position:
        return Violation(
            control="max_position", ticker=quote.ticker,
            detail=(
                f"position {format_count(position)} would become {format_count(after)}, "
                f"limit {format_count(limits.max_position)}"
            ),
        )
    return None


# --- max_event_loss -----------------------------------------------------------------------


def _pays_yes(market: Market, x: Fraction) -> bool | None:
    """Tell whether the market settles YES when the underlying is ``x`` (None: unknown)."""
    lo = None if market.floor_strike is None else Fraction(market.floor_strike)
    hi = None if market.cap_strike is None else Fraction(market.cap_strike)
    cap = hi if hi is not None else lo
    st = market.strike_type
    if lo is not None and st is StrikeType.GREATER:
        return x > lo
    if lo is not None and st is StrikeType.GREATER_OR_EQUAL:
        return x >= lo
    if cap is not None and st is StrikeType.LESS:
        return x < cap
    if cap is not None and st is StrikeType.LESS_OR_EQUAL:
        return x <= cap
    if lo is not None and hi is not None and st is StrikeType.BETWEEN:
        return lo <= x <= hi
    return None


def _scenarios(markets: Sequence[Market]) -> list[Fraction]:
    """Return one underlying value inside every distinct settlement outcome of the event.

    Every strike itself and a point strictly between (and beyond) consecutive strikes: that
    separates strict from non-strict comparisons, so every reachable YES/NO combination of
    the ladder appears once (n + 1 outcomes for n "greater" strikes, plus the boundaries).
    """
    bounds = sorted(
        {Fraction(s) for m in markets for s in (m.floor_strike, m.cap_strike) if s is not None}
    )
    if not bounds:
        return [Fraction(0)]
    points = [bounds[0] - 1]
    for a, b in pairwise(bounds):
        points += [a, (a + b) / 2]
    points += [bounds[-1], bounds[-1] + 1]
    return points


def _order_pnl(side: BookSide, price: int, count: int, yes: bool) -> int:
    """PnL of an order filled in full, at settlement (money units)."""
    if side is BookSide.BID:  # bought YES at price
        return count * (PRICE_ONE - price) if yes else -count * price
    # sold YES at price == bought NO at PRICE_ONE − price
    return -count * (PRICE_ONE - price) if yes else count * price


def _position_pnl(pos: Position, yes: bool) -> int:
    """PnL of an existing position at settlement, its cost taken from ``exposure``."""
    payout = pos.position * PRICE_ONE if (pos.position > 0) == yes else 0
    return abs(payout) - abs(pos.exposure) if pos.position else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Leg:
    """One PnL contributor: a market and its PnL if YES and if NO."""

    ticker: str
    if_yes: int
    if_no: int


def _scenario_pnls(markets: Sequence[Market], legs: Iterable[_Leg]) -> list[int]:
    """Return the total PnL in each settlement scenario (markets of unknown strike: worst)."""
    points = _scenarios(markets)
    by_ticker = {m.ticker: m for m in markets}
    totals = [0] * len(points)
    for leg in legs:
        market = by_ticker.get(leg.ticker)
        for i, x in enumerate(points):
            yes = None if market is None else _pays_yes(market, x)
            totals[i] += min(leg.if_yes, leg.if_no) if yes is None else (
                leg.if_yes if yes else leg.if_no
            )
    return totals


def _quote_leg(q: Quote) -> _Leg:
    return _Leg(
        ticker=q.ticker,
        if_yes=_order_pnl(q.side, q.price, q.count, True),
        if_no=_order_pnl(q.side, q.price, q.count, False),
    )


def _base_legs(
    quoted: Set[tuple[str, BookSide]],
    positions: Mapping[str, Position],
    resting: Iterable[RestingOrder],
) -> list[_Leg]:
    """Positions, plus resting orders on (ticker, side)s that no desired quote supersedes."""
    legs = [
        _Leg(ticker=p.ticker, if_yes=_position_pnl(p, True), if_no=_position_pnl(p, False))
        for p in positions.values()
    ]
    for o in resting:
        if (o.ticker, o.side) not in quoted and o.remaining > 0:
            legs.append(_Leg(
                ticker=o.ticker,
                if_yes=_order_pnl(o.side, o.price, o.remaining, True),
                if_no=_order_pnl(o.side, o.price, o.remaining, False),
            ))
    return legs


def event_worst_loss(
    quotes: Sequence[Quote],
    positions: Mapping[str, Position],
    resting: Iterable[RestingOrder],
    markets: Sequence[Market],
) -> int:
    """Return the worst-case loss of the event if everything fills (money units, ≥ 0).

    Args:
        quotes: desired quotes (each supersedes our resting orders on its ticker and side).
        positions: our positions by ticker.
        resting: our live orders.
        markets: the event's markets (their strikes define the settlement outcomes).
    """
    quoted = {(q.ticker, q.side) for q in quotes}
    legs = _base_legs(quoted, positions, resting) + [_quote_leg(q) for q in quotes]
    return max(0, -min(_scenario_pnls(markets, legs)))


def max_event_loss(
    quotes: Sequence[Quote],
    positions: Mapping[str, Position],
    resting: Iterable[RestingOrder],
    markets: Sequence[Market],
    limits: RiskLimits,
    *,
    superseded: Set[tuple[str, BookSide]] = frozenset(),
) -> tuple[list[Quote], list[Violation]]:
    """Drop quotes until the event's worst-case loss is within ``max_event_loss``.

    Repeatedly finds the worst settlement scenario (the first one on ties) and drops the
    quote that loses most in it (ties: by ticker, then side). Resting orders on the
    (ticker, side) of any quote given (or named in ``superseded``) are not counted. Quotes
    that do not lose in the worst scenario are never dropped: removing them cannot help.

    Returns:
        The quotes kept, in input order, and one violation per dropped quote (plus one for
        the event when even dropping every contributor leaves the loss over the limit).
    """
    resting = list(resting)
    kept = list(quotes)
    violations: list[Violation] = []
    limit = limits.max_event_loss
    legs = _base_legs(
        set(superseded) | {(q.ticker, q.side) for q in quotes}, positions, resting
    )
    while True:
        qlegs = [_quote_leg(q) for q in kept]
        totals = _scenario_pnls(markets, legs + qlegs)
        worst = min(totals)
        if -worst <= limit:
            return kept, violations
        w = totals.index(worst)
        per_quote = [(_scenario_pnls(markets, [leg])[w], i) for i, leg in enumerate(qlegs)]
        losers = [
            (pnl, kept[i].ticker, str(kept[i].side), i) for pnl, i in per_quote if pnl < 0
        ]
        if not losers:
            violations.append(Violation(
                control="max_event_loss", ticker=None,
                detail=f"worst-case loss {format_money(-worst, 6)} over limit "
                f"{format_money(limit, 6)} without any more quotes",
            ))
            return kept, violations
        _, ticker, side, i = min(losers)
        dropped = kept.pop(i)
        violations.append(Violation(
            control="max_event_loss", ticker=ticker,
            detail=f"{side} {format_count(dropped.count)} @ {format_price(dropped.price)} "
            f"dropped: worst-case loss {format_money(-worst, 6)} > {format_money(limit, 6)}",
        ))


def check_quotes(
    quotes: Sequence[Quote],
    positions: Mapping[str, Position],
    resting: Iterable[RestingOrder],
    limits: RiskLimits,
    *,
    markets: Sequence[Market],
) -> tuple[list[Quote], list[Violation]]:
    """Run every control over the desired quotes of one event.

    Order: ``halted`` (refuses everything), then per quote ``price_band``,
    ``max_order_size``, ``max_position``, then ``max_event_loss`` over the survivors.

    Args:
        quotes: the desired quotes.
        positions: our positions by ticker (absent = flat).
        resting: our live orders in the event.
        limits: the limits.
        markets: the event's markets (for the settlement scenarios of ``max_event_loss``).

    Returns:
        The approved quotes (input order) and the violations.
    """
    if limits.halted:
        return [], [Violation(control="halted", ticker=None, detail="trading halted")]
    approved: list[Quote] = []
    violations: list[Violation] = []
    for q in quotes:
        held = positions.get(q.ticker)
        found = (
            price_band(q, limits)
            or max_order_size(q, limits)
            or max_position(q, 0 if held is None else held.position, limits)
        )
        if found is None:
            approved.append(q)
        else:
            violations.append(found)
    approved, more = max_event_loss(
        approved, positions, resting, markets, limits,
        superseded={(q.ticker, q.side) for q in quotes},
    )
    return approved, violations + more
