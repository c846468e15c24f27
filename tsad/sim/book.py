"""The emulator's order book: one market's resting orders, price → orders in time priority."""

from __future__ import annotations

from collections.abc import Iterator

from tsad.core.money import PriceGrid
from tsad.core.orders import BookSide
from tsad.sim.records import BookOrder


__all__ = ["Book"]


class Book:
    """The resting orders of one market: price → orders in time priority, per side."""

    __slots__ = ("asks", "bids", "grid")

    def __init__(self, grid: PriceGrid) -> None:
        """Start empty on the market's price grid."""
        self.grid = grid
        self.bids: dict[int, list[BookOrder]] = {}
        self.asks: dict[int, list[BookOrder]] = {}

    def side(self, side: BookSide) -> dict[int, list[BookOrder]]:
        """Return one side's price levels."""
        return self.bids if side is BookSide.BID else self.asks

    def add(self, order: BookOrder) -> None:
        """Rest an order at the back of its price level."""
        self.side(order.side).setdefault(order.price, []).append(order)

    def remove(self, order: BookOrder) -> None:
        """Take an order off the book (an empty level goes with it)."""
        levels = self.side(order.side)
        queue = levels.get(order.price, [])
        if order in queue:
            queue.remove(order)
        if not queue:
            levels.pop(order.price, None)

    def best(self, side: BookSide) -> int | None:
        """Return the best price on one side, or None when it is empty."""
        levels = self.side(side)
        if not levels:
            return None
        return max(levels) if side is BookSide.BID else min(levels)

    def crossing(self, side: BookSide, price: int) -> Iterator[BookOrder]:
        """Yield resting opposite orders an incoming ``side`` order at ``price`` would hit."""
        opposite = BookSide.ASK if side is BookSide.BID else BookSide.BID
        levels = self.side(opposite)
        if side is BookSide.BID:
            prices = sorted(p for p in levels if p <= price)
        else:
            prices = sorted((p for p in levels if p >= price), reverse=True)
        for p in prices:
            yield from list(levels.get(p, []))

    def levels(self, side: BookSide) -> list[tuple[int, int]]:
        """Return one side's (price, total remaining) levels, lowest price first."""
        out = [(p, sum(o.remaining for o in q)) for p, q in self.side(side).items() if q]
        return sorted(out)
