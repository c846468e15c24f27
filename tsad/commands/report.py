"""The ``tsad report`` command: PnL through settlement, fees, edge, positions and fills.

Accounting is `tsad.core.pnl` (exact integers, FIFO, fees expensed when paid, settlement at
the market's result); this module gathers its inputs from the journal and prints them:

* **fills** with their fee (the exchange's ``fee_cost``) and tsad's true value at the fill;
* **settlements** (from ``/portfolio/settlements`` or the lifecycle feed), once per market;
* **marks**: the latest book mid and true value per market that the daemon journaled;
  ``--mark TICKER=PRICE`` overrides the mid; without any mid the last fill price is used
  (a crude, stale mark, flagged ``last_fill``).

It reports per market, per week (one weekly event) with a cumulative column, and in total:
``realized`` (after fees; equals the account's cash change once everything has settled),
``fees``, ``unrealized`` at the mid and at the true value, and the edge of the fills.
``--json`` prints every figure as an exact decimal string; ``--csv FILE`` writes the fills
and settlements as rows.

The exchange part (its view of resting orders, positions and balance) is optional: it is
read only with ``--config`` for a non-paper environment, unless ``--offline``; when the
exchange cannot be reached the report says so and shows the journal's view alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from os import EX_CONFIG  # sysexits: 78, the configuration is bad
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from tsad.core import tickers
from tsad.core.exchange import Exchange
from tsad.core.money import format_count, format_money, format_price, parse_price
from tsad.core.orders import Balance, Fill, Order, OrderStatus, Position
from tsad.core.pnl import MarketPnl, fill_edge, market_pnl
from tsad.errors import ConfigError, TsadError
from tsad.runtime.config import Config, load_config
from tsad.runtime.journal import Journal, JournalError, Settlement, event_of


__all__ = [
    "ExchangeView",
    "MarketRow",
    "Report",
    "Totals",
    "WeekRow",
    "build_report",
    "cmd_report",
    "dollars",
    "fetch_exchange_view",
    "register_report",
    "render_json",
    "render_table",
    "write_csv",
]



@dataclass(frozen=True, slots=True, kw_only=True)
class MarketRow:
    """One market's PnL and where its mid came from (``given``, ``book``, ``last_fill``)."""

    pnl: MarketPnl
    result: str | None
    mid_source: str

    @property
    def ticker(self) -> str:
        """The market ticker."""
        return self.pnl.ticker

    @property
    def event_ticker(self) -> str:
        """The market's weekly event."""
        return event_of(self.pnl.ticker)


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """Sums over some markets (money in $0.000001); unmarked markets add nothing."""

    fills: int = 0
    contracts: int = 0
    realized: int = 0
    fees: int = 0
    unrealized_mid: int = 0
    unrealized_fair: int = 0
    edge: int = 0

    @classmethod
    def of(cls, rows: Sequence[MarketPnl]) -> Totals:
        """Add up market rows."""
        return cls(
            fills=sum(r.fills for r in rows), contracts=sum(r.bought + r.sold for r in rows),
            realized=sum(r.realized for r in rows), fees=sum(r.fees for r in rows),
            unrealized_mid=sum(r.unrealized_mid or 0 for r in rows),
            unrealized_fair=sum(r.unrealized_fair or 0 for r in rows),
            edge=sum(r.edge for r in rows),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekRow:
    """One weekly event's totals and the realized PnL of all weeks up to it."""

    event_ticker: str
    totals: Totals
    cumulative_realized: int


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
    markets: tuple[MarketRow, ...]
    weeks: tuple[WeekRow, ...]
    totals: Totals
    fills: tuple[Fill, ...]
    fair_at_fill: Mapping[str, Fraction]
    settlements: tuple[Settlement, ...]
    exchange: ExchangeView | None = field(default=None)


def _week_order(event_ticker: str) -> tuple[str, str]:
    """Sort weeks by their Sunday (tickers spell months as letters), unknown ones last."""
    try:
        return (tickers.parse_event_ticker(event_ticker).sunday.isoformat(), event_ticker)
    except ValueError:
        return ("9999", event_ticker)


def _weeks(markets: Sequence[MarketRow]) -> tuple[WeekRow, ...]:
    """Group market rows by week with pandas and add the cumulative realized PnL."""
    if not markets:
        return ()
    frame = pd.DataFrame(
        [{"event": m.event_ticker, "order": _week_order(m.event_ticker)[0], "i": i}
         for i, m in enumerate(markets)]
    )
    out: list[WeekRow] = []
    running = 0
    for (_, event), group in frame.groupby(["order", "event"], sort=True):
        totals = Totals.of([markets[int(i)].pnl for i in group["i"]])
        running += totals.realized
        out.append(WeekRow(event_ticker=str(event), totals=totals, cumulative_realized=running))
    return tuple(out)


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
        marks: mid prices by market ticker, overriding the journaled mids.
        exchange: what the exchange said, if it was asked.
    """
    given = marks or {}
    fills = journal.fills(event_ticker)
    fair_at_fill = journal.fill_true_values(event_ticker)
    settlements = journal.settlements(event_ticker)
    settled = {s.ticker: s for s in settlements}
    journaled = journal.marks(event_ticker)
    by_market: dict[str, list[Fill]] = {}
    for f in fills:
        by_market.setdefault(f.ticker, []).append(f)
    rows: list[MarketRow] = []
    for ticker in sorted(by_market.keys() | settled.keys()):
        fs = by_market.get(ticker, [])
        st = settled.get(ticker)
        mark = journaled.get(ticker)
        mid, source = given.get(ticker), "given"
        if mid is None and mark is not None and mark.mid is not None:
            mid, source = mark.mid, "book"
        if mid is None and fs:
            mid, source = fs[-1].price, "last_fill"
        if mid is None:
            source = "none"
        pnl = market_pnl(
            ticker, fs, settlement=None if st is None else st.value, mid=mid,
            fair=None if mark is None else mark.fair, fair_at_fill=fair_at_fill,
        )
        rows.append(MarketRow(pnl=pnl, result=None if st is None else st.result,
                              mid_source="settled" if st is not None else source))
    return Report(
        journal=str(journal.path),
        event_ticker=event_ticker,
        resting=tuple(journal.orders_seen(event_ticker=event_ticker, status=OrderStatus.RESTING)),
        markets=tuple(rows),
        weeks=_weeks(rows),
        totals=Totals.of([r.pnl for r in rows]),
        fills=tuple(fills),
        fair_at_fill=fair_at_fill,
        settlements=tuple(settlements),
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


def _opt_dollars(amount: int | None) -> str | None:
    return None if amount is None else dollars(amount)


def _fraction(value: Fraction | None) -> str | None:
    """A probability as a decimal string with 6 places (display only; stored exactly)."""
    return None if value is None else f"{float(value):.6f}"


def _totals_json(t: Totals) -> dict[str, Any]:
    return {
        "fills": t.fills, "contracts_traded": format_count(t.contracts),
        "realized_dollars": dollars(t.realized), "fees_dollars": dollars(t.fees),
        "unrealized_mid_dollars": dollars(t.unrealized_mid),
        "unrealized_fair_dollars": dollars(t.unrealized_fair),
        "total_mid_dollars": dollars(t.realized + t.unrealized_mid),
        "total_fair_dollars": dollars(t.realized + t.unrealized_fair),
        "edge_dollars": dollars(t.edge),
    }


def _market_json(m: MarketRow) -> dict[str, Any]:
    p = m.pnl
    return {
        "ticker": p.ticker, "event_ticker": m.event_ticker, "position": format_count(p.position),
        "bought": format_count(p.bought), "sold": format_count(p.sold), "fills": p.fills,
        "settled": p.settled, "result": m.result,
        "mid": None if p.mid is None else format_price(p.mid), "mid_source": m.mid_source,
        "fair": _fraction(p.fair),
        "realized_dollars": dollars(p.realized), "fees_dollars": dollars(p.fees),
        "unrealized_mid_dollars": _opt_dollars(p.unrealized_mid),
        "unrealized_fair_dollars": _opt_dollars(p.unrealized_fair),
        "edge_dollars": dollars(p.edge),
    }


def _fill_json(f: Fill, fair: Fraction | None) -> dict[str, Any]:
    return {
        "trade_id": f.trade_id, "order_id": f.order_id, "ticker": f.ticker,
        "side": str(f.side), "price": format_price(f.price), "count": format_count(f.count),
        "fee": dollars(f.fee), "is_taker": f.is_taker,
        "ts": None if f.ts is None else f.ts.isoformat(),
        "true_value": _fraction(fair),
        "edge_dollars": None if fair is None else dollars(fill_edge(f, fair)),
    }


def render_json(report: Report) -> dict[str, Any]:
    """Return the report as a JSON-ready dict (prices, counts and dollars as exact strings).

    ``pnl`` holds the totals (``realized_dollars``, ``fees_dollars``,
    ``unrealized_mid_dollars``, ``unrealized_fair_dollars`` …), ``markets`` and ``weeks``
    the rows, ``fills`` every fill with its fee and edge, ``settlements`` every settlement.
    """
    out: dict[str, Any] = {
        "journal": report.journal,
        "event_ticker": report.event_ticker,
        "pnl": _totals_json(report.totals),
        "markets": [_market_json(m) for m in report.markets],
        "weeks": [
            {"event_ticker": w.event_ticker, **_totals_json(w.totals),
             "cumulative_realized_dollars": dollars(w.cumulative_realized)}
            for w in report.weeks
        ],
        "resting": [_order_json(o) for o in report.resting],
        "fills": [_fill_json(f, report.fair_at_fill.get(f.trade_id)) for f in report.fills],
        "settlements": [
            {"ticker": s.ticker, "result": s.result, "value": format_price(s.value),
             "revenue_dollars": _opt_dollars(s.revenue), "fee_dollars": dollars(s.fee),
             "source": s.source,
             "settled_ts": None if s.settled_ts is None else s.settled_ts.isoformat()}
            for s in report.settlements
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


def write_csv(report: Report, path: Path) -> int:
    """Write the fills (with fees and edge) and settlements as CSV rows; return the row count.

    Columns: ``kind`` (``fill`` / ``settlement``), ``ts``, ``ticker``, ``side``, ``price``,
    ``count``, ``fee_dollars``, ``is_taker``, ``trade_id``, ``true_value``, ``edge_dollars``,
    ``result``, ``revenue_dollars`` — exact decimal strings, never floats.
    """
    rows: list[dict[str, Any]] = []
    for f in report.fills:
        j = _fill_json(f, report.fair_at_fill.get(f.trade_id))
        rows.append({
            "kind": "fill", "ts": j["ts"], "ticker": f.ticker, "side": j["side"],
            "price": j["price"], "count": j["count"], "fee_dollars": j["fee"],
            "is_taker": f.is_taker, "trade_id": f.trade_id, "true_value": j["true_value"],
            "edge_dollars": j["edge_dollars"], "result": None, "revenue_dollars": None,
        })
    for st in report.settlements:
        rows.append({
            "kind": "settlement",
            "ts": None if st.settled_ts is None else st.settled_ts.isoformat(),
            "ticker": st.ticker, "side": None, "price": format_price(st.value), "count": None,
            "fee_dollars": dollars(st.fee), "is_taker": None, "trade_id": None,
            "true_value": None, "edge_dollars": None, "result": st.result,
            "revenue_dollars": _opt_dollars(st.revenue),
        })
    columns = ["kind", "ts", "ticker", "side", "price", "count", "fee_dollars", "is_taker",
               "trade_id", "true_value", "edge_dollars", "result", "revenue_dollars"]
    pd.DataFrame(rows, columns=columns, dtype=object).to_csv(path, index=False)
    return len(rows)


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
    t = report.totals
    out += [
        f"PnL  realized {dollars(t.realized)}  (fees {dollars(t.fees)})  "
        f"unrealized at mid {dollars(t.unrealized_mid)}  at true value "
        f"{dollars(t.unrealized_fair)}  edge of fills {dollars(t.edge)}  "
        f"({t.fills} fills, {format_count(t.contracts)} contracts)",
        "",
    ]
    order_header = ("ticker", "side", "price", "remaining", "filled", "client_order_id")

    def order_row(o: Order) -> list[str]:
        return [o.ticker, str(o.side), format_price(o.price), format_count(o.remaining),
                format_count(o.filled), o.client_order_id]

    def opt(amount: int | None) -> str:
        return "-" if amount is None else dollars(amount)

    out += _table("Resting orders, as last seen by tsad", order_header,
                  [order_row(o) for o in report.resting])
    out += _table(
        "Markets",
        ("ticker", "position", "mid", "mid_from", "realized", "fees", "unreal_mid",
         "unreal_fair", "edge"),
        [
            [m.ticker, format_count(m.pnl.position),
             "-" if m.pnl.mid is None else format_price(m.pnl.mid),
             m.mid_source if m.result is None else f"settled {m.result}",
             dollars(m.pnl.realized), dollars(m.pnl.fees), opt(m.pnl.unrealized_mid),
             opt(m.pnl.unrealized_fair), dollars(m.pnl.edge)]
            for m in report.markets
        ],
    )
    out += _table(
        "Weeks",
        ("event", "fills", "realized", "fees", "unreal_mid", "unreal_fair", "edge",
         "cumulative"),
        [
            [w.event_ticker, str(w.totals.fills), dollars(w.totals.realized),
             dollars(w.totals.fees), dollars(w.totals.unrealized_mid),
             dollars(w.totals.unrealized_fair), dollars(w.totals.edge),
             dollars(w.cumulative_realized)]
            for w in report.weeks
        ],
    )
    shown = report.fills[-max_fills:] if max_fills > 0 else ()
    out += _table(
        f"Fills (last {len(shown)} of {len(report.fills)})",
        ("time", "ticker", "side", "price", "count", "fee", "edge", "trade_id"),
        [
            ["-" if f.ts is None else f.ts.isoformat(timespec="seconds"), f.ticker, str(f.side),
             format_price(f.price), format_count(f.count), dollars(f.fee),
             opt(None if (v := report.fair_at_fill.get(f.trade_id)) is None
                 else fill_edge(f, v)),
             f.trade_id]
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
                   help="mid price for a market (default: the journaled mid, else the last "
                   "fill price); repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--csv", metavar="FILE", help="also write the fills and settlements as CSV")
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
    if args.csv:
        try:
            write_csv(report, Path(args.csv))
        except OSError as exc:
            print(f"tsad: cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr)
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
