"""Parent-death watchdog for a throwaway cluster: stops it when its owner dies.

Run as a script (``python -I _watchdog.py DATA_DIR BASE_DIR REMOVE``), standard library
only, so it starts fast and imports nothing of the package. Its stdin is a pipe whose
write end only the owner holds: when the owner exits for any reason (``SIGKILL``
included), the kernel closes that end and ``read`` returns EOF. The watchdog then
stops the postmaster the way ``pg_ctl stop -m immediate`` does (``SIGQUIT``; the
postmaster takes its children down with it), escalates to ``SIGKILL`` if needed,
and removes the cluster's directory when the owner created it.

After a clean stop the owner has already done all of that; the watchdog finds no
``postmaster.pid`` and no directory, and exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

#: How long the postmaster gets to exit after SIGQUIT before SIGKILL.
QUIT_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.05


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid`` (its first line), or ``None``."""
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, already dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _runs_cluster(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is the postmaster of ``data_dir`` (not a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return str(data_dir).encode() in cmdline.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: trust postmaster.pid
        return True


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def stop_cluster(data_dir: Path) -> None:
    """Stop the postmaster of ``data_dir`` now (immediate mode), if one runs."""
    pid = postmaster_pid(data_dir)
    if pid is None or not _alive(pid) or not _runs_cluster(pid, data_dir):
        return
    _signal(pid, signal.SIGQUIT)
    deadline = time.monotonic() + QUIT_GRACE_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    if _alive(pid):
        _signal(pid, signal.SIGKILL)  # its children exit when they see it gone


def clean_up(data_dir: Path, base_dir: Path, remove: bool) -> None:
    """Stop the cluster, then remove ``base_dir`` when ``remove``."""
    stop_cluster(data_dir)
    if remove:
        shutil.rmtree(base_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Block until stdin closes, then clean up. ``argv``: DATA_DIR BASE_DIR REMOVE(0/1)."""
    data_dir, base_dir, remove = Path(argv[0]), Path(argv[1]), argv[2] == "1"
    # Terminal signals go to the owner's whole process group; the watchdog outlives
    # them to do its job (it runs in a session of its own as well).
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    while True:
        try:
            chunk = os.read(sys.stdin.fileno(), 4096)
        except InterruptedError:  # pragma: no cover - PEP 475 retries reads itself
            continue
        if not chunk:
            break
    clean_up(data_dir, base_dir, remove)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
