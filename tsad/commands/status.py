"""``tsad status``: ask the running daemon over its control socket and print its markets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tsad.runtime.control import StatusUnavailable, query_status, socket_path_for_config_file


__all__ = ["EX_UNAVAILABLE", "cmd_status", "register_status", "render_table"]

# Like `systemctl status`: 3 means "not running".
EX_UNAVAILABLE = 3


def register_status(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` subcommand to the ``tsad`` command line."""
    s = subparsers.add_parser(
        "status", help="ask the running daemon: true values, our orders, books, positions")
    s.add_argument("--config", required=True, help="the config.toml the daemon runs with")
    s.add_argument("--json", action="store_true", help="print the daemon's JSON answer")
    s.add_argument("--socket", help="the control socket (default: tsad.sock in the state "
                   "directory: $STATE_DIRECTORY, else the journal's folder)")
    s.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    s.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """Run ``tsad status``; exit 3 when no daemon answers."""
    out = stdout or sys.stdout
    try:
        path = (Path(args.socket) if args.socket
                else socket_path_for_config_file(Path(args.config)))
        answer = query_status(path, timeout=args.timeout)
    except StatusUnavailable as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    if args.json:
        print(json.dumps(answer, indent=2), file=out)
    else:
        print(render_table(answer), file=out)
    return 0


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _order(order: Any) -> str:
    if not isinstance(order, dict):
        return "-"
    return f"{order.get('book_side')} {order.get('price')} x {order.get('count')}"


def render_table(answer: dict[str, Any]) -> str:
    """Render the daemon's status answer as an aligned table, one row per market."""
    header = ("market", "true value", "our order", "best bid", "best ask", "position", "pulled")
    rows: list[Sequence[str]] = [
        (
            _cell(m.get("ticker")), _cell(m.get("true_value")), _order(m.get("order")),
            _cell(m.get("best_bid")), _cell(m.get("best_ask")), _cell(m.get("position")),
            _cell(m.get("pulled")),
        )
        for m in answer.get("markets", [])
        if isinstance(m, dict)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [_summary(answer), ""]
    for r in [header, *rows]:
        cells = [r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:6], widths[1:6],
                                                                     strict=True)),
                 r[6].ljust(widths[6])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _summary(answer: dict[str, Any]) -> str:
    state = ("stopping" if answer.get("stopping")
             else "ready" if answer.get("ready") else "starting")
    parts = [
        f"event {_cell(answer.get('event_ticker'))}",
        state,
        f"{answer.get('resting_orders', 0)} resting",
        f"{answer.get('fills', 0)} fills",
        f"PnL ${_cell(answer.get('pnl_dollars'))}",
    ]
    reasons = answer.get("pull_reasons") or {}
    if isinstance(reasons, dict) and reasons:
        parts.append("quotes pulled: " + "; ".join(f"{k}: {v}" for k, v in sorted(
            reasons.items())))
    elif answer.get("trading_active") is False:
        parts.append("exchange paused")
    return ", ".join(parts)
