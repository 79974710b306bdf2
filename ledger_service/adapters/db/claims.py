"""Claims: how replicas share the periodic work (the expiry sweep, the signal sweep).

Every ledger process sweeps. A sweep picks the wallets that look due and, in the same query,
claims each one for its transaction (a transaction-level advisory lock, taken without waiting);
a wallet another process's sweep has claimed is passed over. So several processes split the due
wallets between them instead of queueing behind the same wallet locks, and a process that dies
loses its claims with its session. Correctness never rests on the claims: what is booked is still
decided under the wallets' row locks, so a wallet swept twice books nothing the second time."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

# The first key of each job's claims (the second is the wallet id's hash).
SWEEP = 1
SIGNALS = 2


def claimed(job: int, wallet_id: ColumnElement[str]) -> ColumnElement[bool]:
    """True once this transaction holds the job's claim on the wallet; False, without waiting,
    while another transaction holds it."""
    return func.pg_try_advisory_xact_lock(job, func.hashtext(wallet_id))
