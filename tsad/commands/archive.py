"""The ``tsad fetch-history`` command: a local archive of settled weeks for the price backtest.

``tsad fetch-history --config F --series KXTSAW --start D --end D --out DIR`` writes:

* ``DIR/markets/{EVENT}.json`` — ``{"markets": [Market, ...]}``, each settled market of the
  week (``result``, ``expiration_value``, strikes, price grid) as Kalshi returned it;
* ``DIR/candlesticks/{TICKER}.json`` — the hourly ``GetMarketCandlesticks`` response;
* ``DIR/trades/{TICKER}.json`` — ``{"trades": [Trade, ...], "cursor": ""}``, every print.

Markets settled before the exchange's historical cutoff are read from ``/historical/*``,
newer ones from the live endpoints (`tsad.kalshi.history`). Every file is written atomically
once complete, so a run that stops (Ctrl-C, a network failure) resumes where it left off:
files already present are not fetched again. Requests are paced by the account tier's read
budget; a progress bar goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from os import EX_CONFIG  # sysexits: 78, the configuration is bad
from pathlib import Path
from typing import Any, TextIO

from tsad.clock import SystemClock
from tsad.errors import ConfigError, TsadError
from tsad.kalshi.budget import Budget
from tsad.kalshi.history import HistoryReader, unix
from tsad.runtime.config import load_config


__all__ = ["Progress", "cmd_fetch_history", "fetch_history", "register_fetch_history"]

_DEFAULT_URL = "https://external-api.kalshi.com/trade-api/v2"


class Progress:
    """A one-line text progress bar (``[#####.....] 12/40 markets``) on a stream."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 30) -> None:
        self.total, self.done, self._stream, self._width = total, 0, stream, width

    def step(self, label: str) -> None:
        """Count one item done and redraw."""
        self.done += 1
        filled = self._width * self.done // max(self.total, 1)
        self._stream.write(f"\r[{'#' * filled}{'.' * (self._width - filled)}] "
                           f"{self.done}/{self.total} {label[:40]:<40}")
        self._stream.flush()

    def close(self) -> None:
        """End the line."""
        self._stream.write("\n")
        self._stream.flush()


def _write(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader (or a resumed run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


async def fetch_history(
    reader: HistoryReader, *, series: str, start: date, end: date, out: Path,
    progress: TextIO | None = None,
) -> dict[str, int]:
    """Download the settled weeks of ``series`` whose markets settled in ``[start, end]``.

    Returns:
        Counts: ``markets`` (settled markets found), ``fetched`` (markets downloaded this run),
        ``skipped`` (already present), ``requests``.
    """
    lo = int(datetime.combine(start, time.min, UTC).timestamp())
    hi = int(datetime.combine(end + timedelta(days=1), time.min, UTC).timestamp()) - 1
    cutoff = await reader.cutoff()
    raw = await reader.settled_markets(series, min_ts=lo, max_ts=hi)
    by_event: dict[str, list[Mapping[str, Any]]] = {}
    for m in raw:
        by_event.setdefault(str(m["event_ticker"]), []).append(m)
    for event, markets in by_event.items():
        _write(out / "markets" / f"{event}.json", {"markets": markets, "cursor": ""})
    bar = Progress(len(raw), progress) if progress is not None else None
    fetched = skipped = 0
    for m in raw:
        ticker = str(m["ticker"])
        cpath = out / "candlesticks" / f"{ticker}.json"
        tpath = out / "trades" / f"{ticker}.json"
        if cpath.exists() and tpath.exists():
            skipped += 1
        else:
            settled = m.get("settlement_ts") or m.get("close_time")
            historical = settled is not None and unix(str(settled)) < cutoff.market_settled_ts
            if not cpath.exists():
                _write(cpath, await reader.candlesticks(m, historical=historical))
            if not tpath.exists():
                _write(tpath, await reader.trades(m, cutoff=cutoff))
            fetched += 1
        if bar is not None:
            bar.step(ticker)
    if bar is not None:
        bar.close()
    return {"markets": len(raw), "fetched": fetched, "skipped": skipped,
            "requests": reader.requests}


def register_fetch_history(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``fetch-history`` to the ``tsad`` command line."""
    p = subparsers.add_parser(
        "fetch-history", help="download settled weeks' markets, candlesticks and trades",
        description="Download settled weeks for `tsad backtest --prices` (resumable).",
    )
    p.add_argument("--config", required=True, help="config.toml (exchange URL and tier)")
    p.add_argument("--series", default=None, help="series ticker (default: the config's)")
    p.add_argument("--start", required=True, help="first settlement day (YYYY-MM-DD)")
    p.add_argument("--end", required=True, help="last settlement day (YYYY-MM-DD)")
    p.add_argument("--out", required=True, help="the archive directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fetch_history)


def cmd_fetch_history(args: argparse.Namespace) -> int:
    """Run ``tsad fetch-history``: 0 done, 78 bad arguments, 1 the exchange failed."""
    try:
        cfg = load_config(Path(args.config))
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
        if end < start:
            raise ConfigError("--end is before --start")
    except (ConfigError, ValueError) as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return EX_CONFIG
    # Paper mode has no exchange of its own to read history from: use production's.
    url = cfg.exchange.rest_url or _DEFAULT_URL
    series = args.series or cfg.market.series

    async def run() -> dict[str, int]:
        reader = HistoryReader(url, budget=Budget(cfg.exchange.tier, clock=SystemClock()))
        try:
            return await fetch_history(reader, series=series, start=start, end=end,
                                       out=Path(args.out),
                                       progress=None if args.quiet else sys.stderr)
        finally:
            await reader.aclose()

    try:
        counts = asyncio.run(run())
    except TsadError as exc:
        print(f"\ntsad: fetch-history stopped: {exc} (run it again to resume)", file=sys.stderr)
        return 1
    print(json.dumps(counts))
    return 0
