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

Modules: `tsad.runtime.journal_store` holds the schema, its migrations and the transactions;
`tsad.runtime.journal_orders` the intents, generations, decisions and orders seen;
`tsad.runtime.journal_ledger` the fills, settlements and marks. `Journal` joins them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import TracebackType

from tsad.clock import SystemClock
from tsad.core.clock import Clock
from tsad.runtime.journal_ledger import LedgerStore, Mark, Settlement
from tsad.runtime.journal_orders import Decision, Intent, IntentKind, OrderStore, ResultOutcome
from tsad.runtime.journal_store import SCHEMA_VERSION, JournalError, event_of, translate


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


class Journal(OrderStore, LedgerStore):
    """An open journal database. Build it with `Journal.open`; close it with `close()`.

    Usable as a context manager. Not thread-safe: one owner (the engine) writes it.
    """

    __slots__ = ()

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
            raise translate(p, exc) from exc
        return journal

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
