"""The scope each rating RPC needs (billing_common/auth.py refuses a call without it). Every
method of the service is listed (a unit test checks): a method missing here is refused to all."""

from __future__ import annotations

from billing.rating.v1 import rating_pb2

from billing_common import api_key_service, auth
from billing_common.principal import ADMIN, CATALOGUE, READ, WRITE

RATING_SCOPES = {
    "CreateMeter": CATALOGUE,
    "GetMeter": READ,
    "ListMeters": READ,
    "CreatePrice": CATALOGUE,
    "ListPrices": READ,
    "CreatePlan": CATALOGUE,
    "GetPlan": READ,
    # Chooses what a customer pays: the catalogue's owner decides, not the customer's own key.
    "AssignPlan": CATALOGUE,
    "ListPlans": READ,
    "GetPlanAssignment": READ,
    # Ends what a customer pays for: the catalogue's owner decides, as for AssignPlan.
    "EndPlanAssignment": CATALOGUE,
    "IngestEvents": WRITE,
    "StreamEvents": WRITE,
    # History imported when moving from another system: an operator's act, not a producer's.
    # (CreatePrice and AssignPlan with `backfill` need it too: checked in their handlers.)
    "BackfillEvents": ADMIN,
    "GetUsage": READ,
    "PreviewCharge": READ,
    "GetInvoice": READ,
    "ListInvoices": READ,
    "CloseBillingPeriod": WRITE,
    "ListInvoiceLineEvents": READ,
}

SERVICE = rating_pb2.DESCRIPTOR.services_by_name["RatingService"]


def method_scopes() -> dict[str, str]:
    """Every method the rating server serves (key management included) -> its scope."""
    return {
        **auth.method_scopes(SERVICE.full_name, RATING_SCOPES),
        **auth.method_scopes(api_key_service.SERVICE.full_name, api_key_service.SCOPES),
    }
