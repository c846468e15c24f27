"""Holdings: our net position in each market and what it cost, from fills and REST reads.

Rules:

* A position is the net YES count of one market (> 0 long YES, < 0 long NO), count units.
* Its cost (``exposure``) is money units ($0.000001): a bid fill of ``c`` at YES price ``p``
  costs ``c × p``; an ask fill (buying NO) costs ``c × (1 − p)``. A fill that reduces the
  position releases the closed share of the cost (average cost; the remainder is rounded up,
  so the cost we keep is never understated); what it opens beyond flat costs its own price.
* A REST read (``market_position_fp`` and ``market_exposure_dollars``) replaces both.
"""

from __future__ import annotations

from dataclasses import dataclass

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Position


__all__ = ["Holdings", "fill_cost"]


def fill_cost(side: BookSide, price: int, count: int) -> int:
    """Return the money paid for ``count`` filled at YES ``price`` on ``side`` (money units)."""
    return count * (price if side is BookSide.BID else PRICE_ONE - price)


@dataclass(slots=True)
class _Holding:
    position: int = 0
    cost: int = 0


class Holdings:
    """Net positions and their cost by market (sans-I/O)."""

    def __init__(self) -> None:
        self._by_ticker: dict[str, _Holding] = {}

    def position(self, ticker: str) -> int:
        """Return the net position in ``ticker`` (count units)."""
        h = self._by_ticker.get(ticker)
        return h.position if h is not None else 0

    def cost(self, ticker: str) -> int:
        """Return what the position in ``ticker`` cost (money units, ≥ 0)."""
        h = self._by_ticker.get(ticker)
        return h.cost if h is not None else 0

    def tickers(self) -> list[str]:
        """Return every market with a non-zero position."""
        return sorted(t for t, h in self._by_ticker.items() if h.position)

    def apply(self, ticker: str, side: BookSide, price: int, count: int) -> None:
        """Apply one execution of ``count`` on ``side`` at YES ``price``."""
        h = self._by_ticker.setdefault(ticker, _Holding())
        signed = count if side is BookSide.BID else -count
        if h.position == 0 or (h.position > 0) == (signed > 0):
            h.position += signed
            h.cost += fill_cost(side, price, count)
            return
        held = abs(h.position)
        closing = min(count, held)
        left = held - closing
        h.cost = -((-h.cost * left) // held)  # keep the remaining share, rounded up
        h.position += signed
        if count > closing:
            h.cost = fill_cost(side, price, count - closing)

    def set(self, ticker: str, position: int, cost: int | None = None) -> None:
        """Take a position (and its cost, if known) from an authoritative read.

        Without a cost the average cost of what we held carries over (0 if nothing was held
        on that leg).
        """
        h = self._by_ticker.setdefault(ticker, _Holding())
        if cost is None:
            same = h.position and position and (h.position > 0) == (position > 0)
            cost = -((-h.cost * abs(position)) // abs(h.position)) if same else 0
        h.position, h.cost = position, abs(cost)

    def value(self, ticker: str, *, extra: int = 0, extra_cost: int = 0) -> Position:
        """Return the position in ``ticker`` as a `Position`, plus fills not yet applied."""
        return Position(ticker=ticker, position=self.position(ticker) + extra,
                        exposure=self.cost(ticker) + extra_cost)
