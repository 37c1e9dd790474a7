"""The throwaway PostgreSQL launcher: start, stop, cleanup, binary discovery."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from supabase_jobs.local._postgres import (
    BINDIR_ENV,
    PostgresNotFoundError,
    PostgresServer,
    find_bindir,
)

pytestmark = pytest.mark.integration


def _postmaster_pid(server: PostgresServer) -> int:
    return int((server.base_dir / "data" / "postmaster.pid").read_text().split()[0])


def _running(pid: int) -> bool:
    # A stopped postmaster may linger as a zombie until its reaper runs: that is not running.
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def test_start_stop_leaves_nothing_behind() -> None:
    server = PostgresServer().start()
    base, pid = server.base_dir, _postmaster_pid(server)
    assert server.host == "127.0.0.1"
    with psycopg.connect(server.dsn()) as conn:
        row = conn.execute("select current_setting('listen_addresses'), current_user").fetchone()
    assert row == ("127.0.0.1", "postgres")
    assert _running(pid)
    server.stop()
    assert not _running(pid)
    assert not base.exists()
    server.stop()  # a second stop is a no-op
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port


def test_stops_when_the_block_fails() -> None:
    with pytest.raises(ZeroDivisionError), PostgresServer() as server:
        pid, base = _postmaster_pid(server), server.base_dir
        _ = 1 / 0
    assert not _running(pid)
    assert not base.exists()


def test_given_directory_is_kept_and_reused(tmp_path: Path) -> None:
    base = tmp_path / "pg"
    with PostgresServer(base, fast=False) as server:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("create table kept (x int)")
            fsync = conn.execute("show fsync").fetchone()
        assert fsync == ("on",)
    assert (base / "data" / "PG_VERSION").exists()
    with PostgresServer(base) as server, psycopg.connect(server.dsn()) as conn:
        assert conn.execute("select to_regclass('kept') is not null").fetchone() == (True,)


def test_a_taken_port_is_reported(pg_server: PostgresServer) -> None:
    with pytest.raises(RuntimeError, match="failed to start"):
        PostgresServer(port=pg_server.port).start()


def test_create_database_from_template(pg_server: PostgresServer, template_db: str) -> None:
    dsn = pg_server.create_database("launcher_clone", template=template_db)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select to_regclass('public.jobs') is not null").fetchone() == (True,)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute("drop database launcher_clone")


def test_find_bindir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = find_bindir()
    assert (real / "pg_ctl").is_file()
    monkeypatch.setenv(BINDIR_ENV, str(real))
    assert find_bindir() == real
    monkeypatch.setenv(BINDIR_ENV, str(tmp_path))
    with pytest.raises(PostgresNotFoundError, match=BINDIR_ENV):
        find_bindir()


def test_find_bindir_names_what_it_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINDIR_ENV, raising=False)
    monkeypatch.setattr("supabase_jobs.local._postgres._has_binaries", lambda _path: False)
    with pytest.raises(PostgresNotFoundError) as info:
        find_bindir()
    for place in ("pg_config --bindir", "/usr/lib/postgresql/*/bin", "PATH", BINDIR_ENV):
        assert place in str(info.value)
