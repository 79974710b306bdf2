"""structlog JSON logs. Handlers bind request_id / wallet_id through contextvars.

Every line on stderr is one JSON object: the libraries that log through the standard `logging`
module (the embedded PostgreSQL's pgserver, Alembic, grpc, asyncio) and Python's warnings go
through the same renderer as our own events, with the library's logger name in `logger`."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

# What our events and the standard library's records both get before rendering.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO") -> None:
    renderer = structlog.processors.JSONRenderer()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]  # replaces what was there: one handler, one format
    root.setLevel(level.upper())
    # warnings.warn (a library's RuntimeWarning, say) becomes a record of the `py.warnings` logger.
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*_SHARED, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
