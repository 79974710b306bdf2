"""Secrets at rest (adapters/secrets.py): AES-GCM with a key id beside each ciphertext, older keys
still opening what they sealed, and where the key comes from (environment, file, the embedded
database's folder, created 0600; with a configured database and no key, an error naming the
setting)."""

from __future__ import annotations

import base64
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from ledger_service.__main__ import cli as ledger_cli
from ledger_service.adapters.secrets import (
    KEY_ENV,
    OLD_KEYS_ENV,
    AesGcmSealer,
    SecretsKeyError,
    key_id,
    load_sealer,
)
from ledger_service.app.ports import SecretUnavailable

OLD, NEW = bytes(32), bytes(range(32))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_a_sealed_secret_opens_only_with_its_key_and_its_row() -> None:
    sealer = AesGcmSealer(NEW)
    sealed = sealer.seal("whsec_abc", "endpoint-1")
    assert sealed.key_id == key_id(NEW) and b"whsec_abc" not in sealed.ciphertext
    assert sealer.open(sealed, "endpoint-1") == "whsec_abc"
    assert sealer.seal("whsec_abc", "endpoint-1").ciphertext != sealed.ciphertext  # fresh nonce
    with pytest.raises(SecretUnavailable, match="does not open"):
        sealer.open(sealed, "endpoint-2")  # copied onto another row
    tampered = replace(
        sealed, ciphertext=sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1])
    )
    with pytest.raises(SecretUnavailable, match="does not open"):
        sealer.open(tampered, "endpoint-1")


def test_after_a_key_rotation_old_rows_open_and_new_rows_use_the_new_key() -> None:
    before = AesGcmSealer(OLD).seal("whsec_old", "e1")
    after = AesGcmSealer(NEW, old=[OLD])
    assert after.open(before, "e1") == "whsec_old"
    assert after.seal("whsec_new", "e2").key_id == key_id(NEW) != before.key_id
    with pytest.raises(SecretUnavailable, match=OLD_KEYS_ENV):
        AesGcmSealer(NEW).open(before, "e1")  # the old key was dropped too early


def test_the_key_comes_from_the_environment_first_then_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(b64(OLD) + "\n")
    from_env = load_sealer(str(key_file), "", None, {KEY_ENV: b64(NEW)})
    assert from_env.current_id == key_id(NEW)
    from_file = load_sealer(str(key_file), "", None, {})
    assert from_file.current_id == key_id(OLD)
    old_file = tmp_path / "old"
    old_file.write_text(b64(OLD))
    both = load_sealer("", str(old_file), None, {KEY_ENV: b64(NEW)})
    assert both.open(AesGcmSealer(OLD).seal("s", "e"), "e") == "s"


def test_with_the_embedded_database_a_key_is_created_once_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    folder = tmp_path / ".data"
    first = load_sealer("", "", folder, {})
    path = folder / "secrets.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_sealer("", "", folder, {}).current_id == first.current_id  # kept
    assert [p.name for p in folder.iterdir()] == ["secrets.key"]


def test_with_a_configured_database_and_no_key_the_error_names_the_setting() -> None:
    with pytest.raises(SecretsKeyError, match="secrets_key_file") as missing:
        load_sealer("", "", None, {})
    assert KEY_ENV in str(missing.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("not base64!", "not base64"), (b64(bytes(16)), "must be 32 bytes")],
)
def test_a_malformed_key_is_refused_naming_where_it_came_from(text: str, message: str) -> None:
    with pytest.raises(SecretsKeyError, match=message) as bad:
        load_sealer("", "", None, {KEY_ENV: text})
    assert str(bad.value).startswith(KEY_ENV)


def test_an_unreadable_key_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SecretsKeyError, match="secrets_key_file"):
        load_sealer(str(tmp_path / "missing"), "", None, {})


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_the_ledger_does_not_start_on_a_configured_database_without_a_key(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://ledger@db.invalid/ledger")
    with pytest.raises(SystemExit) as stopped:
        ledger_cli([command])
    assert stopped.value.code == 2
    assert "secrets_key_file" in capsys.readouterr().err
