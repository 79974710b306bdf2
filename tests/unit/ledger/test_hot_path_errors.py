"""The hot path's statements go to asyncpg directly, past SQLAlchemy's error hook: contention is
still retried and an unreachable database is still UNAVAILABLE, never INTERNAL."""

from __future__ import annotations

import asyncpg
import pytest

from billing_common import transactions
from billing_common.errors import Unavailable
from ledger_service.adapters.db.unit_of_work import _transient_unavailable
from ledger_service.domain.errors import WalletNotFound


def _adapted(cause: BaseException) -> Exception:
    """A driver error as SQLAlchemy's asyncpg adapter re-raises it outside a statement."""
    error = Exception("translated by the adapter")
    error.__cause__ = cause
    return error


async def test_a_lost_connection_on_the_hot_path_is_unavailable() -> None:
    for lost in (
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        ConnectionResetError(),
        asyncpg.exceptions.InternalClientError("another operation is in progress"),
        _adapted(asyncpg.exceptions.InternalClientError("another operation is in progress")),
    ):
        with pytest.raises(Unavailable):
            async with _transient_unavailable():
                raise lost


async def test_contention_on_the_hot_path_is_retried_and_other_errors_stay() -> None:
    deadlock = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        async with _transient_unavailable():
            raise deadlock
    assert transactions.retryable(deadlock)
    attempts = 0

    async def once_deadlocked() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise deadlock
        return "booked"

    assert await transactions.retrying(once_deadlocked) == "booked"
    assert attempts == 2
    with pytest.raises(asyncpg.exceptions.UniqueViolationError):
        async with _transient_unavailable():
            raise asyncpg.exceptions.UniqueViolationError("duplicate key")
    with pytest.raises(WalletNotFound):  # a refusal is an answer, never turned UNAVAILABLE
        async with _transient_unavailable():
            try:
                raise ConnectionResetError()
            except ConnectionResetError:
                raise WalletNotFound("wallet 'w' does not exist") from None
