"""Production logging: structlog through one stdlib handler, JSON lines off a TTY, secrets redacted.

Everything (tsad's structlog loggers and foreign stdlib loggers such as httpx, websockets
and asyncio) goes through a single ``StreamHandler`` with a structlog ``ProcessorFormatter``,
so lines never interleave and all share one shape: one JSON object per line with ``event``,
``level``, ``logger`` and an ISO-8601 UTC ``timestamp`` (kalshi-api.md has nothing to say
here; conventions §4.2 does). The level lives in stdlib logging, so `set_level` takes effect
at once, even on cached structlog loggers. Tracebacks never include frame locals, and the
`redact` processor masks secret-looking keys and PEM blocks before anything is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from tsad.errors import ConfigError
from tsad.runtime.console import ConsoleLine


__all__ = [
    "LEVELS",
    "REDACTED",
    "configure_logging",
    "is_secret_key",
    "redact",
    "redact_text",
    "register_secret",
    "set_level",
]

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
REDACTED: Final = "[redacted]"

# Loggers held at WARNING whatever the level: httpx logs every request and its URL at INFO
# (conventions §5 #6); httpcore, hpack and websockets dump request headers (the signed
# KALSHI-ACCESS-* ones) at DEBUG.
_QUIET: Final = ("httpx", "httpcore", "hpack", "websockets")

# Key fragments (compared after lower-casing and dropping separators) that mark a secret.
_SECRET_FRAGMENTS: Final = (
    "keyid",
    "privatekey",
    "signature",
    "authorization",
    "kalshiaccess",
    "password",
    "passwd",
    "secret",
    "credential",
)
_SEPARATORS: Final = re.compile(r"[^a-z0-9]")
_PEM: Final = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
# A secret header inside text: `KALSHI-ACCESS-SIGNATURE: v`, `'KALSHI-ACCESS-KEY': 'v'`,
# `(b'authorization', b'v')`; the value is masked, the name kept.
_SECRET_HEADER: Final = re.compile(
    r"(?i)(kalshi[-_]access[-_](?:key|signature)|authorization|proxy-authorization|cookie)"
    r"""(['"]?\s*[:=,]\s*b?['"]?)([^\s'",}\])]+)"""
)
# Literal values registered as secret (the API key id): masked wherever they appear.
_SECRETS: set[str] = set()
_MIN_SECRET = 6

_HANDLER_MARK: Final = "_tsad_handler"


def is_secret_key(key: object) -> bool:
    """Tell whether a log key names a secret (``key_id``, ``KALSHI-ACCESS-SIGNATURE``, ``token``…).

    Matching ignores case and separators. ``token`` matches as a whole word or a suffix
    (``access_token``, ``apiToken``) but not ``tokens`` (rate-limit budgets are not secrets).
    """
    if not isinstance(key, str):
        return False
    compact = _SEPARATORS.sub("", key.lower())
    if any(fragment in compact for fragment in _SECRET_FRAGMENTS):
        return True
    return compact.endswith("token")


def register_secret(value: str | None) -> None:
    """Mask ``value`` (e.g. the API key id) wherever it appears in a log line from now on."""
    if value and len(value) >= _MIN_SECRET:
        _SECRETS.add(value)


def redact_text(text: str) -> str:
    """Return ``text`` with PEM blocks, secret header values and registered secrets masked."""
    if _PEM.search(text):
        return REDACTED
    text = _SECRET_HEADER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _scrub(value: object, depth: int = 0) -> object:
    """Return ``value`` with secret keys and secret-looking text masked (recursively)."""
    if depth > 8:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("latin-1")
        return value if redact_text(text) == text else REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_key(k) else _scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, depth + 1) for v in value)
    return value


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask secrets in a structlog event dict (a structlog processor).

    Any key named like a secret (see `is_secret_key`) gets `REDACTED`, at any nesting depth
    of dicts, lists and tuples; in every string, a PEM block masks the whole string and a
    secret header's value (``KALSHI-ACCESS-SIGNATURE: …``) or a registered secret is masked.
    """
    out: MutableMapping[str, Any] = event_dict
    for key in list(out):
        if key == "exc_info":
            continue
        out[key] = REDACTED if is_secret_key(key) else _scrub(out[key])
    return event_dict


class _RedactFilter(logging.Filter):
    """Masks secrets in foreign (stdlib) records before any formatter sees their arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            try:
                text = record.getMessage()
            except (TypeError, ValueError):
                text = str(record.msg)
            clean = redact_text(text)
            if clean != text or record.args:
                record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def _level_number(level: str) -> int:
    name = level.strip().lower()
    if name not in LEVELS:
        raise ConfigError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    return int(logging.getLevelNamesMapping()[name.upper()])


def configure_logging(
    level: str,
    *,
    json: bool | None = None,
    stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    """Configure structlog and stdlib logging for the daemon (idempotent).

    Args:
        level: ``debug``, ``info``, ``warning``, ``error`` or ``critical`` (any case).
        json: JSON lines if True, human console output if False; None picks JSON unless
            ``stream`` is a TTY.
        stream: where log lines go (default: ``sys.stdout`` at call time, for journald).
        cache: cache structlog loggers on first use (tests may turn it off).

    Raises:
        ConfigError: an unknown level.
    """
    number = _level_number(level)
    out = sys.stdout if stream is None else stream
    if json is None:
        json = not _isatty(out)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor]
    if json:
        renderer = [
            # Frame locals would carry keys, signed headers and payloads (conventions §5 #3).
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            redact,
            structlog.processors.JSONRenderer(),
        ]
    else:
        # A person at a terminal: one line per event, New York time, dollars and contracts.
        renderer = [structlog.processors.format_exc_info, redact, ConsoleLine()]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_RedactFilter())
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, _HANDLER_MARK, False):
            old.close()
    root.addHandler(handler)
    root.setLevel(number)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache,
    )


def set_level(level: str) -> None:
    """Change the log level at runtime (on SIGHUP); takes effect on cached loggers too.

    Raises:
        ConfigError: an unknown level.
    """
    logging.getLogger().setLevel(_level_number(level))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
