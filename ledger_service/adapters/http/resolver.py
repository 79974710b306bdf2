"""The system's resolver, as the webhook egress check's `Resolver` port."""

from __future__ import annotations

import asyncio
import socket


class SystemResolver:
    """getaddrinfo in the event loop's executor, bounded by `timeout_s`; a name that does not
    resolve in time (or at all) gives []."""

    def __init__(self, timeout_s: float) -> None:
        assert timeout_s > 0
        self.timeout_s = timeout_s

    async def resolve(self, host: str) -> list[str]:
        if not host:
            return []
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), self.timeout_s
            )
        except (OSError, TimeoutError, UnicodeError):
            return []
        # Keep the system's order (its preference), without repeats.
        return list(dict.fromkeys(str(info[4][0]) for info in found))
