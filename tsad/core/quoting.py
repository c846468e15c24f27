"""The quoting policy: turns each market's valuation into the one limit order we want resting.

Rules (DESIGN §3), all exact (Fractions and integer prices, never floats):

* quote only if ``min_true_value < v < max_true_value`` (strict);
* the leg price is ``q = grid.floor(v × margin × PRICE_ONE)``, rounded DOWN once, on the
  market's own grid (a bid never pays more than intended);
* YES at q is a ``bid`` at q; NO at q is an ``ask`` at ``PRICE_ONE − q`` (the NO price is
  floored first, then converted; on a grid that is not symmetric the YES price is rounded UP
  with ``grid.ceil``, which again means the NO leg never pays more than q);
* post-only step-back: a bid at p facing a best ask ≤ p moves to one tick below that ask; an
  ask at p facing a best bid ≥ p moves to one tick above that bid. Stepping back only moves a
  price away from crossing, never improves it;
* size is ``min(count, room)`` where ``room = max_position − (position held on that leg)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from tsad.core.exchange import OrderbookLevels
from tsad.core.market import Market, Outcome, Valuation
from tsad.core.money import PRICE_ONE, contracts
from tsad.core.orders import BookSide, Position


__all__ = [
    "QUOTABLE_STATUSES",
    "BookTop",
    "Quote",
    "QuoteSet",
    "QuotingPolicy",
    "Skip",
    "desired_quote",
    "desired_quotes",
    "leg_room",
]

QUOTABLE_STATUSES = frozenset({"active", "open"})
"""Kalshi market statuses in which we keep orders resting."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotingPolicy:
    """How valuations become orders.

    Attributes:
        margin: the share of the true value we are willing to pay (seed 3/4).
        min_true_value: quote only above this probability (strict; seed 1/20).
        max_true_value: quote only below this probability (strict; seed 19/20).
        count: the order size in count units (0.01 contract; seed 10 contracts = 1000).
        max_position: the most we may hold on one leg of one market, in count units.
    """

    margin: Fraction = Fraction(3, 4)
    min_true_value: Fraction = Fraction(1, 20)
    max_true_value: Fraction = Fraction(19, 20)
    count: int = contracts(10)
    max_position: int = contracts(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """One desired resting order: ``price`` is always a YES price in $0.0001 units."""

    ticker: str
    outcome: Outcome
    side: BookSide
    price: int
    count: int
    true_value: Fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    """Why a market gets no quote (its resting order, if any, is to be cancelled)."""

    ticker: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteSet:
    """The desired quotes of a whole event, each tuple sorted by ticker."""

    quotes: tuple[Quote, ...]
    skips: tuple[Skip, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BookTop:
    """The best YES bid and best YES ask of one market (YES prices; None when empty)."""

    best_bid: int | None = None
    best_ask: int | None = None

    @classmethod
    def from_levels(cls, levels: OrderbookLevels) -> BookTop:
        """Read the top of a REST order book.

        Args:
            levels: bids of each leg, best last; NO bids are at NO prices.

        Returns:
            The best YES bid, and the best YES ask (``PRICE_ONE`` − the best NO bid).
        """
        best_bid = max((p for p, c in levels.yes if c > 0), default=None)
        best_no = max((p for p, c in levels.no if c > 0), default=None)
        return cls(best_bid=best_bid, best_ask=None if best_no is None else PRICE_ONE - best_no)


def leg_room(outcome: Outcome, position: int, max_position: int) -> int:
    """Return how much more of a leg we may buy before holding ``max_position`` of it.

    Args:
        outcome: the leg to buy.
        position: the net position, > 0 long YES, < 0 long NO (count units).
        max_position: the most we may hold on that leg (count units).

    Returns:
        The room in count units, floored at 0. Holding the other leg adds room (buying it
        first closes that position).
    """
    held = position if outcome is Outcome.YES else -position
    return max(max_position - held, 0)


def desired_quote(
    valuation: Valuation,
    market: Market,
    policy: QuotingPolicy,
    *,
    position: int,
    best_bid: int | None,
    best_ask: int | None,
) -> Quote | Skip:
    """Compute the one order we want resting in a market, or why there is none.

    Args:
        valuation: the market's side and exact true value.
        market: the market (its status and price grid).
        policy: margin, band, size and position limit.
        position: our net position in the market (count units; > 0 long YES).
        best_bid: the YES book's best bid (YES price), None if empty. The caller may leave
            our own orders out of the book; only the opposite side matters here.
        best_ask: the YES book's best ask (YES price), None if empty.

    Returns:
        The desired `Quote`, or a `Skip` naming the reason.
    """
    ticker = market.ticker
    if market.status not in QUOTABLE_STATUSES:
        return Skip(ticker=ticker, reason=f"market not active ({market.status})")
    if valuation.outcome is None or valuation.true_value is None:
        return Skip(ticker=ticker, reason=valuation.reason or "no side")
    v = valuation.true_value
    if not policy.min_true_value < v < policy.max_true_value:
        return Skip(ticker=ticker, reason=f"true value {v} outside band")
    q = market.grid.floor(v * policy.margin * PRICE_ONE)
    if q is None:
        return Skip(ticker=ticker, reason="price below one tick")
    side: BookSide
    price: int | None
    if valuation.outcome is Outcome.YES:
        side, price = BookSide.BID, q
        if best_ask is not None and best_ask <= price:
            price = market.grid.below(best_ask)
    else:
        side, price = BookSide.ASK, market.grid.ceil(PRICE_ONE - q)
        if price is not None and best_bid is not None and best_bid >= price:
            price = market.grid.above(best_bid)
    if price is None:
        return Skip(ticker=ticker, reason="no room behind the book")
    room = leg_room(valuation.outcome, position, policy.max_position)
    if room <= 0:
        return Skip(ticker=ticker, reason="position limit")
    count = min(policy.count, room)
    if count <= 0:
        return Skip(ticker=ticker, reason="zero size")
    return Quote(
        ticker=ticker, outcome=valuation.outcome, side=side, price=price, count=count,
        true_value=v,
    )


def desired_quotes(
    valuations: Iterable[Valuation],
    markets: Iterable[Market],
    policy: QuotingPolicy,
    positions: Mapping[str, Position],
    books: Mapping[str, BookTop],
) -> QuoteSet:
    """Compute the desired quotes of a whole event.

    Args:
        valuations: one per market (a market without one is skipped).
        markets: the event's markets.
        policy: the quoting policy.
        positions: our positions by ticker (absent = flat).
        books: the top of each market's YES book by ticker (absent = empty book).

    Returns:
        Quotes and skips, each sorted by ticker.
    """
    by_ticker = {m.ticker: m for m in markets}
    vals = {v.ticker: v for v in valuations}
    quotes: list[Quote] = []
    skips: list[Skip] = []
    for ticker in sorted(by_ticker.keys() | vals.keys()):
        market = by_ticker.get(ticker)
        valuation = vals.get(ticker)
        if market is None:
            skips.append(Skip(ticker=ticker, reason="unknown market"))
            continue
        if valuation is None:
            skips.append(Skip(ticker=ticker, reason="no valuation"))
            continue
        top = books.get(ticker, BookTop())
        held = positions.get(ticker)
        result = desired_quote(
            valuation, market, policy,
            position=0 if held is None else held.position,
            best_bid=top.best_bid, best_ask=top.best_ask,
        )
        if isinstance(result, Quote):
            quotes.append(result)
        else:
            skips.append(result)
    return QuoteSet(quotes=tuple(quotes), skips=tuple(skips))
