"""Reading the ledger's durable wallet events (WatchWalletEvents) until what the test expects has
arrived: never "until the stream goes quiet". The bound is generous and reaching it fails the
test, naming what did arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import grpc
from billing.ledger.v1 import ledger_pb2 as pb

BOUND_S = 30.0


async def watch_events(  # type: ignore[no-untyped-def]
    stub,
    wallet_id: str = "",
    after: int = 0,
    types: Sequence[int] = (),
    *,
    count: int | None = None,
    until: Callable[[list[pb.WalletEvent]], bool] | None = None,
    bound_s: float = BOUND_S,
) -> list[pb.WalletEvent]:
    """The events after `after` (of `wallet_id` and `types` when given, as the stream filters
    them), read until `count` of them have arrived or `until(events so far)` holds."""
    if (count is None) == (until is None):
        raise TypeError("give exactly one of count and until")
    done = until if until is not None else (lambda seen: len(seen) >= count)  # type: ignore[operator]
    call = stub.WatchWalletEvents(
        pb.WatchWalletEventsRequest(wallet_id=wallet_id, after_cursor=after, types=types)
    )
    seen: list[pb.WalletEvent] = []
    deadline = asyncio.get_running_loop().time() + bound_s
    try:
        while not done(seen):
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(call.read(), timeout=max(left, 0))
            except TimeoutError:
                names = [pb.WalletEventType.Name(e.type) for e in seen]
                raise AssertionError(
                    f"after {bound_s} s the watch had {len(seen)} events, not what was expected:"
                    f" {names}"
                ) from None
            if message is grpc.aio.EOF:
                raise AssertionError(f"the watch ended after {len(seen)} events")
            seen.append(message.event)
    finally:
        call.cancel()
    return seen
