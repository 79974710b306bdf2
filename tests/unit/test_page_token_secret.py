"""Where the page-token secret comes from: configured, kept in the embedded server's folder, or
(with neither) one per process. Tokens must survive restarts and work on every replica."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_common import paging
from billing_common.errors import InvalidArgument


def test_configured_secret_is_used_and_must_be_long_enough(tmp_path: Path) -> None:
    secret = "s" * paging.SECRET_CHARS_MIN
    assert paging.load_secret(secret, tmp_path) == secret.encode()
    assert not (tmp_path / paging.SECRET_FILE).exists()
    with pytest.raises(ValueError, match="at least"):
        paging.load_secret("short", None)


def test_embedded_secret_is_created_once_and_kept(tmp_path: Path) -> None:
    first = paging.load_secret("", tmp_path)
    assert paging.load_secret("", tmp_path) == first  # the next start, or the other service
    assert (tmp_path / paging.SECRET_FILE).stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == [paging.SECRET_FILE]


def test_without_configuration_or_embedded_server_each_process_has_its_own() -> None:
    assert paging.load_secret("", None) != paging.load_secret("", None)


def test_a_token_is_good_only_for_its_service_and_list() -> None:
    tokens = paging.PageTokens(b"k" * 32, "ledger")
    token = tokens.encode("ListWallets", {"seq": 7})
    assert tokens.cursor("ListWallets", token, "seq") == 7
    for other in (
        paging.PageTokens(b"k" * 32, "rating").encode("ListWallets", {"seq": 7}),
        tokens.encode("ListGrants", {"seq": 7}),
        paging.PageTokens(b"j" * 32, "ledger").encode("ListWallets", {"seq": 7}),
    ):
        with pytest.raises(InvalidArgument):
            tokens.cursor("ListWallets", other, "seq")
