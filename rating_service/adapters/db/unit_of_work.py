"""Rating's unit of work on PostgreSQL: transactions, reads and rolled-back trials over the
engine's pool, handing the use cases a `RatingRepository` (the `RatingStore` port)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import transactions
from rating_service.adapters.db.leadership import Leadership
from rating_service.adapters.db.repository import RatingRepository, lock_key
from rating_service.app.stores import RatingStore

T = TypeVar("T")


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def write(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        """One transaction, retried on deadlock or serialization failure."""

        async def attempt() -> T:
            async with self.engine.begin() as conn:
                return await work(RatingRepository(conn))

        return await transactions.retrying(attempt)

    async def read(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            return await work(RatingRepository(conn))

    async def trial(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            tx = await conn.begin()
            try:
                return await work(RatingRepository(conn))
            finally:
                await tx.rollback()

    def leader(self, name: str) -> Leadership:
        return Leadership(self.engine, lock_key("rating", name))
