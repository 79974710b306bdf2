"""Files a port serves without a credential: the ledger's customer page at `/portal/`
(billing_common/connect.py serves a `StaticSite` beside the methods)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer given whole: status, content type, body and further headers."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


_FILE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": JSON,
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# A page served here holds a credential: no framing by others' sites is prevented (our users
# embed it), but nothing but its own files run, and no referrer leaves it.
_PAGE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
    (
        b"content-security-policy",
        b"default-src 'self'; connect-src 'self' https: http:; img-src 'self' data:; "
        b"base-uri 'none'; object-src 'none'",
    ),
)


@dataclass(frozen=True, slots=True)
class StaticSite:
    """Files of `directory` served to GET under `prefix` (ends with "/"; `prefix` itself is
    index.html), without a credential; `generated` adds files made by the server (name ->
    content), such as the page's settings."""

    prefix: str
    directory: Path
    generated: Mapping[str, bytes] = field(default_factory=dict)

    def answer(self, path: str) -> Answer | None:
        """The answer to GET `path`, or None when the path is not this site's."""
        if path == self.prefix.rstrip("/"):
            return Answer(308, "text/plain", b"", ((b"location", self.prefix.encode()),))
        if not path.startswith(self.prefix):
            return None
        name = path[len(self.prefix) :] or "index.html"
        if name in self.generated:
            return Answer(200, _file_type(name), self.generated[name], _PAGE_HEADERS)
        root = self.directory.resolve()
        file = (root / name).resolve()
        if not file.is_relative_to(root) or not file.is_file() or "node_modules" in file.parts:
            return Answer(404, "text/plain", b"not found")
        return Answer(200, _file_type(name), file.read_bytes(), _PAGE_HEADERS)


def _file_type(name: str) -> str:
    return _FILE_TYPES.get(Path(name).suffix, "application/octet-stream")
