"""The clients install from the repository: one version number (VERSION) for the contracts, the
services and every client; the TypeScript client packs its compiled output and types; the Go
module path is the repository's path plus clients/go. (The Python wheel is checked in
test_generated_clients.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import clients_toolchain as toolchain  # noqa: E402  (tools/ is not a package)

VERSION = (ROOT / "VERSION").read_text().strip()


def _pyproject_version(path: Path) -> str:
    version: str = tomllib.loads(path.read_text())["project"]["version"]
    return version


def test_contracts_services_and_clients_carry_the_one_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION
    package = json.loads((ROOT / "clients/ts/package.json").read_text())
    lock = json.loads((ROOT / "clients/ts/package-lock.json").read_text())
    versions = {
        "pyproject.toml (services and contracts)": _pyproject_version(ROOT / "pyproject.toml"),
        "clients/python/pyproject.toml": _pyproject_version(ROOT / "clients/python/pyproject.toml"),
        "clients/ts/package.json": package["version"],
        "clients/ts/package-lock.json": lock["version"],
        "clients/ts/package-lock.json (root package)": lock["packages"][""]["version"],
    }
    wrong = {where: v for where, v in versions.items() if v != VERSION}
    assert not wrong, f"VERSION is {VERSION}; change these to match: {wrong}"


def test_go_module_path_is_the_repository_path_of_the_ts_package() -> None:
    package = json.loads((ROOT / "clients/ts/package.json").read_text())
    repository = package["repository"]
    host_path = re.sub(r"^git\+https://|\.git$", "", repository["url"])
    go_mod = (ROOT / "clients/go/go.mod").read_text()
    module = re.search(r"^module (\S+)$", go_mod, re.M)
    assert module is not None
    assert module.group(1) == f"{host_path}/clients/go"


def test_ts_package_is_public_and_packs_compiled_output_and_types() -> None:
    missing = toolchain.missing_toolchains()
    if "node" in missing or "npm" in missing:
        pytest.skip("node or npm not on PATH: cannot pack the TypeScript client")
    package = json.loads((ROOT / "clients/ts/package.json").read_text())
    assert not package.get("private", False)
    toolchain.ensure_node_modules()
    npm = shutil.which("npm")
    assert npm is not None
    # `prepack` compiles (tsc) before the file list is made, so this checks a fresh build.
    result = subprocess.run(
        [npm, "pack", "--dry-run", "--json", "--loglevel=error"],
        cwd=ROOT / "clients/ts",
        check=True,
        capture_output=True,
        text=True,
    )
    (packed,) = json.loads(result.stdout)
    files = {f["path"] for f in packed["files"]}
    assert packed["version"] == VERSION
    assert {package["main"].removeprefix("./"), package["types"].removeprefix("./")} <= files
    for proto in (ROOT / "protos").rglob("*.proto"):
        stub = f"dist/gen/{proto.relative_to(ROOT / 'protos').with_suffix('')}_pb"
        assert {f"{stub}.js", f"{stub}.d.ts"} <= files, stub
    # Only what a user imports: no TypeScript sources, no example program.
    assert not [f for f in files if f.endswith(".ts") and not f.endswith(".d.ts")]
    assert not [f for f in files if "example" in f]
