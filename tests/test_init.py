"""`tsad init`: a production config that validates, with absolute state paths and a checked key."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pytest

from tsad.commands import init
from tsad.runtime.config import load_config


def run_init(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="tsad")
    init.register_init(parser.add_subparsers())
    args = parser.parse_args(["init", *argv])
    out = io.StringIO()
    return init.cmd_init(args, stdout=out), out.getvalue()


@pytest.mark.parametrize("environment", ["demo", "production"])
def test_written_config_validates_with_absolute_state_paths(
    environment: str, tmp_path: Path, key_file: Path
) -> None:
    out = tmp_path / "config.toml"
    rc, text = run_init("--environment", environment, "--out", str(out), "--key", str(key_file),
                        "--key-id", "abc-123")
    assert rc == 0
    assert "Next steps" in text and "systemctl enable --now tsad" in text
    assert os.stat(out).st_mode & 0o007 == 0  # the webhook URL is a secret
    # Under systemd the key arrives in $CREDENTIALS_DIRECTORY (LoadCredential=).
    os.replace(key_file, tmp_path / "kalshi-key.pem")
    cfg = load_config(out, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert cfg.exchange.environment == environment
    assert cfg.exchange.key_id == "abc-123"
    assert cfg.exchange.private_key_path == tmp_path / "kalshi-key.pem"
    assert cfg.journal.path == Path("/var/lib/tsad/journal.sqlite3")
    assert cfg.model.prediction_path == Path("/var/lib/tsad/prediction.json")
    assert cfg.model.history_path == Path("/var/lib/tsad/history.csv")
    assert cfg.risk.halt_file == Path("/var/lib/tsad/halt")
    assert cfg.daemon.metrics_listen == "127.0.0.1:9464"
    assert cfg.alerts.webhook_url is None


def test_without_out_it_prints_the_config(capsys) -> None:
    rc, text = run_init("--environment", "demo")
    assert rc == 0
    assert 'environment = "demo"' in text
    assert "set [exchange] key_id" in capsys.readouterr().err


def test_a_key_readable_by_others_is_refused(tmp_path: Path, key_file: Path, capsys) -> None:
    os.chmod(key_file, 0o644)
    rc, _ = run_init("--environment", "production", "--key", str(key_file),
                     "--out", str(tmp_path / "c.toml"))
    assert rc == init.EX_CONFIG
    assert "chmod 600" in capsys.readouterr().err
    assert not (tmp_path / "c.toml").exists()


def test_a_key_that_is_not_pem_is_refused(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    os.chmod(bad, 0o600)
    rc, _ = run_init("--environment", "demo", "--key", str(bad))
    assert rc == init.EX_CONFIG
    assert "PEM" in capsys.readouterr().err


def test_an_existing_file_is_not_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "config.toml"
    out.write_text("# mine\n")
    rc, _ = run_init("--environment", "demo", "--out", str(out))
    assert rc == init.EX_CONFIG
    assert out.read_text() == "# mine\n"
    rc, _ = run_init("--environment", "demo", "--out", str(out), "--force")
    assert rc == 0 and "tsad init" in out.read_text()
