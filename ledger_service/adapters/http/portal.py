"""The customer page (portal/ at the repository's top) as the ledger's HTTP port serves it at
`/portal/`: the static files, and `config.json`, the page's settings from the ledger's."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from billing_common.http_site import StaticSite
from ledger_service.config import LedgerSettings

log = structlog.get_logger(__name__)

PREFIX = "/portal/"
# The repository's portal/ folder (beside the package; the Docker image copies it there too).
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "portal"


def portal_site(settings: LedgerSettings) -> StaticSite | None:
    """The page's site, or None when it is turned off or its folder is missing (logged)."""
    if settings.portal_dir == "off" or not settings.http_listen:
        return None
    directory = Path(settings.portal_dir) if settings.portal_dir else DEFAULT_DIR
    if not (directory / "index.html").is_file():
        log.warning("portal_not_served", reason=f"no index.html in {directory} (portal_dir)")
        return None
    config = {"ratingUrl": settings.portal_rating_url, "topUpUrl": settings.portal_topup_url}
    return StaticSite(PREFIX, directory, {"config.json": json.dumps(config).encode()})
