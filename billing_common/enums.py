"""A domain enum and its protobuf enum, paired once by name.

The domain member `X` is the proto value `<PREFIX>X` (`OveragePolicy.DENY` is
`OVERAGE_POLICY_DENY`). The pairing is built when the adapter module loads, so a domain member
the contract lacks fails at import, not on a request. Input follows one rule everywhere: 0 (the
`_UNSPECIFIED` value) is MISSING_FIELD where the field is required, a number the contract does
not define (or the domain does not take) is INVALID_ENUM, both naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Generic, Protocol, TypeVar, cast

from billing_common.errors import InvalidArgument

E = TypeVar("E", bound=Enum)
P = TypeVar("P", bound=int)  # the generated enum (`pb.OveragePolicy`): its values are ints


class ProtoEnum(Protocol):
    """What a generated protobuf enum wrapper offers (`pb.OveragePolicy`)."""

    def Value(self, name: str) -> int: ...


class EnumMap(Generic[E, P]):
    def __init__(
        self, domain: type[E], proto: type[P], prefix: str, members: Iterable[E] | None = None
    ) -> None:
        """`members`: the domain members this contract takes, when it takes fewer than all."""
        chosen = list(domain if members is None else members)
        # The stubs declare a generated enum as an int class with an EnumTypeWrapper metaclass,
        # whose `Value` gives a bare int: each number is a value of the enum `proto`.
        wrapper = cast(ProtoEnum, proto)
        self._out: dict[E, P] = {m: cast(P, wrapper.Value(prefix + m.name)) for m in chosen}
        self._in: dict[int, E] = {v: m for m, v in self._out.items()}
        names = [m.name for m in chosen]
        self.expected = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def out(self, member: E) -> P:
        """The proto value of a domain member."""
        return self._out[member]

    def required(self, value: int, field: str) -> E:
        """A required enum field as its domain member."""
        if value == 0:
            raise InvalidArgument.field(field, f"is required ({self.expected})", "MISSING_FIELD")
        return self._known(value, field)

    def optional(self, value: int, field: str) -> E | None:
        """An optional enum field (a filter): None when unset."""
        return None if value == 0 else self._known(value, field)

    def each(self, values: Iterable[int], field: str) -> tuple[E, ...]:
        """A repeated enum field (filters), every value known."""
        return tuple(self._known(v, f"{field}[{i}]") for i, v in enumerate(values))

    def _known(self, value: int, field: str) -> E:
        member = self._in.get(value)
        if member is None:
            raise InvalidArgument.field(
                field, f"unknown value {value} ({self.expected})", "INVALID_ENUM"
            )
        return member
