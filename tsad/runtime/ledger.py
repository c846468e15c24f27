"""The PnL ledger: what the daemon journals beside its orders, for `tsad report` and the summary.

* each fill with the exchange's fee (``fee_cost``, already on the `Fill`) and tsad's true
  value of YES in that market when it arrived, so the report can measure the fill's edge;
* each market's settlement once: first from the lifecycle feed (``determined`` /
  ``settled`` with a result), completed by the exchange's ``/portfolio/settlements`` row;
* the latest mid and true value of each market, at most every ``mark_seconds``, so open
  positions can be valued without asking the exchange.

The engine calls it from its event loop; every call is a short synchronous journal write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

from tsad.core.exchange import MarketSettlement
from tsad.core.market import Outcome, Valuation
from tsad.core.orders import Fill
from tsad.core.pnl import settlement_value
from tsad.runtime.journal import Journal, Mark, Settlement


__all__ = ["MARK_SECONDS", "Ledger", "mid_of", "yes_value"]

MARK_SECONDS = 60.0
"""How often marks are written: the report values open positions at most this stale."""
_SETTLING = frozenset({"determined", "settled"})


def mid_of(best_bid: int | None, best_ask: int | None) -> int | None:
    """Return the mid of YES (price units, rounded down), or the one side there is, or None."""
    if best_bid is not None and best_ask is not None:
        return (best_bid + best_ask) // 2
    return best_bid if best_ask is None else best_ask


def yes_value(valuation: Valuation | None) -> Fraction | None:
    """Return tsad's true value of YES from a valuation (of either leg), or None."""
    if valuation is None or valuation.true_value is None or valuation.outcome is None:
        return None
    tv = valuation.true_value
    return tv if valuation.outcome is Outcome.YES else 1 - tv


class Ledger:
    """Journals fills at their true value, settlements once, and throttled marks.

    Args:
        journal: the daemon's journal.
        mark_seconds: least seconds between two mark writes (`MARK_SECONDS`).
    """

    __slots__ = ("_journal", "_last_mark", "_mark_seconds")

    def __init__(self, journal: Journal, *, mark_seconds: float = MARK_SECONDS) -> None:
        self._journal = journal
        self._mark_seconds = mark_seconds
        self._last_mark: float | None = None

    def fill(self, fill: Fill, true_value: Fraction | None) -> bool:
        """Journal a fill (exactly once, by ``trade_id``) with tsad's true value of YES.

        Returns:
            True when it was new.
        """
        return self._journal.record_fill(fill, true_value=true_value)

    def lifecycle(self, ticker: str, event_type: str, result: str | None,
                  value: int | None = None) -> bool:
        """Journal a market's settlement from a ``market_lifecycle_v2`` message.

        Only ``determined`` / ``settled`` with a result count; ``value`` is the YES payout
        (price units) of a scalar result.

        Returns:
            True when the market had no settlement journaled before.
        """
        if event_type not in _SETTLING or not result:
            return False
        try:
            payout = settlement_value(result, value)
        except ValueError:
            return False
        return self._journal.record_settlement(
            Settlement(ticker=ticker, result=result, value=payout, source="lifecycle"))

    def settlements(self, rows: Iterable[MarketSettlement]) -> int:
        """Journal the exchange's ``/portfolio/settlements`` rows, each market once.

        A row completes a settlement first learnt from the lifecycle feed; a row already
        journaled from the exchange changes nothing, so the whole list can be passed at every
        resync. A row whose result cannot be valued (``scalar`` without a value) is left out.

        Returns:
            How many markets had no settlement journaled before.
        """
        known = {st.ticker: st.source for st in self._journal.settlements()}
        new = 0
        for row in rows:
            if known.get(row.ticker) == "exchange":
                continue
            try:
                value = settlement_value(row.result, row.value)
            except ValueError:
                continue
            new += self._journal.record_settlement(Settlement(
                ticker=row.ticker, result=row.result, value=value, source="exchange",
                revenue=row.revenue, fee=row.fee, yes_count=row.yes_count,
                no_count=row.no_count, settled_ts=row.settled_ts,
            ))
        return new

    def marks(self, now: float, books: Mapping[str, tuple[int | None, int | None]],
              fair: Mapping[str, Fraction], *, force: bool = False) -> bool:
        """Write each market's mid and true value, unless the last write is too recent.

        Args:
            now: monotonic seconds.
            books: best YES bid and ask by market ticker.
            fair: tsad's true value of YES by market ticker.
            force: write regardless of the last write (at stop).

        Returns:
            True when marks were written.
        """
        if not force and self._last_mark is not None and (
                now - self._last_mark < self._mark_seconds):
            return False
        self._last_mark = now
        tickers = sorted(set(books) | set(fair))
        self._journal.record_marks(
            Mark(ticker=t, mid=mid_of(*books.get(t, (None, None))), fair=fair.get(t))
            for t in tickers
        )
        return True
