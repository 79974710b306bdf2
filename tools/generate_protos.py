"""Generate the Python stubs (messages, gRPC services and .pyi type hints) from protos/.

One command, deterministic output: `make generate` (or `python tools/generate_protos.py [OUT]`).
The output directory holds only generated files; never edit them by hand. A test regenerates into
a temporary directory and fails when the committed stubs differ.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
DEFAULT_OUT = ROOT / "gen" / "python"


def proto_files() -> list[Path]:
    return sorted(p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*.proto"))


def generate(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Packages need an __init__.py so setuptools finds them and type checkers follow them.
    for directory in sorted({p.parent for p in out.rglob("*.py")} | {out / "billing"}):
        while directory != out:
            (directory / "__init__.py").touch()
            directory = directory.parent
    (out / "billing" / "py.typed").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
