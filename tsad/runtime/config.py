"""Configuration loading: reads and validates ``config.toml`` into one immutable `Config`.

The dataclasses themselves live in `tsad.runtime.settings` (`Config` is re-exported here).

Every problem is collected and raised as one `ConfigError`, each line of it naming the file,
the line, the dotted key and, for unknown keys, the closest known key. Numbers are read with
``parse_float=decimal.Decimal`` so money and probabilities stay exact (probabilities become
`Fraction`s, counts and dollars the integer units of `tsad.money`). Relative paths are
resolved against the directory of the config file, except state paths (the journal, the
halt file, the forecaster's files), which go under ``$STATE_DIRECTORY`` when systemd sets it.
"""

from __future__ import annotations

import decimal
import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Final

from tsad.core.money import COUNT_SCALE, MONEY_SCALE, PRICE_SCALE
from tsad.errors import ConfigError
from tsad.runtime.settings import (
    DEFAULT_URLS,
    DEFAULTS,
    PAPER_JOURNAL,
    SECTIONS,
    Config,
    Environment,
    Tier,
    config_diff,
    restart_required,
)


# Config and its diff are re-exported: the shell reads them from here.
__all__ = ["Config", "config_diff", "load_config", "parse_config", "restart_required"]


_LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
_STP_TYPES: Final = ("taker_at_cross", "maker")
_PREFIX = re.compile(r"^[A-Za-z0-9_]{1,16}$")
_HOOK = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?$")
_CREDENTIALS = re.compile(r"^\$(\{CREDENTIALS_DIRECTORY\}|CREDENTIALS_DIRECTORY)(?=/|$)")


# --- where keys are in the text -----------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEYLINE = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


class _Lines:
    """Line numbers of tables and keys, found by scanning the text table by table."""

    def __init__(self, text: str) -> None:
        self._at: dict[str, int] = {}
        table = ""
        for n, line in enumerate(text.splitlines(), start=1):
            if m := _HEADER.match(line):
                table = _dotted(m.group(1))
                self._at.setdefault(table, n)
            elif m := _KEYLINE.match(line):
                key = _dotted(m.group(1))
                self._at.setdefault(f"{table}.{key}" if table else key, n)

    def find(self, dotted: str) -> int:
        """Return the line of ``dotted``, else of its nearest enclosing table, else 1."""
        while dotted:
            if dotted in self._at:
                return self._at[dotted]
            dotted = dotted.rpartition(".")[0]
        return 1


# --- value readers ------------------------------------------------------------------------


class _Bad(Exception):
    """A value failed to convert; the message says why."""


def _kind(v: object) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | decimal.Decimal):
        return "number"
    if isinstance(v, str):
        return f"string {v!r}"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "table"
    return type(v).__name__


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise _Bad(f"expected a string, got {_kind(v)}")
    return v


def _nonempty(v: object) -> str:
    s = _str(v)
    if not s.strip():
        raise _Bad("must not be empty")
    return s


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {_kind(v)}")
    return v


def _int(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"expected an integer, got {_kind(v)}")
    return v


def _fraction(v: object) -> Fraction:
    if isinstance(v, bool) or not isinstance(v, int | decimal.Decimal):
        raise _Bad(f"expected a number, got {_kind(v)}")
    if isinstance(v, decimal.Decimal) and not v.is_finite():
        raise _Bad(f"expected a finite number, got {v}")
    return Fraction(v)


def _seconds(v: object) -> float:
    f = _fraction(v)
    if f <= 0:
        raise _Bad(f"must be > 0, got {v}")
    return float(f)


def _scaled(v: object, scale: int, what: str) -> int:
    f = _fraction(v) * scale
    if f.denominator != 1:
        raise _Bad(f"{v} has more decimals than {what} allow")
    return int(f)


def _contracts(v: object) -> int:
    n = _scaled(v, COUNT_SCALE, "contracts (2)")
    if n <= 0:
        raise _Bad(f"must be > 0 contracts, got {v}")
    return n


def _dollars(v: object) -> int:
    n = _scaled(v, MONEY_SCALE, "dollars (6)")
    if n <= 0:
        raise _Bad(f"must be > 0 dollars, got {v}")
    return n


def _price(v: object) -> int:
    p = _scaled(v, PRICE_SCALE, "prices (4)")
    if not 0 < p < PRICE_SCALE:
        raise _Bad(f"must be a price strictly between 0 and 1 dollar, got {v}")
    return p


def _probability(v: object) -> Fraction:
    f = _fraction(v)
    if not 0 <= f <= 1:
        raise _Bad(f"must be in [0, 1], got {v}")
    return f


def _suggest(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    """Return the known name closest to ``word`` (difflib, else a prefix match), or None."""
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return close[0]
    starts = [o for o in options if word and (o.startswith(word) or word.startswith(o))]
    return starts[0] if starts else None


def _choice(*options: str) -> Callable[[object], str]:
    choices = tuple(str(o) for o in options)

    def read(v: object) -> str:
        s = _str(v)
        if s not in choices:
            close = _suggest(s, choices)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise _Bad(f"must be one of {', '.join(map(repr, choices))}, got {s!r}{hint}")
        return s
    return read


def _url(*schemes: str) -> Callable[[object], str]:
    def read(v: object) -> str:
        s = _nonempty(v)
        if not s.startswith(tuple(f"{x}://" for x in schemes)):
            raise _Bad(f"must start with {' or '.join(f'{x}://' for x in schemes)}, got {s!r}")
        return s.rstrip("/")
    return read


def _listen(v: object) -> str | None:
    s = _str(v).strip()
    host, sep, port = s.rpartition(":")
    if s and (not sep or not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise _Bad(f"must be HOST:PORT like '127.0.0.1:9464' (or \"\" for off), got {s!r}")
    return s or None


def _webhook(v: object) -> str | None:
    s = _str(v).strip()  # a secret: never echoed in errors
    if s and not s.startswith(("https://", "http://")):
        raise _Bad("must be an https:// (or http://) URL, or \"\" for off")
    return s or None


def _hooks(v: object) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise _Bad(f"expected an array of hook names, got {_kind(v)}")
    out = []
    for i, h in enumerate(v):
        if not isinstance(h, str) or not _HOOK.match(h):
            raise _Bad(
                f"item {i}: expected a hook name or 'package.module:function', got {h!r}"
            )
        out.append(h)
    return tuple(out)


def _prefix(v: object) -> str:
    s = _str(v)
    if not _PREFIX.match(s):
        raise _Bad(f"must be 1-16 characters from [A-Za-z0-9_], got {s!r}")
    return s


def _non_negative_int(v: object) -> int:
    n = _int(v)
    if n < 0:
        raise _Bad(f"must be ≥ 0, got {n}")
    return n


def _positive_int(v: object) -> int:
    n = _int(v)
    if n < 1:
        raise _Bad(f"must be ≥ 1, got {n}")
    return n


_PATH = "path"  # marker: a string resolved against the config file's directory
_STATE_PATH = "state path"  # a relative one resolves under $STATE_DIRECTORY when set
_OPTIONAL_STATE_PATH = "optional state path"  # same, "" means None
_PATHS: Final = (_PATH, _STATE_PATH, _OPTIONAL_STATE_PATH)

_Reader = Callable[[object], object] | str
_SCHEMA: Final[Mapping[str, Mapping[str, _Reader]]] = {
    "exchange": {
        "environment": _choice(*Environment),
        "rest_url": _url("http", "https"),
        "ws_url": _url("ws", "wss"),
        "key_id": _nonempty,
        "private_key_path": _PATH,
        "tier": _choice(*Tier),
        "allow_insecure_key": _bool,
        "dry_run": _bool,
        "request_timeout": _seconds,
        "client_order_prefix": _prefix,
    },
    "market": {"series": _nonempty, "event": _nonempty},
    "model": {
        "prediction_path": _STATE_PATH,
        "history_path": _STATE_PATH,
        "actuals_path": _STATE_PATH,
        "hooks": _hooks,
        "max_prediction_age": _seconds,
        "market_weight": _probability,
        "market_max_spread": _price,
    },
    "quoting": {
        "margin": _fraction,
        "min_true_value": _probability,
        "max_true_value": _probability,
        "count": _contracts,
        "min_reprice_ticks": _positive_int,
        "post_only": _bool,
        "self_trade_prevention": _choice(*_STP_TYPES),
        "policy": _choice("seed", "edge"),
        "half_spread_ticks": _positive_int,
        "min_edge": _fraction,
        "skew_ticks": _non_negative_int,
        "take": _bool,
        "take_edge": _fraction,
    },
    "risk": {
        "max_position": _contracts,
        "max_order_size": _contracts,
        "max_event_loss": _dollars,
        "min_price": _price,
        "max_price": _price,
        "halt_file": _OPTIONAL_STATE_PATH,
        "cancel_on_exit": _bool,
        "cancel_order_on_pause": _bool,
        "order_group_contracts_limit": _non_negative_int,
    },
    "journal": {"path": _STATE_PATH},
    "daemon": {
        "coalesce_ms": _non_negative_int,
        "resync_interval": _seconds,
        "stale_market_seconds": _seconds,
        "log_level": _choice(*_LOG_LEVELS),
        "stop_timeout": _seconds,
        "metrics_listen": _listen,
    },
    "alerts": {
        "webhook_url": _webhook,
        "pulled_minutes": _seconds,
        "fills": _bool,
        "format": _choice("json", "text"),
    },
    "paper": {"outside_traders": _bool, "seed": _non_negative_int, "prediction": _non_negative_int},
}


class _Parser:
    """Collects every error of one file while building its sections."""

    def __init__(self, path: Path, text: str, environ: Mapping[str, str]) -> None:
        self.path = path
        self.base = path.absolute().parent
        # systemd's StateDirectory= (the first, when several are listed): where the journal,
        # the halt file and forecaster files given as relative paths live.
        state = environ.get("STATE_DIRECTORY", "").split(":")[0]
        self.state = Path(state) if state else self.base
        self.lines = _Lines(text)
        self.environ = environ
        self.errors: list[str] = []
        self.present: set[str] = set()

    def error(self, dotted: str, message: str, *, at: str | None = None) -> None:
        line = self.lines.find(at or dotted)
        self.errors.append(f"{self.path}:{line}: {dotted}: {message}")

    def unknown(self, dotted: str, known: list[str]) -> None:
        name = dotted.rpartition(".")[2]
        close = _suggest(name, known)
        hint = f" (did you mean {close!r}?)" if close else f" (known: {', '.join(known)})"
        self.error(dotted, f"unknown key{hint}")

    def resolve(self, text: str, *, state: bool = False) -> Path:
        if m := _CREDENTIALS.match(text):
            creds = self.environ.get("CREDENTIALS_DIRECTORY")
            if not creds:
                raise _Bad("uses $CREDENTIALS_DIRECTORY, which is not set")
            text = creds + text[m.end():]
        p = Path(text).expanduser()
        return p if p.is_absolute() else (self.state if state else self.base) / p

    def section(self, name: str, table: object) -> dict[str, object]:
        schema = _SCHEMA[name]
        if not isinstance(table, dict):
            self.error(name, f"must be a table, got {_kind(table)}")
            return {}
        values: dict[str, object] = {}
        for key, raw in table.items():
            dotted = f"{name}.{key}"
            reader = schema.get(key)
            if reader is None:
                self.unknown(dotted, list(schema))
                continue
            self.present.add(dotted)
            try:
                if reader in _PATHS:
                    text = _str(raw)
                    if not text.strip():
                        if reader != _OPTIONAL_STATE_PATH:
                            raise _Bad("must not be empty")
                        values[key] = None
                        continue
                    values[key] = self.resolve(text, state=reader != _PATH)
                else:
                    assert callable(reader)
                    values[key] = reader(raw)
            except _Bad as exc:
                self.error(dotted, str(exc))
        return values


def parse_config(
    data: bytes, *, path: Path, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate the bytes of a config file.

    Args:
        data: the file's bytes (UTF-8 TOML).
        path: where they came from: named in errors; relative paths resolve against its
            directory.
        environ: the environment (``$CREDENTIALS_DIRECTORY`` in ``private_key_path``;
            ``$STATE_DIRECTORY`` for relative state paths); defaults to the process's.

    Returns:
        The configuration.

    Raises:
        ConfigError: every problem found, one per line, each naming file, line and key.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        raw = tomllib.loads(text, parse_float=decimal.Decimal)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(f"{path}:{m.group(1) if m else 1}: invalid TOML: {exc}") from exc
    p = _Parser(path, text, os.environ if environ is None else environ)
    sections: dict[str, dict[str, object]] = {}
    for name, table in raw.items():
        if name not in _SCHEMA:
            if isinstance(table, dict):
                close = _suggest(name, list(_SCHEMA))
                hint = f" (did you mean [{close}]?)" if close else ""
                p.error(name, f"unknown table{hint}")
            else:
                p.unknown(name, list(_SCHEMA))
            continue
        sections[name] = p.section(name, table)
    _check(p, sections)
    if p.errors:
        n = len(p.errors)
        raise ConfigError(
            f"{path}: {n} error{'s' if n > 1 else ''}:\n" + "\n".join(f"  {e}" for e in p.errors)
        )
    built = {name: cls(**sections.get(name, {})) for name, cls in SECTIONS.items()}
    return Config(**built, path=path, version=hashlib.sha256(data).hexdigest()[:12])


def _check(p: _Parser, s: dict[str, dict[str, object]]) -> None:
    """Cross-key checks and defaults that depend on other keys (mutates ``s``)."""
    exchange = s.setdefault("exchange", {})

    quoting = s.setdefault("quoting", {})
    risk = s.setdefault("risk", {})
    journal = s.setdefault("journal", {})
    env = Environment(str(exchange.get("environment", Environment.PAPER)))
    exchange["environment"] = env
    if "tier" in exchange:
        exchange["tier"] = Tier(str(exchange["tier"]))
    if env is not Environment.PAPER:
        rest, ws = DEFAULT_URLS[env]
        exchange.setdefault("rest_url", rest)
        exchange.setdefault("ws_url", ws)
        why = f"required when exchange.environment = {str(env)!r}"
        for dotted in (
            "exchange.key_id", "exchange.private_key_path",
            "model.prediction_path", "model.history_path",
        ):
            if dotted not in p.present:  # a present but bad value is reported already
                p.error(dotted, why, at="exchange.environment")
        key_path = exchange.get("private_key_path")
        if isinstance(key_path, Path) and not key_path.is_file():
            p.error("exchange.private_key_path", f"no such file: {key_path}")
    if quoting.get("take") is True:
        # The rule exists (quoting.desired_takes) but the daemon does not send takes yet:
        # refuse rather than accept a setting that would silently do nothing.
        p.error("quoting.take", "immediate-or-cancel taking is not sent by this version "
                "of the daemon; leave it false")
    margin = quoting.get("margin")
    if isinstance(margin, Fraction) and not 0 < margin <= 1:
        p.error("quoting.margin", f"must be in (0, 1], got {float(margin)}")
    lo = quoting.get("min_true_value", DEFAULTS.quoting.min_true_value)
    hi = quoting.get("max_true_value", DEFAULTS.quoting.max_true_value)
    if isinstance(lo, Fraction) and isinstance(hi, Fraction) and not lo < hi:
        at = "quoting.min_true_value" if "min_true_value" in quoting else "quoting.max_true_value"
        p.error(at, f"min_true_value ({float(lo)}) must be < max_true_value ({float(hi)})")
    count = quoting.get("count", DEFAULTS.quoting.count)
    size = risk.get("max_order_size", DEFAULTS.risk.max_order_size)
    if isinstance(count, int) and isinstance(size, int) and count > size:
        at = "quoting.count" if "count" in quoting else "risk.max_order_size"
        p.error(at, "quoting.count exceeds risk.max_order_size: every quote would be refused")
    low = risk.get("min_price", DEFAULTS.risk.min_price)
    high = risk.get("max_price", DEFAULTS.risk.max_price)
    if isinstance(low, int) and isinstance(high, int) and not low < high:
        p.error("risk.min_price", "must be < risk.max_price")
    risk.setdefault("halt_file", p.state / "halt")
    journal.setdefault("path", p.state / (PAPER_JOURNAL if env is Environment.PAPER
                                          else DEFAULTS.journal.path))
    market = s.setdefault("market", {})
    series, event = market.get("series", DEFAULTS.market.series), market.get("event")
    if isinstance(event, str) and isinstance(series, str) and not event.startswith(series + "-"):
        p.error("market.event", f"{event!r} is not an event of series {series!r}")


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate a config file.

    Args:
        path: the TOML file.
        environ: the environment for ``$CREDENTIALS_DIRECTORY`` and ``$STATE_DIRECTORY``
            (default: the process's).

    Returns:
        The configuration, with relative paths resolved against the file's directory (state
        paths under ``$STATE_DIRECTORY`` when it is set).

    Raises:
        ConfigError: the file cannot be read, or every problem found in it.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from exc
    return parse_config(data, path=p, environ=environ)
