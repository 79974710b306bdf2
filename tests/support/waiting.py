"""Waiting on a condition, never on time: poll it (a short pause between looks) until it holds,
and fail the test, saying what was awaited, if a generous bound passes first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

BOUND_S = 30.0


async def until(
    condition: Callable[[], Awaitable[bool] | bool],
    what: str,
    *,
    bound_s: float = BOUND_S,
    poll_s: float = 0.01,
) -> None:
    """Return once `condition()` (sync or async) holds; AssertionError after `bound_s`."""
    deadline = asyncio.get_running_loop().time() + bound_s
    while True:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"gave up after {bound_s} s waiting until {what}")
        await asyncio.sleep(poll_s)
