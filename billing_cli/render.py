"""Rich tables for the services' messages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    # What a field descriptor's enum type is under the upb runtime (the stubs give both).
    from google._upb._message import EnumDescriptor as UpbEnumDescriptor


# `--wide`: full ids and ISO 8601 times in tables, for a wide terminal or copy and paste. Set
# once per invocation by the entry point (a context variable, so each invocation has its own).
_WIDE: ContextVar[bool] = ContextVar("billing_cli_wide", default=False)

# Server-assigned ids are uuid4s; a table shows their first 8 characters (as git shows commits),
# which keeps a row within 80 columns. `--wide` or `--json` give the whole id.
_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
SHORT_ID = 8


def set_wide(wide: bool) -> None:
    _WIDE.set(wide)


def is_wide() -> bool:
    return _WIDE.get()


def short(value: str) -> str:
    """Every uuid in `value` cut to its first 8 characters (a line id "<uuid>:2" too), unless
    --wide."""
    if is_wide():
        return value
    return _UUID.sub(lambda m: m.group(0)[:SHORT_ID], value)


def cell(value: object) -> Text:
    """Literal text: service data must never be read as Rich markup."""
    return Text("" if value is None else str(value))


def when(message: Message, field: str) -> str:
    """A Timestamp field, or "" when unset. Readable UTC to the minute ("2026-01-31 12:00");
    ISO 8601 to the second or finer ("2026-01-31T12:00:00Z") with --wide."""
    if not message.HasField(field):
        return ""
    value: datetime = getattr(message, field).ToDatetime()  # a Timestamp, found by name
    if not is_wide():
        return value.strftime("%Y-%m-%d %H:%M")
    return (
        value.strftime("%Y-%m-%dT%H:%M:%SZ") if not value.microsecond else value.isoformat() + "Z"
    )


def enum(message: Message, field: str) -> str:
    """An enum field's value without its type prefix, lower case (GRANT_KIND_PREPAID: prepaid)."""
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    assert descriptor is not None, f"{field} is not an enum field"
    number = getattr(message, field)
    value = descriptor.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = _prefix(descriptor)
    name = value.name[len(prefix) :] if value.name.startswith(prefix) else value.name
    return name.lower()


def _prefix(descriptor: EnumDescriptor | UpbEnumDescriptor) -> str:
    names = [v.name for v in descriptor.values]
    first = names[0]
    # The common prefix up to the last "_" (OVERAGE_POLICY_UNSPECIFIED -> OVERAGE_POLICY_).
    return first[: first.rfind("_") + 1] if first.endswith("_UNSPECIFIED") else ""


def enum_value_name(enum_type: EnumTypeWrapper, number: int) -> str:
    value = enum_type.DESCRIPTOR.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = _prefix(enum_type.DESCRIPTOR)
    return value.name[len(prefix) :].lower()


def titled(title: str | None, body: RenderableType) -> RenderableType:
    """A title on a line of its own (a Table title would wrap at the table's width)."""
    return body if title is None else Group(Text(title, style="bold"), body)


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Iterable[object]]
) -> RenderableType:
    """A table that fits the console (80 columns too): while it would be wider, columns are left
    out in DROP_ORDER (never the first; with --wide, none). Short cells (ids, amounts, times) are
    never wrapped; long ones fold."""
    cells = [[cell(short(v) if isinstance(v, str) else v) for v in row] for row in rows]
    optional = [] if is_wide() else [c for c in DROP_ORDER if c in columns[1:]]
    return titled(title, Fitted(list(columns), cells, optional))


# The columns a narrow console does without, least needed first (every table's, by name).
DROP_ORDER = (
    "By",
    "Booked",
    "Metadata",
    "Reference",
    "Deleted",
    "Created",
    "Revoked",
    "Overage after",
    "Priority",
    "Features",
    "Filters",
    "Unit",
    "Customer",
    "Wallet",
    "Periods",
    "Min interval",
    "Ended",
    "Status",
    "Next try",
    "Pending",
    "Denied",
    "Period end",
    "Effective",
    "Feature",
    "Anchor",
    "Types",
    "Captured",
    "Last fired",
    "Expires",
    "Available after",
    "Price",
    "Grant",
)


UNBOUNDED = 100_000
# Longer cells fold, in a column at least this wide.
WRAP_MIN = 20
# Cells up to this long are kept on one line (an 8-character id, a time, an amount).
NO_WRAP_MAX = 16


class Fitted:
    """A Rich renderable: the table with as few optional columns left out as it takes to fit
    (long cells folded to their longest word first)."""

    def __init__(self, columns: list[str], rows: list[list[Text]], optional: list[str]) -> None:
        self.columns, self.rows, self.optional = columns, rows, optional

    def build(self, shown: list[str]) -> Table:
        result = Table(header_style="bold")
        for name in shown:
            index = self.columns.index(name)
            longest = max((len(row[index]) for row in self.rows), default=0)
            no_wrap = longest <= NO_WRAP_MAX
            result.add_column(
                name,
                justify="right" if name.lower() in NUMERIC else "left",
                overflow="fold",
                no_wrap=no_wrap,
                # A long cell folds, but not to a sliver: a column is left out before that.
                min_width=max(len(name), longest) if no_wrap else WRAP_MIN,
            )
        for row in self.rows:
            result.add_row(*(row[self.columns.index(name)] for name in shown))
        return result

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        shown = list(self.columns)
        unbounded = options.update_width(UNBOUNDED)  # a measurement is clamped to its width
        for name in self.optional:
            width = Measurement.get(console, unbounded, self.build(shown)).minimum
            if width <= options.max_width:
                break
            shown.remove(name)
        yield self.build(shown)


# Columns aligned right.
NUMERIC = {
    "amount",
    "captured",
    "remaining",
    "available",
    "available after",
    "overage after",
    "quantity",
    "total",
    "priority",
    "count",
    "value",
    "unit price",
    "flat price",
    "denied",
    "pending",
    "version",
    "included",
    "tries",
    "periods",
    "prepaid",
    "promotional",
    "overage",
    "revenue",
    "breakage",
    "deferred",
    "promo used",
}


def pairs(title: str | None, items: Iterable[tuple[str, object]]) -> RenderableType:
    """A two-column field/value table for one object."""
    result = Table(show_header=False, box=None, pad_edge=False)
    result.add_column(style="bold")
    result.add_column(overflow="fold")
    for key, value in items:
        result.add_row(cell(key), cell(value))
    return titled(title, result)


def metadata(values: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
