"""Shared fixtures: a test RSA key pair and a started exchange emulator with that key registered."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


if TYPE_CHECKING:
    from tsad.sim import Emulator


KEY_ID = "test-key-id"


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A 2048-bit RSA private key, generated once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def key_id() -> str:
    """The API key id registered with the emulator."""
    return KEY_ID


@pytest.fixture
def key_file(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> Path:
    """The private key as an unencrypted PKCS#8 PEM file with mode 0600."""
    path = tmp_path / "kalshi-key.pem"
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return path


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    """Return the public half of ``key`` as PEM."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
async def sim(rsa_key: rsa.RSAPrivateKey, key_id: str) -> AsyncIterator[Emulator]:
    """A started emulator on 127.0.0.1 (free port) with ``key_id`` registered."""
    from tsad.sim import Emulator

    async with Emulator(now=None, seed=0, outside_traders=False) as emulator:
        emulator.register_key(key_id, public_pem(rsa_key))
        yield emulator


# A demo-environment config pointing at an emulator, for tests that run the real engine or
# daemon; the prediction and history files sit next to it.
DEMO_CONFIG = """\
[exchange]
environment = "demo"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
key_id = "{key_id}"
private_key_path = "{key_file}"
tier = "basic"
request_timeout = {timeout}

[market]
series = "KXTSAW"

[model]
prediction_path = "prediction.json"
history_path = "history.csv"
hooks = {hooks}
max_prediction_age = {max_prediction_age}

[quoting]
margin = 0.75
min_true_value = 0.05
max_true_value = 0.95
count = 10

[risk]
max_position = {max_position}
max_order_size = 50
max_event_loss = 100000.0
halt_file = "halt"
cancel_on_exit = true
order_group_contracts_limit = {order_group_limit}

[journal]
path = "state/journal.sqlite3"

[daemon]
resync_interval = 2.0
stale_market_seconds = 30.0
log_level = "info"
"""


def write_demo_config(
    directory: Path, sim: Emulator, key_id: str, key_file: Path, *, max_position: int = 100,
    timeout: float = 5.0, hooks: str = '["realized_days"]', max_prediction_age: int = 129_600,
    order_group_limit: int = 500,
) -> Path:
    """Write ``config.toml`` for the emulator ``sim`` into ``directory``; return its path.

    The order group stays on (every create joins it) with a limit above the fill bursts
    tests deal out on purpose, so only a test about the group itself trips it.
    """
    path = directory / "config.toml"
    path.write_text(DEMO_CONFIG.format(
        rest_url=sim.rest_url, ws_url=sim.ws_url, key_id=key_id, key_file=key_file,
        max_position=max_position, timeout=timeout, hooks=hooks,
        max_prediction_age=max_prediction_age, order_group_limit=order_group_limit,
    ))
    return path
