"""The ``supabase-jobs`` command line, run as users run it: in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from supabase_jobs import sql
from supabase_jobs.local._postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supabase_jobs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_no_command_prints_usage_and_exits_2() -> None:
    result = cli()
    assert result.returncode == 2
    assert "migrations" in result.stderr


@pytest.mark.parametrize(("group", "sub"), [("migrations", "export"), ("local", "start")])
def test_a_group_without_subcommand_prints_its_own_usage(group: str, sub: str) -> None:
    result = cli(group)
    assert result.returncode == 2
    assert sub in result.stderr


def test_migrations_apply_reads_the_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = cli("migrations", "apply")
    assert missing.returncode == 3  # a configuration error
    assert "SUPABASE_JOBS_DB_URL" in missing.stderr
    monkeypatch.setenv("SUPABASE_JOBS_DB_URL", "postgresql://u:pw-from-env@127.0.0.1:9/x")
    failed = cli("migrations", "apply")
    assert failed.returncode == 3
    assert "could not apply migrations" in failed.stderr  # it used the variable's URL
    assert "pw-from-env" not in failed.stderr


def test_migrations_print_emits_every_migration_in_order() -> None:
    result = cli("migrations", "print")
    assert result.returncode == 0, result.stderr
    headers = re.findall(r"^-- supabase-jobs migration (\S+)$", result.stdout, re.M)
    assert headers == [m.name for m in sql.migrations()]
    for migration in sql.migrations():
        assert migration.sql.strip() in result.stdout


def test_migrations_export_writes_timestamped_files_once(tmp_path: Path) -> None:
    target = tmp_path / "supabase" / "migrations"
    first = cli("migrations", "export", "--to", str(target))
    assert first.returncode == 0, first.stderr
    files = sorted(p.name for p in target.iterdir())
    assert len(files) == len(sql.migrations())
    assert all(re.fullmatch(r"\d{14}_supabase_jobs_\d{4}_[a-z][a-z0-9_]+\.sql", f) for f in files)
    assert [f.split("_", 3)[3] for f in files] == [f"{m.name}.sql" for m in sql.migrations()]
    # `supabase db push` applies files in name order: it must be the migrations' order.
    versions = [int(f.split("_")[3]) for f in files]
    assert versions == sorted(versions)
    contents = [(target / f).read_text(encoding="utf-8") for f in files]
    assert contents == [m.sql for m in sql.migrations()]

    again = cli("migrations", "export", "--to", str(target))
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout
    assert sorted(p.name for p in target.iterdir()) == files


@pytest.mark.integration
def test_migrations_apply_is_idempotent(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "pg") as pg:
        dsn = pg.create_database("cli_apply")
        with psycopg.connect(dsn, autocommit=True) as conn:
            sql.apply_shim(conn)  # roles that the grants name exist on Supabase already
        first = cli("migrations", "apply", "--db-url", dsn)
        assert first.returncode == 0, first.stderr
        assert f"applied {len(sql.migrations())} migration(s)" in first.stdout
        again = cli("migrations", "apply", "--db-url", dsn)
        assert again.returncode == 0, again.stderr
        assert "applied 0 migration(s)" in again.stdout
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "select to_regprocedure('public.sj_claim_v1(text,integer,integer,text[],text[])')"
            ).fetchone()
            assert row is not None and row[0] is not None


def test_migrations_apply_bad_url_names_no_secret() -> None:
    result = cli("migrations", "apply", "--db-url", "postgresql://u:hunter2secret@127.0.0.1:9/x")
    assert result.returncode == 3
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_dispatch_without_configuration_fails_cleanly() -> None:
    result = cli("dispatch", "1521f0ae-4db7-4110-a993-c494535d9b00", "test_job", "{}")
    assert result.returncode == 3
    assert "SUPABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.integration
@pytest.mark.parametrize("sigint_ignored_by_parent", [False, True])
def test_local_start_prints_env_and_stops_on_ctrl_c(
    tmp_path: Path, sigint_ignored_by_parent: bool
) -> None:
    # A background job of a non-interactive shell (CI, `cmd &`) inherits SIGINT as
    # ignored; the command must still stop on it.
    env_file = tmp_path / ".env.local"
    with subprocess.Popen(
        [sys.executable, "-m", "supabase_jobs", "local", "start", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ignore_sigint if sigint_ignored_by_parent else None,
    ) as proc:
        values = _read_env_then_interrupt(proc, env_file)
    db = urlsplit(values["DATABASE_URL"])
    gateway = urlsplit(values["SUPABASE_URL"])
    assert db.hostname is not None and db.port is not None
    assert gateway.hostname is not None and gateway.port is not None
    assert not _port_open(db.hostname, db.port), "PostgreSQL left running"
    assert not _port_open(gateway.hostname, gateway.port), "gateway left running"


def _read_env_then_interrupt(proc: subprocess.Popen[str], env_file: Path) -> dict[str, str]:
    try:
        assert proc.stdout is not None
        values: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(values) < 5 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "=" in line and not line.startswith("#"):
                name, _, value = line.strip().partition("=")
                values[name] = value
        assert set(values) == {
            "SUPABASE_URL",
            "SUPABASE_ANON_KEY",
            "SUPABASE_SERVICE_ROLE_KEY",
            "SUPABASE_JWT_SECRET",
            "DATABASE_URL",
        }
        key = values["SUPABASE_SERVICE_ROLE_KEY"]
        response = httpx.get(
            f"{values['SUPABASE_URL']}/rest/v1/jobs?select=id",
            headers={"apikey": key, "Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200
        assert response.json() == []
        # The CLI announces the file once written: wait for that line, not for the clock.
        announced = proc.stdout.readline()
        assert announced.strip() == f"# wrote {env_file}"
        written = dict(
            line.split("=", 1) for line in env_file.read_text(encoding="utf-8").splitlines()
        )
        assert written == values

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return values


def test_migrations_export_sorts_after_a_migration_dated_in_the_future(tmp_path: Path) -> None:
    # A teammate's clock was ahead: `supabase db push` refuses versions older than it.
    target = tmp_path / "migrations"
    target.mkdir()
    (target / "20991231235959_from_the_future.sql").write_text("select 1;\n")
    result = cli("migrations", "export", "--to", str(target))
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in target.iterdir())
    assert files[0] == "20991231235959_from_the_future.sql"
    assert [f.split("_", 3)[3] for f in files[1:]] == [f"{m.name}.sql" for m in sql.migrations()]


# -- installs without the [local] extra ------------------------------------------------------

#: Runs the CLI as if psycopg, starlette and uvicorn were not installed (the base install).
_WITHOUT_EXTRAS = """
import sys
from importlib.abc import MetaPathFinder

class _NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"psycopg", "psycopg_pool", "starlette", "uvicorn"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
from supabase_jobs.cli import main
sys.argv[0] = "supabase-jobs"
raise SystemExit(main(sys.argv[1:]))
"""


def cli_without_extras(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_the_import_blocker_really_blocks() -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITHOUT_EXTRAS.replace("from supabase_jobs.cli", "import psycopg #"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "No module named 'psycopg'" in probe.stderr


def test_migrations_print_and_export_work_without_the_local_extra(tmp_path: Path) -> None:
    printed = cli_without_extras("migrations", "print")
    assert printed.returncode == 0, printed.stderr
    headers = re.findall(r"^-- supabase-jobs migration (\S+)$", printed.stdout, re.M)
    assert headers == [m.name for m in sql.migrations()]
    exported = cli_without_extras("migrations", "export", "--to", str(tmp_path / "m"))
    assert exported.returncode == 0, exported.stderr
    assert len(list((tmp_path / "m").iterdir())) == len(sql.migrations())


@pytest.mark.parametrize(
    "args",
    [("migrations", "apply", "--db-url", "postgresql://u@127.0.0.1:9/x"), ("local", "start")],
)
def test_commands_needing_the_extra_say_so_in_one_line(args: tuple[str, ...]) -> None:
    result = cli_without_extras(*args)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install 'supabase-jobs[local]'" in lines[0]
    assert "Traceback" not in result.stderr


def test_version_and_help_work_without_the_local_extra() -> None:
    from supabase_jobs import __version__

    version = cli_without_extras("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"supabase-jobs, version {__version__}"
    helped = cli_without_extras("jobs", "list", "--help")
    assert helped.returncode == 0
    assert "--older-than" in helped.stdout


def test_a_closed_stdout_ends_quietly() -> None:
    # `supabase-jobs migrations print | head -1`: the reader leaves before the writer.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "supabase_jobs", "migrations", "print"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


def test_a_usage_error_exits_2_with_one_hint() -> None:
    result = cli("jobs", "list", "--limit", "0")
    assert result.returncode == 2
    assert "Invalid value for '--limit'" in result.stderr
    assert "Traceback" not in result.stderr
