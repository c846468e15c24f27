"""Tests for sd_notify: messages reach a real AF_UNIX datagram socket; failures stay quiet."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tsad.runtime.notify import Notifier


class FixedClock:
    """A clock whose monotonic reading is fixed."""

    def now(self) -> datetime:
        return datetime(2024, 9, 4, tzinfo=UTC)

    def monotonic(self) -> float:
        return 1234.5


@pytest.fixture(name="listener")
def _listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(lambda n: n.ready(), "READY=1", id="ready"),
        pytest.param(lambda n: n.ready("quoting 3"), "READY=1\nSTATUS=quoting 3",
                     id="ready-status"),
        pytest.param(lambda n: n.reloading(), "RELOADING=1\nMONOTONIC_USEC=1234500000",
                     id="reloading"),
        pytest.param(lambda n: n.stopping(), "STOPPING=1", id="stopping"),
        pytest.param(lambda n: n.watchdog(), "WATCHDOG=1", id="watchdog"),
        pytest.param(lambda n: n.status("ws up\n34 resting"), "STATUS=ws up 34 resting",
                     id="status-one-line"),
        pytest.param(lambda n: n.extend_timeout(2.5), "EXTEND_TIMEOUT_USEC=2500000",
                     id="extend-timeout"),
    ],
)
def test_messages_reach_the_socket(listener, call, expected: str) -> None:
    """Each notification arrives as one datagram with the documented KEY=value lines."""
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path}, clock=FixedClock())
    assert notifier.enabled
    assert call(notifier) is True
    assert sock.recv(4096).decode() == expected


def test_abstract_namespace_address() -> None:
    """A leading @ addresses the abstract namespace."""
    name = f"tsad-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready() is True
        assert sock.recv(4096) == b"READY=1"


def test_unset_socket_is_a_no_op() -> None:
    """Without NOTIFY_SOCKET nothing is sent and nothing fails."""
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert [notifier.ready(), notifier.watchdog(), notifier.status("x")] == [False] * 3


def test_unreachable_socket_is_logged_not_raised(tmp_path: Path) -> None:
    """A socket path with no listener makes send return False without raising."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert notifier.ready() is False


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        pytest.param({}, None, id="unset"),
        pytest.param({"WATCHDOG_USEC": "30000000"}, 15.0, id="half-of-30s"),
        pytest.param({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0,
                     id="our-pid"),
        pytest.param({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None, id="other-pid"),
        pytest.param({"WATCHDOG_USEC": "soon"}, None, id="garbage"),
        pytest.param({"WATCHDOG_USEC": "0"}, None, id="zero"),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    """The watchdog interval is half of WATCHDOG_USEC, honouring WATCHDOG_PID."""
    assert Notifier.from_env(env).watchdog_interval() == interval
