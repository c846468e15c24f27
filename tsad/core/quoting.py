"""The quoting policies: turn each market's valuation into the limit orders we want resting.

Two policies, selected by ``[quoting] policy``: ``seed`` (the default, below) and ``edge``
(`EdgePolicy`, further down). Seed rules (DESIGN §3), all exact (Fractions and integer
prices, never floats):

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
from typing import Final

from tsad.core.exchange import OrderbookLevels
from tsad.core.fees import FeeSchedule
from tsad.core.market import Market, Outcome, Valuation
from tsad.core.money import COUNT_SCALE, PRICE_ONE, PriceGrid, contracts
from tsad.core.orders import BookSide, Position


__all__ = [
    "KXTSAW_FEES",
    "QUOTABLE_STATUSES",
    "BookTop",
    "EdgePolicy",
    "Quote",
    "QuoteSet",
    "QuotingPolicy",
    "Skip",
    "Take",
    "desired_quote",
    "desired_quotes",
    "desired_takes",
    "edge_quotes",
    "leg_room",
    "yes_value",
]

QUOTABLE_STATUSES = frozenset({"active", "open"})
"""Kalshi market statuses in which we keep orders resting."""

KXTSAW_FEES: Final = FeeSchedule()
"""The fee schedule assumed until the series' own is read: quadratic, multiplier 1."""


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
    bid_size: int | None = None
    ask_size: int | None = None

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
    policy: QuotingPolicy | EdgePolicy,
    positions: Mapping[str, Position],
    books: Mapping[str, BookTop],
) -> QuoteSet:
    """Compute the desired quotes of a whole event (up to one per market side).

    Args:
        valuations: one per market (a market without one is skipped).
        markets: the event's markets.
        policy: the quoting policy: `QuotingPolicy` (seed) or `EdgePolicy`.
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
        position = 0 if held is None else held.position
        if isinstance(policy, EdgePolicy):
            for r in edge_quotes(valuation, market, policy, position=position, book=top):
                if isinstance(r, Quote):
                    quotes.append(r)
                else:
                    skips.append(r)
            continue
        result = desired_quote(
            valuation, market, policy, position=position,
            best_bid=top.best_bid, best_ask=top.best_ask,
        )
        if isinstance(result, Quote):
            quotes.append(result)
        else:
            skips.append(result)
    return QuoteSet(quotes=tuple(quotes), skips=tuple(skips))


# -- the edge-seeking policy ---------------------------------------------------------------
#
# Rules (exact; ``fair`` is tsad's true value of YES, ``tick`` a step of the market's grid):
#
# * both sides are quoted around ``fair``: the bid ``half_spread_ticks`` ticks below the
#   lowest grid price ≥ fair, the ask as many ticks above the highest grid price ≤ fair;
# * inventory skew: both quotes move ``round(skew_ticks × position / max_position)`` ticks
#   down when long YES (sell more readily, buy less), up when long NO;
# * edge after the maker fee — ``fair − bid − fee(bid)`` for the bid, ``ask − fair − fee(ask)``
#   for the ask, per contract — must be ≥ ``min_edge``: a quote short of it steps away from
#   fair until it qualifies, and is skipped if no grid price does;
# * post-only step-back as in seed; it only ever moves a quote away from fair;
# * size: ``count`` on the side that reduces the position; on the side that adds to it,
#   ``count × (1 − held / max_position)`` in whole contracts (tapering to nothing at the
#   limit), never more than the room left under ``max_position``;
# * no quotes outside the band ``min_true_value < fair < max_true_value``, nor when the
#   valuation has no side (prediction exactly at the strike);
# * taking (`desired_takes`, off unless ``take``): buy at the best ask (or sell at the best
#   bid) with an immediate-or-cancel order when the edge there beats the taker fee plus
#   ``take_edge``.


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgePolicy:
    """The edge-seeking market maker's parameters (probabilities and dollars exact).

    Attributes:
        half_spread_ticks: ticks between fair and each quote (≥ 1).
        min_edge: the least edge per contract after the maker fee, in dollars.
        skew_ticks: ticks both quotes move at a full position (0: no skew).
        count: the order size in count units.
        max_position: the most we may hold on one leg, in count units.
        min_true_value: quote only when the true value of YES is above this.
        max_true_value: ... and below this.
        fees: the series' fee schedule (maker fees count against the edge).
        take: whether `desired_takes` may return immediate-or-cancel orders.
        take_edge: the least edge per contract after the taker fee for taking, in dollars.
    """

    half_spread_ticks: int = 2
    min_edge: Fraction = Fraction(1, 100)
    skew_ticks: int = 2
    count: int = contracts(10)
    max_position: int = contracts(100)
    min_true_value: Fraction = Fraction(1, 20)
    max_true_value: Fraction = Fraction(19, 20)
    fees: FeeSchedule = KXTSAW_FEES
    take: bool = False
    take_edge: Fraction = Fraction(3, 100)


@dataclass(frozen=True, slots=True, kw_only=True)
class Take:
    """An immediate-or-cancel order worth sending now (YES price; ``edge`` per contract)."""

    ticker: str
    side: BookSide
    price: int
    count: int
    edge: Fraction
    true_value: Fraction


def yes_value(valuation: Valuation) -> Fraction | None:
    """Return tsad's true value of YES from a valuation of either leg (None without one)."""
    v = valuation.true_value
    if valuation.outcome is None or v is None:
        return None
    return v if valuation.outcome is Outcome.YES else 1 - v


def _steps(grid: PriceGrid, price: int | None, n: int, *, down: bool) -> int | None:
    for _ in range(n):
        if price is None:
            return None
        price = grid.below(price) if down else grid.above(price)
    return price


def _edge(side: BookSide, fair: Fraction, price: int, fees: FeeSchedule, *,
          is_taker: bool) -> Fraction:
    per = fair - Fraction(price, PRICE_ONE)
    gross = per if side is BookSide.BID else -per
    return gross - fees.fee_per_contract(price, is_taker=is_taker)


def _size(policy: EdgePolicy, side: BookSide, position: int) -> int:
    outcome = Outcome.YES if side is BookSide.BID else Outcome.NO
    room = leg_room(outcome, position, policy.max_position)
    held = position if side is BookSide.BID else -position
    if held <= 0:
        return min(policy.count, room)
    tapered = policy.count * max(policy.max_position - held, 0) // policy.max_position
    return min(tapered // COUNT_SCALE * COUNT_SCALE, room)


def edge_quotes(
    valuation: Valuation, market: Market, policy: EdgePolicy, *, position: int, book: BookTop,
) -> list[Quote | Skip]:
    """Compute the edge policy's bid and ask for one market (a `Skip` for a side not quoted).

    Args:
        valuation: the market's valuation (either leg; the value of YES is derived).
        market: the market (status and price grid).
        policy: the edge policy.
        position: our net position (count units; > 0 long YES).
        book: the top of the YES book (our own orders may be left out).
    """
    ticker, grid = market.ticker, market.grid
    if market.status not in QUOTABLE_STATUSES:
        return [Skip(ticker=ticker, reason=f"market not active ({market.status})")]
    fair = yes_value(valuation)
    if fair is None:
        return [Skip(ticker=ticker, reason=valuation.reason or "no side")]
    if not policy.min_true_value < fair < policy.max_true_value:
        return [Skip(ticker=ticker, reason=f"true value {fair} outside band")]
    skew = round(Fraction(policy.skew_ticks * position, policy.max_position))
    target = fair * PRICE_ONE
    out: list[Quote | Skip] = []
    for side in (BookSide.BID, BookSide.ASK):
        down = side is BookSide.BID
        price = _steps(grid, grid.ceil(target) if down else grid.floor(target),
                       policy.half_spread_ticks, down=down)
        if price is not None and skew:
            price = _steps(grid, price, abs(skew), down=skew > 0)
        if down and price is not None and book.best_ask is not None and book.best_ask <= price:
            price = grid.below(book.best_ask)
        if not down and price is not None and book.best_bid is not None and (
                book.best_bid >= price):
            price = grid.above(book.best_bid)
        while price is not None and _edge(side, fair, price, policy.fees,
                                          is_taker=False) < policy.min_edge:
            price = grid.below(price) if down else grid.above(price)
        if price is None:
            out.append(Skip(ticker=ticker, reason=f"{side}: no price with the minimum edge"))
            continue
        count = _size(policy, side, position)
        if count <= 0:
            out.append(Skip(ticker=ticker, reason=f"{side}: position limit"))
            continue
        out.append(Quote(
            ticker=ticker, outcome=Outcome.YES if down else Outcome.NO, side=side, price=price,
            count=count, true_value=fair if down else 1 - fair,
        ))
    return out


def desired_takes(
    valuations: Iterable[Valuation],
    markets: Iterable[Market],
    policy: EdgePolicy,
    positions: Mapping[str, Position],
    books: Mapping[str, BookTop],
) -> list[Take]:
    """Return the immediate-or-cancel orders worth sending now (none unless ``policy.take``).

    A take buys YES at the best ask when ``fair − ask − taker fee ≥ take_edge`` (or sells at
    the best bid when ``bid − fair − taker fee ≥ take_edge``), for at most the size shown
    there (when known), ``count`` and the room under ``max_position``.
    """
    if not policy.take:
        return []
    by_ticker = {m.ticker: m for m in markets}
    out: list[Take] = []
    for val in sorted(valuations, key=lambda v: v.ticker):
        market = by_ticker.get(val.ticker)
        fair = yes_value(val)
        if market is None or fair is None or market.status not in QUOTABLE_STATUSES:
            continue
        if not policy.min_true_value < fair < policy.max_true_value:
            continue
        top = books.get(val.ticker, BookTop())
        held = positions.get(val.ticker)
        position = 0 if held is None else held.position
        for side, price, shown in ((BookSide.BID, top.best_ask, top.ask_size),
                                   (BookSide.ASK, top.best_bid, top.bid_size)):
            if price is None:
                continue
            edge = _edge(side, fair, price, policy.fees, is_taker=True)
            if edge < policy.take_edge:
                continue
            outcome = Outcome.YES if side is BookSide.BID else Outcome.NO
            count = min(policy.count, leg_room(outcome, position, policy.max_position))
            if shown is not None:
                count = min(count, shown)
            if count > 0:
                out.append(Take(ticker=val.ticker, side=side, price=price, count=count,
                                edge=edge, true_value=fair))
    return out
