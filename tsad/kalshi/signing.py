"""Kalshi request signatures: RSA-PSS/SHA-256 (salt 32) over ``timestamp_ms + METHOD + path``."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tsad.errors import AuthError, ConfigError


__all__ = ["Signer", "load_private_key", "sign_message", "verify_signature"]

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def _pss() -> padding.PSS:
    return _PSS


def load_private_key(
    path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False
) -> rsa.RSAPrivateKey:
    """Load an RSA private key from a PEM file.

    A relative path is looked up under ``$CREDENTIALS_DIRECTORY`` first (systemd's
    ``LoadCredential=``). A key readable by group or others is refused unless allowed.

    Raises:
        ConfigError: missing, unreadable, insecure or not an RSA key (never shows key bytes).
    """
    p = Path(path)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not p.is_absolute() and creds and (Path(creds) / p).exists():
        p = Path(creds) / p
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"private key {p}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and not allow_insecure_permissions:
        raise ConfigError(
            f"private key {p} is readable by group or others (mode {stat.filemode(st.st_mode)}); "
            "chmod 600 it, or set exchange.allow_insecure_key = true"
        )
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise ConfigError(f"private key {p} is not a readable unencrypted PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"private key {p} is not an RSA key")
    return key


def sign_message(key: rsa.RSAPrivateKey, message: str) -> str:
    """Return the base64 RSA-PSS signature of ``message`` (UTF-8)."""
    return base64.b64encode(key.sign(message.encode(), _pss(), hashes.SHA256())).decode()


def verify_signature(public_key: rsa.RSAPublicKey, message: str, signature_b64: str) -> bool:
    """Tell whether ``signature_b64`` is a valid signature of ``message``."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        public_key.verify(sig, message.encode(), _pss(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


class Signer:
    """Signs requests for one API key.

    The key id and key never appear in ``repr`` (so never in logs or tracebacks).
    """

    __slots__ = ("_key", "_key_id")

    def __init__(self, key_id: str, key: rsa.RSAPrivateKey) -> None:
        if not key_id:
            raise AuthError("no API key id configured")
        self._key_id = key_id
        self._key = key

    def __repr__(self) -> str:
        return "Signer(<redacted>)"

    def headers(self, method: str, path: str, timestamp_ms: int) -> dict[str, str]:
        """Return the three ``KALSHI-ACCESS-*`` headers for one request.

        Args:
            method: HTTP method (any case).
            path: the URL path including ``/trade-api/v2``; a query string is stripped.
            timestamp_ms: Unix time in milliseconds, read fresh for every request.
        """
        path = path.split("?", 1)[0]
        ts = str(timestamp_ms)
        return {
            "KALSHI-ACCESS-KEY": self._key_id,
            "KALSHI-ACCESS-TIMESTAMP": ts,
            "KALSHI-ACCESS-SIGNATURE": sign_message(self._key, ts + method.upper() + path),
        }
