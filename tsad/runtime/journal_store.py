"""The journal's SQLite store: its schema and migrations, transactions, and column conversions.

`tsad.runtime.journal` builds the `Journal` on this base; the order and ledger tables add
their reads and writes in `tsad.runtime.journal_orders` and `tsad.runtime.journal_ledger`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Final

from tsad.core.clock import Clock
from tsad.errors import TsadError


__all__ = [
    "SCHEMA_VERSION",
    "JournalError",
    "JournalStore",
    "as_int",
    "event_of",
    "fraction_text",
    "iso",
    "parse_dt",
    "translate",
]

SCHEMA_VERSION: Final = 2

SCHEMA_SQL: Final = """
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


def event_of(ticker: str) -> str:
    """Return the event ticker of a market ticker: ``KXTSAW-24SEP08-A2.45`` → ``KXTSAW-24SEP08``.

    A ticker without a dash is its own event.
    """
    head, sep, _ = ticker.rpartition("-")
    return head if sep else ticker


def iso(ts: datetime | None) -> str | None:
    """A timestamp as stored (ISO 8601 text), None kept."""
    return None if ts is None else ts.isoformat()


def parse_dt(text: str | None) -> datetime | None:
    """A stored timestamp read back, None kept."""
    return None if text is None else datetime.fromisoformat(text)


def fraction_text(value: Fraction | None) -> str | None:
    """A probability as stored: the exact fraction string ``"7/20"``, None kept."""
    return None if value is None else f"{value.numerator}/{value.denominator}"


def as_int(value: object) -> int:
    """An INTEGER column read back; anything else means the file was tampered with."""
    if not isinstance(value, int):
        raise JournalError(f"journal holds a non-integer where an integer belongs: {value!r}")
    return value


def translate(path: Path, exc: sqlite3.Error) -> JournalError:
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


class JournalStore:
    """The open connection with its transactions; the base of every journal table's store."""

    __slots__ = ("_clock", "_db", "path")

    def __init__(self, db: sqlite3.Connection, path: Path, clock: Clock) -> None:
        """Wrap an already-configured connection; use `Journal.open` instead."""
        self._db = db
        self._clock = clock
        self.path = path

    def _migrate(self) -> None:
        with self._tx(durable=True):
            for stmt in SCHEMA_SQL.split(";"):
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
            raise translate(self.path, exc) from exc

    def _now(self) -> str:
        return self._clock.now().isoformat()

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return list(self._db.execute(sql, args))
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc
