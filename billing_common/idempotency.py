"""Request fingerprints for idempotency by request_id (AIP-155).

A request is stored with a hash of its content (request_id excluded). A retry with the same id and
the same content gets the original response; the same id with other content is REQUEST_ID_CONFLICT.
"""

from __future__ import annotations

import hashlib

from google.protobuf.message import Message


def fingerprint(method: str, request: Message) -> bytes:
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")
    digest = hashlib.sha256(method.encode())
    digest.update(b"\0")
    digest.update(copy.SerializeToString(deterministic=True))
    return digest.digest()
