"""Private MariaDB and PostgreSQL servers that tests use as oracles.

Each server is started by the tests themselves in a temporary folder, reachable only
through a unix socket in that folder (no TCP port), and stopped -- with its whole
process group -- when the session ends. Nothing system-wide is read or touched:
MariaDB runs with --no-defaults, PostgreSQL with its own data folder and socket dir.

    server.restore(dump, "db")      load a dump with the real client (mariadb / psql)
    server.rows("db", "table")      every row, values exactly as the server sends them

Fixtures `mariadb` and `postgres` (session-scoped) skip when the server is not
installed, or fail when FORENSICS_REQUIRE_TOOLS=1 (CI).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import pytest

REQUIRE_TOOLS = os.environ.get("FORENSICS_REQUIRE_TOOLS") == "1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

SqlSource = bytes | os.PathLike[str] | str
SqlInput = SqlSource | Sequence[SqlSource]


class ServerError(RuntimeError):
    """A server would not start, or a statement or dump failed."""


class RestoreError(ServerError):
    """The client refused a dump; the message carries the client's stderr."""


def _sources(sql: SqlInput) -> list[bytes | Path]:
    """One dump or a list of them, each as bytes or a Path (str means a path)."""
    if isinstance(sql, (bytes, bytearray, memoryview)):
        return [bytes(sql)]
    if isinstance(sql, (str, os.PathLike)):
        return [Path(sql)]
    out: list[bytes | Path] = []
    for item in sql:
        out.extend(_sources(item))
    return out


def _which(names: Sequence[str], extra_dirs: Sequence[str] = ()) -> str | None:
    """The first of names found on PATH or in extra_dirs (sbin is not on every user's PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def _unavailable(message: str) -> None:
    """Skip the test, or fail it when CI demands every tool."""
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


def _with_death_signal(argv: Sequence[str], sig: signal.Signals) -> list[str]:
    """argv run so that it gets sig when this process dies, even by SIGKILL (setpriv execs)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.path.basename(argv[0]) == "setpriv":
        return list(argv)
    return [setpriv, f"--pdeathsig={sig.name}", "--", *argv]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Process ids whose parent is pid (from /proc)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(Path(stat).parent.name))
    return found


def _log_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"


class _Server:
    """Process handling shared by both servers: start in a new session, stop the group."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"forensics-{self.name}-"))
        self.log = self.folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def _run(self, argv: Sequence[str], what: str, **kwargs: Any) -> None:
        done = subprocess.run(argv, check=False, capture_output=True, cwd=self.folder, **kwargs)
        if done.returncode != 0:
            raise ServerError(
                f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n"
                f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}"
            )

    def _spawn(self, argv: Sequence[str]) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                _with_death_signal(argv, self.stop_signal),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,  # its own process group, killed as a whole at the end
            )

    def _wait_ready(self, probe: Callable[[], object]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                break
            try:
                probe()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last = exc
                time.sleep(0.05)
        self.stop(keep_folder=True)
        raise ServerError(f"{self.name} did not start ({last}); log {self.log}:\n{_log_tail(self.log)}")

    def stop(self, keep_folder: bool = False) -> None:
        """Shut down cleanly, then kill whatever is left of the process group; idempotent."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(self.stop_signal)
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline:
                # Wait without reaping, so the group id stays ours until killpg below.
                if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    break
                time.sleep(0.05)
            # Postgres puts each backend in a group of its own: kill children by parent too.
            for pid in [process.pid, *_children(process.pid)]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            process.wait()
        if not keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ident_mysql(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MariaDBServer(_Server):
    """A throwaway mariadbd on a unix socket, without grant tables, UTC, utf8mb4 by default."""

    name = "mariadb"
    stop_signal = signal.SIGTERM

    @staticmethod
    def binaries() -> dict[str, str | None]:
        sbin = ["/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/mysql/bin"]
        return {
            "server": _which(["mariadbd", "mysqld"], sbin),
            "install": _which(["mariadb-install-db", "mysql_install_db"], sbin),
            "client": _which(["mariadb", "mysql"], sbin),
        }

    @classmethod
    def missing(cls) -> str | None:
        """Why this server cannot run here, or None."""
        absent = [role for role, path in cls.binaries().items() if path is None]
        if absent:
            return f"MariaDB {', '.join(absent)} not installed (make setup-test installs it)"
        try:
            import pymysql  # noqa: F401
        except ImportError:
            return "PyMySQL is not installed (pip install -e '.[test]')"
        return None

    def __init__(self, options: Sequence[str] = ()) -> None:
        """options: more mariadbd settings (later ones win), e.g. a bigger buffer pool for benchmarks."""
        bins = self.binaries()
        if any(path is None for path in bins.values()):
            raise ServerError(self.missing() or "MariaDB missing")
        super().__init__()
        self.server_bin, self.install_bin, self.client_bin = (
            bins["server"], bins["install"], bins["client"])
        self.datadir = self.folder / "data"
        self.socket = self.folder / "mysqld.sock"
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        common = [
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=16M",
            *options,
        ]
        try:
            self._run(
                [self.install_bin, "--no-defaults", f"--datadir={self.datadir}", *as_root,
                 "--auth-root-authentication-method=normal", "--skip-test-db",
                 "--skip-name-resolve", *common],
                "mariadb-install-db",
            )
            self._spawn([
                self.server_bin, "--no-defaults", f"--datadir={self.datadir}",
                f"--socket={self.socket}", f"--pid-file={self.folder / 'mysqld.pid'}",
                f"--log-error={self.log}", f"--tmpdir={self.folder}", *as_root,
                "--skip-networking", "--skip-grant-tables", "--skip-name-resolve",
                "--skip-log-bin", "--performance-schema=OFF", *common,
                "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
                "--default-time-zone=+00:00", "--max-allowed-packet=1G",
            ])
            self._wait_ready(lambda: self._connect().close())
        except BaseException:
            self.stop(keep_folder=True)
            raise

    # -- client side ------------------------------------------------------------------

    def _connect(self, database: str | None = None) -> Any:
        import pymysql
        from pymysql.converters import conversions

        encoders = {k: v for k, v in conversions.items() if not isinstance(k, int)}
        return pymysql.connect(
            unix_socket=str(self.socket), user="root", database=database,
            charset="utf8mb4", use_unicode=False, conv=encoders,  # no decoders: bytes out
            autocommit=True, connect_timeout=5,
        )

    def execute(self, sql: str, params: Sequence[Any] = (), database: str | None = None,
                results_charset: str | None = None) -> list[tuple[bytes | None, ...]]:
        """Run one statement; rows as raw bytes (None for NULL)."""
        conn = self._connect(database)
        try:
            with conn.cursor() as cur:
                if results_charset is not None:
                    cur.execute(f"SET character_set_results = {results_charset}")
                cur.execute(sql, tuple(params) or None)
                return list(cur.fetchall() or ())
        finally:
            conn.close()

    def _strings(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[str, ...]]:
        return [tuple(v.decode() for v in row) for row in self.execute(sql, params)]

    def restore(self, sql: SqlInput, database: str | None = None) -> None:
        """Feed dump(s) to the mariadb client over the socket; create database if missing.

        The client starts with --default-character-set=binary (no conversion on its side);
        a dump's own SET NAMES then decides how the server reads the bytes, as it would on
        the original server. --binary-mode keeps NUL bytes and \\r\\n as they are.
        """
        if database is not None:
            self.execute(f"CREATE DATABASE IF NOT EXISTS {_ident_mysql(database)}")
        argv = [self.client_bin, "--no-defaults", f"--socket={self.socket}", "--user=root",
                "--default-character-set=binary", "--binary-mode", "--batch",
                "--max-allowed-packet=1G"]
        if database is not None:
            argv.append(f"--database={database}")
        for source in _sources(sql):
            if isinstance(source, Path):
                with open(source, "rb") as handle:
                    done = subprocess.run(argv, stdin=handle, check=False, capture_output=True)
            else:
                done = subprocess.run(argv, input=source, check=False, capture_output=True)
            if done.returncode != 0:
                name = source if isinstance(source, Path) else "<bytes>"
                raise RestoreError(f"mariadb restore of {name} failed (exit {done.returncode}):\n"
                                   f"{done.stderr.decode(errors='replace')}")

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {_ident_mysql(name)}")

    def fresh_database(self, name: str) -> None:
        self.drop_database(name)
        self.execute(f"CREATE DATABASE {_ident_mysql(name)}")

    def tables(self, database: str) -> list[str]:
        """Base tables (no views), by name."""
        return [r[0] for r in self._strings(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [database])]

    def columns(self, database: str, table: str) -> list[tuple[str, str]]:
        """(name, COLUMN_TYPE) in ordinal order, e.g. ('amount', 'decimal(5,2)')."""
        return [(r[0], r[1]) for r in self._strings(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [database, table])]

    def charsets(self, database: str, table: str) -> dict[str, str | None]:
        """Each column's character set (None for non-text), to decode rows() values."""
        rows = self.execute(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [database, table])
        return {r[0].decode(): (r[1].decode() if r[1] is not None else None) for r in rows}

    def primary_key(self, database: str, table: str) -> list[str]:
        return [r[0] for r in self._strings(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            [database, table])]

    def rows(self, database: str, table: str,
             charset: str = "binary") -> list[tuple[bytes | None, ...]]:
        """Every row in text protocol, as bytes; NULL is None; ordered by primary key.

        charset="binary" (default) means no conversion: text columns come back in their
        own character set (a latin1 column gives latin1 bytes). Pass "utf8mb4" to have the
        server convert every text column to UTF-8 instead.
        """
        key = self.primary_key(database, table)
        order = f" ORDER BY {', '.join(_ident_mysql(c) for c in key)}" if key else ""
        return self.execute(
            f"SELECT * FROM {_ident_mysql(database)}.{_ident_mysql(table)}{order}",
            results_charset=charset)


def _postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and postgres, else PATH's."""
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", Path(path).parent.name))

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all(os.access(Path(folder) / tool, os.X_OK) for tool in ("initdb", "postgres", "psql")):
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb:
        folder = Path(os.path.realpath(initdb)).parent
        if (folder / "postgres").exists() and (folder / "psql").exists():
            return folder
    return None


class PostgresServer(_Server):
    """A throwaway postgres on a unix socket; as root it runs as `nobody`. Superuser: postgres."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open sessions, then exit
    user = "postgres"

    @classmethod
    def missing(cls) -> str | None:
        if _postgres_bindir() is None:
            return "PostgreSQL server (initdb, postgres, psql) not installed (make setup-test installs it)"
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "psycopg is not installed (pip install -e '.[test]')"
        if os.geteuid() == 0 and not (shutil.which("setpriv") or shutil.which("runuser")):
            return "running as root and neither setpriv nor runuser is available to drop to nobody"
        return None

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        if bindir is None:
            raise ServerError(self.missing() or "PostgreSQL missing")
        super().__init__()
        self.bindir = bindir
        self.datadir = self.folder / "data"
        self.port = _free_port()  # only names the socket file: no TCP listener
        as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses root: hand the folder to nobody
            nobody = pwd.getpwnam("nobody")
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)
            setpriv = shutil.which("setpriv")
            if setpriv:
                as_user = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                           "--clear-groups", f"--pdeathsig={self.stop_signal.name}", "--"]
            else:
                as_user = [shutil.which("runuser") or "runuser", "-u", "nobody", "--"]
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        try:
            self._run(
                [*as_user, str(bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
                 "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
                 "--no-instructions"],
                "initdb", env=env,
            )
            settings = {
                "listen_addresses": "", "unix_socket_directories": str(self.folder),
                "shared_buffers": "16MB", "max_connections": "20",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "wal_level": "minimal", "max_wal_senders": "0", "max_wal_size": "1GB",
                "timezone": "UTC", "log_timezone": "UTC", "datestyle": "ISO, MDY",
                "intervalstyle": "postgres", "bytea_output": "hex", "extra_float_digits": "1",
            }
            argv = [*as_user, str(bindir / "postgres"), "-D", str(self.datadir),
                    "-p", str(self.port)]
            for key, value in settings.items():
                argv += ["-c", f"{key}={value}"]
            self._spawn(argv)
            self._wait_ready(lambda: self._connect("postgres").close())
        except BaseException:
            self.stop(keep_folder=True)
            raise

    def _connect(self, database: str) -> Any:
        import psycopg

        return psycopg.connect(host=str(self.folder), port=self.port, user=self.user,
                               dbname=database, client_encoding="UTF8", autocommit=True,
                               connect_timeout=5)

    def execute(self, sql: str, params: Sequence[Any] = (),
                database: str = "postgres") -> list[tuple[str | None, ...]]:
        """Run one statement ($1, $2... take params, sent as text); every value as the
        server's text output, NULL as None."""
        from psycopg import pq

        with self._connect(database) as conn:
            result = conn.pgconn.exec_params(
                sql.encode(), [None if p is None else str(p).encode() for p in params])
            if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
                message = result.get_error_message() or "query failed"
                raise ServerError(f"{message.strip()}\n{sql}")
            out = []
            for r in range(result.ntuples):
                values = (result.get_value(r, c) for c in range(result.nfields))
                out.append(tuple(None if v is None else bytes(v).decode() for v in values))
            return out

    def _psql(self, database: str) -> list[str]:
        return [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", str(self.folder), "-p", str(self.port), "-U", self.user, "-d", database]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCLIENTENCODING"] = "UTF8"  # a dump's own SET client_encoding overrides this
        return env

    def _exists(self, database: str) -> bool:
        return bool(self.execute("SELECT 1 FROM pg_database WHERE datname = $1", [database]))

    def create_database(self, name: str) -> None:
        self.execute(f"CREATE DATABASE {_ident_pg(name)} TEMPLATE template0 ENCODING 'UTF8'")

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {_ident_pg(name)} WITH (FORCE)")

    def fresh_database(self, name: str) -> None:
        self.drop_database(name)
        self.create_database(name)

    def restore(self, sql: SqlInput, database: str) -> None:
        """Run dump(s) in order through psql -v ON_ERROR_STOP=1; create database if missing.

        Pass [schema, data] for dumps split in two (pagila).
        """
        if not self._exists(database):
            self.create_database(database)
        for source in _sources(sql):
            if isinstance(source, Path):
                done = subprocess.run([*self._psql(database), "-f", str(source)],
                                      check=False, capture_output=True, env=self._env(),
                                      stdin=subprocess.DEVNULL)
            else:
                done = subprocess.run([*self._psql(database), "-f", "-"], input=source,
                                      check=False, capture_output=True, env=self._env())
            if done.returncode != 0:
                name = source if isinstance(source, Path) else "<bytes>"
                raise RestoreError(f"psql restore of {name} failed (exit {done.returncode}):\n"
                                   f"{done.stderr.decode(errors='replace')}")

    def tables(self, database: str) -> list[str]:
        """User tables (plain and partitioned) as 'schema.table'."""
        return [f"{r[0]}.{r[1]}" for r in self.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
            " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2", database=database)]

    def columns(self, database: str, table: str | tuple[str, str]) -> list[tuple[str, str]]:
        """(name, format_type) in column order, e.g. ('amount', 'numeric(5,2)')."""
        return [(r[0] or "", r[1] or "") for r in self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
            " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped"
            " ORDER BY a.attnum", [_qualified_pg(table)], database=database)]

    def primary_key(self, database: str, table: str | tuple[str, str]) -> list[str]:
        return [r[0] or "" for r in self.execute(
            "SELECT a.attname FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n",
            [_qualified_pg(table)], database=database)]

    def rows(self, database: str, table: str | tuple[str, str]) -> list[tuple[str | None, ...]]:
        """Every row, each value as the server's text output; NULL is None; by primary key.

        table is 'schema.table', 'table' (search_path) or (schema, table). The server runs
        with TimeZone=UTC, DateStyle='ISO, MDY', bytea_output=hex (bytea reads '\\x00ff').
        """
        key = self.primary_key(database, table)
        order = f" ORDER BY {', '.join(_ident_pg(c) for c in key)}" if key else ""
        return self.execute(f"SELECT * FROM {_qualified_pg(table)}{order}", database=database)


def _ident_pg(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified_pg(table: str | tuple[str, str]) -> str:
    if isinstance(table, tuple):
        return ".".join(_ident_pg(part) for part in table)
    return ".".join(_ident_pg(part) for part in table.split(".", 1))


# -- fixtures ------------------------------------------------------------------------------

def _serve(cls: type[MariaDBServer | PostgresServer]) -> Iterator[Any]:
    reason = cls.missing()
    if reason is not None:
        _unavailable(reason)
    server = cls()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """A private MariaDB server for the whole session (skips if MariaDB is not installed)."""
    yield from _serve(MariaDBServer)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the whole session (skips if it is not installed)."""
    yield from _serve(PostgresServer)
