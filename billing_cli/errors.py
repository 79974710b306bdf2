"""gRPC failures as operators need them: the code, the ErrorInfo reason and every bad field.

The services put a `google.rpc.Status` in the `grpc-status-details-bin` trailer; its details carry
a `google.rpc.ErrorInfo` (a stable reason such as INSUFFICIENT_CREDITS) and, for bad input, a
`google.rpc.BadRequest` with field violations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from google.rpc import error_details_pb2, status_pb2

# typer 0.29 vendors click: its exceptions are these, not the click package's.
from typer._click import exceptions as click

DETAILS_KEY = "grpc-status-details-bin"

# Exit codes (documented in the README).
EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2  # also what Click uses for bad options
EXIT_PARTIAL = 3  # events import finished but some events were rejected or denied
EXIT_DENIED = 4  # `authorize` answered: denied (an answer, not a failed call)

# Codes after which a mutation may or may not have happened: retry with the same request id.
UNCERTAIN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class RpcFailure:
    method: str
    code: str
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: tuple[tuple[str, str], ...] = ()

    # "rpc": a call failed; "usage": the command line was refused before any call.
    kind: str = "rpc"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "code": self.code,
            "message": self.message,
            "reason": self.reason,
            "domain": self.domain,
            "metadata": self.metadata,
            "field_violations": [{"field": f, "description": d} for f, d in self.violations],
        }


def decode(method: str, err: grpc.RpcError) -> RpcFailure:
    """Everything a failed call told us. Tolerates a missing or malformed details trailer."""
    code = err.code() if hasattr(err, "code") else None
    message = err.details() if hasattr(err, "details") else str(err)
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    # Each item is a (key, value) named tuple; the stubs declare its attributes only.
    trailers = cast(
        "tuple[tuple[str, str | bytes], ...] | None",
        err.trailing_metadata() if hasattr(err, "trailing_metadata") else None,
    )
    for key, value in trailers or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # a broken trailer must not hide the real error
            continue
        for detail in status.details:
            # Unpack returns False (and leaves the message alone) when the type does not match.
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif detail.Unpack(bad):
                violations.extend((v.field, v.description) for v in bad.field_violations)
    return RpcFailure(
        method=method,
        code=code.name if code is not None else "UNKNOWN",
        message=message or "",
        reason=reason,
        domain=domain,
        metadata=metadata,
        violations=tuple(violations),
    )


def usage_failure(exc: click.ClickException) -> RpcFailure:
    """A refused command line in the same shape as a failed call (kind "usage", code USAGE), so
    `--json` scripts read one error shape. The reason names what was wrong; the field, which
    option or argument."""
    reason = "BAD_USAGE"
    fields: list[str] = []
    if isinstance(exc, click.NoSuchOption):
        reason, fields = "NO_SUCH_OPTION", [exc.option_name]
    elif isinstance(exc, click.MissingParameter | click.BadParameter):
        reason = "MISSING_PARAMETER" if isinstance(exc, click.MissingParameter) else "BAD_PARAMETER"
        hint = exc.param_hint
        if hint is None and exc.param is not None:
            # As the help spells it: ENTRY_ID for an argument, --amount for an option.
            param = exc.param
            argument = param.param_type_name == "argument" or not param.opts
            hint = (param.name or "").upper() if argument else param.opts[0]
        if hint:
            fields = [hint] if isinstance(hint, str) else list(hint)
    elif isinstance(exc, click.UsageError) and exc.message.startswith("No such command"):
        reason = "NO_SUCH_COMMAND"
    elif not isinstance(exc, click.UsageError):
        reason = "BAD_INPUT"  # for example a file that cannot be read
    message = exc.format_message()
    return RpcFailure(
        method="",
        code="USAGE",
        message=message,
        reason=reason,
        domain="billing_cli",
        violations=tuple((f, message) for f in fields),
        kind="usage",
    )
