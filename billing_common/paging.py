"""Pagination by page_size (capped) and opaque page_token."""

from __future__ import annotations

import base64
import json
from typing import Any

from billing_common.errors import InvalidArgument

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 500


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise InvalidArgument.field(field, "must not be negative", "INVALID_PAGE_SIZE")
    if value > PAGE_SIZE_MAX:
        raise InvalidArgument.field(field, f"at most {PAGE_SIZE_MAX}", "PAGE_SIZE_TOO_LARGE")
    return value or PAGE_SIZE_DEFAULT


CURSOR_MAX = 2**63 - 1


def decode_cursor(token: str, key: str, field: str = "page_token") -> int | None:
    """The integer `key` of a page token, or None without a token. Anything else this service did
    not issue (wrong key, not an integer, out of range) is INVALID_PAGE_TOKEN."""
    cursor = decode_token(token, field)
    if cursor is None:
        return None
    value = cursor.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= CURSOR_MAX:
        raise InvalidArgument.field(
            field, "is not a token this service issued", "INVALID_PAGE_TOKEN"
        )
    return value


def encode_token(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, sort_keys=True).encode()).decode()


def decode_token(token: str, field: str = "page_token") -> dict[str, Any] | None:
    if not token:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument.field(
            field, "is not a token this service issued", "INVALID_PAGE_TOKEN"
        ) from exc
    if not isinstance(cursor, dict):
        raise InvalidArgument.field(
            field, "is not a token this service issued", "INVALID_PAGE_TOKEN"
        )
    return cursor
