"""Generate the Go and TypeScript clients from every proto under protos/ with buf.

One command, deterministic output: `make generate-clients` (or
`python tools/generate_clients.py [OUT]`). With OUT, the stubs go to OUT/go/gen and OUT/ts/src/gen
instead of clients/go/gen and clients/ts/src/gen; a test does that and compares, so committed
stubs that differ from what protos/ produce fail `make test`.

Each language has a buf template next to its client (clients/<lang>/buf.gen.yaml) naming LOCAL
plugins only; the pinned plugins are installed on first use (see clients_toolchain.py). The old
output is deleted first, so a removed proto leaves no stale file behind, and buf compiles the whole
protos/ module, so a new proto is picked up without touching anything here. The Python stubs in
gen/python are tools/generate_protos.py's job.
"""

from __future__ import annotations

import os
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
                str(language.client / "buf.gen.yaml"),
                "--output",
                str(base),
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "PATH": toolchain.tool_path()},
        )


if __name__ == "__main__":
    try:
        generate(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None)
    except toolchain.ToolchainMissing as exc:
        raise SystemExit(str(exc)) from exc
