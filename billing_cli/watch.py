"""`wallets events WALLET [--follow]`: a wallet's durable events (WatchWalletEvents).

Without --follow it prints the events there are and stops once none has come for `--idle`
seconds; with --follow it keeps printing new ones as they happen, until Ctrl-C (or --limit).
Each event is one line (one JSON object per line with --json), so the output can be piped.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Annotated

import grpc
import typer
from billing.ledger.v1 import ledger_pb2 as pb
from rich.text import Text

from billing_cli.choices import WalletEventType
from billing_cli.errors import decode
from billing_cli.render import enum, short, when
from billing_cli.state import State, state_of, to_dict

# How often the main thread wakes while following, so Ctrl-C is seen at once.
WAKE_S = 0.5
_END = object()


def wallet_events(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument(help='The wallet; "" for every wallet.')],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Only events after this cursor (resume here).")
    ] = 0,
    types: Annotated[
        list[WalletEventType] | None,
        typer.Option("--type", "-t", help="Only these types (repeatable)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    idle: Annotated[
        float, typer.Option(min=0.1, help="Without --follow: stop after this long without one.")
    ] = 2.0,
) -> None:
    """A wallet's events: grants, expiries, alerts and top-ups, oldest first, with cursors."""
    state = state_of(ctx)
    request = pb.WatchWalletEventsRequest(
        wallet_id=wallet_id, after_cursor=after, types=[t.proto for t in types or []]
    )
    call = state.ledger.WatchWalletEvents(request, metadata=state.metadata)
    received: queue.Queue[object] = queue.Queue()

    def read() -> None:
        try:
            for response in call:
                received.put(response.event)
        except grpc.RpcError as err:
            received.put(err)
        received.put(_END)

    threading.Thread(target=read, daemon=True, name="wallet-events").start()
    try:
        shown = _drain(state, received, follow=follow, idle_s=idle, limit=limit)
    finally:
        call.cancel()
    if not state.json and not follow:
        state.note(f"{shown} events; continue with --after <last cursor> (or --follow)")


def _drain(
    state: State, received: queue.Queue[object], *, follow: bool, idle_s: float, limit: int | None
) -> int:
    """Prints what the reader thread receives; returns how many events it printed."""
    shown = 0
    try:
        while limit is None or shown < limit:
            try:
                item = received.get(timeout=WAKE_S if follow else idle_s)
            except queue.Empty:
                if follow:
                    continue
                break
            if item is _END:
                break
            if isinstance(item, grpc.RpcError):
                if item.code() == grpc.StatusCode.CANCELLED:
                    break
                state.fail(decode("WatchWalletEvents", item))
            assert isinstance(item, pb.WalletEvent)
            _print(state, item)
            shown += 1
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a follow ends
    return shown


def _print(state: State, event: pb.WalletEvent) -> None:
    if state.json:
        state.out.file.write(json.dumps(to_dict(event)) + "\n")
        state.out.file.flush()
        return
    line = Text(f"{event.cursor:>6}  {when(event, 'occurred_time')}  ")
    line.append(enum(event, "type").replace("_", "-"), style="bold")
    line.append(f"  {short(event.wallet_id)}  {event.data_json}")
    state.out.print(line, soft_wrap=True)
