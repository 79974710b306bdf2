"""Secrets encrypted at rest (webhook signing secrets): AES-256-GCM with a key kept outside the
database, and the key's id stored beside each ciphertext so keys can rotate.

Where the key comes from, first found wins: the environment variable LEDGER_SECRETS_KEY (base64 of
32 bytes), the file named by the setting `secrets_key_file` (the same text), or, with the embedded
database only, `.data/secrets.key` beside its data folder, created (mode 0600) on first start. With
a configured database and no key, the ledger does not start. Keys that sealed older rows and are
still accepted for reading: LEDGER_SECRETS_OLD_KEYS and the setting `secrets_old_key_files`
(comma-separated). The key itself is never a setting value: settings show up in flags, process
lists and logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger_service.app.ports import Sealed, SecretUnavailable

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ENV = "LEDGER_SECRETS_KEY"
OLD_KEYS_ENV = "LEDGER_SECRETS_OLD_KEYS"
EMBEDDED_KEY_FILE = "secrets.key"

log = structlog.get_logger(__name__)


class SecretsKeyError(ValueError):
    """A key that is missing or malformed (at start-up)."""


def key_id(key: bytes) -> str:
    """A short public name of a key: the first 16 hex digits of a domain-separated SHA-256."""
    return hashlib.sha256(b"billing-ledger-secrets-key:" + key).hexdigest()[:16]


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretsKeyError(f"{where}: the secrets key is not base64") from exc
    if len(key) != KEY_BYTES:
        raise SecretsKeyError(f"{where}: the secrets key must be {KEY_BYTES} bytes (base64)")
    return key


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


class AesGcmSealer:
    """Seals with the current key; opens with whichever known key's id the row names."""

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        self.current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*old, current)}

    def seal(self, plain: str, context: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._keys[self.current_id].encrypt(nonce, plain.encode(), context.encode())
        return Sealed(self.current_id, nonce + sealed)

    def open(self, sealed: Sealed, context: str) -> str:
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            raise SecretUnavailable(
                f"a secret was sealed with key {sealed.key_id}, which is not configured "
                f"(add it to {OLD_KEYS_ENV} or secrets_old_key_files)"
            )
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag as exc:
            raise SecretUnavailable(
                f"a secret sealed with key {sealed.key_id} does not open"
            ) from exc


def load_sealer(
    key_file: str,
    old_key_files: str,
    embedded_dir: Path | None,
    env: Mapping[str, str] | None = None,
) -> AesGcmSealer:
    """The sealer from the configured key (see the module's text). `embedded_dir`: the folder
    that holds the embedded database's files (`.data/`), None with a configured database."""
    source = os.environ if env is None else env
    if source.get(KEY_ENV, "").strip():
        current = decode_key(source[KEY_ENV], KEY_ENV)
    elif key_file:
        current = decode_key(
            _read(Path(key_file), "secrets_key_file"), f"secrets_key_file {key_file}"
        )
    elif embedded_dir is not None:
        current = decode_key(_embedded_key(embedded_dir), str(embedded_dir / EMBEDDED_KEY_FILE))
    else:
        raise SecretsKeyError(
            "no secrets key: with a configured database_url, set secrets_key_file "
            f"(LEDGER_SECRETS_KEY_FILE) or {KEY_ENV} to a base64 key of {KEY_BYTES} bytes "
            '(e.g. python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())")'
        )
    old = [decode_key(text, OLD_KEYS_ENV) for text in _items(source.get(OLD_KEYS_ENV, ""))]
    old += [
        decode_key(_read(Path(path), "secrets_old_key_files"), f"secrets_old_key_files {path}")
        for path in _items(old_key_files)
    ]
    return AesGcmSealer(current, old)


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _read(path: Path, setting: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SecretsKeyError(f"{setting}: cannot read {path}: {exc.strerror}") from exc


def _embedded_key(folder: Path) -> str:
    """The embedded database's key file, created on first use, readable by its owner only.
    Written aside and linked into place, so a second process starting at the same time reads
    either no file or a whole one."""
    path = folder / EMBEDDED_KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        aside = folder / f".{EMBEDDED_KEY_FILE}.{os.getpid()}"
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key_text() + "\n")
        try:
            os.link(aside, path)
            log.warning("secrets_key_created", path=str(path))
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
    return path.read_text()
