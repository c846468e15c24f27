"""The journal's order store: generations, order intents and results, decisions, orders seen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from tsad.core.orders import BookSide, Order, OrderStatus
from tsad.runtime.journal_store import (
    JournalError,
    JournalStore,
    as_int,
    event_of,
    fraction_text,
    iso,
    parse_dt,
)


__all__ = ["Decision", "Intent", "IntentKind", "OrderStore", "ResultOutcome"]


class IntentKind(StrEnum):
    """The kind of order write an intent announces."""

    CREATE = "create"
    AMEND = "amend"
    DECREASE = "decrease"
    CANCEL = "cancel"


class ResultOutcome(StrEnum):
    """How a write ended: ``ambiguous`` means it must still be resolved by reading back."""

    OK = "ok"
    ERROR = "error"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    """An order write as journaled before it was sent (prices/counts in `tsad.money` units)."""

    id: int
    ts: datetime
    kind: IntentKind
    ticker: str
    side: BookSide
    client_order_id: str | None = None
    order_id: str | None = None
    price: int | None = None
    count: int | None = None
    config_version: str | None = None
    prediction_version: str | None = None
    cycle: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What the quoting policy wanted for one market in one cycle.

    ``side`` / ``price`` / ``count`` are None when nothing is quoted (then ``reason`` says why).
    """

    ticker: str
    side: BookSide | None
    true_value: Fraction | None
    price: int | None
    count: int | None
    reason: str | None = None


class OrderStore(JournalStore):
    """Reads and writes of the order tables (mixed into `Journal`)."""

    __slots__ = ()

    # -- generations -----------------------------------------------------------------------

    def next_generation(self, ticker: str, side: BookSide | str) -> int:
        """Return the next generation for ``(ticker, side)``, persisted before it is returned.

        The first call for a pair returns the journal's base + 1 (the base is the journal's
        creation time in Unix seconds × 1000, so a new journal never reuses an older one's
        generations); every later call returns one more, across restarts, so a
        client_order_id built from it is never reused.
        """
        with self._tx(durable=True):
            self._db.execute(
                "INSERT INTO generation (ticker, side, value) VALUES (?, ?, 1 + "
                "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation_base')) "
                "ON CONFLICT (ticker, side) DO UPDATE SET value = value + 1",
                (ticker, str(side)),
            )
            row = self._db.execute(
                "SELECT value FROM generation WHERE ticker = ? AND side = ?", (ticker, str(side))
            ).fetchone()
        return int(row[0])

    # -- intents and results ---------------------------------------------------------------

    def record_intent(
        self,
        kind: IntentKind | str,
        *,
        ticker: str,
        side: BookSide | str,
        client_order_id: str | None = None,
        order_id: str | None = None,
        price: int | None = None,
        count: int | None = None,
        config_version: str | None = None,
        prediction_version: str | None = None,
        cycle: int | None = None,
    ) -> int:
        """Durably record a write about to be sent; call it **before** sending.

        Returns:
            The intent id, to pass to `record_result`.

        Raises:
            ValueError: an unknown kind or side.
            JournalError: the write failed.
        """
        kind = IntentKind(kind)
        side = BookSide(side)
        with self._tx(durable=True):
            cur = self._db.execute(
                "INSERT INTO intents (ts, kind, client_order_id, order_id, ticker, side, price, "
                "count, config_version, prediction_version, cycle) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._now(), str(kind), client_order_id, order_id, ticker, str(side), price,
                 count, config_version, prediction_version, cycle),
            )
        if cur.lastrowid is None:
            raise JournalError(f"journal {self.path}: intent insert returned no row id")
        return cur.lastrowid

    def record_result(
        self,
        intent_id: int,
        outcome: ResultOutcome | str,
        *,
        order_id: str | None = None,
        detail: str = "",
    ) -> None:
        """Durably record how intent ``intent_id`` ended; call it right after the response.

        An ``ambiguous`` result keeps the intent unresolved; record ``ok`` or ``error`` once
        reading orders back has told which.

        Raises:
            JournalError: no such intent, or the write failed.
        """
        outcome = ResultOutcome(outcome)
        with self._tx(durable=True):
            known = self._db.execute("SELECT 1 FROM intents WHERE id = ?", (intent_id,))
            if known.fetchone() is None:
                raise JournalError(f"journal {self.path}: no intent with id {intent_id}")
            self._db.execute(
                "INSERT INTO results (intent_id, ts, outcome, order_id, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (intent_id, self._now(), str(outcome), order_id, detail),
            )

    def unresolved_intents(self) -> list[Intent]:
        """Return intents with no ``ok``/``error`` result, oldest first.

        These are writes that may or may not have reached the exchange (never answered, or
        answered ambiguously): a restart resolves them by reading our orders back.
        """
        rows = self._query(
            "SELECT id, ts, kind, client_order_id, order_id, ticker, side, price, count, "
            "config_version, prediction_version, cycle FROM intents i WHERE NOT EXISTS ("
            "SELECT 1 FROM results r WHERE r.intent_id = i.id AND r.outcome IN ('ok', 'error')"
            ") ORDER BY id"
        )
        return [_intent(r) for r in rows]

    def intent_for(self, client_order_id: str) -> Intent | None:
        """Return the latest intent that used ``client_order_id``, or None."""
        rows = self._query(
            "SELECT id, ts, kind, client_order_id, order_id, ticker, side, price, count, "
            "config_version, prediction_version, cycle FROM intents "
            "WHERE client_order_id = ? ORDER BY id DESC LIMIT 1",
            (client_order_id,),
        )
        return _intent(rows[0]) if rows else None

    # -- decisions -------------------------------------------------------------------------

    def record_decisions(
        self,
        cycle: int,
        decisions: Iterable[Decision],
        *,
        config_version: str | None = None,
        prediction_version: str | None = None,
    ) -> None:
        """Record one cycle's decisions in a single transaction."""
        ts = self._now()
        rows = [
            (cycle, ts, d.ticker, None if d.side is None else str(d.side),
             fraction_text(d.true_value), d.price, d.count, d.reason, config_version,
             prediction_version)
            for d in decisions
        ]
        with self._tx(durable=False):
            self._db.executemany(
                "INSERT INTO decisions (cycle, ts, ticker, side, true_value, price, count, reason, "
                "config_version, prediction_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def decisions(self, cycle: int) -> list[Decision]:
        """Return the decisions recorded for ``cycle``, in recording order."""
        rows = self._query(
            "SELECT ticker, side, true_value, price, count, reason FROM decisions "
            "WHERE cycle = ? ORDER BY id",
            (cycle,),
        )
        return [
            Decision(
                ticker=str(r[0]), side=None if r[1] is None else BookSide(str(r[1])),
                true_value=None if r[2] is None else Fraction(str(r[2])),
                price=None if r[3] is None else as_int(r[3]),
                count=None if r[4] is None else as_int(r[4]),
                reason=None if r[5] is None else str(r[5]),
            )
            for r in rows
        ]

    def last_cycle(self) -> int | None:
        """Return the highest cycle number journaled (decisions or intents), or None."""
        rows = self._query(
            "SELECT MAX(c) FROM (SELECT MAX(cycle) AS c FROM decisions "
            "UNION ALL SELECT MAX(cycle) FROM intents)"
        )
        value = rows[0][0]
        return None if value is None else as_int(value)

    # -- orders seen -----------------------------------------------------------------------

    def record_orders(self, orders: Iterable[Order]) -> None:
        """Upsert the latest known state of our orders (by ``order_id``), in one transaction."""
        ts = self._now()
        rows = [
            (o.order_id, o.client_order_id, event_of(o.ticker), o.ticker, str(o.side), o.price,
             o.remaining, o.filled, o.initial, str(o.status), iso(o.created_time), ts)
            for o in orders
        ]
        with self._tx(durable=False):
            self._db.executemany(
                "INSERT INTO orders_seen (order_id, client_order_id, event_ticker, ticker, side, "
                "price, remaining, filled, initial, status, created_time, seen_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
                "client_order_id = excluded.client_order_id, price = excluded.price, "
                "remaining = excluded.remaining, filled = excluded.filled, "
                "initial = excluded.initial, status = excluded.status, "
                "created_time = COALESCE(excluded.created_time, created_time), "
                "seen_ts = excluded.seen_ts",
                rows,
            )

    def orders_seen(
        self, *, event_ticker: str | None = None, status: OrderStatus | str | None = None
    ) -> list[Order]:
        """Return the latest known state of our orders, optionally filtered, by ticker/price."""
        sql = (
            "SELECT order_id, client_order_id, ticker, side, price, remaining, filled, initial, "
            "status, created_time FROM orders_seen WHERE 1 = 1"
        )
        args: list[object] = []
        if event_ticker is not None:
            sql += " AND event_ticker = ?"
            args.append(event_ticker)
        if status is not None:
            sql += " AND status = ?"
            args.append(str(OrderStatus(status)))
        sql += " ORDER BY ticker, side, price, order_id"
        return [
            Order(
                order_id=str(r[0]), client_order_id=str(r[1]), ticker=str(r[2]),
                side=BookSide(str(r[3])), price=as_int(r[4]), remaining=as_int(r[5]),
                filled=as_int(r[6]), initial=as_int(r[7]), status=OrderStatus(str(r[8])),
                created_time=parse_dt(None if r[9] is None else str(r[9])),
            )
            for r in self._query(sql, tuple(args))
        ]


def _intent(r: tuple[object, ...]) -> Intent:
    return Intent(
        id=as_int(r[0]), ts=datetime.fromisoformat(str(r[1])), kind=IntentKind(str(r[2])),
        client_order_id=None if r[3] is None else str(r[3]),
        order_id=None if r[4] is None else str(r[4]), ticker=str(r[5]), side=BookSide(str(r[6])),
        price=None if r[7] is None else as_int(r[7]), count=None if r[8] is None else as_int(r[8]),
        config_version=None if r[9] is None else str(r[9]),
        prediction_version=None if r[10] is None else str(r[10]),
        cycle=None if r[11] is None else as_int(r[11]),
    )
