"""The rating service's ErrorInfo domain. An error's gRPC code follows from its category and its
reason is written on its class (`rating_service/domain/errors.py`; the rule:
billing_common/grpc_errors.py). Per-event errors of IngestEvents are ItemErrors built by the same
rule (`billing_common.grpc_errors.item_error`).
"""

from __future__ import annotations

DOMAIN = "rating.billing"
