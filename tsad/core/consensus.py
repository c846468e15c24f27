"""The market's probability of each contract, pooled with the model's into the true value."""

# Rules (pure; prices are YES prices in $0.0001 units, sizes in count units):
#
# * The market's probability of YES is the mid of the best YES bid and the best YES ask of
#   *others*: our own resting orders are taken out of the book first, so our quotes never
#   feed back into the value they are priced from.
# * An empty side counts at its limit (no bid: $0, no ask: $1), as nobody will pay more
#   or take less. The market is used only when its spread, so counted, is at most
#   ``max_spread`` (a lone ask of 2¢ says YES is worth about 1¢; a lone ask of 30¢ says
#   little); otherwise it says nothing and the model's value stands alone.
# * The pooled probability of YES is the linear pool ``(1 − w)·model + w·market``, exact in
#   Fractions. Squared error is convex, so on any set of contracts its Brier score is never
#   above ``(1 − w)·B(model) + w·B(market)``: pooling with a sharper market cannot lose
#   more than the mix of the two, and gains when the two err differently.
# * The leg stays the model's (YES iff the prediction is above the strike); only its true
#   value moves. A contract the model gives no leg (``outcome`` None) is left as it is.
# * ``w = 0`` is the model alone, bit for bit.

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction

from tsad.core.book import Level
from tsad.core.market import Outcome, Valuation
from tsad.core.money import PRICE_ONE


__all__ = ["market_yes", "others_top", "pool", "pool_all"]


def _best_of_others(levels: Sequence[Level], ours: Mapping[int, int]) -> int | None:
    """Return the first level, best first, that still has size once ours is taken out."""
    for price, size in levels:
        if size - ours.get(price, 0) > 0:
            return price
    return None


def others_top(
    bids: Sequence[Level],
    asks: Sequence[Level],
    our_bids: Mapping[int, int],
    our_asks: Mapping[int, int],
) -> tuple[int | None, int | None]:
    """Return the best YES bid and ask left when our own resting orders are removed.

    Args:
        bids: YES bid levels, best (highest) first.
        asks: YES ask levels, best (lowest) first.
        our_bids: our resting YES bid size by price.
        our_asks: our resting YES ask size by price (a NO bid at q rests at 1 − q).
    """
    return _best_of_others(bids, our_bids), _best_of_others(asks, our_asks)


def market_yes(best_bid: int | None, best_ask: int | None, max_spread: int) -> Fraction | None:
    """Return the market's probability of YES (the mid), or None when the book says nothing.

    An empty side counts at its limit (bid 0, ask ``PRICE_ONE``). The book says nothing
    when it is then crossed or locked, a price is outside [0, 1], or the spread is wider
    than ``max_spread``.
    """
    bid = 0 if best_bid is None else best_bid
    ask = PRICE_ONE if best_ask is None else best_ask
    if not 0 <= bid < ask <= PRICE_ONE or ask - bid > max_spread:
        return None
    return Fraction(bid + ask, 2 * PRICE_ONE)


def pool(valuation: Valuation, market: Fraction | None, weight: Fraction) -> Valuation:
    """Return the valuation with its true value pooled with the market's (see the rules)."""
    v = valuation.true_value
    if market is None or weight == 0 or valuation.outcome is None or v is None:
        return valuation
    model_yes = v if valuation.outcome is Outcome.YES else 1 - v
    yes = (1 - weight) * model_yes + weight * market
    return replace(valuation, true_value=yes if valuation.outcome is Outcome.YES else 1 - yes)


def pool_all(
    valuations: Iterable[Valuation], markets: Mapping[str, Fraction | None], weight: Fraction
) -> list[Valuation]:
    """Pool each valuation with its market's probability (absent: the model's value)."""
    return [pool(v, markets.get(v.ticker), weight) for v in valuations]
