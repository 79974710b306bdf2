"""Pagination by page_size (capped) and page_token: opaque and tamper-evident.

A page token is `<payload>.<mac>`, both base64url without padding: the payload is the cursor (a
small JSON object of integers) and the mac an HMAC-SHA256 over the service, the RPC and the
payload, with the deployment's page-token secret. So a token is only good for the list that issued
it, and anything a caller forged, cut or re-signed is INVALID_PAGE_TOKEN, checked before its
numbers are looked at.

The secret (`load_secret`) must be the same on every replica and across restarts, or tokens in the
hands of callers stop working: the configured one (`<SERVICE>_PAGE_TOKEN_SECRET`), else, with the
embedded PostgreSQL, one generated once and kept in its data folder, else one generated at start
(logged as a warning: tokens then die with the process).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import structlog

from billing_common.errors import InvalidArgument

log = structlog.get_logger(__name__)

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 500
CURSOR_MAX = 2**63 - 1
# Longer tokens are refused unread: ours are well under this.
TOKEN_CHARS_MAX = 512
SECRET_CHARS_MIN = 32
SECRET_FILE = "billing_page_token_secret"


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise InvalidArgument.field(field, "must not be negative", "INVALID_PAGE_SIZE")
    if value > PAGE_SIZE_MAX:
        raise InvalidArgument.field(field, f"at most {PAGE_SIZE_MAX}", "PAGE_SIZE_TOO_LARGE")
    return value or PAGE_SIZE_DEFAULT


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def invalid_token(field: str = "page_token") -> InvalidArgument:
    return InvalidArgument.field(field, "is not a token this service issued", "INVALID_PAGE_TOKEN")


class PageTokens:
    """Issues and checks the page tokens of one service (`scope`) with one secret."""

    def __init__(self, secret: bytes, scope: str) -> None:
        if len(secret) < SECRET_CHARS_MIN // 2:
            raise ValueError("a page-token secret needs at least 16 bytes")
        self._secret = secret
        self._scope = scope

    def _mac(self, method: str, payload: str) -> bytes:
        message = f"{self._scope}/{method}\n{payload}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def encode(self, method: str, cursor: Mapping[str, int]) -> str:
        payload = _b64(json.dumps(dict(cursor), sort_keys=True, separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._mac(method, payload))}"

    def decode(
        self, method: str, token: str, keys: tuple[str, ...], field: str = "page_token"
    ) -> tuple[int, ...] | None:
        """The cursor's values for `keys` (each 0..CURSOR_MAX), or None without a token."""
        if not token:
            return None
        payload, dot, mac = token.partition(".")
        if len(token) > TOKEN_CHARS_MAX or not dot:
            raise invalid_token(field)
        try:
            given = _unb64(mac)
        except (ValueError, binascii.Error) as exc:
            raise invalid_token(field) from exc
        if not hmac.compare_digest(given, self._mac(method, payload)):
            raise invalid_token(field)
        # Signed by us, so well formed; checked all the same, since a bug must not become an
        # INTERNAL error on someone else's request.
        try:
            cursor = json.loads(_unb64(payload))
        except (ValueError, binascii.Error) as exc:
            raise invalid_token(field) from exc
        if not isinstance(cursor, dict) or set(cursor) != set(keys):
            raise invalid_token(field)
        values = tuple(cursor[k] for k in keys)
        for value in values:
            if not isinstance(value, int) or isinstance(value, bool):
                raise invalid_token(field)
            if not 0 <= value <= CURSOR_MAX:
                raise invalid_token(field)
        return values

    def cursor(self, method: str, token: str, key: str, field: str = "page_token") -> int | None:
        """A one-number cursor (`{key: n}`), or None without a token."""
        values = self.decode(method, token, (key,), field)
        return None if values is None else values[0]


def load_secret(configured: str, embedded_data_dir: Path | None) -> bytes:
    """The page-token secret: the configured one; else, with the embedded PostgreSQL (its data
    folder given), the one kept in that folder (created on first use, shared by both services);
    else a fresh one for this process only."""
    if configured:
        if len(configured) < SECRET_CHARS_MIN:
            raise ValueError(f"the page-token secret needs at least {SECRET_CHARS_MIN} characters")
        return configured.encode()
    if embedded_data_dir is not None:
        return _kept_secret(embedded_data_dir / SECRET_FILE)
    log.warning(
        "page_token_secret_generated",
        detail="no page-token secret configured: page tokens stop working when this process "
        "stops and are refused by other replicas; configure one shared secret",
    )
    return secrets.token_bytes(32)


def _kept_secret(path: Path) -> bytes:
    """Read the secret kept in `path`, creating it once (atomically: a concurrent start of the
    other service reads the same one)."""
    if not path.exists():
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(temp, path)  # fails if another process was first: then theirs is used
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    secret = path.read_text().strip()
    if len(secret) < SECRET_CHARS_MIN:
        raise ValueError(f"{path} does not hold a page-token secret")
    return secret.encode()
