"""The ledger's ErrorInfo domain. An error's gRPC code follows from its category and its
reason is written on its class (`ledger_service/domain/errors.py`; the rule:
billing_common/grpc_errors.py).
"""

from __future__ import annotations

DOMAIN = "ledger.billing"
