"""The journal's ledger store: fills (exactly once), settlements and marks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Fill
from tsad.runtime.journal_store import (
    JournalStore,
    as_int,
    event_of,
    fraction_text,
    iso,
    parse_dt,
)


__all__ = ["LedgerStore", "Mark", "Settlement"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """A market's settlement as journaled (money in $0.000001, counts in 0.01 contract).

    ``value`` is the YES payout per contract in price units ($1 = 10000 for ``yes``, 0 for
    ``no``). ``revenue``, ``fee`` and the counts are the exchange's figures when ``source`` is
    ``exchange`` (None / 0 when only the lifecycle feed told us).
    """

    ticker: str
    result: str
    value: int
    source: str
    revenue: int | None = None
    fee: int = 0
    yes_count: int | None = None
    no_count: int | None = None
    settled_ts: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    """The latest mid (YES price units; None for an empty side) and true value of YES."""

    ticker: str
    mid: int | None = None
    fair: Fraction | None = None


class LedgerStore(JournalStore):
    """Reads and writes of the fills, settlements and marks tables (mixed into `Journal`)."""

    __slots__ = ()

    # -- fills -----------------------------------------------------------------------------

    def record_fill(self, fill: Fill, *, true_value: Fraction | None = None) -> bool:
        """Record a fill exactly once.

        Args:
            fill: the fill, with its fee (the exchange's ``fee_cost`` where it reported one).
            true_value: tsad's true value of YES in that market when the fill arrived, if
                known (the fill's edge is measured against it).

        Returns:
            True if it was new, False if its ``trade_id`` was already journaled.
        """
        with self._tx(durable=True):
            cur = self._db.execute(
                "INSERT INTO fills (trade_id, order_id, client_order_id, event_ticker, ticker, "
                "side, price, count, fee, is_taker, ts, recorded_ts, true_value) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (trade_id) DO NOTHING",
                (fill.trade_id, fill.order_id, fill.client_order_id, event_of(fill.ticker),
                 fill.ticker, str(fill.side), fill.price, fill.count, fill.fee,
                 int(fill.is_taker), iso(fill.ts), self._now(), fraction_text(true_value)),
            )
        return cur.rowcount == 1

    def fill_true_values(self, event_ticker: str | None = None) -> dict[str, Fraction]:
        """Return tsad's true value of YES at each fill that has one, by ``trade_id``."""
        sql = "SELECT trade_id, true_value FROM fills WHERE true_value IS NOT NULL"
        args: tuple[object, ...] = ()
        if event_ticker is not None:
            sql += " AND event_ticker = ?"
            args = (event_ticker,)
        return {str(r[0]): Fraction(str(r[1])) for r in self._query(sql, args)}

    def fills(self, event_ticker: str | None = None) -> list[Fill]:
        """Return journaled fills (of one event, if given) in time order."""
        sql = (
            "SELECT trade_id, order_id, client_order_id, ticker, side, price, count, fee, "
            "is_taker, ts FROM fills"
        )
        args: tuple[object, ...] = ()
        if event_ticker is not None:
            sql += " WHERE event_ticker = ?"
            args = (event_ticker,)
        sql += " ORDER BY COALESCE(ts, recorded_ts), rowid"
        return [
            Fill(
                trade_id=str(r[0]), order_id=str(r[1]),
                client_order_id=None if r[2] is None else str(r[2]), ticker=str(r[3]),
                side=BookSide(str(r[4])), price=as_int(r[5]), count=as_int(r[6]), fee=as_int(r[7]),
                is_taker=bool(r[8]), ts=parse_dt(None if r[9] is None else str(r[9])),
            )
            for r in self._query(sql, args)
        ]

    # -- settlements -----------------------------------------------------------------------

    def record_settlement(self, settlement: Settlement) -> bool:
        """Record a market's settlement once.

        A ``lifecycle`` settlement (from the feed's ``determined``) is later completed by the
        ``exchange``'s own row (revenue, fee, counts); a second one of the same source, or a
        lifecycle one after the exchange's, changes nothing.

        Returns:
            True if the market had no settlement journaled before.

        Raises:
            ValueError: an unknown result or source, or a value outside $0–$1.
        """
        st = settlement
        if st.result not in {"yes", "no", "scalar"}:
            raise ValueError(f"settlement of {st.ticker}: unknown result {st.result!r}")
        if st.source not in {"lifecycle", "exchange", "paper"}:
            raise ValueError(f"settlement of {st.ticker}: unknown source {st.source!r}")
        if not 0 <= st.value <= PRICE_ONE:
            raise ValueError(f"settlement of {st.ticker}: value {st.value} outside $0–$1")
        with self._tx(durable=True):
            cur = self._db.execute(
                "INSERT INTO settlements (ticker, event_ticker, result, value, revenue, fee, "
                "yes_count, no_count, settled_ts, source, recorded_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticker) DO NOTHING",
                (st.ticker, event_of(st.ticker), st.result, st.value, st.revenue, st.fee,
                 st.yes_count, st.no_count, iso(st.settled_ts), st.source, self._now()),
            )
            new = cur.rowcount == 1
            if not new and st.source == "exchange":
                self._db.execute(
                    "UPDATE settlements SET result = ?, value = ?, revenue = ?, fee = ?, "
                    "yes_count = ?, no_count = ?, settled_ts = COALESCE(?, settled_ts), "
                    "source = 'exchange' WHERE ticker = ? AND source != 'exchange'",
                    (st.result, st.value, st.revenue, st.fee, st.yes_count, st.no_count,
                     iso(st.settled_ts), st.ticker),
                )
        return new

    def settlements(self, event_ticker: str | None = None) -> list[Settlement]:
        """Return journaled settlements (of one event, if given), by ticker."""
        sql = (
            "SELECT ticker, result, value, revenue, fee, yes_count, no_count, settled_ts, "
            "source FROM settlements"
        )
        args: tuple[object, ...] = ()
        if event_ticker is not None:
            sql += " WHERE event_ticker = ?"
            args = (event_ticker,)
        sql += " ORDER BY ticker"
        return [
            Settlement(
                ticker=str(r[0]), result=str(r[1]), value=as_int(r[2]),
                revenue=None if r[3] is None else as_int(r[3]), fee=as_int(r[4]),
                yes_count=None if r[5] is None else as_int(r[5]),
                no_count=None if r[6] is None else as_int(r[6]),
                settled_ts=parse_dt(None if r[7] is None else str(r[7])), source=str(r[8]),
            )
            for r in self._query(sql, args)
        ]

    # -- marks -----------------------------------------------------------------------------

    def record_marks(self, marks: Iterable[Mark]) -> None:
        """Upsert the latest mid and true value of YES of some markets (one transaction).

        A mark without a mid (empty book) or a fair value keeps the previous one.
        """
        ts = self._now()
        rows = [
            (m.ticker, event_of(m.ticker), m.mid, fraction_text(m.fair), ts) for m in marks
        ]
        with self._tx(durable=False):
            self._db.executemany(
                "INSERT INTO marks (ticker, event_ticker, mid, fair, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (ticker) DO UPDATE SET mid = COALESCE(excluded.mid, mid), "
                "fair = COALESCE(excluded.fair, fair), ts = excluded.ts",
                rows,
            )

    def marks(self, event_ticker: str | None = None) -> dict[str, Mark]:
        """Return the latest mark of each market (of one event, if given), by ticker."""
        sql = "SELECT ticker, mid, fair FROM marks"
        args: tuple[object, ...] = ()
        if event_ticker is not None:
            sql += " WHERE event_ticker = ?"
            args = (event_ticker,)
        return {
            str(r[0]): Mark(ticker=str(r[0]), mid=None if r[1] is None else as_int(r[1]),
                            fair=None if r[2] is None else Fraction(str(r[2])))
            for r in self._query(sql, args)
        }
