"""The Go client's module path is set in one place, the `module` line of clients/go/go.mod: the
stubs' import paths are derived from it when they are generated, the example imports it, and
`tools/generate_clients.py --go-module PATH` moves the client to another path in one step."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import clients_toolchain as toolchain  # noqa: E402  (tools/ is not a package)
from generate_clients import LANGUAGES, rename_go_module, template  # noqa: E402

GO = next(lang for lang in LANGUAGES if lang.name == "go")
IMPORT = re.compile(r'"([^"]+/gen/billing/[a-z]+/v1)"')


def _imports(folder: Path) -> set[str]:
    return {m for f in folder.rglob("*.go") for m in IMPORT.findall(f.read_text())}


def test_the_module_path_is_written_in_go_mod_alone_and_everything_follows_it() -> None:
    module = toolchain.go_module()
    assert module not in (GO.client / "buf.gen.yaml").read_text()
    assert f"value: {module}/gen" in template(GO)
    example = _imports(GO.client / "cmd")
    stubs = _imports(GO.client / "gen")
    assert example and stubs  # the example and the stubs import the generated packages
    assert all(path.startswith(f"{module}/gen/") for path in example | stubs), example | stubs


def test_another_module_path_rewrites_go_mod_and_the_example_and_the_template(
    tmp_path: Path,
) -> None:
    client = tmp_path / "go"
    shutil.copytree(GO.client, client, ignore=shutil.ignore_patterns("gen"))
    fork = "example.org/someone/billing/clients/go"
    rename_go_module(fork, client)
    assert toolchain.go_module(client) == fork
    assert _imports(client / "cmd") == {
        f"{fork}/gen/billing/ledger/v1",
        f"{fork}/gen/billing/rating/v1",
    }
    assert f"value: {fork}/gen" in template(replace(GO, client=client))


@pytest.mark.parametrize("path", ["", "not a path", "billing", "/abs/path"])
def test_a_module_path_that_go_would_refuse_is_refused(tmp_path: Path, path: str) -> None:
    client = tmp_path / "go"
    shutil.copytree(GO.client, client, ignore=shutil.ignore_patterns("gen"))
    before = (client / "go.mod").read_text()
    with pytest.raises(SystemExit):
        rename_go_module(path, client)
    assert (client / "go.mod").read_text() == before
