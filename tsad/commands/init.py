"""``tsad init``: write a production-ready config for systemd, check the key, print next steps."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from os import EX_CONFIG  # sysexits: 78, the configuration is bad
from pathlib import Path
from typing import Final, TextIO

from tsad.errors import ConfigError


__all__ = ["EX_CONFIG", "cmd_init", "register_init", "render_config"]

STATE: Final = "/var/lib/tsad"
_PLACEHOLDER_KEY_ID: Final = "00000000-0000-0000-0000-000000000000"

_TEMPLATE: Final = """\
# tsad configuration for {environment}, written by `tsad init`.
# Check it:  sudo CREDENTIALS_DIRECTORY=/etc/tsad tsad check-config --config /etc/tsad/config.toml
# Every path is absolute under {state} (the service's StateDirectory=), so the file means the
# same thing wherever a command is run from. Reload with `systemctl reload tsad`.

[exchange]
environment = "{environment}"
# Your API key id (not a secret by itself, never logged).
key_id = "{key_id}"
# systemd hands the key over with LoadCredential= (see systemd/tsad.service).
private_key_path = "$CREDENTIALS_DIRECTORY/kalshi-key.pem"
tier = "basic"
allow_insecure_key = false
# Start with true to watch what it would do (every write logged, none sent).
dry_run = false
request_timeout = 10.0
client_order_prefix = "tsad"

[market]
series = "KXTSAW"

[model]
# Written every morning by tsad-fetch-actuals.service (or your own forecaster).
prediction_path = "{state}/prediction.json"
history_path = "{state}/history.csv"
actuals_path = "{state}/actuals.csv"
hooks = ["realized_days"]
# Pull quotes when the prediction is older than 36 hours.
max_prediction_age = 129600

[quoting]
margin = 0.75
min_true_value = 0.05
max_true_value = 0.95
count = 10
min_reprice_ticks = 1
post_only = true
self_trade_prevention = "taker_at_cross"

[risk]
max_position = 100
max_order_size = 50
max_event_loss = 500.0
min_price = 0.01
max_price = 0.99
# `touch {state}/halt` cancels every quote until the file is removed.
halt_file = "{state}/halt"
cancel_on_exit = true

[journal]
path = "{state}/journal.sqlite3"

[daemon]
resync_interval = 60.0
stale_market_seconds = 120.0
log_level = "info"
{extra}"""

_METRICS: Final = """\
# Prometheus text at http://127.0.0.1:9464/metrics (loopback only; "" turns it off).
metrics_listen = "127.0.0.1:9464"
"""
_ALERTS: Final = """
[alerts]
# A Slack/Discord/Mattermost incoming webhook, or a Telegram bot's sendMessage?chat_id= URL.
# The URL is a secret: keep this file 0640 root:tsad. "" turns alerts off.
webhook_url = ""
# Alert when every quote has been pulled this long (minutes).
pulled_minutes = 10
# Also post a summary of new fills (at most one a minute).
fills = false
"""


def render_config(environment: str, *, key_id: str | None = None) -> str:
    """Return the text of a production config for ``environment`` (demo or production)."""
    return _TEMPLATE.format(environment=environment, key_id=key_id or _PLACEHOLDER_KEY_ID,
                            state=STATE, extra=_METRICS + _ALERTS)


def check_key(path: Path) -> None:
    """Check that a private key file is owner-only (0600 or stricter) and an RSA PEM key.

    Raises:
        ConfigError: why not (never shows key bytes).
    """
    from tsad.kalshi.signing import load_private_key

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"key {path} has mode {stat.filemode(mode)}: run chmod 600 {path}")
    load_private_key(path)


def register_init(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``init`` subcommand to the ``tsad`` command line."""
    p = subparsers.add_parser("init", help="write a production config for systemd")
    p.add_argument("--environment", required=True, choices=("demo", "production"))
    p.add_argument("--out", help="write the config here (default: standard output)")
    p.add_argument("--key", help="the private key PEM to check (0600, RSA)")
    p.add_argument("--key-id", help="the API key id to put in the config")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=cmd_init)


def _next_steps(environment: str, out: str | None, key: str | None,
                key_id: str | None) -> str:
    config = out or "config.toml"
    steps = [
        "Next steps:",
        f"  sudo install -d -m 0750 /etc/tsad && sudo install -m 0640 {config} "
        "/etc/tsad/config.toml",
        f"  sudo install -m 0600 -o root -g root {key or 'kalshi-key.pem'} "
        "/etc/tsad/kalshi-key.pem",
    ]
    if key_id is None:
        steps.append("  set [exchange] key_id in /etc/tsad/config.toml to your API key id")
    steps += [
        "  sudo CREDENTIALS_DIRECTORY=/etc/tsad tsad check-config --config /etc/tsad/config.toml",
        "  sudo systemctl enable --now tsad-fetch-actuals.timer   # the forecast files",
        "  sudo systemctl enable --now tsad",
        "  sudo -u tsad tsad status --config /etc/tsad/config.toml",
    ]
    if environment == "production":
        steps.append("  (production: consider dry_run = true for the first hours)")
    return "\n".join(steps)


def cmd_init(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """Run ``tsad init``: exit 78 when the key fails its checks or --out already exists."""
    out = stdout or sys.stdout
    if args.key:
        try:
            check_key(Path(args.key))
        except ConfigError as exc:
            print(f"tsad: {exc}", file=sys.stderr)
            return EX_CONFIG
    text = render_config(args.environment, key_id=args.key_id)
    if args.out:
        target = Path(args.out)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
        try:
            fd = os.open(target, flags, 0o640)
        except FileExistsError:
            print(f"tsad: {target} exists (use --force to overwrite)", file=sys.stderr)
            return EX_CONFIG
        except OSError as exc:
            print(f"tsad: {target}: {exc.strerror}", file=sys.stderr)
            return EX_CONFIG
        with os.fdopen(fd, "w") as f:
            f.write(text)
        print(f"wrote {target}", file=out)
        print(_next_steps(args.environment, args.out, args.key, args.key_id), file=out)
    else:
        out.write(text)
        print(_next_steps(args.environment, None, args.key, args.key_id), file=sys.stderr)
    return 0
