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
