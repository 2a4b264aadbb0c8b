"""Kafka, PostgreSQL and OpenSearch of the fault suite alone, and the six services as supervised processes.

The servers run through ``deploy/servers`` with a state folder, a PostgreSQL data folder and loopback
ports of their own, so stopping them never touches the servers that other tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import ROOT, free_port

SERVERS_SCRIPT = ROOT / "deploy" / "servers"
# Generous, because other test runs may load the machine. Starts took 5 to 30 s on a 2-core machine.
SERVER_COMMAND_TIMEOUT = 300


class PrivateServers:
    """Kafka, OpenSearch and PostgreSQL under ``root``, started and stopped with ``deploy/servers``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.postgres_data_dir = root / "pgdata"
        self.kafka_port = free_port()
        self.opensearch_port = free_port()
        self.postgres_port = free_port()
        self.env = {
            **os.environ,
            "CLIENTWORK_STATE_DIR": str(self.state_dir),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "OPENSEARCH_PORT": str(self.opensearch_port),
            "OPENSEARCH_TRANSPORT_PORT": str(free_port()),
            "POSTGRES_DATA_DIR": str(self.postgres_data_dir),
            "POSTGRES_PORT": str(self.postgres_port),
        }
        # The servers run as the users opensearch and postgres, which must reach their folders.
        root.chmod(0o755)

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def opensearch(self) -> str:
        return f"http://127.0.0.1:{self.opensearch_port}"

    @property
    def database(self) -> str:
        """A server URL without a database name, so each service uses the database named after it."""
        return f"postgresql+asyncpg://clientwork:clientwork@127.0.0.1:{self.postgres_port}"

    def up(self, *servers: str) -> float:
        """Start ``servers`` (all when none is given), wait until ready and return the seconds it took."""
        return self._run("up", *servers)

    def down(self, *servers: str) -> float:
        """Stop ``servers`` (all when none is given) and return the seconds it took."""
        return self._run("down", *servers)

    def _run(self, action: str, *servers: str) -> float:
        started = time.monotonic()
        result = subprocess.run(
            [str(SERVERS_SCRIPT), action, *servers],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=SERVER_COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"deploy/servers {action} {' '.join(servers)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return time.monotonic() - started

    def kill_leftovers(self) -> None:
        """Send SIGKILL to any server of this folder that ``down`` did not stop, found by its pid file."""
        pid_files = [
            self.state_dir / "kafka" / "kafka.pid",
            self.state_dir / "opensearch" / "opensearch.pid",
            self.postgres_data_dir / "postmaster.pid",
        ]
        for pid_file in pid_files:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)


class SupervisedService:
    """One service run with ``clientwork run NAME`` in its own process group, on a fixed port.

    The port stays the same across restarts, as behind a real supervisor, so other services and the
    load generator reach the restarted process at the old address.
    """

    def __init__(self, name: str, port: int, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = port
        self.env = {**os.environ, **env, "HTTP_PORT": str(port), "LOG_JSON": "1"}
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "servicekit.cli", "run", self.name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        """Send SIGKILL to the service's process group, as a crash of the host process would end it."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the process group with SIGTERM, and with SIGKILL after 15 s."""
        if self.process is None or self.process.poll() is not None:
            self._signal_group(signal.SIGKILL)  # children left behind by a dead leader
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        # The group id is the leader's pid because of start_new_session.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    async def is_ready(self, client: httpx.AsyncClient) -> bool:
        return await self._responds(client, "/ready")

    async def wait_healthy(self, timeout: float) -> float | None:
        """Wait until the process serves /health and return the seconds it took, or None after ``timeout``."""
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            while time.monotonic() - started < timeout:
                if await self._responds(client, "/health"):
                    return time.monotonic() - started
                if self.exited():
                    return None
                await asyncio.sleep(0.2)
        return None

    async def _responds(self, client: httpx.AsyncClient, path: str) -> bool:
        try:
            return (await client.get(self.url + path, timeout=3)).status_code == 200
        except httpx.HTTPError:
            return False

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
