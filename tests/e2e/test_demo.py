"""The README's demo, run against all six services on free ports: every sample gets its outcome.

The demo reaches the services through ``CLIENTWORK_<NAME>_URL``, so this test never needs the demo's
fixed ports and runs beside a demo that is already up.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from services.intake.samples import DEFAULT_SAMPLES_DIR, EXPECTED, load_samples
from tests.conftest import Servers, database_factory, topic_space
from tests.e2e.system import JWT_KEY, running_system
from tests.support import ROOT

pytestmark = pytest.mark.e2e


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servicekit.cli", "demo", "--samples", str(DEFAULT_SAMPLES_DIR)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def outcome_line(output: str, file_name: str) -> str:
    lines = [line for line in output.splitlines() if line.strip().startswith(file_name)]
    assert len(lines) == 1, f"{file_name} should have one outcome line in:\n{output}"
    return lines[0]


async def test_demo_reports_every_sample(servers: Servers) -> None:
    samples = load_samples()
    async with (
        database_factory(servers) as make_database,
        topic_space(servers) as prefix,
        running_system(servers, make_database, prefix) as processes,
    ):
        env = {**os.environ, "JWT_SECRET_KEY": JWT_KEY}
        env.update({f"CLIENTWORK_{name.upper()}_URL": process.url for name, process in processes.items()})
        first = await asyncio.to_thread(run_demo, env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        second = await asyncio.to_thread(run_demo, env)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    for name, sample in samples.items():
        line = outcome_line(first.stdout, sample.file)
        if EXPECTED[name]["status"] == "accepted":
            assert " in pipeline " in line, line
        else:
            assert "no deal: " in line, line
            assert EXPECTED[name]["reason"] in line, line
        repeated = outcome_line(second.stdout, sample.file)
        assert "no deal: " in repeated, repeated
    assert "the deal shows the task_result marker" in first.stdout
    assert "cleared the marker" in first.stdout
    assert "the portal user signed in and sees: " in first.stdout
    assert processes["crm"].url + "/ui/board/" in first.stdout
    assert "already existed" in second.stdout
