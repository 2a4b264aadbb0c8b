"""Fixtures of the fault suite: private servers, the six services, and the summary it prints."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import SERVICE_NAMES
from tests.faults.stack import PrivateServers, SupervisedService
from tests.support import ROOT, free_port

JWT_KEY = "fault-suite-signing-key-of-32-bytes-or-more"
REPORT_PATH = ROOT / "var" / "faults-report.json"
LOG_ROOT = ROOT / "var" / "test-logs"
SERVICE_START_TIMEOUT = 180.0

#: Reports of this run's fault scenarios, printed at the end of the terminal output.
REPORTS: list[dict[str, Any]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print each fault scenario's counts and recovery times, which pytest's output capture hides."""
    for report in REPORTS:
        terminalreporter.section("fault suite")
        for line in format_report(report):
            terminalreporter.write_line(line)


def format_report(report: dict[str, Any]) -> list[str]:
    lines = [f"{name}: {value}" for name, value in report["counts"].items()]
    lines.append("recovery, in seconds after the fault ended:")
    lines.append("  health = the restarted service serves /health, ready = all six services serve /ready,")
    lines.append("  deal = a submission sent then is a searchable deal;")
    lines.append("  stop and start = the seconds deploy/servers took to stop and to start the server")
    for fault in report["faults"]:
        lines.append(
            f"  {fault['fault']:<27} outage {fault['outage_seconds']:>5}  health {fault['health_seconds']!s:>5}  "
            f"ready {fault['ready_seconds']!s:>5}  deal {fault['deal_seconds']!s:>5}  "
            f"(stop {fault['stop_seconds']}, start {fault['start_seconds']})"
        )
    lines.append(f"load: {json.dumps(report['load'])}")
    lines.append(f"run time: {report['run_seconds']} s; report: {REPORT_PATH}")
    return lines


def record_report(report: dict[str, Any]) -> None:
    REPORTS.append(report)
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def private_servers() -> Iterator[PrivateServers]:
    """Kafka, OpenSearch and PostgreSQL of this module alone, in a temporary folder removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="clientwork-faults-"))
    servers = PrivateServers(root)
    try:
        servers.up()
        yield servers
    finally:
        try:
            servers.down()
        except (RuntimeError, OSError) as exc:
            warnings.warn(f"stopping the fault suite's servers failed, killing them: {exc}", stacklevel=1)
        servers.kill_leftovers()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def system(private_servers: PrivateServers) -> AsyncIterator[dict[str, SupervisedService]]:
    """The six services on the private servers, each on a fixed port, stopped afterwards."""
    log_dir = LOG_ROOT / time.strftime("faults-%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in SERVICE_NAMES}
    data_root = private_servers.root / "data"
    processes: dict[str, SupervisedService] = {}
    for name in SERVICE_NAMES:
        env = {
            "DATABASE_URL": private_servers.database,
            "KAFKA_BOOTSTRAP_SERVERS": private_servers.kafka,
            "OPENSEARCH_URL": private_servers.opensearch,
            "JWT_SECRET_KEY": JWT_KEY,
            "ENVIRONMENT": "test",
            "DATA_DIR": str(data_root / name),
            "DOCUMENTS_URL": f"http://127.0.0.1:{ports['documents']}",
        }
        processes[name] = SupervisedService(name, ports[name], env, log_dir)
    try:
        for process in processes.values():
            process.start()
        await wait_all_ready(processes, SERVICE_START_TIMEOUT)
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def wait_all_ready(processes: dict[str, SupervisedService], timeout: float) -> float:
    """Wait until every service responds to /ready with 200 and return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    async with httpx.AsyncClient() as client:
        while True:
            states = await asyncio.gather(*(process.is_ready(client) for process in processes.values()))
            if all(states):
                return time.monotonic() - started
            waiting = [name for name, ready in zip(processes, states, strict=True) if not ready]
            exited = [name for name in waiting if processes[name].exited()]
            if exited or time.monotonic() >= deadline:
                tails = "\n".join(f"--- {name} ---\n{processes[name].log_tail()}" for name in waiting)
                reason = f"exited: {exited}" if exited else f"not ready within {timeout} s: {waiting}"
                raise AssertionError(f"services {reason}\n{tails}")
            await asyncio.sleep(0.5)
