"""deploy/compose.yaml (docs/deploy.md) parses, and every command it runs exists with the options it
passes: each service's command, and its health check, is run with ``--help`` (click parses every option
before acting on ``--help``, so a misspelt command or option fails). No Docker here."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from agent_graph.cli import app
from tests.conftest import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"
SERVICES = {"db", "migrate", "worker", "console", "langgraph", "prune", "backup"}


def services() -> dict[str, Any]:
    parsed = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert set(parsed) >= {"services", "volumes"}
    return dict(parsed["services"])


def commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every case-agent and langgraph command: services' commands and health checks."""
    found = []
    for name, service in services().items():
        candidates = [("command", service.get("command") or [])]
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:1] == ["CMD"]:
            candidates.append(("healthcheck", test[1:]))
        found += [(f"{name} {kind}", argv) for kind, argv in candidates if argv[:1] in (["case-agent"], ["langgraph"])]
    return found


def test_the_compose_file_names_its_services_binds_ports_to_loopback_and_checks_health() -> None:
    found = services()
    assert set(found) == SERVICES
    volumes = set(yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["volumes"])
    for name, service in found.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not bound to 127.0.0.1"
        for target in service.get("depends_on", {}):
            assert target in found, f"{name} depends on an unknown service {target}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith(".") or source in volumes, f"{name}: volume {source} is not declared"
    for name in ("db", "worker", "console", "langgraph"):
        assert found[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert found[name].get("restart") == "unless-stopped"
    worker = found["worker"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["environment"]["CASE_AGENT_DB"].startswith("postgresql+psycopg://")
    assert {"pgdata", "langgraph-api"} <= volumes


@pytest.mark.parametrize(("where", "argv"), commands(), ids=[where for where, _ in commands()])
def test_every_command_the_compose_file_runs_exists(where: str, argv: list[str]) -> None:
    if argv[0] == "langgraph":
        langgraph = Path(sys.executable).with_name("langgraph")
        done = subprocess.run([str(langgraph), *argv[1:], "--help"], capture_output=True, text=True, timeout=120,
                              check=False, cwd=REPO)
        assert done.returncode == 0, f"{where}: {' '.join(argv)}: {done.stderr or done.stdout}"
        return
    assert argv[1] in typer.main.get_command(app).commands, f"{where}: no command `case-agent {argv[1]}`"  # type: ignore[attr-defined]
    out = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert out.exit_code == 0, f"{where}: {' '.join(argv)}: {out.output}"


def test_the_dockerfile_installs_the_server_extra_the_langgraph_service_needs() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert '"/app[server]"' in dockerfile
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert any(extra.startswith("langgraph-cli[inmem]") for extra in extras["server"])
