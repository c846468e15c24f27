"""The ``tsad report`` command: resting orders, positions, fills, PnL and fees from the journal.

Accounting (all exact integers in `tsad.money` units, formatted as dollars only for output):

* A fill's ``side`` is our order's book side on the YES book: a ``bid`` buys YES at ``price``,
  an ``ask`` sells YES at ``price`` (which is buying NO at 1 − price). Positions are signed
  YES-equivalents: > 0 long YES, < 0 long NO.
* Realized PnL matches fills first-in first-out against the open lots of the same market:
  closing ``m`` contracts of a lot opened at ``p0`` by a fill at ``p`` realizes
  ``m × (p − p0)`` for a long lot and ``m × (p0 − p)`` for a short one. FIFO keeps every
  figure an exact integer (an average cost would need fractions of a micro-dollar).
* Mark-to-market (``unrealized``) values the open lots at a **mark** price: the one given
  with ``--mark TICKER=PRICE`` (use ``1.00`` / ``0.00`` for a settled market), otherwise the
  market's **last fill price** — a crude, stale mark, flagged as ``last_fill`` in the output.
* Fees are what the exchange charged per fill; ``net = realized + unrealized − fees``.

The exchange part (its view of resting orders, positions and balance) is optional: it is
read only with ``--config`` for a non-paper environment, unless ``--offline``; when the
exchange cannot be reached the report says so and shows the journal's view alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tsad.core.exchange import Exchange
from tsad.core.money import format_count, format_money, format_price, parse_price
from tsad.core.orders import Balance, BookSide, Fill, Order, OrderStatus, Position
from tsad.errors import ConfigError, TsadError
from tsad.runtime.config import Config, load_config
from tsad.runtime.journal import Journal, JournalError, event_of


__all__ = [
    "EventSummary",
    "ExchangeView",
    "MarketSummary",
    "Report",
    "build_report",
    "cmd_report",
    "dollars",
    "fetch_exchange_view",
    "market_summary",
    "register_report",
    "render_json",
    "render_table",
]

EX_CONFIG = 78


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSummary:
    """Position and PnL of one market (counts in 0.01 contract, money in $0.000001)."""

    ticker: str
    event_ticker: str
    position: int
    bought: int
    sold: int
    fills: int
    realized: int
    unrealized: int
    fees: int
    mark: int | None
    mark_source: str

    @property
    def net(self) -> int:
        """Realized plus mark-to-market, less fees."""
        return self.realized + self.unrealized - self.fees


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSummary:
    """Totals of one event over its markets."""

    event_ticker: str
    fills: int
    realized: int
    unrealized: int
    fees: int

    @property
    def net(self) -> int:
        """Realized plus mark-to-market, less fees."""
        return self.realized + self.unrealized - self.fees


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeView:
    """What the exchange says, when it could be asked (``error`` says why it could not)."""

    resting: tuple[Order, ...] = ()
    positions: tuple[Position, ...] = ()
    balance: Balance | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything ``tsad report`` prints."""

    journal: str
    event_ticker: str | None
    resting: tuple[Order, ...]
    markets: tuple[MarketSummary, ...]
    events: tuple[EventSummary, ...]
    fills: tuple[Fill, ...]
    exchange: ExchangeView | None = field(default=None)


def market_summary(ticker: str, fills: Iterable[Fill], mark: int | None = None) -> MarketSummary:
    """Compute one market's position and FIFO PnL from its fills (in time order).

    Args:
        ticker: the market.
        fills: its fills, oldest first (fills of other markets are refused).
        mark: the price to value open lots at; None uses the last fill price.

    Returns:
        The summary; ``unrealized`` is 0 when flat or when there is no price at all.

    Raises:
        ValueError: a fill of another market.
    """
    lots: deque[list[int]] = deque()  # [signed count, price], oldest first
    realized = fees = bought = sold = n = 0
    last: int | None = None
    for f in fills:
        if f.ticker != ticker:
            raise ValueError(f"fill {f.trade_id} is for {f.ticker}, not {ticker}")
        n += 1
        fees += f.fee
        last = f.price
        qty = f.count if f.side is BookSide.BID else -f.count
        if qty > 0:
            bought += qty
        else:
            sold -= qty
        while qty and lots and (lots[0][0] > 0) != (qty > 0):
            lot = lots[0]
            m = min(abs(qty), abs(lot[0]))
            realized += m * (f.price - lot[1]) if lot[0] > 0 else m * (lot[1] - f.price)
            lot[0] += m if lot[0] < 0 else -m
            qty += m if qty < 0 else -m
            if lot[0] == 0:
                lots.popleft()
        if qty:
            lots.append([qty, f.price])
    price, source = (mark, "given") if mark is not None else (last, "last_fill")
    unrealized = 0
    if price is not None:
        unrealized = sum(c * (price - p) for c, p in lots)  # c < 0 flips the sign for shorts
    return MarketSummary(
        ticker=ticker, event_ticker=event_of(ticker), position=sum(c for c, _ in lots),
        bought=bought, sold=sold, fills=n, realized=realized, unrealized=unrealized, fees=fees,
        mark=price, mark_source=source if price is not None else "none",
    )


def build_report(
    journal: Journal,
    *,
    event_ticker: str | None = None,
    marks: Mapping[str, int] | None = None,
    exchange: ExchangeView | None = None,
) -> Report:
    """Assemble the report from the journal (and an optional exchange view).

    Args:
        journal: the open journal.
        event_ticker: restrict to one event (default: every event journaled).
        marks: mark prices by market ticker, overriding the last fill price.
        exchange: what the exchange said, if it was asked.
    """
    marks = marks or {}
    fills = journal.fills(event_ticker)
    by_market: dict[str, list[Fill]] = {}
    for f in fills:
        by_market.setdefault(f.ticker, []).append(f)
    markets = tuple(
        market_summary(t, fs, marks.get(t)) for t, fs in sorted(by_market.items())
    )
    events: dict[str, list[MarketSummary]] = {}
    for m in markets:
        events.setdefault(m.event_ticker, []).append(m)
    return Report(
        journal=str(journal.path),
        event_ticker=event_ticker,
        resting=tuple(journal.orders_seen(event_ticker=event_ticker, status=OrderStatus.RESTING)),
        markets=markets,
        events=tuple(
            EventSummary(
                event_ticker=e, fills=sum(m.fills for m in ms),
                realized=sum(m.realized for m in ms), unrealized=sum(m.unrealized for m in ms),
                fees=sum(m.fees for m in ms),
            )
            for e, ms in sorted(events.items())
        ),
        fills=tuple(fills),
        exchange=exchange,
    )


async def fetch_exchange_view(
    exchange: Exchange, *, event_ticker: str | None = None
) -> ExchangeView:
    """Ask the exchange for our resting orders, positions and balance.

    The caller bounds it with ``asyncio.timeout``. Never raises for an exchange or network
    failure: the view then carries ``error``.
    """
    try:
        resting = await exchange.list_orders(event_ticker=event_ticker, status="resting")
        positions = await exchange.list_positions(event_ticker=event_ticker)
        balance = await exchange.get_balance()
    except (TsadError, OSError) as exc:
        return ExchangeView(error=f"{type(exc).__name__}: {exc}")
    return ExchangeView(
        resting=tuple(sorted(resting, key=lambda o: (o.ticker, o.side, o.price, o.order_id))),
        positions=tuple(sorted(positions, key=lambda p: p.ticker)),
        balance=balance,
    )


# -- formatting ----------------------------------------------------------------------------


def dollars(amount: int) -> str:
    """Format money units as dollars, exactly: 4 decimals when they suffice, else 6."""
    return format_money(amount, 4) if amount % 100 == 0 else format_money(amount, 6)


def _order_json(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id, "client_order_id": o.client_order_id, "ticker": o.ticker,
        "side": str(o.side), "price": format_price(o.price),
        "remaining": format_count(o.remaining), "filled": format_count(o.filled),
        "status": str(o.status),
    }


def _pnl_json(s: MarketSummary | EventSummary) -> dict[str, str]:
    return {
        "realized": dollars(s.realized), "unrealized": dollars(s.unrealized),
        "fees": dollars(s.fees), "net": dollars(s.net),
    }


def render_json(report: Report) -> dict[str, Any]:
    """Return the report as a JSON-ready dict (prices, counts and dollars as exact strings)."""
    out: dict[str, Any] = {
        "journal": report.journal,
        "event_ticker": report.event_ticker,
        "resting": [_order_json(o) for o in report.resting],
        "positions": [
            {
                "ticker": m.ticker, "event_ticker": m.event_ticker,
                "position": format_count(m.position), "bought": format_count(m.bought),
                "sold": format_count(m.sold), "fills": m.fills,
                "mark": None if m.mark is None else format_price(m.mark),
                "mark_source": m.mark_source, **_pnl_json(m),
            }
            for m in report.markets
        ],
        "events": [
            {"event_ticker": e.event_ticker, "fills": e.fills, **_pnl_json(e)}
            for e in report.events
        ],
        "fills": [
            {
                "trade_id": f.trade_id, "order_id": f.order_id, "ticker": f.ticker,
                "side": str(f.side), "price": format_price(f.price),
                "count": format_count(f.count), "fee": dollars(f.fee), "is_taker": f.is_taker,
                "ts": None if f.ts is None else f.ts.isoformat(),
            }
            for f in report.fills
        ],
        "exchange": None,
    }
    ex = report.exchange
    if ex is not None:
        out["exchange"] = {
            "error": ex.error,
            "resting": [_order_json(o) for o in ex.resting],
            "positions": [
                {
                    "ticker": p.ticker, "position": format_count(p.position),
                    "exposure": dollars(p.exposure), "realized_pnl": dollars(p.realized_pnl),
                    "fees_paid": dollars(p.fees_paid),
                }
                for p in ex.positions
            ],
            "balance": None if ex.balance is None else dollars(ex.balance.balance),
            "portfolio_value": None if ex.balance is None else dollars(
                ex.balance.portfolio_value),
        }
    return out


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Render an aligned text table: text columns left, numbers right."""
    lines = [title if title.endswith(")") else f"{title} ({len(rows)})"]
    if not rows:
        return [*lines, "  (none)", ""]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in rows) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return "  " + "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return [*lines, fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows), ""]


def _is_number(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit() or text == "-"


def render_table(report: Report, *, max_fills: int = 20) -> str:
    """Return the report as aligned, human-readable tables (the last ``max_fills`` fills)."""
    out = [f"journal {report.journal}" + (f"  event {report.event_ticker}"
                                           if report.event_ticker else ""), ""]
    order_header = ("ticker", "side", "price", "remaining", "filled", "client_order_id")

    def order_row(o: Order) -> list[str]:
        return [o.ticker, str(o.side), format_price(o.price), format_count(o.remaining),
                format_count(o.filled), o.client_order_id]

    out += _table("Resting orders, as last seen by tsad", order_header,
                  [order_row(o) for o in report.resting])
    out += _table(
        "Positions",
        ("ticker", "position", "mark", "mark_from", "realized", "unrealized", "fees", "net"),
        [
            [m.ticker, format_count(m.position), "-" if m.mark is None else format_price(m.mark),
             m.mark_source, dollars(m.realized), dollars(m.unrealized), dollars(m.fees),
             dollars(m.net)]
            for m in report.markets
        ],
    )
    out += _table(
        "Events",
        ("event", "fills", "realized", "unrealized", "fees", "net"),
        [
            [e.event_ticker, str(e.fills), dollars(e.realized), dollars(e.unrealized),
             dollars(e.fees), dollars(e.net)]
            for e in report.events
        ],
    )
    shown = report.fills[-max_fills:] if max_fills > 0 else ()
    out += _table(
        f"Fills (last {len(shown)} of {len(report.fills)})",
        ("time", "ticker", "side", "price", "count", "fee", "trade_id"),
        [
            ["-" if f.ts is None else f.ts.isoformat(timespec="seconds"), f.ticker, str(f.side),
             format_price(f.price), format_count(f.count), dollars(f.fee), f.trade_id]
            for f in shown
        ],
    )
    ex = report.exchange
    if ex is not None:
        if ex.error is not None:
            out += [f"Exchange: not reachable ({ex.error}); journal view only", ""]
        else:
            if ex.balance is not None:
                out += [f"Exchange balance {dollars(ex.balance.balance)}  portfolio value "
                        f"{dollars(ex.balance.portfolio_value)}", ""]
            out += _table("Exchange resting orders", order_header,
                          [order_row(o) for o in ex.resting])
            out += _table(
                "Exchange positions",
                ("ticker", "position", "exposure", "realized_pnl", "fees_paid"),
                [
                    [p.ticker, format_count(p.position), dollars(p.exposure),
                     dollars(p.realized_pnl), dollars(p.fees_paid)]
                    for p in ex.positions
                ],
            )
    return "\n".join(out).rstrip() + "\n"


# -- command line --------------------------------------------------------------------------


def _mark(text: str) -> tuple[str, int]:
    ticker, sep, price = text.partition("=")
    if not sep or not ticker:
        raise argparse.ArgumentTypeError(f"--mark {text!r}: expected TICKER=PRICE")
    try:
        value = parse_price(price)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--mark {text!r}: {exc}") from None
    if not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"--mark {text!r}: price must be within 0.00–1.00")
    return ticker, value


def register_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand to the ``tsad`` command line."""
    p = subparsers.add_parser(
        "report", help="orders, positions, fills, PnL and fees from the journal",
        description="Summarize the journal (and, when reachable, the exchange).",
    )
    p.add_argument("--config", help="config.toml (gives the journal path and the exchange)")
    p.add_argument("--journal", help="the journal file (overrides the config's)")
    p.add_argument("--event", help="only this event ticker, e.g. KXTSAW-24SEP08")
    p.add_argument("--mark", action="append", type=_mark, default=[], metavar="TICKER=PRICE",
                   help="mark price for a market (default: its last fill price); repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--offline", action="store_true", help="do not ask the exchange")
    p.add_argument("--fills", type=int, default=20, metavar="N",
                   help="fills shown in the table (default 20; JSON shows all)")
    p.add_argument("--timeout", type=float, default=10.0, help="exchange timeout in seconds")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """Run ``tsad report``.

    Returns:
        0 on success, 78 for a bad or missing config/journal argument, 1 if the journal
        cannot be read.
    """
    out = sys.stdout if stdout is None else stdout
    cfg: Config | None = None
    try:
        if args.config:
            cfg = load_config(Path(args.config))
        if args.journal:
            path = Path(args.journal)
        elif cfg is not None:
            path = Path(cfg.journal.path)
        else:
            raise ConfigError("tsad report: give --config or --journal")
    except ConfigError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return EX_CONFIG
    if not path.is_file():
        print(f"tsad: journal {path} does not exist", file=sys.stderr)
        return EX_CONFIG
    view: ExchangeView | None = None
    if cfg is not None and not args.offline and str(cfg.exchange.environment) != "paper":
        view = asyncio.run(_exchange_view(cfg, args.event, args.timeout))
    try:
        with Journal.open(path) as journal:
            report = build_report(journal, event_ticker=args.event, marks=dict(args.mark),
                                  exchange=view)
    except JournalError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps(render_json(report), indent=2) + "\n")
    else:
        out.write(render_table(report, max_fills=args.fills))
    return 0


async def _exchange_view(cfg: Config, event_ticker: str | None, seconds: float) -> ExchangeView:
    """Connect with the config's credentials and read the exchange view; never raises."""
    try:
        from tsad.clock import SystemClock
        from tsad.kalshi.rest import KalshiClient
        from tsad.kalshi.signing import Signer, load_private_key

        ex = cfg.exchange
        if ex.rest_url is None:
            return ExchangeView(error="no exchange.rest_url configured")
        signer = Signer(ex.key_id or "", load_private_key(
            ex.private_key_path or "", allow_insecure_permissions=ex.allow_insecure_key))
        client = KalshiClient(rest_url=ex.rest_url, signer=signer, tier=ex.tier,
                              timeout=min(seconds, ex.request_timeout), clock=SystemClock())
    except (ImportError, TsadError, OSError, ValueError) as exc:
        return ExchangeView(error=f"cannot connect: {type(exc).__name__}: {exc}")
    try:
        async with asyncio.timeout(seconds):
            return await fetch_exchange_view(client, event_ticker=event_ticker)
    except TimeoutError:
        return ExchangeView(error=f"no answer within {seconds:g} s")
    finally:
        await client.aclose()
