import subprocess
import time

import pytest

from servicekit.devstack import _alive

pytestmark = pytest.mark.unit


def test_killed_unreaped_process_is_not_alive() -> None:
    process = subprocess.Popen(["sleep", "30"])
    try:
        assert _alive(process.pid)
        process.kill()
        deadline = time.monotonic() + 5
        while _alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Not reaped yet: the process is a zombie, which must not count as a running service.
        assert not _alive(process.pid)
    finally:
        process.wait()
    assert not _alive(process.pid)
