"""deploy/k8s: the Kubernetes manifests are valid (kubeconform, strict, against the Kubernetes
API's JSON schemas; `make k8s-tools` installs both) and say what docker-compose.yml says: the same
commands, TLS and keys from the Secret at the same paths, metrics inside the cluster only, the
health check over TLS as the probe, and the image of this VERSION."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy/k8s").glob("*.yaml"))
KUBECONFORM = ROOT / ".tools/bin/kubeconform"
KUBERNETES_VERSION = "1.34.0"
SCHEMAS = (
    ROOT
    / ".tools/k8s-schemas/kubernetes_validate/kubernetes-json-schema"
    / f"v{KUBERNETES_VERSION}-local-strict"
)
DEFINITIONS = "/api/_definitions.json#"


def _documents() -> list[dict[str, Any]]:
    return [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]


def _schema_file(document: dict[str, Any]) -> str:
    """The schema's file name as kubeconform asks for it: kind, group's first label, version."""
    group, _, version = document["apiVersion"].rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{document['kind'].lower()}{suffix}.json"


def _local_refs(node: Any) -> Any:
    """The schema with references into the shared definitions file made local (#/$defs/...)."""
    if isinstance(node, dict):
        return {
            # (a "$ref" holding an object is a property of that name, in CRDs' schema)
            k: v.replace(DEFINITIONS, "#") if k == "$ref" and isinstance(v, str) else _local_refs(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_local_refs(v) for v in node]
    return node


def _standalone_schemas(folder: Path) -> None:
    """kubernetes-validate ships each kind's schema referring to one shared definitions file by
    an absolute URL (which kubeconform would fetch from the network): write each kind the
    manifests use as a standalone schema, with the definitions inside it."""
    definitions = _local_refs(json.loads((SCHEMAS / "_definitions.json").read_text()))["$defs"]
    for name in {_schema_file(d) for d in _documents()}:
        schema = _local_refs(json.loads((SCHEMAS / name).read_text()))
        schema.pop("$id", None)
        schema["$defs"] = definitions
        (folder / name).write_text(json.dumps(schema))


def _kubeconform(schemas: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(KUBECONFORM),
            "-strict",
            "-summary",
            "-kubernetes-version",
            KUBERNETES_VERSION,
            "-schema-location",
            f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manifests_are_valid_kubernetes_objects(tmp_path: Path) -> None:
    if not KUBECONFORM.exists() or not SCHEMAS.is_dir():
        pytest.skip("kubeconform or the Kubernetes schemas are not installed: run `make k8s-tools`")
    _standalone_schemas(tmp_path)
    result = _kubeconform(tmp_path, *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(_documents())
    assert f"Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout

    # The check bites: a misspelt field of a Deployment is refused.
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text((ROOT / "deploy/k8s/ledger.yaml").read_text().replace("replicas:", "replica:"))
    refused = _kubeconform(tmp_path, wrong)
    assert refused.returncode != 0
    assert "Invalid: 1" in refused.stdout, refused.stdout


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _mounted_files(workload: dict[str, Any]) -> set[str]:
    """The files the workload's Secret volume puts under its mount path."""
    pod = workload["spec"]["template"]["spec"]
    container = _container(workload)
    files = set()
    for volume in pod.get("volumes", []):
        if "secret" not in volume:
            continue
        assert volume["secret"]["secretName"] == "billing-secrets"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert mount.get("readOnly") is True
        files |= {f"{mount['mountPath']}/{item['path']}" for item in volume["secret"]["items"]}
    return files


def test_manifests_say_what_compose_says() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    deployments, services, jobs = _by_kind("Deployment"), _by_kind("Service"), _by_kind("Job")
    (secret,) = _by_kind("Secret").values()
    version = (ROOT / "VERSION").read_text().strip()
    for name in ("ledger", "rating", "ledger-migrate", "rating-migrate"):
        workload = deployments.get(name) or jobs[name]
        container = _container(workload)
        assert container["command"] == compose[name]["command"], name
        assert container["image"] == f"billing-backend:{version}", name
        env = {e["name"]: e for e in container["env"]}
        plain = {k: e["value"] for k, e in env.items() if "value" in e}
        for key, value in compose[name].get("environment", {}).items():
            if key.startswith("RATING_KAFKA_"):
                # Compose runs a Kafka of its own; the manifests leave the intake off until it is
                # pointed at the cluster's Kafka (deploy/k8s/README.md).
                continue
            if key.endswith(("_DATABASE_URL", "_PAGE_TOKEN_SECRET")):
                # Secrets in compose's file are demo values; here they come from the Secret.
                ref = env[key]["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "billing-secrets" and ref["key"] in secret["stringData"]
            else:
                assert plain.get(key) == str(value), (name, key)
        assert set(plain) <= set(compose[name].get("environment", {})), name
        # Every file the service reads is in the Secret volume, under the same path.
        files = {v for k, v in plain.items() if k.endswith("_FILE")}
        assert files <= _mounted_files(workload), (name, files - _mounted_files(workload))
        assert {
            i["key"]
            for v in workload["spec"]["template"]["spec"].get("volumes", [])
            if "secret" in v
            for i in v["secret"]["items"]
        } <= set(secret["stringData"])
        assert not [k for k in plain if "PLAINTEXT" in k or "AUTH_DISABLED" in k]

    for name in ("ledger", "rating"):
        container = _container(deployments[name])
        # The probes run compose's health check (over TLS, trusting the mounted CA).
        health = compose[name]["healthcheck"]["test"][1:]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"] == health, (name, probe)
        # Metrics: on all interfaces in the pod, reachable in the cluster, published nowhere.
        service = services[name]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert service["spec"]["selector"].items() <= (
            deployments[name]["spec"]["template"]["metadata"]["labels"].items()
        )
        listen = {e["name"]: e.get("value", "") for e in container["env"]}
        for key, port_name in (("LISTEN", "grpc"), ("METRICS_LISTEN", "metrics")):
            port = int(listen[f"{name.upper()}_{key}"].rpartition(":")[2])
            assert {"name": port_name, "containerPort": port} in container["ports"]
            assert any(p["port"] == port for p in service["spec"]["ports"]), (name, port)
        assert not [p for p in service["spec"]["ports"] if "nodePort" in p]


def test_the_secret_template_holds_no_real_key() -> None:
    (secret,) = _by_kind("Secret").values()
    for key, value in secret["stringData"].items():
        assert re.search(r"replace-me|\(.*\)", value), f"{key} looks like a real value"
