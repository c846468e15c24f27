"""The ``tsad`` command line: run, check-config, quote, sim, cancel-all and operator commands.

The first thing `main` does is arm `tsad.runtime.signals.EARLY`, before any heavy import
(asyncio, pandas, httpx, cryptography are imported inside the commands), so a SIGTERM at
any moment of ``tsad run``'s startup is recorded and acted on, never fatal.
"""

from __future__ import annotations

import sys
from os import EX_CONFIG, EX_DATAERR  # sysexits: 78 bad configuration, 65 bad input data

from tsad.runtime.signals import EARLY, TYPE_CHECKING


if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from datetime import datetime

    from tsad.core.market import Market
    from tsad.core.quoting import BookTop
    from tsad.runtime.config import Config
    from tsad.runtime.sweep import SweepResult


__all__ = ["main"]

_EX_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE


def _parse_now(text: str | None) -> datetime:
    from tsad.clock import SystemClock
    from tsad.core.tickers import parse_now
    from tsad.errors import InputError

    if text is None:
        return SystemClock().now()
    try:
        return parse_now(text)  # the one --now parser: a naive time is New York time
    except InputError as exc:
        raise SystemExit(f"tsad: {exc}") from None


def _cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from tsad.runtime import daemon

    try:
        return asyncio.run(daemon.run(Path(args.config), duration=args.duration, early=EARLY))
    finally:
        EARLY.rearm()


def _load_config(path: str, *, checked: bool = False) -> Config:
    """Load and validate the config, or print why not and exit with EX_CONFIG (78).

    Args:
        path: the config file.
        checked: also run the start's preflight (hooks import, key, journal folder).
    """
    from pathlib import Path

    from tsad.errors import ConfigError
    from tsad.runtime.config import load_config
    from tsad.runtime.paper import with_paper_paths
    from tsad.runtime.preflight import load_checked

    try:
        return load_checked(Path(path)) if checked else with_paper_paths(load_config(Path(path)))
    except ConfigError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def _cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load_config(args.config, checked=True)
    print(f"{args.config}: OK (environment {cfg.exchange.environment}, version {cfg.version})")
    return 0


def _cmd_quote(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    from tsad.commands import sheet
    from tsad.errors import ConfigError, ExchangeError, HookError, InputError

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
    rows = sheet.quote_sheet(markets, valuations, cfg.quoting_policy(), books=books,
                             market_weight=cfg.model.market_weight,
                             market_max_spread=cfg.model.market_max_spread)
    if args.json:
        for r in rows:
            print(json.dumps(r.to_json()))
    else:
        for r in rows:
            j = r.to_json()
            tv = "" if r.true_value is None else f"{float(r.true_value):.4f}"
            what = (f"{j['side']:>3} {j['book_side']:>3} {j['price']} x {j['count']}"
                    if r.side else f"-- {r.reason}")
            views = ("" if r.market_value is None or r.model_value is None else
                     f"  (model {float(r.model_value):.4f}, market {float(r.market_value):.4f})")
            print(f"{r.ticker:<28} {tv:>7}  {what}{views}")
    return 0


async def _live_markets(
    cfg: Config, now: datetime
) -> tuple[str, list[Market], dict[str, BookTop]]:
    """Read the current event and books from the configured (non-paper) exchange."""
    from tsad.clock import SystemClock
    from tsad.core import tickers
    from tsad.core.quoting import BookTop
    from tsad.errors import ConfigError
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
    import asyncio
    import json

    from tsad.errors import TsadError
    from tsad.runtime import logs

    cfg = _load_config(args.config)
    logs.configure_logging(cfg.daemon.log_level, stream=sys.stderr)  # stdout: the result only
    logs.register_secret(cfg.exchange.key_id)
    if cfg.exchange.environment == "paper" and cfg.exchange.rest_url is None:
        print("tsad: cancel-all: the paper exchange lives and ends inside `tsad run`: "
              "nothing of ours can rest on it", file=sys.stderr)
        print(json.dumps({"cancelled": 0, "confirmed": True, "remaining": 0}))
        return 0
    try:
        result = asyncio.run(_cancel_all(cfg, args.all, args.timeout))
    except TsadError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"cancelled": result.cancelled, "confirmed": result.confirmed,
                      "remaining": result.remaining}))
    if not result.confirmed:
        print(f"tsad: cancel-all could not confirm that nothing of ours rests "
              f"({result.error or f'{result.remaining} still resting'})", file=sys.stderr)
        return 1
    return 0


async def _cancel_all(cfg: Config, everything: bool, deadline_s: float) -> SweepResult:
    """Sweep our resting orders on every open event of the series (everything: all orders)."""
    from tsad.clock import SystemClock
    from tsad.errors import ConfigError
    from tsad.kalshi.rest import KalshiClient
    from tsad.kalshi.signing import Signer, load_private_key
    from tsad.runtime import sweep

    ex = cfg.exchange
    if ex.environment == "paper" or ex.rest_url is None:
        raise ConfigError("cancel-all: paper mode has no standing exchange to sweep")
    signer = Signer(ex.key_id or "", load_private_key(
        ex.private_key_path or "", allow_insecure_permissions=ex.allow_insecure_key))
    client = KalshiClient(rest_url=ex.rest_url, signer=signer, tier=ex.tier,
                          timeout=ex.request_timeout, clock=SystemClock())
    try:
        return await sweep.cancel_ours(client, prefix=ex.client_order_prefix,
                                       series=None if everything else cfg.market.series,
                                       deadline_s=deadline_s, everything=everything)
    finally:
        await client.aclose()


def _cmd_sim(argv: list[str]) -> int:
    from tsad.sim.__main__ import main as sim_main

    return sim_main(argv)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tsad")
    except PackageNotFoundError:
        return "unknown"


_CONFIG_HELP = "path to config.toml (default: ./config.toml)"


_CORE = frozenset({"run", "check-config", "quote", "cancel-all"})
"""Commands parsed without importing the operator commands' modules (pandas and all)."""


def _parser(*, optional: bool = True) -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(
        prog="tsad", description="Quote Kalshi's weekly TSA passenger markets from a forecast."
    )
    p.add_argument("--version", action="version", version=f"tsad {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run the daemon (paper mode with the shipped config.toml)")
    r.add_argument("--config", default="config.toml", help=_CONFIG_HELP)
    r.add_argument("--duration", type=float, default=None,
                   help="stop (as on SIGTERM) after this many seconds")
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("check-config", help="run the start's checks of a config and exit "
                       "(78 naming the problem)")
    c.add_argument("--config", default="config.toml", help=_CONFIG_HELP)
    c.set_defaults(func=_cmd_check_config)

    q = sub.add_parser("quote", help="print true values and intended orders, one-shot")
    q.add_argument("--config", default="config.toml", help=_CONFIG_HELP)
    q.add_argument("--markets", help="a saved GET /events/{t}?with_nested_markets=true "
                   "or GET /markets response")
    q.add_argument("--now", help="ISO time for mid-week state (naive = America/New_York; "
                   "default: now)")
    q.add_argument("--json", action="store_true", help="one JSON object per market")
    q.add_argument("--ignore-book", action="store_true",
                   help="ignore the saved top of book (no post-only step-back, no "
                        "pooling with the market: the model's values alone)")
    q.set_defaults(func=_cmd_quote)

    k = sub.add_parser("cancel-all", help="cancel our resting orders on every open event of "
                       "the series; non-zero unless confirmed by reading back")
    k.add_argument("--config", default="config.toml", help=_CONFIG_HELP)
    k.add_argument("--all", action="store_true",
                   help="cancel every resting order of the account, not only tsad's")
    k.add_argument("--timeout", type=float, default=20.0,
                   help="give up (exit 1) after this many seconds (default: 20)")
    k.set_defaults(func=_cmd_cancel_all)

    # `tsad sim …` hands its arguments to the emulator's own parser (see main()).
    sub.add_parser("sim", help="run the exchange emulator standalone (tsad sim --help)",
                   add_help=False)

    if optional:
        _register_optional(sub)
    return p


def _register_optional(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the operator commands that live in their own modules."""
    from tsad.commands import actuals, alert, archive, backtest, forecast, init, report, status

    archive.register_fetch_history(sub)
    forecast.register_forecast(sub)
    backtest.register_backtest(sub)
    actuals.register_fetch_actuals(sub)
    report.register_report(sub)
    status.register_status(sub)
    init.register_init(sub)
    alert.register_alert(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tsad`` console script."""
    EARLY.arm()  # first: a stop during the imports below is recorded, never fatal
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] != ["run"]:
        EARLY.disarm()  # every other command keeps the ordinary signal behaviour
    try:
        rc = _dispatch(args_list)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`tsad quote … | head -1`): stop quietly, as `yes | head` does.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _EX_PIPE
    return rc


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["sim"]:
        return _cmd_sim(argv[1:])
    if argv[:1] == ["backtest"] and any(a.split("=")[0] == "--prices" for a in argv):
        from tsad.commands import replay  # the price backtest (the forecast one has --actuals)

        return replay.main(argv[1:])
    parser = _parser(optional=not (argv and argv[0] in _CORE))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
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
