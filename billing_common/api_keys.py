"""API keys, the pure part: their format, their hash, and the checks a presented key must pass,
with time as an argument. Storage: api_key_store.py; the check on every call: auth.py.

A key reads `bk_<key id>_<secret>`: the key id (16 hex digits) finds its row; the secret (32
random bytes, URL-safe base64) is what proves it. Only SHA-256 of the whole key is stored. A plain
hash is right here, where a password would need a slow salted one: the secret is 256 random bits,
so there is no dictionary to try and no guess that a slow hash would make meaningfully dearer;
a fast hash keeps every call's check cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from billing_common import principal
from billing_common.errors import (
    ApiKeyExpired,
    ApiKeyRevoked,
    ApiKeyUnknown,
    CertificateNotAllowed,
    InvalidArgument,
    ScopeMissing,
)

PREFIX = "bk"
KEY_ID_BYTES = 8
SECRET_BYTES = 32
# Bounds on what a key carries (names and customer lists are caller input).
NAME_CHARS_MAX = 200
CUSTOMERS_MAX = 1000
ID_CHARS_MAX = 128  # a customer id or request id, as everywhere else


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's stored record: never its secret, only the secret's hash."""

    key_id: str
    name: str
    scopes: frozenset[str]
    # The customers the key is bound to (tenant binding); None: every customer.
    customers: frozenset[str] | None
    secret_hash: bytes
    created_time: datetime
    expires_time: datetime | None = None
    revoked_time: datetime | None = None

    def principal(self) -> principal.Principal:
        return principal.Principal(f"key:{self.key_id}", self.scopes, self.customers)


def new_key() -> tuple[str, str]:
    """A new (key id, whole key) pair, from the operating system's random source."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def key_id_of(key: str) -> str | None:
    """The key id a presented key claims, or None when it is not shaped like one of ours."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 2 * KEY_ID_BYTES:
        return None
    if not all(c in "0123456789abcdef" for c in parts[1]) or not parts[2]:
        return None
    return parts[1]


def hash_key(key: str) -> bytes:
    """What is stored of a key (see the module's note on why SHA-256 suffices)."""
    return hashlib.sha256(key.encode()).digest()


def verify(key: str, record: ApiKey | None, now: datetime) -> principal.Principal:
    """The principal a presented key admits, or the Unauthenticated error that refuses it."""
    if record is None or not hmac.compare_digest(hash_key(key), record.secret_hash):
        raise ApiKeyUnknown("the API key is not known to this service")
    if record.revoked_time is not None and record.revoked_time <= now:
        raise ApiKeyRevoked(f"API key {record.key_id} was revoked")
    if record.expires_time is not None and record.expires_time <= now:
        raise ApiKeyExpired(f"API key {record.key_id} expired at {record.expires_time.isoformat()}")
    return record.principal()


def require_scope(who: principal.Principal, scope: str, method: str) -> None:
    """ScopeMissing naming the scope unless `who` holds it."""
    if scope not in who.scopes:
        raise ScopeMissing(f"{method} needs the '{scope}' scope, which the credential lacks")


def parse_scopes(scopes: Iterable[str], field: str = "scopes") -> frozenset[str]:
    """Known scope names, at least one; InvalidArgument naming the first unknown one."""
    found = frozenset(s.strip().lower() for s in scopes if s.strip())
    unknown = sorted(found - principal.SCOPES)
    if unknown:
        raise InvalidArgument.field(
            field,
            f"unknown scope '{unknown[0]}' (known: {', '.join(sorted(principal.SCOPES))})",
            "UNKNOWN_SCOPE",
        )
    if not found:
        raise InvalidArgument.field(field, "at least one scope is required", "MISSING_FIELD")
    return found


def parse_identities(setting: str) -> dict[str, frozenset[str]]:
    """`mtls_identities`: "cn=scope,scope;cn=scope" -> {common name: scopes}; ValueError naming
    the setting when it cannot be read."""
    identities: dict[str, frozenset[str]] = {}
    for part in filter(None, (p.strip() for p in setting.split(";"))):
        name, sep, scopes = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"setting mtls_identities: '{part}' is not <common name>=<scopes>")
        try:
            identities[name.strip()] = parse_scopes(scopes.split(","))
        except InvalidArgument as exc:
            raise ValueError(f"setting mtls_identities: {name.strip()}: {exc.message}") from exc
    return identities


def certificate_principal(
    common_name: str, identities: Mapping[str, frozenset[str]]
) -> principal.Principal:
    """The principal of a verified client certificate, by its common name."""
    scopes = identities.get(common_name)
    if scopes is None:
        raise CertificateNotAllowed(
            f"client certificate '{common_name}' is not mapped to scopes (mtls_identities)"
        )
    return principal.Principal(f"cert:{common_name}", scopes, None)
