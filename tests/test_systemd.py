"""Tests for the systemd unit: required directives, a clean verify, and an exposure score ≤ 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest


UNIT = Path(__file__).resolve().parent.parent / "systemd" / "tsad.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _directives() -> dict[tuple[str, str], list[str]]:
    """Parse the unit into (section, key) → values, keeping repeated keys in order."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        pytest.param("Service", "Type", "notify", id="type"),
        pytest.param("Service", "ExecStart",
                     "/opt/tsad/venv/bin/tsad run --config /etc/tsad/config.toml", id="exec"),
        pytest.param("Service", "ExecReload", "/bin/kill -HUP $MAINPID", id="reload"),
        pytest.param("Service", "Restart", "on-failure", id="restart"),
        pytest.param("Service", "RestartSec", "5s", id="restart-sec"),
        pytest.param("Service", "RestartPreventExitStatus", "78", id="ex-config"),
        pytest.param("Service", "WatchdogSec", "30s", id="watchdog"),
        pytest.param("Service", "TimeoutStopSec", "45s", id="stop-timeout"),
        pytest.param("Service", "ExecStopPost",
                     "/usr/bin/env CREDENTIALS_DIRECTORY=%d /opt/tsad/venv/bin/tsad cancel-all "
                     "--config /etc/tsad/config.toml --timeout 20", id="last-resort-cancel"),
        pytest.param("Service", "User", "tsad", id="user"),
        pytest.param("Service", "Group", "tsad", id="group"),
        pytest.param("Service", "LoadCredential", "kalshi-key.pem:/etc/tsad/kalshi-key.pem",
                     id="credential"),
        pytest.param("Service", "StateDirectory", "tsad", id="state-dir"),
        pytest.param("Service", "ConfigurationDirectory", "tsad", id="config-dir"),
        pytest.param("Service", "WorkingDirectory", "/var/lib/tsad", id="workdir"),
        pytest.param("Service", "Environment", "PYTHONUNBUFFERED=1", id="unbuffered"),
        pytest.param("Service", "NoNewPrivileges", "yes", id="no-new-privileges"),
        pytest.param("Service", "ProtectSystem", "strict", id="protect-system"),
        pytest.param("Install", "WantedBy", "multi-user.target", id="install"),
    ],
)
def test_required_directive(section: str, key: str, value: str) -> None:
    """The unit carries each directive the deployment relies on."""
    assert value in _directives().get((section, key), [])


def test_address_families_keep_notify_and_internet() -> None:
    """AF_UNIX (sd_notify) and AF_INET/AF_INET6 (the exchange) stay allowed."""
    (families,) = _directives()[("Service", "RestrictAddressFamilies")]
    assert set(families.split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_no_dynamic_user_alongside_static_user() -> None:
    """A static user is used, so DynamicUser is not also set."""
    assert ("Service", "DynamicUser") not in _directives()


@needs_analyze
def test_security_exposure_is_at_most_2() -> None:
    """systemd-analyze security rates the unit's exposure at 2.0 or lower."""
    assert ANALYZE is not None
    proc = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    m = re.search(r"Overall exposure level for tsad\.service: (\d+\.\d+)", proc.stdout)
    assert m is not None, proc.stdout + proc.stderr
    assert float(m.group(1)) <= 2.0


@needs_analyze
def test_verify_is_clean_but_for_the_missing_binary() -> None:
    """systemd-analyze verify reports nothing except that ExecStart is not installed here."""
    assert ANALYZE is not None
    proc = subprocess.run(
        [ANALYZE, "verify", str(UNIT)], capture_output=True, text=True, timeout=60, check=False
    )
    tolerated = re.compile(
        r"tsad\.service: Command /opt/tsad/venv/bin/tsad is not executable: "
        r"No such file or directory"
    )
    complaints = [
        line for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and not tolerated.search(line)
    ]
    assert complaints == []
    if Path("/opt/tsad/venv/bin/tsad").exists():
        assert proc.returncode == 0


def test_stop_budget_fits_the_unit() -> None:
    """The daemon's stop budget (stop_timeout) and the last-resort cancel-all each fit
    within TimeoutStopSec, so systemd never SIGKILLs a stop that is still cancelling."""
    from tsad.runtime.config import load_config

    (stop,) = _directives()[("Service", "TimeoutStopSec")]
    budget = float(stop.removesuffix("s"))
    shipped = load_config(UNIT.parent.parent / "config.toml")
    assert shipped.daemon.stop_timeout + 5 <= budget
    (post,) = _directives()[("Service", "ExecStopPost")]
    assert float(post.rsplit("--timeout", 1)[1]) + 5 <= budget
