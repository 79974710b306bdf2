"""A domain dataclass and its table row, paired once.

Each field is the column of the same name (or the one `columns` names); an `Enum` field is stored
as its value, a `dict` field is copied out of the row, and a field in `empty_is_null` is stored as
NULL when it is "" (and read back as ""). Everything is worked out from the dataclass's fields
and type hints when the map is built, so an entity is declared once, in the domain, and its
row mappings follow from it.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import typing
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

D = TypeVar("D")


def _as_dict(value: Any) -> dict[Any, Any]:
    """A mapping column's value as a dict: a JSON object inside a composite value (an asyncpg
    record of a row type) arrives as its text."""
    return json.loads(value) if isinstance(value, str) else dict(value)


def _decoder(hint: object) -> Callable[[Any], Any] | None:
    if _is_enum(hint):
        return hint  # type: ignore[return-value]  # an Enum class is called with its value
    if typing.get_origin(hint) is dict:
        return _as_dict
    return None


def _is_enum(hint: object) -> bool:
    return isinstance(hint, type) and issubclass(hint, Enum)


class RowMap(Generic[D]):
    def __init__(
        self,
        cls: type[D],
        *,
        columns: Mapping[str, str] | None = None,
        empty_is_null: Iterable[str] = (),
        not_stored: Iterable[str] = (),
        computed: Mapping[str, Callable[[D], Any]] | None = None,
    ) -> None:
        """`not_stored`: fields that live elsewhere (passed to `load`); `computed`: columns
        derived from the value when it is stored."""
        hints = typing.get_type_hints(cls)
        renamed = columns or {}
        skipped = set(not_stored)
        empty = set(empty_is_null)
        stored = [f.name for f in dataclasses.fields(cls) if f.name not in skipped]  # type: ignore[arg-type]  # D is a dataclass
        self.cls = cls
        self._names = tuple(stored)
        self._columns = tuple(renamed.get(n, n) for n in stored)
        # One attribute fetch for all fields; then only the few that need it are converted.
        if len(stored) < 2:  # attrgetter of one name gives a value, not a tuple
            raise ValueError(f"{cls.__name__}: a row map needs two stored fields or more")
        self._from_row = operator.attrgetter(*self._columns)
        self._from_record = operator.itemgetter(*self._columns)
        self._from_value = operator.attrgetter(*self._names)
        self._decoders = [
            (i, decode)
            for i, name in enumerate(stored)
            if (decode := _decoder(hints[name])) is not None
        ]
        self._empty_at = [i for i, name in enumerate(stored) if name in empty]
        # Every field stored, in the dataclass's order: a row's values are its arguments.
        self._positional = not skipped
        self._enums = [renamed.get(n, n) for n in stored if _is_enum(hints[n])]
        self._empty = [(n, renamed.get(n, n)) for n in stored if n in empty]
        self._computed = dict(computed or {})

    def load(self, row: Any, **rest: Any) -> D:
        """The domain value of a row read by attribute (a SQLAlchemy row), with the fields not
        stored in it given as `rest`."""
        return self._built(list(self._from_row(row)), rest)

    def load_record(self, record: Any, **rest: Any) -> D:
        """The same from a row read by key (an asyncpg record, or one inside a composite
        value): one C-level fetch of all its columns."""
        return self._built(list(self._from_record(record)), rest)

    def _built(self, values: list[Any], rest: dict[str, Any]) -> D:
        for i, decode in self._decoders:
            values[i] = decode(values[i])
        for i in self._empty_at:
            if values[i] is None:
                values[i] = ""
        if self._positional and not rest:
            return self.cls(*values)
        return self.cls(**dict(zip(self._names, values, strict=True)), **rest)

    def dump(self, value: D) -> dict[str, Any]:
        """The row that stores a domain value."""
        row = dict(zip(self._columns, self._from_value(value), strict=True))
        for column in self._enums:
            row[column] = row[column].value
        for _, column in self._empty:
            if row[column] == "":
                row[column] = None
        for column, compute in self._computed.items():
            row[column] = compute(value)
        return row
