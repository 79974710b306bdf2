"""The pinned tools behind the Go and TypeScript clients, installed on first use, and the builds
of their example programs.

    python tools/clients_toolchain.py install   # buf, protoc-gen-go(-grpc), clients/ts/node_modules
    python tools/clients_toolchain.py build     # go vet + build the Go example, tsc the TS one

Everything lands in project-local folders (.tools/, clients/ts/node_modules/, clients/ts/dist/)
so a fresh clone needs only Go, Node.js and npm on PATH. Versions are pinned in one place each:
  - buf: BUF_VERSION in the Makefile (installed through its `.tools/node_modules/.bin/buf` target);
  - protoc-gen-go: the google.golang.org/protobuf version in clients/go/go.mod, so the generator
    and the runtime it generates for can never drift apart;
  - protoc-gen-go-grpc: PROTOC_GEN_GO_GRPC_VERSION below;
  - protoc-gen-es, TypeScript and the Node runtime libraries: clients/ts/package-lock.json.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = ROOT / ".tools" / "bin"
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
GO_CLIENT = ROOT / "clients" / "go"
TS_CLIENT = ROOT / "clients" / "ts"
TS_BIN = TS_CLIENT / "node_modules" / ".bin"
GO_EXAMPLE = TOOLS_BIN / "billing-example-go"
TS_EXAMPLE = TS_CLIENT / "dist" / "example.js"

# protoc-gen-go-grpc is its own Go module, not a dependency of the client module: pin it here.
PROTOC_GEN_GO_GRPC_VERSION = "v1.6.2"

# Written into node_modules after `npm ci` with the hash of the lock file it installed.
_NPM_STAMP = TS_CLIENT / "node_modules" / ".billing-lock-sha256"


class ToolchainMissing(RuntimeError):
    """Go, Node.js or npm is not on PATH (an operating error: install them and retry)."""


def missing_toolchains() -> list[str]:
    """The executables the clients need that are not on PATH."""
    return [name for name in ("go", "node", "npm") if shutil.which(name) is None]


def require_toolchains() -> None:
    missing = missing_toolchains()
    if missing:
        raise ToolchainMissing(
            f"{', '.join(missing)} not found on PATH; the Go and TypeScript clients need "
            "Go (1.24+), Node.js (20+) and npm"
        )


def tool_path() -> str:
    """PATH with the pinned plugins first, so buf's `local:` plugins resolve to them."""
    return os.pathsep.join([str(TOOLS_BIN), str(TS_BIN), os.environ.get("PATH", "")])


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, env={**os.environ, **(env or {})})


def go_module(client: Path = GO_CLIENT) -> str:
    """The Go client's module path: the `module` line of clients/go/go.mod, the one place it is
    set (the stubs' import paths are derived from it; `generate_clients.py --go-module` changes
    it everywhere)."""
    match = re.search(r"^module\s+(\S+)\s*$", (client / "go.mod").read_text(), re.M)
    assert match, f"{client / 'go.mod'} has no module line"
    return match.group(1)


def protoc_gen_go_version() -> str:
    match = re.search(
        r"^\s*google\.golang\.org/protobuf (v\S+)", (GO_CLIENT / "go.mod").read_text(), re.M
    )
    assert match, "clients/go/go.mod must require google.golang.org/protobuf"
    return match.group(1)


def _installed_version(binary: Path) -> str | None:
    if not binary.exists():
        return None
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_buf() -> None:
    if not BUF.exists():
        _run(["make", "--no-print-directory", str(BUF.relative_to(ROOT))], cwd=ROOT)


def ensure_go_plugins() -> None:
    wanted = {
        # (binary, the line its --version prints, the package to install at that version)
        "protoc-gen-go": (
            f"protoc-gen-go {protoc_gen_go_version()}",
            f"google.golang.org/protobuf/cmd/protoc-gen-go@{protoc_gen_go_version()}",
        ),
        "protoc-gen-go-grpc": (
            f"protoc-gen-go-grpc {PROTOC_GEN_GO_GRPC_VERSION.removeprefix('v')}",
            f"google.golang.org/grpc/cmd/protoc-gen-go-grpc@{PROTOC_GEN_GO_GRPC_VERSION}",
        ),
    }
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    for name, (version_line, package) in wanted.items():
        if _installed_version(TOOLS_BIN / name) != version_line:
            # Outside any module (.tools has no go.mod): `go install pkg@version` is exact.
            _run(["go", "install", package], cwd=TOOLS_BIN, env={"GOBIN": str(TOOLS_BIN)})


def ensure_node_modules() -> None:
    """`npm ci` from the lock file, again whenever the lock file changes."""
    lock_hash = hashlib.sha256((TS_CLIENT / "package-lock.json").read_bytes()).hexdigest()
    if _NPM_STAMP.exists() and _NPM_STAMP.read_text() == lock_hash:
        return
    _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TS_CLIENT)
    _NPM_STAMP.write_text(lock_hash)


def install() -> None:
    require_toolchains()
    ensure_buf()
    ensure_go_plugins()
    ensure_node_modules()


def build_examples() -> None:
    """go vet + build the Go example into .tools/bin; type-check and compile the TS client."""
    require_toolchains()
    ensure_node_modules()
    _run(["go", "vet", "./..."], cwd=GO_CLIENT)
    _run(["go", "build", "-o", str(GO_EXAMPLE), "./cmd/example"], cwd=GO_CLIENT)
    _run([str(TS_BIN / "tsc"), "-p", "tsconfig.json"], cwd=TS_CLIENT)


if __name__ == "__main__":
    commands = {"install": install, "build": build_examples}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}}")
    try:
        commands[sys.argv[1]]()
    except ToolchainMissing as exc:
        raise SystemExit(str(exc)) from exc
