"""The ``tsad`` command line: run, check-config, quote, sim, cancel-all and operator commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tsad.core.market import Market
from tsad.core.quoting import BookTop
from tsad.errors import ConfigError, ExchangeError, HookError, InputError, TsadError
from tsad.runtime.config import Config


__all__ = ["main"]

EX_CONFIG = 78
EX_DATAERR = 65


def _parse_now(text: str | None) -> datetime:
    from tsad.clock import SystemClock

    from tsad.core.tickers import parse_now

    if text is None:
        return SystemClock().now()
    try:
        return parse_now(text)  # the one --now parser: a naive time is New York time
    except InputError as exc:
        raise SystemExit(f"tsad: {exc}") from None


def _cmd_run(args: argparse.Namespace) -> int:
    from tsad.runtime import daemon

    return asyncio.run(daemon.run(Path(args.config), duration=args.duration))


def _load_config(path: str) -> Config:
    """Load and validate the config, or print why not and exit with EX_CONFIG (78)."""
    from tsad.runtime.config import load_config
    from tsad.runtime.paper import with_paper_paths

    try:
        return with_paper_paths(load_config(Path(path)))
    except ConfigError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def _cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load_config(args.config)
    print(f"{args.config}: OK (environment {cfg.exchange.environment}, version {cfg.version})")
    return 0


def _cmd_quote(args: argparse.Namespace) -> int:
    from tsad.commands import sheet

    cfg = _load_config(args.config)
    now = _parse_now(args.now)
    try:
        if args.markets:
            path = Path(args.markets)
            try:
                text = path.read_text()
            except OSError as exc:
                raise InputError(f"{path}: {exc.strerror}") from None
            event_ticker, markets, raw = sheet.load_markets_file(text, str(path))
            books = {} if args.ignore_book else sheet.books_from_payload(raw)
        else:
            event_ticker, markets, books = asyncio.run(_live_markets(cfg, now))
        valuations, _version = sheet.valuations_for(cfg, event_ticker, markets, now)
    except (InputError, HookError, ConfigError, ExchangeError) as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return EX_DATAERR
    rows = sheet.quote_sheet(markets, valuations, cfg.quoting_policy(), books=books)
    if args.json:
        for r in rows:
            print(json.dumps(r.to_json()))
    else:
        for r in rows:
            j = r.to_json()
            tv = "" if r.true_value is None else f"{float(r.true_value):.4f}"
            what = (f"{j['side']:>3} {j['book_side']:>3} {j['price']} x {j['count']}"
                    if r.side else f"-- {r.reason}")
            print(f"{r.ticker:<28} {tv:>7}  {what}")
    return 0


async def _live_markets(
    cfg: Config, now: datetime
) -> tuple[str, list[Market], dict[str, BookTop]]:
    """Read the current event and books from the configured (non-paper) exchange."""
    from tsad.clock import SystemClock
    from tsad.core import tickers
    from tsad.kalshi.rest import KalshiClient

    if cfg.exchange.environment == "paper" or cfg.exchange.rest_url is None:
        raise ConfigError("quote without --markets needs a demo or production exchange")
    client = KalshiClient(rest_url=cfg.exchange.rest_url, signer=None, tier=cfg.exchange.tier,
                          timeout=cfg.exchange.request_timeout, clock=SystemClock())
    try:
        event_ticker = cfg.market.event or tickers.current_event_ticker(now, cfg.market.series)
        event = await client.get_event(event_ticker)
        books: dict[str, BookTop] = {}
        for m in event.markets:
            books[m.ticker] = BookTop.from_levels(await client.get_orderbook(m.ticker))
        return event_ticker, list(event.markets), books
    finally:
        await client.aclose()


def _cmd_cancel_all(args: argparse.Namespace) -> int:
    cfg = _load_config(args.config)
    try:
        n = asyncio.run(_cancel_all(cfg, args.all))
    except TsadError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"cancelled": n}))
    return 0


async def _cancel_all(cfg: Config, everything: bool) -> int:
    from tsad.clock import SystemClock
    from tsad.core import reconcile
    from tsad.kalshi.rest import KalshiClient
    from tsad.kalshi.signing import Signer, load_private_key

    ex = cfg.exchange
    if ex.environment == "paper":
        raise ConfigError("cancel-all: the paper exchange lives inside `tsad run`; stop it instead")
    assert ex.rest_url is not None
    signer = Signer(ex.key_id or "", load_private_key(
        ex.private_key_path or "", allow_insecure_permissions=ex.allow_insecure_key))
    client = KalshiClient(rest_url=ex.rest_url, signer=signer, tier=ex.tier,
                          timeout=ex.request_timeout, clock=SystemClock())
    try:
        orders = await client.list_orders(status="resting")
        ids = [o.order_id for o in orders
               if everything or reconcile.is_ours(o.client_order_id, ex.client_order_prefix)]
        if not ids:
            return 0
        results = await client.batch_cancel(ids)
        return sum(1 for r in results if not isinstance(r, ExchangeError))
    finally:
        await client.aclose()


def _cmd_sim(argv: list[str]) -> int:
    from tsad.sim.__main__ import main as sim_main

    return sim_main(argv)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tsad", description="Quote Kalshi's weekly TSA passenger markets from a forecast."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the daemon (paper mode with the shipped config.toml)")
    r.add_argument("--config", required=True, help="path to config.toml")
    r.add_argument("--duration", type=float, default=None,
                   help="stop (as on SIGTERM) after this many seconds")
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("check-config", help="validate a config file and exit")
    c.add_argument("--config", required=True)
    c.set_defaults(func=_cmd_check_config)

    q = sub.add_parser("quote", help="print true values and intended orders, one-shot")
    q.add_argument("--config", required=True)
    q.add_argument("--markets", help="a saved GET /events/{t}?with_nested_markets=true "
                   "or GET /markets response")
    q.add_argument("--now", help="ISO time for mid-week state (naive = America/New_York; "
                   "default: now)")
    q.add_argument("--json", action="store_true", help="one JSON object per market")
    q.add_argument("--ignore-book", action="store_true",
                   help="ignore the saved top of book (no post-only step-back)")
    q.set_defaults(func=_cmd_quote)

    k = sub.add_parser("cancel-all", help="cancel our resting orders on the exchange")
    k.add_argument("--config", required=True)
    k.add_argument("--all", action="store_true",
                   help="cancel every resting order of the account, not only tsad's")
    k.set_defaults(func=_cmd_cancel_all)

    # `tsad sim …` hands its arguments to the emulator's own parser (see main()).
    sub.add_parser("sim", help="run the exchange emulator standalone (tsad sim --help)",
                   add_help=False)

    _register_optional(sub)
    return p


def _register_optional(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the operator commands that live in their own modules."""
    from tsad.commands import actuals, backtest, forecast, report

    forecast.register_forecast(sub)
    backtest.register_backtest(sub)
    actuals.register_fetch_actuals(sub)
    report.register_report(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tsad`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        return _cmd_sim(argv[1:])
    args = _parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # a command gave up with a message or an exit code
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        return exc.code or 0
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
