"""The durable journal in SQLite: order intents and results, fills, settlements, marks, decisions.

Rules:

* An intent is written (and fsynced) **before** its request is sent, and its result right
  after the request returns, so a crash never loses an order the exchange acknowledged: on
  restart, ``unresolved_intents()`` lists every write whose outcome must be read back.
* Generations (the last part of a deterministic ``client_order_id``) are persisted before use,
  so a restart never reuses an id for a different order.
* Fills are keyed by ``trade_id``: recording one twice is a no-op (exactly-once). Each
  carries its fee (the exchange's ``fee_cost`` where reported) and, when known, tsad's true
  value of YES at the time (for the fill's edge).
* Settlements are keyed by market ticker: a market settles once. A settlement first learnt
  from the lifecycle feed (``determined``) is completed, never duplicated, by the exchange's
  ``/portfolio/settlements`` row.
* Marks hold the latest mid and true value of YES per market (advisory, overwritten), so
  ``tsad report`` can value open positions without asking the exchange.
* Money, prices and counts are INTEGER columns in the shared int units of `tsad.money`;
  probabilities are stored as exact fraction strings (``"7/20"``).

Durability: the database runs in WAL mode. Intents, results, generations and fills commit
with ``synchronous=FULL`` (the WAL is fsynced at every commit, so they survive power loss,
not only a process crash). Decisions and seen orders are advisory and cheap to rebuild, so
they commit with ``synchronous=NORMAL`` (durable against a process crash; the next FULL
commit also syncs them, so order is never inverted). All calls are synchronous and short;
the daemon calls them from the event loop, batching one cycle's decisions per transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Final

from tsad.clock import SystemClock
from tsad.core.clock import Clock
from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Fill, Order, OrderStatus
from tsad.errors import TsadError


__all__ = [
    "SCHEMA_VERSION",
    "Decision",
    "Intent",
    "IntentKind",
    "Journal",
    "JournalError",
    "Mark",
    "ResultOutcome",
    "Settlement",
    "event_of",
]

SCHEMA_VERSION: Final = 2

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS generation (
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (ticker, side)
);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('create', 'amend', 'decrease', 'cancel')),
    client_order_id TEXT,
    order_id TEXT,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    price INTEGER,
    count INTEGER,
    config_version TEXT,
    prediction_version TEXT,
    cycle INTEGER
);
CREATE INDEX IF NOT EXISTS intents_client_order_id ON intents (client_order_id);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id INTEGER NOT NULL REFERENCES intents (id),
    ts TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'ambiguous')),
    order_id TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS results_intent ON results (intent_id);
CREATE TABLE IF NOT EXISTS fills (
    trade_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    client_order_id TEXT,
    event_ticker TEXT NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    price INTEGER NOT NULL,
    count INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    is_taker INTEGER NOT NULL,
    ts TEXT,
    recorded_ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_event ON fills (event_ticker);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle INTEGER NOT NULL,
    ts TEXT NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT,
    true_value TEXT,
    price INTEGER,
    count INTEGER,
    reason TEXT,
    config_version TEXT,
    prediction_version TEXT
);
CREATE INDEX IF NOT EXISTS decisions_cycle ON decisions (cycle);
CREATE TABLE IF NOT EXISTS settlements (
    ticker TEXT PRIMARY KEY,
    event_ticker TEXT NOT NULL,
    result TEXT NOT NULL,
    value INTEGER NOT NULL,
    revenue INTEGER,
    fee INTEGER NOT NULL DEFAULT 0,
    yes_count INTEGER,
    no_count INTEGER,
    settled_ts TEXT,
    source TEXT NOT NULL CHECK (source IN ('lifecycle', 'exchange', 'paper')),
    recorded_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS marks (
    ticker TEXT PRIMARY KEY,
    event_ticker TEXT NOT NULL,
    mid INTEGER,
    fair TEXT,
    ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders_seen (
    order_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    event_ticker TEXT NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    price INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    filled INTEGER NOT NULL,
    initial INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_time TEXT,
    seen_ts TEXT NOT NULL
);
"""


class JournalError(TsadError):
    """The journal cannot be opened or written: corrupt, locked, or unwritable (names the file)."""


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


def event_of(ticker: str) -> str:
    """Return the event ticker of a market ticker: ``KXTSAW-24SEP08-A2.45`` → ``KXTSAW-24SEP08``.

    A ticker without a dash is its own event.
    """
    head, sep, _ = ticker.rpartition("-")
    return head if sep else ticker


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _fraction_text(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


class Journal:
    """An open journal database. Build it with `Journal.open`; close it with `close()`.

    Usable as a context manager. Not thread-safe: one owner (the engine) writes it.
    """

    __slots__ = ("_clock", "_db", "path")

    def __init__(self, db: sqlite3.Connection, path: Path, clock: Clock) -> None:
        """Wrap an already-configured connection; use `Journal.open` instead."""
        self._db = db
        self._clock = clock
        self.path = path

    def __repr__(self) -> str:
        return f"Journal(path={str(self.path)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, clock: Clock | None = None) -> Journal:
        """Open (creating if needed) the journal at ``path``.

        Parent directories are created with mode 0700 and the file with mode 0600.

        Args:
            path: the SQLite file.
            clock: the time source for row timestamps (default: the system clock).

        Returns:
            The open journal, in WAL mode, schema at `SCHEMA_VERSION`.

        Raises:
            JournalError: the file is not a journal, is corrupt, is locked by another
                process, has a newer schema, or cannot be created.
        """
        p = Path(path)
        try:
            p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.close(fd)
        except OSError as exc:
            raise JournalError(f"journal {p}: cannot create: {exc.strerror or exc}") from exc
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(p, isolation_level=None, timeout=2.0)
            db.execute("PRAGMA busy_timeout = 2000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {p}: cannot enable WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            journal = cls(db, p, clock or SystemClock())
            journal._migrate()
        except JournalError:
            if db is not None:
                db.close()
            raise
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise _translate(p, exc) from exc
        return journal

    def _migrate(self) -> None:
        with self._tx(durable=True):
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            if self._db.execute(
                "SELECT 1 FROM meta WHERE key = 'generation_base'"
            ).fetchone() is None:
                # Generations of a new journal start above anything an older journal (lost,
                # or replaced) can have used, so client_order_ids never collide across them.
                base = int(self._clock.now().timestamp()) * 1000
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('generation_base', ?)", (str(base),)
                )
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path}: schema version {row[0]} is newer than "
                    f"this tsad supports ({SCHEMA_VERSION})"
                )
            # 1 → 2: fills carry tsad's true value of YES at the fill (settlements and
            # marks are new tables, created above).
            columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(fills)")}
            if "true_value" not in columns:
                self._db.execute("ALTER TABLE fills ADD COLUMN true_value TEXT")
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        """Checkpoint the WAL and close the database (idempotent)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.ProgrammingError:
            return  # already closed
        except sqlite3.Error:
            pass  # another reader holds the WAL: the checkpoint happens later
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, durable: bool) -> Iterator[None]:
        """Run a block in one IMMEDIATE transaction, at FULL or NORMAL sync."""
        try:
            self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _translate(self.path, exc) from exc

    def _now(self) -> str:
        return self._clock.now().isoformat()

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return list(self._db.execute(sql, args))
        except sqlite3.Error as exc:
            raise _translate(self.path, exc) from exc

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
                 int(fill.is_taker), _iso(fill.ts), self._now(), _fraction_text(true_value)),
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
                 st.yes_count, st.no_count, _iso(st.settled_ts), st.source, self._now()),
            )
            new = cur.rowcount == 1
            if not new and st.source == "exchange":
                self._db.execute(
                    "UPDATE settlements SET result = ?, value = ?, revenue = ?, fee = ?, "
                    "yes_count = ?, no_count = ?, settled_ts = COALESCE(?, settled_ts), "
                    "source = 'exchange' WHERE ticker = ? AND source != 'exchange'",
                    (st.result, st.value, st.revenue, st.fee, st.yes_count, st.no_count,
                     _iso(st.settled_ts), st.ticker),
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
                ticker=str(r[0]), result=str(r[1]), value=_int(r[2]),
                revenue=None if r[3] is None else _int(r[3]), fee=_int(r[4]),
                yes_count=None if r[5] is None else _int(r[5]),
                no_count=None if r[6] is None else _int(r[6]),
                settled_ts=_dt(None if r[7] is None else str(r[7])), source=str(r[8]),
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
            (m.ticker, event_of(m.ticker), m.mid, _fraction_text(m.fair), ts) for m in marks
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
            str(r[0]): Mark(ticker=str(r[0]), mid=None if r[1] is None else _int(r[1]),
                            fair=None if r[2] is None else Fraction(str(r[2])))
            for r in self._query(sql, args)
        }

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
                side=BookSide(str(r[4])), price=_int(r[5]), count=_int(r[6]), fee=_int(r[7]),
                is_taker=bool(r[8]), ts=_dt(None if r[9] is None else str(r[9])),
            )
            for r in self._query(sql, args)
        ]

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
             _fraction_text(d.true_value), d.price, d.count, d.reason, config_version,
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
                price=None if r[3] is None else _int(r[3]),
                count=None if r[4] is None else _int(r[4]),
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
        return None if value is None else _int(value)

    # -- orders seen -----------------------------------------------------------------------

    def record_orders(self, orders: Iterable[Order]) -> None:
        """Upsert the latest known state of our orders (by ``order_id``), in one transaction."""
        ts = self._now()
        rows = [
            (o.order_id, o.client_order_id, event_of(o.ticker), o.ticker, str(o.side), o.price,
             o.remaining, o.filled, o.initial, str(o.status), _iso(o.created_time), ts)
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
                side=BookSide(str(r[3])), price=_int(r[4]), remaining=_int(r[5]),
                filled=_int(r[6]), initial=_int(r[7]), status=OrderStatus(str(r[8])),
                created_time=_dt(None if r[9] is None else str(r[9])),
            )
            for r in self._query(sql, tuple(args))
        ]


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise JournalError(f"journal holds a non-integer where an integer belongs: {value!r}")
    return value


def _intent(r: tuple[object, ...]) -> Intent:
    return Intent(
        id=_int(r[0]), ts=datetime.fromisoformat(str(r[1])), kind=IntentKind(str(r[2])),
        client_order_id=None if r[3] is None else str(r[3]),
        order_id=None if r[4] is None else str(r[4]), ticker=str(r[5]), side=BookSide(str(r[6])),
        price=None if r[7] is None else _int(r[7]), count=None if r[8] is None else _int(r[8]),
        config_version=None if r[9] is None else str(r[9]),
        prediction_version=None if r[10] is None else str(r[10]),
        cycle=None if r[11] is None else _int(r[11]),
    )


def _translate(path: Path, exc: sqlite3.Error) -> JournalError:
    """Turn an sqlite3 error into a JournalError that names the file and the likely cause."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        why = "is locked by another process (is another tsad running on it?)"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = "is corrupt or not a tsad journal"
    elif "readonly" in text or "read-only" in text:
        why = "is read-only"
    else:
        why = "failed"
    return JournalError(f"journal {path} {why}: {text}")
