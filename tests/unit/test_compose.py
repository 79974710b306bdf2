"""docker-compose.yml is for users (no Docker engine runs here): check it parses, its references
hold, and every command it runs parses with our own command-line parser."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from billing_common import devsecrets

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "postgres" in services
    commands = 0
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists()
        command = service.get("command")
        if command is None:
            continue
        assert command[:2] == ["python", "-m"], command
        # The command's own parser must accept the exact arguments (it exits on an unknown one).
        if command[2] == "billing_common.devsecrets":
            importlib.import_module(command[2]).build_parser().parse_args(command[3:])
        else:
            parser = importlib.import_module(f"{command[2]}.__main__").build_parser()
            args = parser.parse_args(command[3:])
            assert args.command == command[3]
        commands += 1
    assert commands >= 5
    for volume in services["postgres"].get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"postgres mounts missing {source}"


def test_compose_serves_tls_from_the_secrets_volume_and_keeps_metrics_internal() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["secrets"]["command"][2] == "billing_common.devsecrets"
    assert "secrets:/secrets" in services["secrets"]["volumes"]
    for name, prefix in (("ledger", "LEDGER"), ("rating", "RATING")):
        service, env = services[name], services[name]["environment"]
        assert "secrets:/secrets:ro" in service["volumes"]
        assert service["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
        assert (env[f"{prefix}_TLS_CERT_FILE"], env[f"{prefix}_TLS_KEY_FILE"]) == (
            "/secrets/tls/server.pem",
            "/secrets/tls/server.key",
        )
        assert env[f"{prefix}_ADMIN_KEY_FILE"] == "/secrets/admin.key"
        assert not any(
            str(v).lower() == "true"
            for k, v in env.items()
            if "PLAINTEXT" in k or "AUTH_DISABLED" in k
        )
        # The health check speaks TLS too (a plain-text one would never see the server healthy).
        assert "insecure_channel" not in " ".join(service["healthcheck"]["test"])
        # /metrics: reachable on the compose network, never published on the host.
        metrics_port = env[f"{prefix}_METRICS_LISTEN"].rpartition(":")[2]
        assert str(metrics_port) in [str(p) for p in service["expose"]]
        published = [str(p).split(":")[-1] for p in service.get("ports", [])]
        assert metrics_port not in published
        # HTTP/JSON: published on the host, on all interfaces inside the container.
        http_listen = env[f"{prefix}_HTTP_LISTEN"]
        assert http_listen.startswith("0.0.0.0:")
        assert http_listen.rpartition(":")[2] in published
    rating, ledger = services["rating"]["environment"], services["ledger"]["environment"]
    assert rating["RATING_LEDGER_TLS_CA_FILE"] == "/secrets/tls/ca.pem"
    # The rating service sends the key the ledger makes sure of (with the scopes rating needs).
    assert rating["RATING_LEDGER_API_KEY_FILE"] == ledger["LEDGER_RATING_KEY_FILE"]
    # No secret written into the compose file itself: keys come from the volume.
    assert "LEDGER_SECRETS_KEY" not in ledger


def test_every_file_compose_points_at_is_made_by_the_secrets_service(tmp_path: Path) -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    devsecrets.main(["--out", str(tmp_path)])
    named = {
        value
        for service in services.values()
        for key, value in service.get("environment", {}).items()
        if key.endswith("_FILE")
    }
    assert len(named) >= 6
    for path in named:
        made = tmp_path / Path(path).relative_to("/secrets")
        assert made.is_file(), path
        if made.suffix == ".key":
            assert made.stat().st_mode & 0o077 == 0, path


def test_compose_feeds_the_rating_service_from_its_kafka() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    kafka, rating = services["kafka"], services["rating"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    # The rating service reaches the broker by the listener advertised on the compose network.
    internal = env["KAFKA_ADVERTISED_LISTENERS"].split(",")[0].split("://")[1]
    assert rating["environment"]["RATING_KAFKA_BOOTSTRAP_SERVERS"] == internal
    assert rating["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "kafka-broker-api-versions" in " ".join(kafka["healthcheck"]["test"])
    volume = kafka["volumes"][0].split(":")[0]
    assert volume in yaml.safe_load((ROOT / "docker-compose.yml").read_text())["volumes"]
