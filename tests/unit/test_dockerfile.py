"""The Docker image (no Docker engine runs here): what its COPY lines bring in builds a package
with both services and the operator CLI behind its `billing` entry point, and in a container the
metrics listen on all interfaces by default."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from ledger_service.config import LedgerSettings
from rating_service.config import RatingSettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _copied() -> list[str]:
    """The sources of the Dockerfile's COPY lines (relative to the build context)."""
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    return sources


def _env() -> dict[str, str]:
    text = DOCKERFILE.replace("\\\n", " ")
    pairs = [m for line in text.splitlines() if line.startswith("ENV ") for m in line.split()[1:]]
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_image_installs_both_services_and_the_cli_entry_point(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for source in _copied():
        if (ROOT / source).is_dir():
            shutil.copytree(
                ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, context / source)
    # The image runs `pip install .`; a wheel of the same context shows what it installs.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path / "dist"),
            ".",
        ],
        check=True,
        cwd=context,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("billing_backend-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "billing" in scripts
    for target in scripts.values():  # e.g. billing_cli.__main__:app
        module = target.split(":")[0]
        assert f"{module.replace('.', '/')}.py" in names, f"the image lacks {module}"
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "billing = billing_cli.app:main_script" in archive.read(entry_points).decode()
    for module in ("ledger_service/__main__.py", "rating_service/__main__.py"):
        assert module in names
    assert "billing/ledger/v1/ledger_pb2.py" in names  # the generated stubs


def test_metrics_listen_on_all_interfaces_in_the_image() -> None:
    env = _env()
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE, re.M)
    assert exposed is not None
    for name, default in (
        ("LEDGER_METRICS_LISTEN", LedgerSettings().metrics_listen),
        ("RATING_METRICS_LISTEN", RatingSettings().metrics_listen),
    ):
        host, _, port = env[name].rpartition(":")
        assert host == "0.0.0.0", name
        # The same port as outside a container, so dashboards and scrapers need no change.
        assert port == default.rpartition(":")[2], name
        assert port in exposed.group(1).split()
