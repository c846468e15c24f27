"""``tsad alert``: post one message to the configured webhook (systemd's ``OnFailure=`` unit)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tomllib
from pathlib import Path

from tsad.runtime.alerts import AlertSettings, post_alert


__all__ = ["cmd_alert", "read_alert_settings", "register_alert"]


def read_alert_settings(path: Path) -> AlertSettings:
    """Read only ``[alerts]`` from a config file, leniently.

    A failed daemon may have failed *because* its config is broken, and the alert about it
    must still go out: so nothing else of the file is validated, and no key is needed.

    Raises:
        ValueError: the file cannot be read or is not TOML.
    """
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the config: {type(exc).__name__}") from exc
    table = raw.get("alerts", {})
    if not isinstance(table, dict):
        return AlertSettings()
    url = table.get("webhook_url")
    fmt = table.get("format")
    return AlertSettings(
        webhook_url=url.strip() or None if isinstance(url, str) else None,
        format=fmt if fmt in ("json", "text") else "json",
    )


def register_alert(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``alert`` subcommand to the ``tsad`` command line."""
    p = subparsers.add_parser("alert", help="post a message to [alerts] webhook_url")
    p.add_argument("--config", required=True, help="the config.toml with [alerts] webhook_url")
    p.add_argument("--message", required=True, help="the text to post")
    p.set_defaults(func=cmd_alert)


def cmd_alert(args: argparse.Namespace) -> int:
    """Run ``tsad alert``: exit 0 when delivered, 1 when not, 78 without a webhook."""
    try:
        settings = read_alert_settings(Path(args.config))
    except ValueError as exc:
        print(f"tsad: {exc}", file=sys.stderr)
        return 78
    if not settings.webhook_url:
        print(f"tsad: {args.config} sets no [alerts] webhook_url", file=sys.stderr)
        return 78
    text = f"tsad@{socket.gethostname()}: {args.message}"
    return 0 if asyncio.run(post_alert(settings, text)) else 1
