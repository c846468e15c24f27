"""The price backtest: past weeks replayed hour by hour through the daemon's own pricing path.

``tsad backtest --prices DIR --config F --start D --end D [--ignore-book] [--json]`` reads a
directory written by ``tsad fetch-history`` and, for each settled week in the range, every
hour from the first market's open to the last one's close:

1. values the week with `tsad.core.midweek.value_week` (the configured prediction, error
   history, actuals and hooks, as the daemon does at that instant: only days TSA had
   published by then count as known), pooled with the hour's book mid by
   `tsad.core.consensus` (``[model] market_weight``);
2. turns the valuations into quotes with `tsad.core.quoting.desired_quotes` under the
   configured policy (seed or edge), given our position and the hour's opening book (the
   previous hourly candle's closing YES bid and ask; ``--ignore-book`` leaves it empty);
3. passes them through `tsad.core.risk.check_quotes` with the configured limits;
4. **fills** them by the conservative rule: an order resting at ``p`` for the hour fills only
   when a trade printed *strictly through* its price within that hour — below ``p`` for our
   bid, above ``p`` for our ask — at our price ``p``, for at most the volume of those trades
   (and the order's size). A trade at our price is not enough (we may have been behind in the
   queue); the volume is not shared across hours;
5. charges the series' maker fee per fill (`tsad.core.fees`; each hour's order is a new
   order, so its rounding to the cent is charged on its own).

Each market then settles at Kalshi's ``result``; PnL is `tsad.core.pnl` (realized after
fees). Reported: PnL per week and in total, contracts filled, fill-weighted edge (tsad's
true value at the fill against the price), the largest drawdown of the cumulative weekly
PnL, and the Brier score of tsad's true values and of the market mid against the outcomes
(over market-hours that had both). ``--plot DIR`` writes ``cumulative_pnl.png`` and
``calibration.png`` (needs the optional ``plot`` extra, matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from fractions import Fraction
from os import EX_CONFIG  # sysexits: 78, the configuration is bad
from pathlib import Path
from typing import Any

from tsad.core import consensus, midweek, quoting, risk, tickers
from tsad.core.fees import FeeAccumulator, FeeSchedule
from tsad.core.market import Market
from tsad.core.model import ErrorHistory
from tsad.core.money import format_count, format_money
from tsad.core.orders import BookSide, Fill, Position
from tsad.core.pnl import fill_edge, market_pnl, settlement_value
from tsad.errors import ConfigError, InputError, ProtocolError, TsadError
from tsad.kalshi.history import (
    HOUR,
    Candle,
    PrintedTrade,
    SettledMarket,
    decode_candles,
    decode_settled_market,
    decode_trades,
)
from tsad.runtime import inputs
from tsad.runtime.config import Config, load_config


__all__ = [
    "BacktestResult",
    "WeekData",
    "WeekResult",
    "add_price_arguments",
    "cmd_price_backtest",
    "hour_quotes",
    "load_weeks",
    "main",
    "replay_week",
    "run_backtest",
]



@dataclass(frozen=True, slots=True, kw_only=True)
class WeekData:
    """One settled week as saved by ``fetch-history``."""

    event_ticker: str
    sunday: date
    markets: tuple[SettledMarket, ...]
    candles: Mapping[str, Sequence[Candle]]
    trades: Mapping[str, Sequence[PrintedTrade]]


@dataclass(slots=True, kw_only=True)
class WeekResult:
    """One week's outcome (money in $0.000001, counts in 0.01 contract)."""

    event_ticker: str
    pnl: int = 0
    fees: int = 0
    contracts: int = 0
    fills: list[Fill] = field(default_factory=list)
    edge: int = 0
    market_hours: int = 0
    brier_fair: float = 0.0
    brier_mid: float = 0.0
    brier_n: int = 0
    calibration: list[tuple[float, int]] = field(default_factory=list)
    skipped: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    """All weeks, in order, and their totals."""

    weeks: tuple[WeekResult, ...]

    @property
    def pnl(self) -> int:
        """Total PnL after fees."""
        return sum(w.pnl for w in self.weeks)

    @property
    def contracts(self) -> int:
        """Contracts filled."""
        return sum(w.contracts for w in self.weeks)

    @property
    def max_drawdown(self) -> int:
        """The largest fall of the cumulative weekly PnL from its running peak (≥ 0)."""
        peak = running = worst = 0
        for w in self.weeks:
            running += w.pnl
            peak = max(peak, running)
            worst = max(worst, peak - running)
        return worst


# -- the dataset ---------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def load_weeks(directory: Path, start: date, end: date) -> list[WeekData]:
    """Read the saved weeks whose Sunday falls in ``[start, end]`` (by Sunday, oldest first).

    Raises:
        InputError: the directory or one of its files is missing or unreadable.
    """
    mdir = directory / "markets"
    if not mdir.is_dir():
        raise InputError(f"{directory}: no markets/ directory (run tsad fetch-history first)")
    weeks: list[WeekData] = []
    for path in sorted(mdir.glob("*.json")):
        try:
            sunday = tickers.parse_event_ticker(path.stem).sunday
        except ValueError:
            continue
        if not start <= sunday <= end:
            continue
        try:
            markets = tuple(decode_settled_market(m) for m in _read_json(path)["markets"])
            candles: dict[str, list[Candle]] = {}
            trades: dict[str, list[PrintedTrade]] = {}
            for sm in markets:
                t = sm.market.ticker
                cpath = directory / "candlesticks" / f"{t}.json"
                tpath = directory / "trades" / f"{t}.json"
                candles[t] = decode_candles(_read_json(cpath)) if cpath.exists() else []
                trades[t] = decode_trades(_read_json(tpath)) if tpath.exists() else []
        except (KeyError, TypeError, ProtocolError) as exc:
            raise InputError(f"{path}: {exc}") from exc
        weeks.append(WeekData(event_ticker=path.stem, sunday=sunday, markets=markets,
                              candles=candles, trades=trades))
    return sorted(weeks, key=lambda w: w.sunday)


# -- one hour, one week --------------------------------------------------------------------


def _active(markets: Sequence[SettledMarket], now: datetime) -> list[Market]:
    out = []
    for sm in markets:
        m = sm.market
        opened = m.open_time is None or m.open_time <= now
        closed = m.close_time is not None and now >= m.close_time
        out.append(replace(m, status="active" if opened and not closed else "closed"))
    return out


def hour_quotes(
    config: Config,
    week: WeekData,
    now: datetime,
    *,
    prediction: float,
    history: ErrorHistory,
    actuals: Mapping[date, int],
    positions: Mapping[str, Position],
    books: Mapping[str, quoting.BookTop],
    hooks: Sequence[midweek.NamedHook],
) -> tuple[list[quoting.Quote], dict[str, Fraction]]:
    """Return the quotes the daemon's code wants at ``now`` (after risk) and the YES values.

    This is the daemon's path: `midweek.value_week` → `quoting.desired_quotes` →
    `risk.check_quotes`, with the config's policy and limits.
    """
    markets = _active(week.markets, now)
    vals = midweek.value_week(week.event_ticker, markets, now=now, prediction=prediction,
                              history=history, actuals=actuals, hooks=hooks)
    mc = config.model
    vals = consensus.pool_all(vals, {
        t: consensus.market_yes(b.best_bid, b.best_ask, mc.market_max_spread)
        for t, b in books.items()}, mc.market_weight)
    chosen = quoting.desired_quotes(vals, markets, config.quoting_policy(), positions, books)
    approved, _ = risk.check_quotes(list(chosen.quotes), positions, [], config.risk_limits(),
                                    markets=markets)
    fair = {v.ticker: y for v in vals if (y := quoting.yes_value(v)) is not None}
    return approved, fair


def _book_at(candles: Sequence[Candle], ts: int) -> quoting.BookTop:
    """The last candle closed at or before ``ts`` gives the book (candles are sorted)."""
    best: Candle | None = None
    for c in candles:
        if c.end_ts > ts:
            break
        best = c
    if best is None:
        return quoting.BookTop()
    return quoting.BookTop(best_bid=best.bid, best_ask=best.ask)


def _through(trades: Sequence[PrintedTrade], lo: int, hi: int, side: BookSide,
             price: int) -> int:
    """Volume printed strictly through ``price`` in ``(lo, hi]`` against our side."""
    if side is BookSide.BID:
        return sum(t.count for t in trades if lo < t.ts <= hi and t.price < price)
    return sum(t.count for t in trades if lo < t.ts <= hi and t.price > price)


def replay_week(
    config: Config,
    week: WeekData,
    *,
    prediction: float,
    history: ErrorHistory,
    actuals: Mapping[date, int],
    fees: FeeSchedule,
    ignore_book: bool = False,
) -> WeekResult:
    """Replay one week hour by hour and settle it (see the module rules)."""
    out = WeekResult(event_ticker=week.event_ticker)
    opens = [sm.market.open_time for sm in week.markets if sm.market.open_time]
    closes = [sm.market.close_time for sm in week.markets if sm.market.close_time]
    if not opens or not closes or any(sm.result not in ("yes", "no") for sm in week.markets):
        out.skipped = "markets without open/close times or a yes/no result"
        return out
    hooks = midweek.resolve_hooks(config.model.hooks)
    first = int(min(opens).timestamp()) // HOUR * HOUR
    last = int(max(closes).timestamp())
    result = {sm.market.ticker: sm.result for sm in week.markets}
    positions: dict[str, int] = {}
    fills: dict[str, list[Fill]] = {t: [] for t in result}
    fair_at_fill: dict[str, Fraction] = {}
    # Trades and candles are bucketed once so every hour reads only its own.
    trades_by_hour: dict[str, dict[int, list[PrintedTrade]]] = {}
    for t, ts in week.trades.items():
        buckets: dict[int, list[PrintedTrade]] = {}
        for tr in ts:
            buckets.setdefault((tr.ts - 1) // HOUR * HOUR, []).append(tr)
        trades_by_hour[t] = buckets
    h0 = first
    while h0 < last:
        now = datetime.fromtimestamp(h0, UTC)
        books = {} if ignore_book else {
            t: _book_at(week.candles.get(t, ()), h0) for t in result}
        try:
            quotes, fair = hour_quotes(
                config, week, now, prediction=prediction, history=history, actuals=actuals,
                positions={t: Position(ticker=t, position=p) for t, p in positions.items()},
                books=books, hooks=hooks,
            )
        except InputError:
            quotes, fair = [], {}
        for t, y in fair.items():
            out.market_hours += 1
            top = books.get(t)
            if top is not None and top.best_bid is not None and top.best_ask is not None:
                outcome = 1.0 if result[t] == "yes" else 0.0
                mid = (top.best_bid + top.best_ask) / 20_000
                out.brier_fair += (float(y) - outcome) ** 2
                out.brier_mid += (mid - outcome) ** 2
                out.brier_n += 1
                out.calibration.append((float(y), int(outcome)))
        for q in quotes:
            hour_trades = trades_by_hour.get(q.ticker, {}).get(h0, ())
            volume = _through(hour_trades, h0, h0 + HOUR, q.side, q.price)
            n = min(q.count, volume)
            if n <= 0:
                continue
            trade_fee = fees.trade_fee(n, q.price, is_taker=False)
            leg = q.price if q.side is BookSide.BID else 10_000 - q.price
            net = FeeAccumulator().fill(-n * leg, trade_fee).net
            f = Fill(trade_id=f"bt-{q.ticker}-{h0}-{q.side}", order_id=f"bt-{h0}",
                     ticker=q.ticker, side=q.side, price=q.price, count=n, fee=net,
                     ts=datetime.fromtimestamp(h0 + HOUR, UTC))
            fills[q.ticker].append(f)
            positions[q.ticker] = positions.get(q.ticker, 0) + (
                n if q.side is BookSide.BID else -n)
            if q.ticker in fair:
                fair_at_fill[f.trade_id] = fair[q.ticker]
                out.edge += fill_edge(f, fair[q.ticker])
        h0 += HOUR
    for t, fs in fills.items():
        pnl = market_pnl(t, fs, settlement=settlement_value(result[t]))
        out.pnl += pnl.realized
        out.fees += pnl.fees
        out.contracts += pnl.bought + pnl.sold
        out.fills.extend(fs)
    return out


def run_backtest(
    config: Config, weeks: Sequence[WeekData], *, fees: FeeSchedule | None = None,
    ignore_book: bool = False,
) -> BacktestResult:
    """Replay every week with the config's forecaster files (a week without a prediction is
    reported as skipped)."""
    mc = config.model
    if mc.prediction_path is None or mc.history_path is None:
        raise ConfigError("model.prediction_path and model.history_path must be set")
    preds = inputs.load_predictions(mc.prediction_path)
    history = inputs.load_history(mc.history_path)
    actuals = inputs.load_actuals(mc.actuals_path) if mc.actuals_path else {}
    out: list[WeekResult] = []
    for w in weeks:
        p = preds.get(w.sunday)
        if p is None:
            out.append(WeekResult(event_ticker=w.event_ticker, skipped="no prediction"))
            continue
        out.append(replay_week(config, w, prediction=p, history=history, actuals=actuals,
                               fees=fees or FeeSchedule(), ignore_book=ignore_book))
    return BacktestResult(weeks=tuple(out))


# -- output --------------------------------------------------------------------------------


def _dollars(amount: int) -> str:
    return format_money(amount, 4) if amount % 100 == 0 else format_money(amount, 6)


def _edge_per_contract(edge: int, contracts: int) -> str | None:
    if contracts == 0:
        return None
    # edge is money for `contracts` hundredths: per whole contract, 6 decimals, rounded.
    return format_money(round(Fraction(edge * 100, contracts)), 6)


def _brier(total: float, n: int) -> float | None:
    return None if n == 0 else round(total / n, 6)


def render_json(result: BacktestResult) -> dict[str, Any]:
    """The backtest as a JSON-ready dict; money and counts are exact decimal strings."""
    weeks = result.weeks
    n = sum(w.brier_n for w in weeks)
    edge = sum(w.edge for w in weeks)
    return {
        "total": {
            "weeks": sum(1 for w in weeks if w.skipped is None),
            "pnl_dollars": _dollars(result.pnl),
            "fees_dollars": _dollars(sum(w.fees for w in weeks)),
            "contracts_filled": format_count(result.contracts),
            "fills": sum(len(w.fills) for w in weeks),
            "edge_dollars": _dollars(edge),
            "edge_per_contract_dollars": _edge_per_contract(edge, result.contracts),
            "max_drawdown_dollars": _dollars(result.max_drawdown),
            "market_hours": sum(w.market_hours for w in weeks),
            "brier_true_value": _brier(sum(w.brier_fair for w in weeks), n),
            "brier_market_mid": _brier(sum(w.brier_mid for w in weeks), n),
        },
        "weeks": [
            {
                "event_ticker": w.event_ticker, "skipped": w.skipped,
                "pnl_dollars": _dollars(w.pnl), "fees_dollars": _dollars(w.fees),
                "contracts_filled": format_count(w.contracts), "fills": len(w.fills),
                "edge_dollars": _dollars(w.edge),
                "brier_true_value": _brier(w.brier_fair, w.brier_n),
                "brier_market_mid": _brier(w.brier_mid, w.brier_n),
            }
            for w in weeks
        ],
    }


def render_text(result: BacktestResult) -> str:
    """A per-week table and the totals."""
    data = render_json(result)
    lines = [f"{'week':<16} {'pnl':>12} {'fees':>10} {'filled':>10} {'edge':>12}  note"]
    for w in data["weeks"]:
        lines.append(f"{w['event_ticker']:<16} {w['pnl_dollars']:>12} {w['fees_dollars']:>10} "
                     f"{w['contracts_filled']:>10} {w['edge_dollars']:>12}  {w['skipped'] or ''}")
    t = data["total"]
    lines += [
        "",
        f"total pnl {t['pnl_dollars']}  fees {t['fees_dollars']}  filled "
        f"{t['contracts_filled']} contracts in {t['fills']} fills  edge {t['edge_dollars']} "
        f"({t['edge_per_contract_dollars']} per contract)",
        f"max drawdown {t['max_drawdown_dollars']}  Brier: true value "
        f"{t['brier_true_value']}  market mid {t['brier_market_mid']} "
        f"({t['market_hours']} market-hours)",
    ]
    return "\n".join(lines) + "\n"


def write_plots(result: BacktestResult, directory: Path) -> list[Path]:
    """Write the cumulative PnL and calibration PNGs (needs matplotlib).

    Raises:
        InputError: matplotlib is not installed (``pip install 'tsad[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InputError("--plot needs matplotlib: pip install 'tsad[plot]'") from exc
    directory.mkdir(parents=True, exist_ok=True)
    running, ys = 0, []
    for w in result.weeks:
        running += w.pnl
        ys.append(running / 1_000_000)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([w.event_ticker for w in result.weeks], ys, marker="o")
    ax.set_ylabel("cumulative PnL ($)")
    ax.tick_params(axis="x", rotation=90)
    fig.tight_layout()
    pnl_png = directory / "cumulative_pnl.png"
    fig.savefig(pnl_png)
    plt.close(fig)
    pairs = [p for w in result.weeks for p in w.calibration]
    bins: dict[int, list[int]] = {}
    sums: dict[int, float] = {}
    for v, y in pairs:
        b = min(int(v * 10), 9)
        bins.setdefault(b, []).append(y)
        sums[b] = sums.get(b, 0.0) + v
    fig, ax = plt.subplots(figsize=(5, 5))
    xs = [sums[b] / len(bins[b]) for b in sorted(bins)]
    hit = [sum(bins[b]) / len(bins[b]) for b in sorted(bins)]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.plot(xs, hit, marker="o")
    ax.set_xlabel("tsad true value of YES")
    ax.set_ylabel("share that settled YES")
    fig.tight_layout()
    cal_png = directory / "calibration.png"
    fig.savefig(cal_png)
    plt.close(fig)
    return [pnl_png, cal_png]


# -- command line --------------------------------------------------------------------------


def add_price_arguments(p: argparse.ArgumentParser) -> None:
    """Add the price backtest's options to a parser."""
    p.add_argument("--prices", required=True, metavar="DIR",
                   help="a directory written by tsad fetch-history")
    p.add_argument("--config", required=True, help="config.toml (forecaster files, policy)")
    p.add_argument("--start", required=True, help="first week's Sunday or earlier (YYYY-MM-DD)")
    p.add_argument("--end", required=True, help="last week's Sunday or later (YYYY-MM-DD)")
    p.add_argument("--ignore-book", action="store_true",
                   help="quote as if the book were empty (no post-only step-back, "
                        "no pooling with the market)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="DIR", help="write cumulative_pnl.png and calibration.png")


def cmd_price_backtest(args: argparse.Namespace) -> int:
    """Run the price backtest; 0 on success, 78 for bad arguments, 1 for unreadable data."""
    try:
        config = load_config(Path(args.config))
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except (ConfigError, ValueError) as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        weeks = load_weeks(Path(args.prices), start, end)
        result = run_backtest(config, weeks, ignore_book=args.ignore_book)
        if args.plot:
            write_plots(result, Path(args.plot))
    except TsadError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return EX_CONFIG if isinstance(exc, ConfigError) else 1
    if args.json:
        sys.stdout.write(json.dumps(render_json(result), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(result))
    return 0


def main(argv: Sequence[str]) -> int:
    """Parse ``tsad backtest --prices …`` arguments (without the command word) and run it."""
    p = argparse.ArgumentParser(
        prog="tsad backtest", description="Replay settled weeks hour by hour (price backtest).")
    add_price_arguments(p)
    return cmd_price_backtest(p.parse_args(list(argv)))
