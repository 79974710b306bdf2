"""The customer page's chart library (portal/vendor/chart.umd.js) is the build of the version
pinned in portal/package.json, byte for byte, as npm installs it (`make portal-deps`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def test_the_committed_chart_library_is_the_pinned_npm_release() -> None:
    pinned = json.loads((PORTAL / "package.json").read_text())["dependencies"]["chart.js"]
    installed = PORTAL / "node_modules" / "chart.js"
    if not (installed / "package.json").is_file():
        pytest.skip("portal/node_modules is not installed: run `make portal-deps` (npm ci)")
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    built = (installed / "dist" / "chart.umd.js").read_bytes()
    assert (PORTAL / "vendor" / "chart.umd.js").read_bytes() == built
    assert f"Chart.js v{pinned}".encode() in built[:200]
