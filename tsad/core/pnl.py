"""Profit and loss of our fills through settlement, exactly: shared by report and backtest.

Conventions (money in $0.000001 units, prices in $0.0001, counts in 0.01 contract):

* A fill's ``side`` is our order's side on the YES book: a ``bid`` buys YES at ``price``, an
  ``ask`` sells YES at ``price`` (= buys NO at 1 − price). Positions are signed YES
  contracts: > 0 long YES, < 0 long NO.
* **Realized** PnL matches fills first-in first-out against open lots of the same market
  (closing ``m`` of a lot opened at ``p0`` by a fill at ``p`` realizes ``m × (p − p0)`` long,
  ``m × (p0 − p)`` short); a **settlement** closes every remaining lot at the settlement
  value ($1 for YES, $0 for NO). Realized is reported **after fees**: every fee is expensed
  when paid, so once all markets have settled, realized PnL equals the cash the account
  gained or lost (fill cash − fees + settlement payouts), to the micro-dollar.
* **Unrealized** PnL values the open lots at a mark: the book's **mid**, or tsad's **true
  value** of YES (a fraction, rounded half-even to the micro-dollar).
* The **edge** of a fill is what it was worth at tsad's true value when it happened:
  ``count × (fair − price)`` for a bid, ``count × (price − fair)`` for an ask.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Fill


__all__ = ["MarketPnl", "fill_edge", "market_pnl", "settlement_value"]


def settlement_value(result: str, value: int | None = None) -> int:
    """Return the YES payout of a settled market in price units.

    Args:
        result: Kalshi's ``result`` (``yes``, ``no``, or ``scalar`` with ``value``).
        value: the ``settlement_value`` in price units, for scalar markets.

    Raises:
        ValueError: an unknown result, or a scalar result without a value.
    """
    if result == "yes":
        return PRICE_ONE
    if result == "no":
        return 0
    if result == "scalar" and value is not None:
        return value
    raise ValueError(f"cannot settle on result {result!r} (value {value!r})")


def _money(value: Fraction) -> int:
    """Round an exact amount of money units half-even to an integer."""
    return round(value)


def fill_edge(fill: Fill, fair: Fraction) -> int:
    """Return a fill's edge at tsad's true value of YES ``fair``, in money units."""
    per = fair * PRICE_ONE - fill.price
    return _money(fill.count * (per if fill.side is BookSide.BID else -per))


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketPnl:
    """One market's position and PnL (money in $0.000001).

    ``realized`` is after fees (see the module rules); ``realized + unrealized_*`` is the
    total at that mark. ``unrealized_*`` is None when there is no mark of that kind and the
    position is open; ``edge`` sums the edge of the fills that have a true value.
    """

    ticker: str
    position: int
    bought: int
    sold: int
    fills: int
    cash: int
    fees: int
    realized: int
    settled: bool
    settlement: int | None
    mid: int | None
    fair: Fraction | None
    unrealized_mid: int | None
    unrealized_fair: int | None
    edge: int
    edge_fills: int


def market_pnl(
    ticker: str,
    fills: Iterable[Fill],
    *,
    settlement: int | None = None,
    mid: int | None = None,
    fair: Fraction | None = None,
    fair_at_fill: Mapping[str, Fraction] | None = None,
) -> MarketPnl:
    """Compute one market's PnL from its fills (oldest first) and, if settled, its value.

    Args:
        ticker: the market.
        fills: its fills in time order (another market's fill is refused).
        settlement: the YES payout in price units once the market has settled, else None.
        mid: the book's mid (YES price units) to mark open lots at, if known.
        fair: tsad's true value of YES to mark open lots at, if known.
        fair_at_fill: tsad's true value of YES when each fill happened, by trade_id.

    Raises:
        ValueError: a fill of another market.
    """
    lots: deque[list[int]] = deque()  # [signed count, price], oldest first
    gross = fees = bought = sold = n = cash = edge = edge_fills = 0
    at_fill = fair_at_fill or {}
    for f in fills:
        if f.ticker != ticker:
            raise ValueError(f"fill {f.trade_id} is for {f.ticker}, not {ticker}")
        n += 1
        fees += f.fee
        qty = f.count if f.side is BookSide.BID else -f.count
        cash -= qty * f.price
        if qty > 0:
            bought += qty
        else:
            sold -= qty
        v = at_fill.get(f.trade_id)
        if v is not None:
            edge += fill_edge(f, v)
            edge_fills += 1
        while qty and lots and (lots[0][0] > 0) != (qty > 0):
            lot = lots[0]
            m = min(abs(qty), abs(lot[0]))
            gross += m * (f.price - lot[1]) if lot[0] > 0 else m * (lot[1] - f.price)
            lot[0] += m if lot[0] < 0 else -m
            qty += m if qty < 0 else -m
            if lot[0] == 0:
                lots.popleft()
        if qty:
            lots.append([qty, f.price])
    position = sum(c for c, _ in lots)
    unrealized_mid: int | None = None
    unrealized_fair: int | None = None
    if settlement is not None:
        gross += sum(c * (settlement - p) for c, p in lots)  # c < 0 flips the sign for NO
        lots.clear()
        cash += position * settlement
        position = 0
        unrealized_mid = unrealized_fair = 0
    else:
        if mid is not None or not lots:
            unrealized_mid = sum(c * ((mid or 0) - p) for c, p in lots)
        if fair is not None or not lots:
            unrealized_fair = _money(sum(
                (c * (fair * PRICE_ONE - p) for c, p in lots if fair is not None), Fraction(0)))
    return MarketPnl(
        ticker=ticker, position=position, bought=bought, sold=sold, fills=n, cash=cash,
        fees=fees, realized=gross - fees, settled=settlement is not None, settlement=settlement,
        mid=mid, fair=fair, unrealized_mid=unrealized_mid, unrealized_fair=unrealized_fair,
        edge=edge, edge_fills=edge_fills,
    )
