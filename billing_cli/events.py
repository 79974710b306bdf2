"""`events import FILE.jsonl`: usage events to the rating service in batches, with a progress bar.

One event per line, as proto JSON of `billing.rating.v1.Event`:

    {"event_id": "e1", "customer_id": "c1", "type": "api.call",
     "occurred_time": "2026-01-01T10:00:00Z", "properties": {"units": "3"}}

An event of a pooled wallet's member adds `"member_id": "team-a"`.

Property values may be JSON strings, integers, decimals (parsed exactly, never as floats) or
booleans; they are sent as strings. Lines that are not such an object are reported as rejected
(reason INVALID_LINE) and never sent. Blank lines are skipped.

`--backfill` sends the batches with BackfillEvents (an admin key): historical usage when moving
from another system, with no grace window; an event of a closed billing period is rejected
(PERIOD_CLOSED), so a final invoice never changes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from billing.rating.v1 import rating_pb2 as pb
from google.protobuf import json_format
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from billing_cli.errors import EXIT_PARTIAL, EXIT_USAGE, decode
from billing_cli.render import enum_value_name, table
from billing_cli.state import State, state_of

BATCH_MAX = 1000  # IngestEvents takes 1 to 1,000 events
REJECTS_KEPT = 1000  # reasons listed in the summary; the rest are only counted
STATUSES = ("accepted", "charged", "duplicate", "rejected", "denied")
ALWAYS = ("accepted", "duplicate", "rejected")  # shown even when zero

events = typer.Typer(help="Send usage events to the rating service.", no_args_is_help=True)


@dataclass
class Line:
    number: int
    event: pb.Event | None = None
    error: str = ""


@dataclass
class Reject:
    line: int
    event_id: str
    status: str
    code: str
    reason: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _property(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value)
    raise ValueError(f"property values must be strings, numbers or booleans, not {value!r}")


def parse_line(number: int, text: str) -> Line:
    try:
        data = json.loads(text, parse_float=Decimal)
        if not isinstance(data, dict):
            raise ValueError("a line must hold one JSON object")
        props = data.get("properties")
        if isinstance(props, dict):
            data["properties"] = {k: _property(v) for k, v in props.items()}
        return Line(number, json_format.ParseDict(data, pb.Event()))
    except (ValueError, json_format.ParseError) as exc:
        return Line(number, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def read_lines(path: Path) -> Iterator[Line]:
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if text.strip():
                yield parse_line(number, text)


def count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for text in f if text.strip())


def batches(lines: Iterator[Line], size: int) -> Iterator[list[Line]]:
    """Groups of lines holding `size` parseable events each (bad lines ride along, unsent)."""
    batch: list[Line] = []
    good = 0
    for line in lines:
        batch.append(line)
        good += line.event is not None
        if good >= size:
            yield batch
            batch, good = [], 0
    if batch:
        yield batch


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({s: 0 for s in STATUSES})
        self.reasons: Counter[str] = Counter()
        self.rejects: list[Reject] = []

    def add(self, status: str, reject: Reject | None = None) -> None:
        self.counts[status] += 1
        if reject is not None:
            self.reasons[reject.reason or reject.code] += 1
            if len(self.rejects) < REJECTS_KEPT:
                self.rejects.append(reject)

    @property
    def failed(self) -> int:
        return self.counts["rejected"] + self.counts["denied"]


@events.command("import")
def import_events(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="JSON lines file."),
    ],
    batch_size: Annotated[
        int,
        typer.Option(min=1, max=BATCH_MAX, help=f"Events per IngestEvents call (1-{BATCH_MAX})."),
    ] = BATCH_MAX,
    sync: Annotated[
        bool, typer.Option("--sync", help="Wait for the ledger per event (CHARGED or DENIED).")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id",
            help="Base idempotency key; batch N is sent as <id>:N. Default a fresh uuid4.",
        ),
    ] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Historical usage (BackfillEvents, admin key): no grace window; events of "
            "closed periods are rejected (PERIOD_CLOSED).",
        ),
    ] = False,
) -> None:
    """Import usage events from a JSON lines file; prints ACCEPTED/DUPLICATE/REJECTED counts.

    Exits 3 when any event was rejected or denied, 1 when a batch could not be sent at all
    (re-running is safe: events already accepted come back as DUPLICATE)."""
    state = state_of(ctx)
    if backfill and sync:
        raise typer.BadParameter("--backfill is asynchronous only: drop --sync")
    try:
        total = count_lines(path)
    except (OSError, UnicodeDecodeError) as exc:
        state.err.print(Text(f"error: cannot read {path}: {exc}"))
        raise typer.Exit(EXIT_USAGE) from None
    rid = state.request_id(request_id)
    mode = pb.INGEST_MODE_SYNC if sync else pb.INGEST_MODE_ASYNC
    tally = Tally()
    failure = None
    failed_at = 0
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=state.err,
        disable=not progress,
        transient=False,
    )
    with bar:
        task = bar.add_task("events", total=total)
        for index, batch in enumerate(batches(read_lines(path), batch_size)):
            for line in batch:
                if line.event is None:
                    tally.add(
                        "rejected",
                        Reject(line.number, "", "rejected", "", "INVALID_LINE", line.error),
                    )
            sendable = [line for line in batch if line.event is not None]
            if sendable:
                sent = [line.event for line in sendable if line.event is not None]
                try:
                    response = _send(state, f"{rid}:{index}", sent, mode, backfill=backfill)
                except grpc.RpcError as err:
                    failure = decode("BackfillEvents" if backfill else "IngestEvents", err)
                    failed_at = batch[0].number
                    break
                _tally_results(tally, sendable, response)
            bar.advance(task, len(batch))

    _report(state, path, tally, sent_all=failure is None)
    if failure is not None:
        state.print_failure(failure, request_id=rid)
        state.err.print(
            Text(
                f"  stopped at the batch starting on line {failed_at}; re-running the import is "
                "safe (accepted events come back as DUPLICATE)"
            )
        )
        raise typer.Exit(1)
    if tally.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _send(
    state: State,
    request_id: str,
    sent: list[pb.Event],
    mode: pb.IngestMode,
    *,
    backfill: bool,
) -> pb.IngestEventsResponse | pb.BackfillEventsResponse:
    """One batch: IngestEvents, or BackfillEvents (asynchronous, no grace window)."""
    if backfill:
        request = pb.BackfillEventsRequest(request_id=request_id, events=sent)
        response: pb.BackfillEventsResponse = state.invoke(state.rating.BackfillEvents, request)
        return response
    ingest = pb.IngestEventsRequest(request_id=request_id, events=sent, mode=mode)
    answer: pb.IngestEventsResponse = state.invoke(state.rating.IngestEvents, ingest)
    return answer


def _tally_results(
    tally: Tally, sent: list[Line], response: pb.IngestEventsResponse | pb.BackfillEventsResponse
) -> None:
    for line, result in zip(sent, response.results, strict=True):
        status = enum_value_name(pb.EventStatus, result.status)
        reject = None
        if result.status in (pb.EVENT_STATUS_REJECTED, pb.EVENT_STATUS_DENIED):
            reject = Reject(
                line.number,
                result.event_id,
                status,
                _code_name(result.error.code),
                result.error.reason,
                result.error.message,
            )
        tally.add(status, reject)


def _code_name(number: int) -> str:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return str(code.name)
    return str(number) if number else ""


def _report(state: State, path: Path, tally: Tally, *, sent_all: bool) -> None:
    summary = {
        "file": str(path),
        "complete": sent_all,
        "counts": dict(tally.counts),
        "reasons": dict(tally.reasons),
        "rejects": [r.as_dict() for r in tally.rejects],
        "rejects_not_listed": max(0, tally.failed - len(tally.rejects)),
    }

    def render() -> None:
        state.out.print(
            table(
                f"Import of {path.name}" + ("" if sent_all else " (incomplete)"),
                ["Status", "Count"],
                [[s.upper(), tally.counts[s]] for s in STATUSES if tally.counts[s] or s in ALWAYS],
            )
        )
        if tally.rejects:
            state.out.print(
                table(
                    "Rejected and denied events",
                    ["Line", "Event", "Status", "Code", "Reason", "Message"],
                    [
                        [r.line, r.event_id, r.status.upper(), r.code, r.reason, r.message]
                        for r in tally.rejects
                    ],
                )
            )
        if summary["rejects_not_listed"]:
            state.note(f"{summary['rejects_not_listed']} more rejects not listed")

    state.emit(summary, render)
