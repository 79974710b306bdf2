"""A domain dataclass and its table row, paired once.

Each field is the column of the same name (or the one `columns` names); an `Enum` field is stored
as its value, a `dict` field is copied out of the row, and a field in `empty_is_null` is stored as
NULL when it is "" (and read back as ""). A field holding nested values in a JSON column names
its `Codec` (`codecs`; `json_items` derives one from a flat dataclass, its Decimals kept as
decimal strings so no float is ever involved); a field holding a dataclass whose fields are
columns of the same row names that dataclass's own map (`nested`). Everything is worked out from
the dataclass's fields and type hints when the map is built, so an entity is declared once, in
the domain, and its row mappings follow from it.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import typing
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Any, Generic, TypeVar, Union

D = TypeVar("D")
Item = TypeVar("Item")


@dataclasses.dataclass(frozen=True, slots=True)
class Codec:
    """How one field is stored: `encode` gives the column's value, `decode` reads it back."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _no_float(text: str) -> Any:
    raise TypeError(f"a JSON number ({text}) where a decimal string is expected")


def _json_value(value: Any) -> Any:
    """A JSON column's value: JSON text inside a composite value (an asyncpg record) is parsed
    here, refusing any JSON number (a float)."""
    if isinstance(value, str):
        return json.loads(value, parse_float=_no_float, parse_int=_no_float)
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} has no exact JSON form here")


def _from_json(hint: object) -> Callable[[Any], Any]:
    """The reader of one JSON item field: a Decimal from its decimal string only (a float never
    gets in), None where the hint allows it, an Enum from its value."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, UnionType) else (hint,)
    optional = type(None) in options
    kind = next(o for o in options if o is not type(None))

    def read(value: Any) -> Any:
        if value is None and optional:
            return None
        if kind is Decimal:
            if not isinstance(value, str):
                raise TypeError(f"{value!r} is not a decimal string")
            return Decimal(value)
        return kind(value)  # str or an Enum class

    return read


def json_items(cls: type[Item]) -> Codec:
    """The codec of a tuple of `cls` (a flat dataclass) stored as a JSON array of objects, one
    key per field: Decimals as decimal strings, None as null, Enums by value."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # a dataclass
    readers = [(n, _from_json(hints[n])) for n in names]

    def encode(items: Iterable[Any]) -> list[dict[str, Any]]:
        return [{n: _to_json(getattr(item, n)) for n in names} for item in items]

    def decode(value: Any) -> tuple[Item, ...]:
        return tuple(
            cls(**{n: read(item[n]) for n, read in readers}) for item in _json_value(value)
        )

    return Codec(encode, decode)


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
        codecs: Mapping[str, Codec] | None = None,
        nested: Mapping[str, RowMap[Any]] | None = None,
    ) -> None:
        """`not_stored`: fields that live elsewhere (passed to `load`); `computed`: columns
        derived from the value when it is stored; `codecs`: how a field is stored (a JSON
        column: `json_items`); `nested`: fields whose value is read from the same row by its
        own map."""
        hints = typing.get_type_hints(cls)
        renamed = columns or {}
        self._nested = dict(nested or {})
        skipped = set(not_stored) | set(self._nested)
        coded = dict(codecs or {})
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
            if (decode := coded[name].decode if name in coded else _decoder(hints[name]))
            is not None
        ]
        self._empty_at = [i for i, name in enumerate(stored) if name in empty]
        # Every field stored, in the dataclass's order: a row's values are its arguments.
        self._positional = not skipped
        self._enums = [renamed.get(n, n) for n in stored if _is_enum(hints[n]) and n not in coded]
        self._encoders = [(renamed.get(n, n), c.encode) for n, c in coded.items()]
        self._empty = [(n, renamed.get(n, n)) for n in stored if n in empty]
        self._computed = dict(computed or {})

    def load(self, row: Any, **rest: Any) -> D:
        """The domain value of a row read by attribute (a SQLAlchemy row), with the fields not
        stored in it given as `rest`."""
        for name, rows in self._nested.items():
            rest[name] = rows.load(row)
        return self._built(list(self._from_row(row)), rest)

    def load_record(self, record: Any, **rest: Any) -> D:
        """The same from a row read by key (an asyncpg record, or one inside a composite
        value): one C-level fetch of all its columns."""
        for name, rows in self._nested.items():
            rest[name] = rows.load_record(record)
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
        for column, encode in self._encoders:
            row[column] = encode(row[column])
        for _, column in self._empty:
            if row[column] == "":
                row[column] = None
        for column, compute in self._computed.items():
            row[column] = compute(value)
        for name, rows in self._nested.items():
            row.update(rows.dump(getattr(value, name)))
        return row
