"""The standalone emulator command (``python -m tsad.sim``, ``tsad sim``).

Without ``--key-id`` nothing can sign; with ``--key-id K --public-key FILE`` the key is
registered as a user. In paper mode the daemon embeds the emulator and registers its own
generated key the same way. It also serves a generated history of settled weeks (the
endpoints ``tsad fetch-history`` reads, all in the historical partition) unless
``--history-weeks 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from tsad.sim.history import GeneratedHistory, add_history_routes
from tsad.sim.server import Emulator
from tsad.sim.week import week_sunday


__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tsad sim", description="Run the local Kalshi emulator.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--key-id", default=None, help="API key id to register")
    p.add_argument("--public-key", type=Path, default=None, help="PEM public key of --key-id")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tier", default="basic")
    p.add_argument("--no-outside-traders", action="store_true")
    p.add_argument("--history-weeks", type=int, default=52,
                   help="settled past weeks to serve (0: none)")
    return p


def _history(args: argparse.Namespace, now: datetime) -> GeneratedHistory:
    """The ``--history-weeks`` settled weeks before the current one, all past the cutoff."""
    last = week_sunday(now) - timedelta(days=7)
    return GeneratedHistory(last - timedelta(days=7 * (args.history_weeks - 1)), last,
                            seed=args.seed, cutoff=now)


async def _serve(args: argparse.Namespace) -> int:
    sim = Emulator(seed=args.seed, outside_traders=not args.no_outside_traders,
                   host=args.host, port=args.port, tier=args.tier)
    if args.history_weeks > 0:
        history = _history(args, sim.venue.clock.now())
        sim.extra_routes.append(partial(add_history_routes, history=history,
                                        live_markets=False))
    if args.key_id:
        if args.public_key is None:
            print("--key-id needs --public-key", file=sys.stderr)
            return 2
        try:
            pem = args.public_key.read_bytes()
            sim.register_key(args.key_id, pem)
        except (OSError, ValueError) as exc:
            print(f"--public-key {args.public_key}: {exc}", file=sys.stderr)
            return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        line = {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "event_ticker": sim.event_ticker}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; print one JSON line when ready.

    Returns:
        The exit status (0 on a clean stop, 2 on bad arguments).
    """
    args = _parser().parse_args(argv)
    if args.public_key is not None and not args.key_id:
        print("--public-key needs --key-id", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
