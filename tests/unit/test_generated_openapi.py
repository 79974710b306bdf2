"""The committed OpenAPI documents (openapi/) are exactly what `make generate` produces from
protos/, and describe every method the HTTP/JSON port serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pool

from ledger_service import main as ledger_main
from rating_service import main as rating_main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_documents_are_fresh(tmp_path: Path) -> None:
    out = tmp_path / "openapi"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_openapi.py"), str(out)], check=True
    )
    committed = ROOT / "openapi"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in committed.iterdir()), "run `make generate`"
    for name in names:
        assert (out / name).read_text() == (committed / name).read_text(), (
            f"openapi/{name} is stale; run `make generate` and commit it"
        )


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if "$ref" in node else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_each_document_has_every_unary_method_of_its_port_and_no_dangling_reference() -> None:
    pool = descriptor_pool.Default()
    for name, service in (
        ("ledger.openapi.json", ledger_main.SERVICE_NAME),
        ("rating.openapi.json", rating_main.SERVICE_NAME),
    ):
        document = json.loads((ROOT / "openapi" / name).read_text())
        expected = {
            f"/{s.full_name}/{m.name}"
            for s in (
                pool.FindServiceByName(service),
                pool.FindServiceByName("billing.auth.v1.ApiKeyService"),
            )
            for m in s.methods
            if not m.server_streaming and not m.client_streaming
        }
        assert set(document["paths"]) == expected
        schemas = document["components"]["schemas"]
        dangling = {
            r for r in _refs(document) if r.removeprefix("#/components/schemas/") not in schemas
        }
        assert dangling == set()
