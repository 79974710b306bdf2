"""Which database errors are "unavailable for now" (UNAVAILABLE, retried by the caller) and which
are not (answers or bugs): the one classifier the engine hook and the gRPC boundary share."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from billing_common.database import is_transient
from billing_common.errors import Unavailable


class AdaptedError(Exception):
    """Stands for SQLAlchemy's adapter exception, which carries the driver's SQLSTATE."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("adapted")
        self.sqlstate = sqlstate


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)  # type: ignore[arg-type]


def adapted_from(driver_error: BaseException) -> BaseException:
    adapted = AdaptedError(getattr(driver_error, "sqlstate", None))
    adapted.__cause__ = driver_error
    return adapted


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        ConnectionResetError(104, "reset by peer"),
        FileNotFoundError(2, "no socket"),
        wrapped(adapted_from(asyncpg.exceptions.CannotConnectNowError("shutting down"))),
        wrapped(AdaptedError("57P01")),
        wrapped(AdaptedError("08006")),
        wrapped(adapted_from(ConnectionResetError())),
        wrapped(AdaptedError(None), invalidated=True),
        sa_exc.OperationalError("SELECT 1", None, AdaptedError(None)),  # type: ignore[arg-type]
        sa_exc.InterfaceError("SELECT 1", None, AdaptedError(None)),  # type: ignore[arg-type]
        sa_exc.TimeoutError("QueuePool limit reached"),
        Unavailable("already ours"),
    ],
)
def test_outage_errors_are_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(AdaptedError("23505")),  # unique violation: an answer
        wrapped(AdaptedError("40P01")),  # deadlock: retried inside the transaction helper
        wrapped(AdaptedError("55P03")),  # lock not available: the caller handles it
        wrapped(adapted_from(asyncpg.exceptions.UniqueViolationError("dup"))),
        ValueError("a bug"),
        KeyError("a bug"),
    ],
)
def test_answers_and_bugs_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)


async def test_contention_that_outlasts_the_retries_is_unavailable() -> None:
    from billing_common import transactions

    attempts = 0

    async def always_serialization_failure() -> None:
        nonlocal attempts
        attempts += 1
        raise wrapped(AdaptedError("40001"))

    with pytest.raises(Unavailable):
        await transactions.retrying(always_serialization_failure)
    assert attempts == transactions.RETRIES_MAX
