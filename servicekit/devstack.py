"""Run all six services as local background processes, for the demo and for trying the system by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services import SERVICE_NAMES

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "var" / "run"
LOG_DIR = ROOT / "var" / "log"

PORTS = {"crm": 8001, "tasks": 8002, "documents": 8003, "intake": 8004, "search": 8005, "extranet": 8006}


def service_url(name: str) -> str:
    return f"http://127.0.0.1:{PORTS[name]}"


def _pid(name: str) -> int | None:
    path = RUN_DIR / f"{name}.pid"
    if not path.exists():
        return None
    pid = int(path.read_text().strip())
    if not _alive(pid):
        path.unlink()
        return None
    return pid


def _alive(pid: int) -> bool:
    """Tell whether ``pid`` runs; a killed process that is not reaped yet is a zombie, not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return True  # no /proc entry to read, so trust the signal check
    return fields[0] != "Z"


def start_all(timeout: float = 120.0) -> None:
    """Start every service that is not running, then wait until each returns 200 on ``/ready``."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for name in SERVICE_NAMES:
        if _pid(name) is not None:
            print(f"{name:10} already running on {service_url(name)}")
            continue
        env = {**os.environ, "HTTP_PORT": str(PORTS[name]), "LOG_JSON": "1"}
        with (LOG_DIR / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 (fixed argument list)
                [sys.executable, "-m", "servicekit.cli", "run", name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        (RUN_DIR / f"{name}.pid").write_text(str(process.pid))

    deadline = time.monotonic() + timeout
    for name in SERVICE_NAMES:
        while True:
            if _pid(name) is None:
                raise SystemExit(f"{name} exited during start-up; see {LOG_DIR / (name + '.log')}")
            try:
                if httpx.get(service_url(name) + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready after {timeout:.0f} s; see {LOG_DIR / (name + '.log')}")
            time.sleep(0.5)
        print(f"{name:10} ready on {service_url(name)} (log: {LOG_DIR / (name + '.log')})")


def stop_all() -> None:
    """Stop every running service with SIGTERM and wait for it to exit."""
    for name in SERVICE_NAMES:
        pid = _pid(name)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        for _ in range(60):
            if _pid(name) is None:
                break
            time.sleep(0.25)
        else:
            os.kill(pid, signal.SIGKILL)
        (RUN_DIR / f"{name}.pid").unlink(missing_ok=True)
        print(f"{name:10} stopped")


def status() -> None:
    for name in SERVICE_NAMES:
        state = "running" if _pid(name) is not None else "stopped"
        print(f"{name:10} {state:8} {service_url(name)}")
