"""The committed Python stubs are exactly what `make generate` produces from protos/."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    out = tmp_path / "python"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_protos.py"), str(out)], check=True
    )
    committed = ROOT / "gen" / "python"

    def files(base: Path) -> set[str]:
        return {
            str(p.relative_to(base))
            for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    assert files(out) == files(committed), "run `make generate` and commit gen/python"
    _, mismatch, errors = filecmp.cmpfiles(out, committed, sorted(files(out)), shallow=False)
    assert not mismatch and not errors, f"stale stubs: {mismatch + errors}; run `make generate`"
