"""docker-compose.yml is for users (no Docker engine runs here): check it parses, its references
hold, and every command it runs parses with our own command-line parser."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

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
        # The service's own parser must accept the exact arguments (it exits on an unknown one).
        parser = importlib.import_module(f"{command[2]}.__main__").build_parser()
        args = parser.parse_args(command[3:])
        assert args.command == command[3]
        commands += 1
    assert commands >= 4
    for volume in services["postgres"].get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"postgres mounts missing {source}"
