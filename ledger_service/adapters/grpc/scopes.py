"""The scope each ledger RPC needs (billing_common/auth.py refuses a call without it). Every
method of the service is listed (a unit test checks): a method missing here is refused to all.
ListWallets without a customer_id lists every customer's wallets: the servicer asks for admin
on top of read for that; Authorize with hold places a hold: write on top of read."""

from __future__ import annotations

from billing.ledger.v1 import ledger_pb2

from billing_common import api_key_service, auth
from billing_common.principal import ADMIN, READ, WEBHOOKS, WRITE

LEDGER_SCOPES = {
    "CreateWallet": WRITE,
    "GetWallet": READ,
    "ListWallets": READ,
    "CreateGrant": WRITE,
    "GetGrant": READ,
    "ListGrants": READ,
    "VoidGrant": WRITE,
    "Debit": WRITE,
    "DebitBatch": WRITE,
    "RefundDebit": WRITE,
    "GetBalance": READ,
    # Every customer's report (no wallet_id or customer_id) asks for admin on top (servicer).
    "GetConsumptionReport": READ,
    "GetRevenueReport": READ,
    "ListEntries": READ,
    # Books every due write-off now: an operator's command.
    "RunExpiry": ADMIN,
    "VerifyWallet": READ,
    "CreateHold": WRITE,
    "CaptureHold": WRITE,
    "ReleaseHold": WRITE,
    "GetHold": READ,
    # A pure check reads; with hold it writes, and the servicer asks for write on top.
    "Authorize": READ,
    "WatchWalletEvents": READ,
    "SetTopUpRule": WRITE,
    "GetTopUpRule": READ,
    "ClearTopUpRule": WRITE,
    "ListTopUps": READ,
    "ConfirmTopUp": WRITE,
    "FailTopUp": WRITE,
    "SetAlertRules": WRITE,
    "ListAlertRules": READ,
    "CreateAllotmentSchedule": WRITE,
    "ListAllotmentSchedules": READ,
    "EndAllotmentSchedule": WRITE,
    "CreateWebhookEndpoint": WEBHOOKS,
    "ListWebhookEndpoints": WEBHOOKS,
    "DeleteWebhookEndpoint": WEBHOOKS,
    "ListWebhookDeliveries": WEBHOOKS,
    "RotateWebhookSecret": WEBHOOKS,
    "GetDepletionForecast": READ,
    # The policy is a wallet setting, like its alert and top-up rules.
    "SetSignalPolicy": WRITE,
    "GetSignalPolicy": READ,
    "SetPoolMember": WRITE,
    "GetPoolMember": READ,
    "ListPoolMembers": READ,
    "RemovePoolMember": WRITE,
}

SERVICE = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"]

# What the rating service's credential for the ledger holds: its ledger client debits
# (DebitBatch), refunds (RefundDebit) and reads grants, balances, top-ups and wallets.
RATING_CLIENT_SCOPES = (READ, WRITE)


def method_scopes() -> dict[str, str]:
    """Every method the ledger server serves (key management included) -> its scope."""
    return {
        **auth.method_scopes(SERVICE.full_name, LEDGER_SCOPES),
        **auth.method_scopes(api_key_service.SERVICE.full_name, api_key_service.SCOPES),
    }
