"""Tests for production logging: JSON lines, redaction, no traceback locals, live level changes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
import structlog

from tsad.errors import ConfigError
from tsad.runtime.logs import REDACTED, configure_logging, is_secret_key, redact, set_level


PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


class TtyStream(io.StringIO):
    """A text stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {n: logging.getLogger(n).level
             for n in ("httpx", "httpcore", "hpack", "websockets", "websockets.client")}
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)
    logging.captureWarnings(False)
    structlog.reset_defaults()


@pytest.fixture(name="out")
def _out() -> io.StringIO:
    return io.StringIO()


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_have_event_level_timestamp(out: io.StringIO) -> None:
    """Off a TTY each record is one JSON object with event, level, logger and a UTC timestamp."""
    configure_logging("info", stream=out)
    structlog.get_logger("tsad.runtime.engine").info("reconcile.cycle", cycle=3, placed=2)
    logging.getLogger("websockets.client").warning("connection %s closed", "x")
    first, second = _lines(out)
    assert first["event"] == "reconcile.cycle" and first["level"] == "info"
    assert (first["cycle"], first["placed"], first["logger"]) == (3, 2, "tsad.runtime.engine")
    assert second["event"] == "connection x closed" and second["level"] == "warning"
    for line in (first, second):
        ts = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
        assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0


def test_httpx_info_is_quieted(out: io.StringIO) -> None:
    """httpx and httpcore log only warnings and above, even at debug level."""
    configure_logging("debug", stream=out)
    logging.getLogger("httpx").info("HTTP Request: GET https://x/?secret=1")
    logging.getLogger("httpcore.http11").debug("send_request_headers")
    logging.getLogger("httpx").warning("pool full")
    assert [line["event"] for line in _lines(out)] == ["pool full"]


@pytest.mark.parametrize(
    ("fields", "hidden", "kept"),
    [
        pytest.param({"key_id": "abc-123"}, ["abc-123"], [], id="key_id"),
        pytest.param({"private_key": "k"}, ['"k"'], [], id="private_key"),
        pytest.param({"headers": {"KALSHI-ACCESS-SIGNATURE": "c2ln", "KALSHI-ACCESS-KEY": "kid",
                                  "Accept": "application/json"}},
                     ["c2ln", "kid"], ["application/json"], id="nested-kalshi-headers"),
        pytest.param({"Authorization": "Bearer zzz"}, ["zzz"], [], id="authorization"),
        pytest.param({"password": "hunter2", "apiToken": "tok9"}, ["hunter2", "tok9"], [],
                     id="password-token"),
        pytest.param({"client_secret": "s3"}, ['"s3"'], [], id="secret"),
        pytest.param({"note": PEM}, ["MIIEvQ", "BEGIN PRIVATE"], [], id="pem-value"),
        pytest.param({"items": [{"signature": "sig7"}, "ok"]}, ["sig7"], ['"ok"'],
                     id="list-of-dicts"),
        pytest.param({"tokens": 7, "ticker": "KXTSAW-24SEP08-A2.45"}, [],
                     ['"tokens": 7', "KXTSAW-24SEP08-A2.45"], id="not-secrets"),
    ],
)
def test_secrets_are_redacted(out: io.StringIO, fields, hidden: list[str], kept: list[str]) -> None:
    """Secret-looking keys (any depth, any case) and PEM blocks never reach the output."""
    configure_logging("info", stream=out)
    structlog.get_logger("tsad.rest").info("request.sent", **fields)
    text = out.getvalue()
    for secret in hidden:
        assert secret not in text
    for visible in kept:
        assert visible in text
    assert (REDACTED in text) == bool(hidden)


def test_pem_in_foreign_message_is_redacted(out: io.StringIO) -> None:
    """A PEM block in a stdlib log message is masked too."""
    configure_logging("info", stream=out)
    logging.getLogger("somelib").error("loaded %s", PEM)
    assert "MIIEvQ" not in out.getvalue()
    assert _lines(out)[0]["event"] == REDACTED


SECRET_ARG = "hunter2-" + "secret-value"  # built so no source line shows it whole


def _explode(private_key: str) -> None:
    signed_headers = {"KALSHI-ACCESS-SIGNATURE": private_key}
    raise RuntimeError(f"boom with {len(signed_headers)} header")


def test_exceptions_render_without_locals(out: io.StringIO) -> None:
    """A logged exception is structured, keeps its message and frames, and shows no locals."""
    configure_logging("info", stream=out)
    try:
        _explode(SECRET_ARG)
    except RuntimeError:
        structlog.get_logger("tsad.runtime.engine").exception("engine.crashed")
    (line,) = _lines(out)
    text = out.getvalue()
    assert "hunter2-secret-value" not in text
    assert '"locals"' not in text
    exc = line["exception"]
    assert isinstance(exc, list) and exc[0]["exc_type"] == "RuntimeError"
    assert exc[0]["exc_value"] == "boom with 1 header"
    assert any(frame["name"] == "_explode" for frame in exc[0]["frames"])


def test_console_exceptions_show_no_locals() -> None:
    """On a TTY the console renderer is used, with a plain traceback and no locals."""
    out = TtyStream()
    configure_logging("info", stream=out)
    try:
        _explode(SECRET_ARG)
    except RuntimeError:
        structlog.get_logger("tsad.runtime.engine").exception("engine.crashed")
    text = out.getvalue()
    assert "engine.crashed" in text and "RuntimeError: boom" in text
    assert "hunter2-secret-value" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_set_level_affects_cached_loggers(out: io.StringIO) -> None:
    """set_level changes what a cached logger emits, immediately, both ways."""
    configure_logging("info", stream=out, cache=True)
    log = structlog.get_logger("tsad.feed")
    log.debug("tick.one")
    log.info("ws.connected")
    set_level("debug")
    log.debug("tick.two")
    set_level("WARNING")
    log.info("ws.reconnecting")
    log.warning("ws.gap")
    assert [line["event"] for line in _lines(out)] == ["ws.connected", "tick.two", "ws.gap"]


def test_reconfigure_keeps_one_handler(out: io.StringIO) -> None:
    """Configuring twice leaves a single tsad handler, so lines are never duplicated."""
    configure_logging("info", stream=io.StringIO())
    configure_logging("info", stream=out)
    structlog.get_logger("tsad").info("config.reloaded")
    assert len(_lines(out)) == 1


@pytest.mark.parametrize("level", ["verbose", "", "10"])
def test_bad_level_is_a_config_error(level: str) -> None:
    """An unknown level is refused with a ConfigError naming it."""
    with pytest.raises(ConfigError, match="log level"):
        configure_logging(level, stream=io.StringIO())
    with pytest.raises(ConfigError, match="log level"):
        set_level(level)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        pytest.param("KALSHI-ACCESS-TIMESTAMP", True, id="kalshi-header"),
        pytest.param("exchange_key_id", True, id="key-id-suffix"),
        pytest.param("access_token", True, id="token-suffix"),
        pytest.param("Passwd", True, id="passwd"),
        pytest.param("write_tokens", False, id="tokens-budget"),
        pytest.param("client_order_id", False, id="client-order-id"),
        pytest.param("price", False, id="price"),
        pytest.param(3, False, id="non-string"),
    ],
)
def test_is_secret_key(key: object, secret: bool) -> None:
    """Secret keys are recognised regardless of case and separators."""
    assert is_secret_key(key) is secret


def test_redact_is_a_plain_processor() -> None:
    """redact works on a bare event dict, as any structlog processor."""
    got = redact(None, "info", {"event": "x", "key_id": "k", "n": 1})
    assert got == {"event": "x", "key_id": REDACTED, "n": 1}


def test_header_dumps_are_held_back_and_redacted_at_debug():
    """At debug, websockets and httpx stay at WARNING; a header dump that gets through anyway
    (a library logger forced to DEBUG) shows names, never values; nor does a registered key id."""
    from tsad.runtime.logs import register_secret

    out = io.StringIO()
    configure_logging("debug", json=True, stream=out, cache=False)
    for name in ("websockets", "httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    ws = logging.getLogger("websockets.client")
    ws.setLevel(logging.DEBUG)
    ws.debug("> %s: %s", "KALSHI-ACCESS-SIGNATURE", "c2lnbmF0dXJlLXZhbHVl==")
    ws.debug("> %s: %s", "KALSHI-ACCESS-KEY", "0f1e2d3c-key")
    ws.debug("headers %r", [(b"KALSHI-ACCESS-SIGNATURE", b"YWJjZGVm")])
    register_secret("0f1e2d3c-key")
    structlog.get_logger("tsad.x").info("startup", note="key 0f1e2d3c-key in use")
    text = out.getvalue()
    assert "c2lnbmF0dXJlLXZhbHVl" not in text and "YWJjZGVm" not in text
    assert "0f1e2d3c-key" not in text
    assert text.count(REDACTED) == 4
    assert "KALSHI-ACCESS-SIGNATURE" in text


def test_console_line_reads_in_one_unit_and_new_york_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a TTY a fill reads in dollars and contracts at New York time."""
    monkeypatch.setenv("COLUMNS", "300")
    out = TtyStream()
    configure_logging("info", stream=out)
    structlog.get_logger("tsad.runtime.engine").info(
        "order.filled", ticker="KXTSAW-26DEC06-A2.55", side="ask", price=3500, count=1000,
        position=-2000, trade_id="t-1")
    line = out.getvalue().splitlines()[0]
    assert "order.filled" in line
    assert "price=0.3500" in line and "count=10.00" in line and "position=-20.00" in line
    stamp = line.split()[0]
    assert len(stamp) == 8 and stamp.count(":") == 2


def test_console_line_is_cut_to_the_terminal_width() -> None:
    """A long event stays on one line no wider than the terminal."""
    from tsad.runtime.console import ConsoleLine

    render = ConsoleLine(width=60)
    line = render(None, "info", {"event": "reconcile.cycle", "level": "info",
                                 "timestamp": "2026-12-06T14:00:00Z", "pulled": "x" * 200})
    assert "\n" not in line and len(line) <= 60
    assert line.startswith("09:00:00 info")
