"""Tests of config.toml loading: exact values, defaults, and errors naming key and line."""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction
from pathlib import Path

import pytest

from tsad.core.quoting import QuotingPolicy
from tsad.errors import ConfigError
from tsad.runtime.config import config_diff, load_config, restart_required
from tsad.runtime.settings import DEFAULT_URLS, RESTART_REQUIRED_KEYS, Environment, Tier


SHIPPED = Path(__file__).resolve().parent.parent / "config.toml"

FULL = """\
# a complete demo config
[exchange]
environment = "demo"
key_id = "abc-secret-key-id"
private_key_path = "keys/kalshi.pem"
tier = "advanced"
allow_insecure_key = true
dry_run = true
request_timeout = 2.5
client_order_prefix = "bot_1"

[market]
series = "KXTSAW"
event = "KXTSAW-26NOV29"

[model]
prediction_path = "in/prediction.json"
history_path = "/abs/history.csv"
actuals_path = "in/actuals.csv"
hooks = ["realized_days", "mypkg.hooks:my_hook"]
max_prediction_age = 3600

[quoting]
margin = 0.7
min_true_value = 0.1
max_true_value = 0.9
count = 2.5
min_reprice_ticks = 2
post_only = false
self_trade_prevention = "maker"

[risk]
max_position = 40.25
max_order_size = 5
max_event_loss = 123.456789
min_price = 0.02
max_price = 0.98
halt_file = ""
cancel_on_exit = false

[journal]
path = "j.sqlite3"

[daemon]
coalesce_ms = 0
resync_interval = 30
stale_market_seconds = 45.5
log_level = "debug"

[paper]
outside_traders = false
seed = 42
prediction = 2440000
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture(name="key_dir")
def _key_dir(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "kalshi.pem").write_text("not read here\n")
    return tmp_path


def test_shipped_config_loads_in_paper_mode():
    """The repository's config.toml loads, runs paper mode, and needs no files or credentials."""
    cfg = load_config(SHIPPED)
    assert cfg.exchange.environment is Environment.PAPER
    assert cfg.exchange.key_id is None and cfg.exchange.private_key_path is None
    assert cfg.model.prediction_path is None and cfg.model.history_path is None
    assert cfg.quoting_policy() == QuotingPolicy(
        margin=Fraction(3, 4), min_true_value=Fraction(1, 20), max_true_value=Fraction(19, 20),
        count=1000, max_position=10_000,
    )
    assert cfg.risk.max_event_loss == 500_000_000
    assert cfg.risk.halt_file == SHIPPED.parent / "halt"
    assert cfg.journal.path == SHIPPED.parent / "state" / "paper" / "journal.sqlite3"


def test_shipped_config_comments_every_key():
    """Every key of the shipped config.toml has a comment line right above it."""
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+\s*=", line):
            assert lines[i - 1].startswith("#"), f"line {i + 1} {line!r} has no comment"


def test_full_file_round_trips(key_dir: Path):
    """Every key of a complete file is read exactly, with paths resolved to its directory."""
    path = write(key_dir, FULL)
    cfg = load_config(path, environ={})
    ex = cfg.exchange
    assert ex.environment is Environment.DEMO and ex.tier is Tier.ADVANCED
    assert (ex.rest_url, ex.ws_url) == DEFAULT_URLS[Environment.DEMO]
    assert ex.key_id == "abc-secret-key-id"
    assert ex.private_key_path == key_dir / "keys" / "kalshi.pem"
    assert ex.allow_insecure_key and ex.dry_run
    assert ex.request_timeout == 2.5 and ex.client_order_prefix == "bot_1"
    assert cfg.market.event == "KXTSAW-26NOV29"
    assert cfg.model.prediction_path == key_dir / "in" / "prediction.json"
    assert cfg.model.history_path == Path("/abs/history.csv")
    assert cfg.model.hooks == ("realized_days", "mypkg.hooks:my_hook")
    assert cfg.model.max_prediction_age == 3600.0
    q = cfg.quoting
    assert (q.margin, q.min_true_value, q.max_true_value) == (
        Fraction(7, 10), Fraction(1, 10), Fraction(9, 10))
    assert (q.count, q.min_reprice_ticks, q.post_only, q.self_trade_prevention) == (
        250, 2, False, "maker")
    r = cfg.risk
    assert (r.max_position, r.max_order_size, r.max_event_loss) == (4025, 500, 123_456_789)
    assert (r.min_price, r.max_price, r.halt_file, r.cancel_on_exit) == (200, 9800, None, False)
    assert cfg.journal.path == key_dir / "j.sqlite3"
    d = cfg.daemon
    assert (d.coalesce_ms, d.resync_interval, d.stale_market_seconds, d.log_level) == (
        0, 30.0, 45.5, "debug")
    assert (cfg.paper.outside_traders, cfg.paper.seed, cfg.paper.prediction) == (
        False, 42, 2_440_000)
    assert cfg.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert cfg.risk_limits(halted=True).halted
    assert cfg.risk_limits().max_event_loss == 123_456_789


def test_secret_key_id_not_in_repr(key_dir: Path):
    """The key id never appears in the config's repr."""
    cfg = load_config(write(key_dir, FULL), environ={})
    assert "abc-secret-key-id" not in repr(cfg)
    assert "abc-secret-key-id" not in str(cfg.exchange)


def test_empty_file_is_paper_defaults(tmp_path: Path):
    """An empty file is valid: paper mode with every default."""
    cfg = load_config(write(tmp_path, ""))
    assert cfg.exchange.environment is Environment.PAPER
    assert cfg.exchange.rest_url is None and cfg.model.hooks == ("realized_days",)


# Each case: file text, then the exact "line: key: message" expected (substring match).
ERRORS = [
    pytest.param('[quoting]\nmarginn = 0.7\n',
                 ":2: quoting.marginn: unknown key (did you mean 'margin'?)", id="typo-key"),
    pytest.param('[quotng]\nmargin = 0.7\n',
                 ":1: quotng: unknown table (did you mean [quoting]?)", id="typo-table"),
    pytest.param('enviroment = "paper"\n',
                 ":1: enviroment: unknown key", id="top-level-key"),
    pytest.param('quoting = 3\n', ":1: quoting: must be a table", id="not-a-table"),
    pytest.param('[quoting]\n# c\n\nmargin = "0.75"\n',
                 ":4: quoting.margin: expected a number, got string '0.75'", id="string-number"),
    pytest.param('[quoting]\nmargin = 1.5\n', ":2: quoting.margin: must be in (0, 1]",
                 id="margin-range"),
    pytest.param('[quoting]\nmargin = 0\n', ":2: quoting.margin: must be in (0, 1]",
                 id="margin-zero"),
    pytest.param('[quoting]\nmargin = nan\n', ":2: quoting.margin: expected a finite number",
                 id="margin-nan"),
    pytest.param('[quoting]\nmin_true_value = 0.6\nmax_true_value = 0.4\n',
                 ":2: quoting.min_true_value: min_true_value (0.6) must be < max_true_value",
                 id="band-inverted"),
    pytest.param('[quoting]\nmax_true_value = 1.2\n',
                 ":2: quoting.max_true_value: must be in [0, 1]", id="probability-range"),
    pytest.param('[quoting]\ncount = 0\n', ":2: quoting.count: must be > 0 contracts",
                 id="count-zero"),
    pytest.param('[quoting]\ncount = 1.005\n', ":2: quoting.count: 1.005 has more decimals",
                 id="count-decimals"),
    pytest.param('[quoting]\ncount = true\n', ":2: quoting.count: expected a number, got boolean",
                 id="count-bool"),
    pytest.param('[quoting]\nmin_reprice_ticks = 0\n',
                 ":2: quoting.min_reprice_ticks: must be ≥ 1", id="ticks-zero"),
    pytest.param('[quoting]\nmin_reprice_ticks = 1.5\n',
                 ":2: quoting.min_reprice_ticks: expected an integer", id="ticks-float"),
    pytest.param('[quoting]\npost_only = "yes"\n',
                 ":2: quoting.post_only: expected true or false", id="bool-string"),
    pytest.param('[quoting]\nself_trade_prevention = "makers"\n',
                 ":2: quoting.self_trade_prevention: must be one of 'taker_at_cross', 'maker', "
                 "got 'makers' (did you mean 'maker'?)", id="stp-choice"),
    pytest.param('[quoting]\ncount = 60\n',
                 ":2: quoting.count: quoting.count exceeds risk.max_order_size",
                 id="count-over-order-size"),
    pytest.param('[exchange]\nenvironment = "prod"\n',
                 ":2: exchange.environment: must be one of 'paper', 'demo', 'production', got "
                 "'prod' (did you mean 'production'?)", id="environment-typo"),
    pytest.param('[exchange]\ntier = "gold"\n', ":2: exchange.tier: must be one of",
                 id="tier"),
    pytest.param('[exchange]\nrest_url = "ftp://x"\n',
                 ":2: exchange.rest_url: must start with http:// or https://", id="rest-url"),
    pytest.param('[exchange]\nws_url = "https://x"\n',
                 ":2: exchange.ws_url: must start with ws:// or wss://", id="ws-url"),
    pytest.param('[exchange]\nclient_order_prefix = "ts-ad"\n',
                 ":2: exchange.client_order_prefix: must be 1-16 characters", id="prefix"),
    pytest.param('[exchange]\nrequest_timeout = -1\n',
                 ":2: exchange.request_timeout: must be > 0", id="timeout"),
    pytest.param('\n[exchange]\nenvironment = "demo"\n',
                 ":3: exchange.key_id: required when exchange.environment = 'demo'",
                 id="demo-needs-key-id"),
    pytest.param('[exchange]\nenvironment = "production"\n',
                 ":2: model.history_path: required when exchange.environment = 'production'",
                 id="production-needs-history"),
    pytest.param('[exchange]\nenvironment = "demo"\nprivate_key_path = "nope.pem"\n',
                 ":3: exchange.private_key_path: no such file", id="key-file-missing"),
    pytest.param('[exchange]\nprivate_key_path = "$CREDENTIALS_DIRECTORY/k.pem"\n',
                 ":2: exchange.private_key_path: uses $CREDENTIALS_DIRECTORY, which is not set",
                 id="credentials-unset"),
    pytest.param('[market]\nevent = "KXTSA-26NOV29"\n',
                 ":2: market.event: 'KXTSA-26NOV29' is not an event of series 'KXTSAW'",
                 id="event-series"),
    pytest.param('[model]\nhooks = [1]\n', ":2: model.hooks: item 0", id="hook-type"),
    pytest.param('[model]\nhooks = "seed"\n', ":2: model.hooks: expected an array",
                 id="hooks-not-list"),
    pytest.param('[model]\nhistory_path = ""\n', ":2: model.history_path: must not be empty",
                 id="empty-path"),
    pytest.param('[model]\nhistory_path = 3\n', ":2: model.history_path: expected a string",
                 id="path-type"),
    pytest.param('[risk]\nmax_event_loss = 0.0000001\n',
                 ":2: risk.max_event_loss: 1E-7 has more decimals", id="loss-decimals"),
    pytest.param('[risk]\nmax_event_loss = -5\n', ":2: risk.max_event_loss: must be > 0",
                 id="loss-negative"),
    pytest.param('[risk]\nmin_price = 0.5\nmax_price = 0.4\n',
                 ":2: risk.min_price: must be < risk.max_price", id="price-band"),
    pytest.param('[risk]\nmax_price = 1.0\n', ":2: risk.max_price: must be a price strictly",
                 id="price-one"),
    pytest.param('[daemon]\nlog_level = "verbose"\n', ":2: daemon.log_level: must be one of",
                 id="log-level"),
    pytest.param('[daemon]\ncoalesce_ms = -1\n', ":2: daemon.coalesce_ms: must be ≥ 0",
                 id="coalesce"),
    pytest.param('[paper]\nseed = "x"\n', ":2: paper.seed: expected an integer", id="seed"),
    pytest.param('[paper]\nseeds = 1\n', ":2: paper.seeds: unknown key (did you mean 'seed'?)",
                 id="paper-typo"),
    pytest.param('[quoting]\nmargin = = 1\n', ":2: invalid TOML", id="syntax"),
    pytest.param('[risk]\n"max_position" = "x"\n',
                 ":2: risk.max_position: expected a number", id="quoted-key"),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str):
    """A bad file raises ConfigError naming the file, the line, the dotted key and why."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert f"{path}{expected}" in str(info.value)


def test_all_errors_collected(tmp_path: Path):
    """Every problem of a file is reported in one ConfigError."""
    path = write(tmp_path, '[quoting]\nmarginn = 1\ncount = 0\n[risk]\nmax_positon = 3\n')
    with pytest.raises(ConfigError, match="3 errors") as info:
        load_config(path)
    msg = str(info.value)
    assert ":2: quoting.marginn" in msg and ":3: quoting.count" in msg
    assert ":5: risk.max_positon: unknown key (did you mean 'max_position'?)" in msg


def test_missing_file(tmp_path: Path):
    """A missing file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read config"):
        load_config(tmp_path / "nope.toml")


def test_not_utf8(tmp_path: Path):
    """A file that is not UTF-8 is a ConfigError naming it."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"[quoting]\nmargin = 0.7 # \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_credentials_directory(tmp_path: Path):
    """private_key_path may start with $CREDENTIALS_DIRECTORY (systemd LoadCredential)."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "k.pem").write_text("x")
    text = (
        '[exchange]\nenvironment = "demo"\nkey_id = "k"\n'
        'private_key_path = "${CREDENTIALS_DIRECTORY}/k.pem"\n'
        '[model]\nprediction_path = "p.json"\nhistory_path = "h.csv"\n'
    )
    cfg = load_config(write(tmp_path, text), environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.exchange.private_key_path == creds / "k.pem"


def test_url_overrides_in_paper_mode(tmp_path: Path):
    """Paper mode accepts endpoint overrides, e.g. an external emulator."""
    cfg = load_config(write(tmp_path, '[exchange]\nrest_url = "http://127.0.0.1:9/trade-api/v2/"'
                                      '\nws_url = "ws://127.0.0.1:9/ws"\n'))
    assert cfg.exchange.rest_url == "http://127.0.0.1:9/trade-api/v2"
    assert cfg.exchange.ws_url == "ws://127.0.0.1:9/ws"


def test_config_diff_and_restart_keys(tmp_path: Path):
    """config_diff lists changed dotted keys; restart_required picks the non-reloadable ones."""
    old = load_config(write(tmp_path, "[quoting]\nmargin = 0.75\n", "a.toml"))
    new = load_config(write(
        tmp_path,
        '[quoting]\nmargin = 0.7\n[exchange]\ntier = "premier"\n[daemon]\nlog_level = "debug"\n',
        "b.toml",
    ))
    changed = config_diff(old, new)
    assert changed == ["daemon.log_level", "exchange.tier", "quoting.margin"]
    assert restart_required(changed) == ["exchange.tier"]
    assert config_diff(old, old) == []
    assert "journal.path" in RESTART_REQUIRED_KEYS and "exchange.key_id" in RESTART_REQUIRED_KEYS
    assert old.version != new.version


def test_restart_keys_cover_every_key_that_cannot_apply_live():
    """[exchange] and [market], the journal path and the order group all need a restart."""
    for key in ("exchange.dry_run", "exchange.client_order_prefix", "exchange.environment",
                "exchange.rest_url", "exchange.ws_url", "exchange.key_id",
                "exchange.private_key_path", "exchange.tier", "market.series", "market.event",
                "journal.path", "paper.seed", "risk.order_group_contracts_limit"):
        assert restart_required([key]) == [key]
    assert restart_required(["quoting.margin", "risk.max_position", "daemon.log_level",
                             "risk.cancel_order_on_pause"]) == []


def test_pause_and_order_group_keys(tmp_path: Path):
    """[risk] cancel_order_on_pause defaults on, the order group limit to 50 contracts; 0 is off."""
    cfg = load_config(write(tmp_path, ""))
    assert cfg.risk.cancel_order_on_pause is True
    assert cfg.risk.order_group_contracts_limit == 50
    cfg = load_config(write(tmp_path, "[risk]\ncancel_order_on_pause = false\n"
                                      "order_group_contracts_limit = 0\n"))
    assert cfg.risk.cancel_order_on_pause is False
    assert cfg.risk.order_group_contracts_limit == 0
    with pytest.raises(ConfigError, match="order_group_contracts_limit"):
        load_config(write(tmp_path, "[risk]\norder_group_contracts_limit = -1\n"))
    shipped = load_config(SHIPPED)
    assert shipped.risk.order_group_contracts_limit == 50


def test_state_paths_go_under_state_directory(tmp_path: Path):
    """With $STATE_DIRECTORY set, relative state paths (journal, halt file, forecaster files)
    resolve under it; the key stays relative to the config file."""
    state = tmp_path / "state"
    cfg = load_config(write(tmp_path, '[model]\nprediction_path = "p.json"\n'
                                      '[exchange]\nprivate_key_path = "k.pem"\n'),
                      environ={"STATE_DIRECTORY": f"{state}:/elsewhere"})
    assert cfg.journal.path == state / "state" / "paper" / "journal.sqlite3"
    assert cfg.risk.halt_file == state / "halt"
    assert cfg.model.prediction_path == state / "p.json"
    assert cfg.exchange.private_key_path == tmp_path / "k.pem"
    plain = load_config(write(tmp_path, ""), environ={})
    assert plain.journal.path == tmp_path / "state" / "paper" / "journal.sqlite3"


def test_take_is_refused_until_the_daemon_sends_takes(tmp_path):
    """quoting.take = true names the key and its line instead of silently doing nothing."""
    from tsad.errors import ConfigError
    from tsad.runtime.config import load_config

    cfg = tmp_path / "config.toml"
    cfg.write_text('[quoting]\npolicy = "edge"\ntake = true\n')
    with pytest.raises(ConfigError, match=r"config.toml:3: quoting.take: .*not sent"):
        load_config(cfg)
