"""Generate the Go and TypeScript clients from every proto under protos/ with buf.

One command, deterministic output: `make generate-clients` (or
`python tools/generate_clients.py [OUT]`). With OUT, the stubs go to OUT/go/gen and
OUT/ts/src/gen instead of clients/go/gen and clients/ts/src/gen; a test does that and compares,
so committed stubs that differ from what protos/ produce fail `make test`.
`python tools/generate_clients.py --go-module PATH` gives the Go client another module path (a
fork, or the repository once published): go.mod and the Go sources outside gen/ are rewritten,
then everything is regenerated.

Each language has a buf template next to its client (clients/<lang>/buf.gen.yaml) naming LOCAL
plugins only; the pinned plugins are installed on first use (see clients_toolchain.py). The old
output is deleted first, so a removed proto leaves no stale file behind, and buf compiles the whole
protos/ module, so a new proto is picked up without touching anything here. The Python stubs in
gen/python are tools/generate_protos.py's job.

The Go module path is set in one place, the `module` line of clients/go/go.mod: the Go template
says GO_MODULE where the stubs' import prefix goes, and it is filled in from go.mod here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import clients_toolchain as toolchain

ROOT = toolchain.ROOT


@dataclass(frozen=True)
class Language:
    name: str
    client: Path  # the client's folder; holds buf.gen.yaml, whose `out` is relative to it
    gen_dir: str  # the template's `out`: the folder that holds only generated files

    @property
    def committed(self) -> Path:
        return self.client / self.gen_dir


LANGUAGES = (
    Language("go", toolchain.GO_CLIENT, "gen"),
    Language("ts", toolchain.TS_CLIENT, "src/gen"),
)


GO_MODULE_TOKEN = "GO_MODULE"


def template(language: Language) -> str:
    """The language's buf template as buf is given it (data, not a file): for Go, with the module
    path of go.mod where GO_MODULE stands."""
    text = (language.client / "buf.gen.yaml").read_text()
    if language.name == "go":
        text = text.replace(GO_MODULE_TOKEN, toolchain.go_module(language.client))
    return text


def rename_go_module(new: str, client: Path = toolchain.GO_CLIENT) -> None:
    """Give the Go client the module path `new`: its go.mod line and every import of it in the Go
    sources outside gen/ (the stubs under gen/ are regenerated from go.mod afterwards)."""
    if not re.fullmatch(r"[a-z0-9.\-]+(/[A-Za-z0-9._~\-]+)+", new):
        raise SystemExit(f"{new!r} is not a Go module path (host/owner/repo/...)")
    old = toolchain.go_module(client)
    go_mod = client / "go.mod"
    go_mod.write_text(
        re.sub(
            rf"^module\s+{re.escape(old)}\s*$",
            f"module {new}",
            go_mod.read_text(),
            count=1,
            flags=re.M,
        )
    )
    for source in sorted(client.rglob("*.go")):
        if (client / "gen") in source.parents:
            continue
        text = source.read_text()
        source.write_text(text.replace(f'"{old}/', f'"{new}/').replace(f'"{old}"', f'"{new}"'))


def generate(out: Path | None = None) -> None:
    """Regenerate every language into the clients (out=None) or into out/<language>/."""
    toolchain.install()
    for language in LANGUAGES:
        base = out / language.name if out else language.client
        shutil.rmtree(base / language.gen_dir, ignore_errors=True)
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                str(toolchain.BUF),
                "generate",
                "protos",
                "--template",
                template(language),
                "--output",
                str(base),
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "PATH": toolchain.tool_path()},
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    try:
        if args[:1] == ["--go-module"] and len(args) == 2:
            rename_go_module(args[1])
            generate()
        else:
            generate(Path(args[0]).resolve() if args else None)
    except toolchain.ToolchainMissing as exc:
        raise SystemExit(str(exc)) from exc
