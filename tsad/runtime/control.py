"""The control socket: one status snapshot of the running daemon, served on a local unix socket.

`snapshot` turns the engine's state into a `StatusSnapshot` value; the control socket,
the Prometheus metrics, the ``STATUS=`` line and the alert monitor all read that one value,
so they never disagree. The socket lives in the state directory (``$STATE_DIRECTORY`` under
systemd, else the journal's folder) as ``tsad.sock``, mode 0600. The protocol is one request
line (``status``) answered by one JSON line, then the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Protocol

import structlog

from tsad.core.money import PRICE_SCALE, format_count, format_money, format_price
from tsad.core.orders import BookSide, Fill, MirrorOrder, MirrorState
from tsad.errors import TsadError
from tsad.runtime.settings import PAPER_JOURNAL


__all__ = [
    "SOCKET_NAME",
    "ControlServer",
    "MarketStatus",
    "OrderView",
    "StatusSnapshot",
    "StatusUnavailable",
    "pnl",
    "query_status",
    "snapshot",
    "socket_path",
    "socket_path_for_config_file",
]

log = structlog.get_logger("tsad.runtime.control")

SOCKET_NAME: Final = "tsad.sock"
_DEFAULT_JOURNAL: Final = Path("state/journal.sqlite3")
_MAX_REQUEST: Final = 256


class StatusUnavailable(TsadError):
    """No daemon answered on the control socket (not running, or another state directory)."""


# --- the snapshot ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    """One of our orders resting at the exchange (YES price in $0.0001, count in 0.01)."""

    book_side: BookSide
    price: int
    count: int
    order_id: str | None = None

    def to_json(self) -> dict[str, str]:
        """Return ``{"book_side", "price", "count"}`` with Kalshi's strings."""
        return {"book_side": self.book_side.value, "price": format_price(self.price),
                "count": format_count(self.count)}


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketStatus:
    """One market as the daemon sees it now.

    ``order`` is our resting order there (None when there is none); ``orders`` lists every
    resting order of ours in the market (normally zero or one). ``pulled`` names why the
    market is not quoted although it could be (a pulled-quotes reason), else None.
    """

    ticker: str
    true_value: Fraction | None
    order: OrderView | None
    orders: tuple[OrderView, ...] = ()
    best_bid: int | None = None
    best_ask: int | None = None
    position: int = 0
    pulled: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the documented per-market object (prices and counts as Kalshi strings)."""
        return {
            "ticker": self.ticker,
            "true_value": _probability(self.true_value),
            "order": None if self.order is None else self.order.to_json(),
            "best_bid": None if self.best_bid is None else format_price(self.best_bid),
            "best_ask": None if self.best_ask is None else format_price(self.best_ask),
            "position": format_count(self.position),
            "pulled": self.pulled,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusSnapshot:
    """The daemon's state at one instant, for status, metrics, ``STATUS=`` and alerts.

    Money (``pnl``) is in $0.000001 units; ``pnl`` is None when it cannot be computed.
    """

    event_ticker: str | None
    markets: tuple[MarketStatus, ...] = ()
    ready: bool = False
    stopping: bool = False
    trading_active: bool = True
    pull_reasons: Mapping[str, str] = field(default_factory=dict)
    in_flight: int = 0
    fills: int = 0
    cycles: int = 0
    writes: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    pnl: int | None = None

    @property
    def resting(self) -> tuple[tuple[str, OrderView], ...]:
        """Every resting order of ours as (ticker, order)."""
        return tuple((m.ticker, o) for m in self.markets for o in m.orders)

    @property
    def pulled(self) -> bool:
        """Whether all quotes are pulled (a global reason, or the exchange paused)."""
        return bool(self.pull_reasons) or not self.trading_active

    def to_json(self) -> dict[str, Any]:
        """Return the ``tsad status --json`` object."""
        return {
            "event_ticker": self.event_ticker,
            "markets": [m.to_json() for m in self.markets],
            "ready": self.ready,
            "stopping": self.stopping,
            "trading_active": self.trading_active,
            "pull_reasons": dict(self.pull_reasons),
            "resting_orders": len(self.resting),
            "in_flight": self.in_flight,
            "fills": self.fills,
            "cycles": self.cycles,
            "writes": dict(self.writes),
            "errors": dict(self.errors),
            "pnl_dollars": None if self.pnl is None else _dollars(self.pnl),
        }

    def status_line(self) -> str:
        """A one-line summary for systemd's ``STATUS=``."""
        positions = sum(1 for m in self.markets if m.position)
        text = (f"{self.event_ticker or '-'}: {len(self.resting)} resting, "
                f"{positions} positions, {self.fills} fills")
        if self.pull_reasons:
            text += f", quotes pulled ({','.join(sorted(self.pull_reasons))})"
        elif not self.trading_active:
            text += ", exchange paused"
        return text


def _probability(value: Fraction | None) -> str | None:
    """A probability as a 4-decimal string, rounded down (the value of a $1 contract)."""
    if value is None:
        return None
    return format_price(int(value * PRICE_SCALE))


def _dollars(amount: int) -> str:
    return format_money(amount, 4) if amount % 100 == 0 else format_money(amount, 6)


# --- building it from the engine ---------------------------------------------------------


class _Book(Protocol):
    @property
    def best_bid(self) -> int | None: ...
    @property
    def best_ask(self) -> int | None: ...
    @property
    def fresh(self) -> bool: ...


class _Valuation(Protocol):
    @property
    def true_value(self) -> Fraction | None: ...


class _Event(Protocol):
    @property
    def event_ticker(self) -> str: ...


class _Mirror(Protocol):
    def live(self) -> list[MirrorOrder]: ...
    def position(self, ticker: str) -> int: ...


class _Stats(Protocol):
    @property
    def cycles(self) -> int: ...
    @property
    def fills(self) -> int: ...
    @property
    def writes(self) -> dict[str, int]: ...
    @property
    def errors(self) -> dict[str, int]: ...


class _Journal(Protocol):
    def fills(self, event_ticker: str | None = None) -> list[Fill]: ...


class EngineView(Protocol):
    """What `snapshot` reads of the engine (attributes only; it never calls into trading)."""

    @property
    def event(self) -> _Event | None: ...
    @property
    def markets(self) -> Mapping[str, object]: ...
    @property
    def books(self) -> Mapping[str, _Book]: ...
    @property
    def valuations(self) -> Mapping[str, _Valuation]: ...
    @property
    def mirror(self) -> _Mirror: ...
    @property
    def pull_reasons(self) -> Mapping[str, str]: ...
    @property
    def trading_active(self) -> bool: ...
    @property
    def ready(self) -> asyncio.Event: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def stats(self) -> _Stats: ...
    @property
    def in_flight(self) -> set[tuple[str, BookSide]]: ...
    @property
    def journal(self) -> _Journal: ...


def snapshot(engine: EngineView, *, with_pnl: bool = True) -> StatusSnapshot:
    """Return the daemon's state now, read from the engine (a pure read).

    Args:
        engine: the running engine.
        with_pnl: also compute the event's PnL from the journal's fills, marked at the mid
            (a short SQLite read; turn off for the once-a-second callers).
    """
    event_ticker = engine.event.event_ticker if engine.event is not None else None
    resting: dict[str, list[OrderView]] = {}
    for mo in engine.mirror.live():
        # What rests at the exchange: acknowledged and not known gone (a cancel in flight
        # still rests until its answer comes back).
        if mo.order_id is None or mo.state not in (MirrorState.RESTING, MirrorState.CANCELLING):
            continue
        if mo.remaining <= 0:
            continue
        resting.setdefault(mo.ticker, []).append(
            OrderView(book_side=mo.side, price=mo.price, count=mo.remaining,
                      order_id=mo.order_id))
    reasons = dict(engine.pull_reasons)
    global_reason = ",".join(sorted(reasons)) or (None if engine.trading_active
                                                   else "exchange_paused")
    markets = []
    for ticker in engine.markets:
        book = engine.books.get(ticker)
        val = engine.valuations.get(ticker)
        orders = tuple(sorted(resting.get(ticker, ()), key=lambda o: (o.book_side, o.price)))
        pulled = global_reason
        if pulled is None and book is not None and not book.fresh:
            pulled = "market_data_stale"
        markets.append(MarketStatus(
            ticker=ticker,
            true_value=None if val is None else val.true_value,
            order=orders[0] if orders else None,
            orders=orders,
            best_bid=None if book is None else book.best_bid,
            best_ask=None if book is None else book.best_ask,
            position=engine.mirror.position(ticker),
            pulled=pulled,
        ))
    stats = engine.stats
    money: int | None = None
    if with_pnl and event_ticker is not None:
        try:
            fills = engine.journal.fills(event_ticker)
        except Exception as exc:  # a status read must never hurt trading
            log.warning("status.pnl_unavailable", error=type(exc).__name__)
        else:
            money = pnl(fills, {m.ticker: _mid(m) for m in markets})
    return StatusSnapshot(
        event_ticker=event_ticker,
        markets=tuple(markets),
        ready=engine.ready.is_set(),
        stopping=engine.stopping,
        trading_active=engine.trading_active,
        pull_reasons=reasons,
        in_flight=len(engine.in_flight),
        fills=stats.fills,
        cycles=stats.cycles,
        writes=dict(stats.writes),
        errors=dict(stats.errors),
        pnl=money,
    )


def _mid(m: MarketStatus) -> int | None:
    if m.best_bid is None or m.best_ask is None:
        return None
    return (m.best_bid + m.best_ask) // 2


def pnl(fills: Iterable[Fill], marks: Mapping[str, int | None]) -> int:
    """Return the PnL of ``fills`` in $0.000001 units: cash flows less fees, plus open
    positions marked at ``marks`` (a market without a mark uses its last fill price).

    Marking every open contract at one price makes this equal to realized plus unrealized
    PnL under any lot-matching rule (FIFO included).
    """
    cash = 0
    held: dict[str, int] = {}
    last: dict[str, int] = {}
    for f in fills:
        qty = f.count if f.side is BookSide.BID else -f.count
        cash -= qty * f.price + f.fee
        held[f.ticker] = held.get(f.ticker, 0) + qty
        last[f.ticker] = f.price
    for ticker, qty in held.items():
        mark = marks.get(ticker)
        cash += qty * (last[ticker] if mark is None else mark)
    return cash


# --- where the socket lives --------------------------------------------------------------


def socket_path(journal_path: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Return the control socket's path: ``$STATE_DIRECTORY`` if set, else the journal's folder.

    systemd may pass several state directories separated by colons; the first is used.
    """
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    return (Path(state) if state else journal_path.parent) / SOCKET_NAME


def socket_path_for_config_file(
    config_path: Path, environ: Mapping[str, str] | None = None
) -> Path:
    """Return the control socket of the daemon running ``config_path``.

    Only ``[journal] path`` is read (resolved as the config loader does, against the file's
    folder), so an operator can ask without the private key the service gets from systemd.

    Raises:
        StatusUnavailable: the file cannot be read or is not TOML.
    """
    try:
        raw = tomllib.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StatusUnavailable(f"{config_path}: cannot read the config: {exc}") from exc
    journal = raw.get("journal", {})
    text = journal.get("path") if isinstance(journal, dict) else None
    exchange = raw.get("exchange", {})
    paper = not isinstance(exchange, dict) or exchange.get("environment", "paper") == "paper"
    default = PAPER_JOURNAL if paper else _DEFAULT_JOURNAL
    path = Path(text).expanduser() if isinstance(text, str) and text else default
    if not path.is_absolute():
        path = config_path.absolute().parent / path
    return socket_path(path, environ)


# --- the server and the client -----------------------------------------------------------


class ControlServer:
    """Answers ``status`` on a unix socket with the JSON of a fresh snapshot.

    Args:
        path: the socket file (a stale one left by a killed daemon is replaced).
        provider: returns the snapshot to serve.
    """

    def __init__(self, path: Path, provider: Callable[[], StatusSnapshot]) -> None:
        self.path = path
        self._provider = provider
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> bool:
        """Listen; return False (logged, trading unaffected) when the socket cannot be made."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(self.path.lstat().st_mode):
                    self.path.unlink()
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
            os.chmod(self.path, 0o600)
        except OSError as exc:
            log.warning("control.unavailable", path=str(self.path), error=str(exc))
            return False
        log.info("control.listening", path=str(self.path))
        return True

    async def close(self) -> None:
        """Stop listening and remove the socket file."""
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
        self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5.0):
                line = await reader.readline()
                request = line[:_MAX_REQUEST].decode(errors="replace").strip() or "status"
                if request == "status":
                    body: dict[str, Any] = self._provider().to_json()
                else:
                    body = {"error": f"unknown request {request[:40]!r}"}
                writer.write(json.dumps(body).encode() + b"\n")
                await writer.drain()
        except Exception as exc:  # a status client must never hurt the daemon
            log.warning("control.request_failed", error=type(exc).__name__, detail=str(exc))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def query_status(path: Path, *, timeout: float = 5.0) -> dict[str, Any]:
    """Ask the daemon listening on ``path`` for its status (blocking, for the CLI).

    Raises:
        StatusUnavailable: nothing listens there, or the answer is not a JSON object.
    """
    chunks: list[bytes] = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(b"status\n")
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except FileNotFoundError:
        raise StatusUnavailable(f"no daemon is running here ({path} does not exist)") from None
    except ConnectionRefusedError:
        raise StatusUnavailable(f"no daemon is listening on {path} (stale socket)") from None
    except PermissionError:
        raise StatusUnavailable(
            f"{path}: permission denied (run as the service's user, e.g. sudo -u tsad)"
        ) from None
    except OSError as exc:
        raise StatusUnavailable(f"{path}: {exc}") from exc
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        raise StatusUnavailable(f"{path}: the daemon's answer is not JSON") from None
    if not isinstance(answer, dict) or "error" in answer:
        raise StatusUnavailable(f"{path}: unexpected answer {str(answer)[:200]}")
    return answer
