"""An async, typed Python client for the billing services, over the generated stubs in
gen/python (`billing.ledger.v1`, `billing.rating.v1`).

    async with open_channel("127.0.0.1:50051", ca_file=".data/tls/ca.pem", api_key=key) as channel:
        ledger = LedgerClient(channel, timeout_s=5)
        wallet = await ledger.create_wallet("acme", "CREDITS")
        await ledger.create_grant(wallet.wallet_id, Decimal("100"))
        debited = await ledger.debit(wallet.wallet_id, Decimal("12.5"), feature="search")
        balance = await ledger.get_balance(wallet.wallet_id)  # .available == Decimal("87.5")

Every call has a deadline (`timeout_s`, for the whole call including retries) and retries
UNAVAILABLE with the same request (so the same request_id) under a bounded `RetryPolicy`.
"""

from billing_client._call import DEFAULT_TIMEOUT_S, ServiceClient
from billing_client._channel import open_channel
from billing_client._errors import (
    AlreadyExists,
    BillingClientError,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    RpcError,
    Unavailable,
)
from billing_client._ledger import Balance, Debited, LedgerClient, RatingClient, new_request_id
from billing_client._money import from_wire, parse_amount, to_wire
from billing_client._retry import NO_RETRY, RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "NO_RETRY",
    "AlreadyExists",
    "Balance",
    "BillingClientError",
    "DeadlineExceeded",
    "Debited",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "LedgerClient",
    "NotFound",
    "RatingClient",
    "RetryPolicy",
    "RpcError",
    "ServiceClient",
    "Unavailable",
    "from_wire",
    "new_request_id",
    "open_channel",
    "parse_amount",
    "to_wire",
]
