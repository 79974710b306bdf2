"""Who a call runs as: the principal an authenticated call was admitted with.

The server's authentication step binds it for the handler (`bind`); a handler reads it with
`current()` and hands what a use case needs (the actor to record, the customers it may see) on
as plain arguments. A write that is carried out by another task (the ledger's write pipeline)
takes the actor with it in its operation; it never reads this context there."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

# What a credential may be allowed to do (a call needs the one its method is listed under).
READ = "read"
WRITE = "write"
CATALOGUE = "catalogue"
ADMIN = "admin"
WEBHOOKS = "webhooks"
SCOPES = frozenset({READ, WRITE, CATALOGUE, ADMIN, WEBHOOKS})


@dataclass(frozen=True, slots=True)
class Principal:
    # Who made the call, as recorded on what it writes: "key:<key id>", "cert:<subject>", or
    # "anonymous" when authentication is turned off (development only).
    actor: str
    scopes: frozenset[str]
    # The customers whose data the caller may see and change; None: every customer.
    customers: frozenset[str] | None = None

    def may_see(self, customer_id: str) -> bool:
        return self.customers is None or customer_id in self.customers


# The principal of a call made while authentication is turned off, and of work the service
# does on its own (sweeps, schedules, automatic top-ups).
ANONYMOUS = Principal("anonymous", SCOPES, None)
SYSTEM = Principal("system", SCOPES, None)

_current: ContextVar[Principal] = ContextVar("billing_principal", default=ANONYMOUS)


def current() -> Principal:
    """The principal the running call was admitted with (ANONYMOUS outside a call)."""
    return _current.get()


def bind(principal: Principal) -> Token[Principal]:
    """Run the rest of this task as `principal`; `unbind(token)` restores the previous one."""
    return _current.set(principal)


def unbind(token: Token[Principal]) -> None:
    _current.reset(token)
