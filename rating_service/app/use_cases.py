"""The rating use cases, built together over one Context by `main.make_app` (the server, the
simulator and the tests all get them there). Each is independent of the others: they share the
Context, never hold one another."""

from __future__ import annotations

from dataclasses import dataclass

from rating_service.app.catalogue import Catalogue
from rating_service.app.context import Context
from rating_service.app.ingest import Ingest
from rating_service.app.invoices import Invoices
from rating_service.app.usage import Usage


@dataclass(frozen=True, slots=True)
class RatingApp:
    context: Context
    catalogue: Catalogue
    ingest: Ingest
    invoices: Invoices
    usage: Usage
