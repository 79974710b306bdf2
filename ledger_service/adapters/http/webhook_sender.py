"""Sends webhook requests with httpx. Every failure becomes an outcome; nothing raises."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit, urlunsplit

import httpx

from ledger_service.domain.webhooks import is_success

# The coarse classes a failed attempt records. The system's own text ("[Errno 111] Connect call
# failed ('10.0.0.7', 5432)") is never stored: the delivery log is read by callers, and such
# details would map what listens where inside the network.
TIMEOUT = "timeout"
REFUSED = "connection refused"
TLS_ERROR = "TLS error"
CONNECTION_ERROR = "connection error"


def classify(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return TIMEOUT
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return TLS_ERROR
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.ConnectError):
        return REFUSED
    return CONNECTION_ERROR


def pinned(url: str, address: str) -> tuple[str, str]:
    """The URL with its host replaced by `address`, and the Host header of the original."""
    parts = urlsplit(url)
    userinfo, at, original = parts.netloc.rpartition("@")
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=userinfo + at + netloc)), original


class HttpxSender:
    """One connection pool for all endpoints, opened on first use. Each request goes to the
    address the egress policy checked (never resolved again here), with the URL's host in the
    Host header and as the TLS server name, so certificates are verified against the name.
    Redirects are not followed (a webhook URL that moved is the receiver's configuration error,
    and following could leak the signed body elsewhere, or lead past the egress policy); the
    response body is never read."""

    def __init__(
        self,
        timeout_s: float,
        connect_timeout_s: float | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """`verify`: the TLS context that checks receivers' certificates (default: the system's
        trusted authorities; tests pass one trusting their own)."""
        assert timeout_s > 0
        assert connect_timeout_s is None or connect_timeout_s > 0
        self.timeout_s = timeout_s
        self.connect_timeout_s = timeout_s if connect_timeout_s is None else connect_timeout_s
        self.verify: ssl.SSLContext | bool = True if verify is None else verify
        self._client: httpx.AsyncClient | None = None

    async def post(
        self, url: str, address: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str]:
        """(HTTP status or None when there was no answer, error class or "" on 2xx)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                follow_redirects=False,
                verify=self.verify,
                trust_env=False,  # no proxy from the environment: it would resolve the name again
                # No kept-alive connections: the pool knows them by address, and one opened (and
                # verified) for one name must not carry another name's request to the same address.
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        target, host = pinned(url, address)
        name = urlsplit(url).hostname or ""
        try:
            async with self._client.stream(
                "POST",
                target,
                content=body,
                headers={**headers, "Host": host},
                extensions={"sni_hostname": name},
            ) as answer:
                status = answer.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, classify(exc)
        return status, "" if is_success(status) else f"HTTP {status}"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
