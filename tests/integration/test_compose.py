"""docker-compose.yml: the compose tool accepts it, and its parsed form has the wiring the system needs.

``docker compose config`` (the compose plugin) or ``docker-compose config`` (Debian's 1.29 package, which
``scripts/test`` installs where the docker client is present) validates and resolves the file without
a Docker engine.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from services import SERVICE_NAMES
from tests.support import ROOT

pytestmark = pytest.mark.integration

SERVERS = ("kafka", "opensearch", "postgres")


def _compose_command() -> list[str]:
    """Return the compose command to use; skip where there is no docker client, fail where compose is missing."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    pytest.fail("the docker client is present but no compose: run scripts/test, which installs docker-compose")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    command = [*_compose_command(), "--file", str(ROOT / "docker-compose.yml"), "config"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "JWT_SECRET_KEY": "compose-check-key-of-32-bytes-or-more"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def test_compose_has_servers_and_services(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {*SERVERS, *SERVICE_NAMES}


def test_every_container_has_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in SERVICE_NAMES:
        check = " ".join(config["services"][name]["healthcheck"]["test"])
        assert "/health" in check, f"{name}'s health check does not call /health: {check}"


def test_services_wait_for_healthy_servers(config: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        depends_on = config["services"][name].get("depends_on", {})
        for server in SERVERS:
            assert server in depends_on, f"{name} does not depend on {server}"
            assert depends_on[server]["condition"] == "service_healthy", f"{name} -> {server}: {depends_on[server]}"


def test_kafka_runs_in_kraft_mode(config: dict[str, Any]) -> None:
    kafka = config["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    environment = kafka["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert environment["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert not [key for key in environment if "ZOOKEEPER" in key.upper()]
    assert not [name for name in config["services"] if "zookeeper" in name]


def test_servers_use_official_images(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["opensearch"]["image"].startswith("opensearchproject/opensearch:2.19")
    assert services["opensearch"]["environment"]["DISABLE_SECURITY_PLUGIN"] == "true"
    assert services["postgres"]["image"].startswith("postgres:")
    mounts = [str(volume) for volume in services["postgres"]["volumes"]]
    assert any("deploy/postgres/init.sql" in mount and "docker-entrypoint-initdb.d" in mount for mount in mounts)


def test_services_built_from_dockerfile(config: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        service = config["services"][name]
        assert service.get("build"), f"{name} is not built from the Dockerfile"
        assert service["environment"]["DATABASE_URL"].endswith(f"/{name}")
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
