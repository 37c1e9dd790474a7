"""No orphaned clusters: whatever ends the owner of a local stack, its PostgreSQL goes too.

Each owner (``supabase-jobs local start``, ``examples/quickstart.py``, a script holding a
``LocalStack``, a pytest session using the plugin) runs in a subprocess whose ``TMPDIR``
is a fresh folder, so the cluster's directory is the one ``sj-pg-*`` folder there. Once
the stack is up, the owner gets a signal; then no process of that cluster may remain and
the directory must be gone. After SIGKILL nothing in the owner runs: the parent-death
watchdog must do it, within 10 seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The issue's bound for a SIGKILLed owner (the watchdog's reaction time).
KILL_DEADLINE_SECONDS = 10.0
_READY_SECONDS = 180.0

_QUICKSTART = f"""
import runpy, sys, time
import supabase_jobs

def _hold(self, *args, **kwargs):  # step 6 of the quickstart: the stack is up
    print("READY", flush=True)
    while True:
        time.sleep(0.2)

supabase_jobs.JobsClient.stats = _hold
sys.argv = ["quickstart.py", "--local"]
runpy.run_path({str(ROOT / "examples" / "quickstart.py")!r}, run_name="__main__")
"""

_SCRIPT = """
import time
from supabase_jobs.local import LocalStack

with LocalStack() as stack:
    print("READY", stack.url, flush=True)
    while True:
        time.sleep(0.2)
"""

_PYTEST_FILE = """
import time

def test_hold(supabase_jobs_stack):
    print("READY", supabase_jobs_stack.url, flush=True)
    while True:
        time.sleep(0.2)
"""


def _command(owner: str, work: Path) -> list[str]:
    if owner == "local-start":
        return [sys.executable, "-m", "supabase_jobs", "local", "start"]
    if owner == "quickstart":
        return [sys.executable, "-c", _QUICKSTART]
    if owner == "script":
        return [sys.executable, "-c", _SCRIPT]
    test_file = work / "test_hold.py"
    test_file.write_text(textwrap.dedent(_PYTEST_FILE), encoding="utf-8")
    return [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", str(test_file)]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has already exited


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (the cluster's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(errors="replace")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _wait_ready(proc: subprocess.Popen[str], tmp: Path) -> tuple[Path, list[int]]:
    """Wait for the owner's READY line; return the cluster dir and its server pids."""
    assert proc.stdout is not None
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"owner ended before the stack was up: {proc.wait()}")
        if line.startswith(("READY", "SUPABASE_URL=")):
            break
    clusters = list(tmp.glob("sj-pg-*"))
    assert len(clusters) == 1, clusters
    postmaster = int((clusters[0] / "data" / "postmaster.pid").read_text().split()[0])
    servers = [postmaster, *_children(postmaster)]
    assert _alive(postmaster)
    return clusters[0], servers


def _assert_gone(cluster: Path, servers: list[int], deadline: float) -> None:
    while time.monotonic() < deadline:
        left = [pid for pid in servers if _alive(pid)] + _processes_naming(str(cluster))
        if not left and not cluster.exists():
            return
        time.sleep(0.1)
    left = [pid for pid in servers if _alive(pid)] + _processes_naming(str(cluster))
    raise AssertionError(f"left behind: processes {left}, directory {cluster.exists()}")


@pytest.mark.parametrize("owner", ["local-start", "quickstart", "script", "pytest-plugin"])
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=str
)
def test_no_cluster_outlives_its_owner(tmp_path: Path, owner: str, signum: int) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        _command(owner, tmp_path),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            cluster, servers = _wait_ready(proc, tmp)
            proc.send_signal(signum)
            if signum == signal.SIGKILL:
                deadline = time.monotonic() + KILL_DEADLINE_SECONDS
                proc.wait(timeout=30)
            else:
                proc.wait(timeout=120)  # a clean stop, or death and the watchdog
                deadline = time.monotonic() + KILL_DEADLINE_SECONDS
            _assert_gone(cluster, servers, deadline)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not list(tmp.iterdir()), "a temporary directory was left behind"
