"""API keys, the pure part (format, hash, checks with time as an argument), the scope maps
(every method of every service has one: nothing is open by default) and the mTLS identities."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from billing.auth.v1 import api_keys_pb2
from billing.ledger.v1 import ledger_pb2
from billing.rating.v1 import rating_pb2
from google.protobuf.descriptor import ServiceDescriptor

from billing_common import api_key_service, api_keys, principal
from billing_common.auth import bearer
from billing_common.auth_setup import key_file_path, write_key
from billing_common.errors import (
    ApiKeyExpired,
    ApiKeyRevoked,
    ApiKeyUnknown,
    CertificateNotAllowed,
    InvalidArgument,
    ScopeMissing,
)
from ledger_service.adapters.grpc import scopes as ledger_scopes
from rating_service.adapters.grpc import scopes as rating_scopes

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def record(key: str, **changes: object) -> api_keys.ApiKey:
    key_id = api_keys.key_id_of(key)
    assert key_id is not None
    made = api_keys.ApiKey(
        key_id, "k", frozenset({principal.READ}), None, api_keys.hash_key(key), NOW
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_new_key_carries_its_id_and_256_random_bits() -> None:
    key_id, key = api_keys.new_key()
    assert api_keys.key_id_of(key) == key_id
    assert len(key.split("_", 2)[2]) >= 43  # 32 bytes, URL-safe base64
    assert api_keys.new_key()[1] != key


@pytest.mark.parametrize(
    "text", ["", "bk", "bk_xyz_secret", "bk_0123456789abcdef_", "sk_0123456789abcdef_s"]
)
def test_text_not_shaped_like_a_key_has_no_key_id(text: str) -> None:
    assert api_keys.key_id_of(text) is None


def test_a_valid_key_admits_its_principal() -> None:
    _, key = api_keys.new_key()
    bound = record(key, customers=frozenset({"c-1"}))
    who = api_keys.verify(key, bound, NOW)
    assert (who.actor, who.scopes, who.customers) == (
        f"key:{bound.key_id}",
        frozenset({"read"}),
        frozenset({"c-1"}),
    )


def test_a_key_with_another_secret_or_no_record_is_unknown() -> None:
    _, key = api_keys.new_key()
    stored = record(key)
    forged = key[:-4] + "AAAA"
    with pytest.raises(ApiKeyUnknown):
        api_keys.verify(forged, stored, NOW)
    with pytest.raises(ApiKeyUnknown):
        api_keys.verify(key, None, NOW)


def test_revocation_and_expiry_take_effect_at_their_time() -> None:
    _, key = api_keys.new_key()
    later = NOW + timedelta(hours=1)
    revoked = record(key, revoked_time=later)
    api_keys.verify(key, revoked, later - timedelta(microseconds=1))
    with pytest.raises(ApiKeyRevoked):
        api_keys.verify(key, revoked, later)
    expiring = record(key, expires_time=later)
    api_keys.verify(key, expiring, later - timedelta(microseconds=1))
    with pytest.raises(ApiKeyExpired):
        api_keys.verify(key, expiring, later)


def test_a_missing_scope_is_refused_naming_it() -> None:
    reader = principal.Principal("key:x", frozenset({principal.READ}))
    api_keys.require_scope(reader, principal.READ, "GetBalance")
    with pytest.raises(ScopeMissing, match="'write'"):
        api_keys.require_scope(reader, principal.WRITE, "Debit")


def test_scopes_are_known_names_and_at_least_one() -> None:
    assert api_keys.parse_scopes([" Read", "write"]) == frozenset({"read", "write"})
    with pytest.raises(InvalidArgument) as unknown:
        api_keys.parse_scopes(["read", "root"])
    assert unknown.value.reason == "UNKNOWN_SCOPE"
    with pytest.raises(InvalidArgument) as missing:
        api_keys.parse_scopes([" "])
    assert missing.value.reason == "MISSING_FIELD"


def test_mtls_identities_map_common_names_to_scopes() -> None:
    identities = api_keys.parse_identities("dev-client=read,write; ops=admin")
    assert identities == {
        "dev-client": frozenset({"read", "write"}),
        "ops": frozenset({"admin"}),
    }
    who = api_keys.certificate_principal("dev-client", identities)
    assert (who.actor, who.scopes) == ("cert:dev-client", frozenset({"read", "write"}))
    with pytest.raises(CertificateNotAllowed):
        api_keys.certificate_principal("stranger", identities)
    assert api_keys.parse_identities("") == {}


@pytest.mark.parametrize("setting", ["dev-client", "=read", "dev-client=superuser"])
def test_unreadable_mtls_identities_are_a_settings_error(setting: str) -> None:
    with pytest.raises(ValueError, match="mtls_identities"):
        api_keys.parse_identities(setting)


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        ((("authorization", "Bearer bk_1_2"),), "bk_1_2"),
        ((("authorization", "bearer  bk_1_2 "),), "bk_1_2"),
        ((("authorization", "Basic abc"),), None),
        ((("x-other", "Bearer bk_1_2"),), None),
        ((), None),
    ],
)
def test_the_key_is_read_from_the_authorization_bearer_metadata(
    metadata: tuple[tuple[str, str], ...], key: str | None
) -> None:
    assert bearer(metadata) == key


SERVICES: list[tuple[ServiceDescriptor, dict[str, str]]] = [
    (ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"], ledger_scopes.LEDGER_SCOPES),
    (rating_pb2.DESCRIPTOR.services_by_name["RatingService"], rating_scopes.RATING_SCOPES),
    (api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"], api_key_service.SCOPES),
]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s[0].name)
def test_every_method_of_every_service_has_exactly_one_known_scope(
    service: tuple[ServiceDescriptor, dict[str, str]],
) -> None:
    descriptor, scopes = service
    assert sorted(scopes) == sorted(m.name for m in descriptor.methods)
    assert set(scopes.values()) <= principal.SCOPES


def test_each_server_checks_every_method_it_serves() -> None:
    for server, names in (
        (ledger_scopes.method_scopes(), ("LedgerService", "ApiKeyService")),
        (rating_scopes.method_scopes(), ("RatingService", "ApiKeyService")),
    ):
        served = {
            f"/{descriptor.full_name}/{m.name}"
            for descriptor, _ in SERVICES
            if descriptor.name in names
            for m in descriptor.methods
        }
        assert set(server) == served


def test_key_management_is_admin_only() -> None:
    assert set(api_key_service.SCOPES.values()) == {principal.ADMIN}


def test_the_rating_service_key_for_the_ledger_covers_exactly_what_its_client_calls() -> None:
    client = Path("rating_service/adapters/ledger_client.py").read_text()
    called = {name for name in ledger_scopes.LEDGER_SCOPES if f"stub.{name}(" in client}
    assert called == {
        "DebitBatch",
        "RefundDebit",
        "GetGrant",
        "GetBalance",
        "ListTopUps",
        "GetWallet",
    }
    needed = {ledger_scopes.LEDGER_SCOPES[name] for name in called}
    assert needed == set(ledger_scopes.RATING_CLIENT_SCOPES)


def test_a_key_file_is_written_whole_for_its_owner_only_and_never_replaced(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "admin.key"
    first = write_key(path, "bk_0123456789abcdef_first")
    assert first == "bk_0123456789abcdef_first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert write_key(path, "bk_0123456789abcdef_second") == first
    assert path.read_text().strip() == first
    assert [p.name for p in path.parent.iterdir()] == ["admin.key"]


def test_key_files_default_beside_the_embedded_data_folder_only() -> None:
    data = Path(".data/postgres")
    assert key_file_path(Path(""), "", data, "admin.key") == Path(".data/admin.key")
    assert key_file_path(Path(""), "postgresql://db", data, "admin.key") is None
    assert key_file_path(Path("/k"), "postgresql://db", data, "admin.key") == Path("/k")
