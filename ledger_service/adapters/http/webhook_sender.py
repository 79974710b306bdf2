"""Sends webhook requests with httpx. Every failure becomes an outcome; nothing raises."""

from __future__ import annotations

import httpx

from ledger_service.domain.webhooks import is_success

ERROR_LENGTH_MAX = 500


class HttpxSender:
    """One connection pool for all endpoints, opened on first use. Redirects are not followed
    (a webhook URL that moved is the receiver's configuration error, and following could leak the
    signed body elsewhere); the response body is never read."""

    def __init__(self, timeout_s: float, connect_timeout_s: float | None = None) -> None:
        assert timeout_s > 0
        assert connect_timeout_s is None or connect_timeout_s > 0
        self.timeout_s = timeout_s
        self.connect_timeout_s = timeout_s if connect_timeout_s is None else connect_timeout_s
        self._client: httpx.AsyncClient | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
        """(HTTP status or None when there was no answer, error text or "" on 2xx)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                follow_redirects=False,
            )
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as answer:
                status = answer.status_code
        except httpx.TimeoutException:
            return None, f"timed out after {self.timeout_s:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH_MAX]
        return status, "" if is_success(status) else f"HTTP {status}"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
