"""The committed Go and TypeScript stubs are exactly what `make generate-clients` produces from
protos/ (every proto in it, new ones included). Needs Go, Node.js and npm; the pinned plugins are
installed on first use."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from generate_clients import LANGUAGES  # noqa: E402  (tools/ is not a package)


def _files(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()}


def test_committed_clients_are_fresh(tmp_path: Path) -> None:
    missing = [name for name in ("go", "node", "npm") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not on PATH: cannot regenerate the Go/TS clients")
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_clients.py"), str(tmp_path)],
        check=True,
        cwd=ROOT,
    )
    for lang in LANGUAGES:
        language, committed = lang.name, lang.committed
        fresh = tmp_path / language / lang.gen_dir
        assert _files(fresh) == _files(committed), (
            f"{language}: files differ; run `make generate-clients` and commit {committed}"
        )
        _, mismatch, errors = filecmp.cmpfiles(
            fresh, committed, sorted(_files(fresh)), shallow=False
        )
        assert not mismatch and not errors, (
            f"stale {language} stubs: {mismatch + errors}; run `make generate-clients`"
        )


def test_python_client_wheel_carries_every_generated_package(tmp_path: Path) -> None:
    # Build from a copy laid out like the repository, so no build/ folder lands in clients/python.
    shutil.copytree(ROOT / "clients/python", tmp_path / "clients/python")
    shutil.copytree(ROOT / "gen/python", tmp_path / "gen/python")
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
        cwd=tmp_path / "clients/python",
    )
    version = (ROOT / "VERSION").read_text().strip()
    (wheel,) = (tmp_path / "dist").glob(f"billing_client-{version}-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"billing_client/__init__.py", "billing_client/py.typed", "billing/py.typed"} <= names
    for proto in (ROOT / "protos").rglob("*.proto"):
        stub = proto.relative_to(ROOT / "protos").with_suffix("")
        assert f"{stub}_pb2.py" in names and f"{stub}_pb2.pyi" in names, stub
