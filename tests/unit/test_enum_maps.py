"""Each domain enum is paired once with its contract enum, and input follows one rule: unset is
MISSING_FIELD where required, a number the contract does not define is INVALID_ENUM, both naming
the field."""

from __future__ import annotations

import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.enums import EnumMap
from billing_common.errors import InvalidArgument
from billing_common.periods import Cadence
from ledger_service.adapters.grpc import convert, convert_reports
from ledger_service.adapters.grpc.webhooks import DELIVERY_STATE
from ledger_service.domain.model import GrantKind, OveragePolicy

MAPS = [
    convert.POLICY,
    convert.KIND,
    convert.GRANT_STATE,
    convert.ENTRY_TYPE,
    convert.PAYMENT,
    convert.TOPUP_STATE,
    convert.ALERT,
    convert.EVENT_TYPE,
    convert.CADENCE,
    convert.EXPIRY,
    convert.HOLD_STATE,
    DELIVERY_STATE,
    convert_reports.CONSUMPTION_BUCKET,
    convert_reports.REVENUE_BUCKET,
]


@pytest.mark.parametrize("pairs", MAPS, ids=lambda m: m.expected)
def test_every_member_goes_out_and_comes_back_as_itself(pairs: EnumMap) -> None:  # type: ignore[type-arg]
    members = list(pairs._out)
    assert members
    for member in members:
        assert pairs.required(pairs.out(member), "f") is member


def test_a_required_field_left_unset_is_missing_and_an_unknown_number_invalid() -> None:
    with pytest.raises(InvalidArgument) as missing:
        convert.POLICY.required(0, "overage_policy")
    assert missing.value.reason == "MISSING_FIELD"
    assert missing.value.violations[0].field == "overage_policy"
    assert "DENY or ALLOW_OVERAGE" in missing.value.violations[0].description
    with pytest.raises(InvalidArgument) as unknown:
        convert.KIND.required(99, "kind")
    assert unknown.value.reason == "INVALID_ENUM"


def test_a_filter_left_unset_is_none_and_a_list_names_the_bad_position() -> None:
    assert convert.GRANT_STATE.optional(0, "state") is None
    with pytest.raises(InvalidArgument) as bad:
        convert.ENTRY_TYPE.each([pb.ENTRY_TYPE_DEBIT, 77], "types")
    assert (bad.value.reason, bad.value.violations[0].field) == ("INVALID_ENUM", "types[1]")


def test_a_contract_that_takes_fewer_members_refuses_the_others() -> None:
    daily = [m for m in Cadence if m not in convert.CADENCE._out]
    assert daily  # the rating service's cadences include one allotments do not take
    with pytest.raises(KeyError):
        convert.CADENCE.out(daily[0])


def test_a_domain_member_the_contract_lacks_fails_when_the_map_is_built() -> None:
    with pytest.raises(ValueError):
        EnumMap(GrantKind, pb.OveragePolicy, "OVERAGE_POLICY_")
    assert EnumMap(OveragePolicy, pb.OveragePolicy, "OVERAGE_POLICY_").expected == (
        "DENY or ALLOW_OVERAGE"
    )
