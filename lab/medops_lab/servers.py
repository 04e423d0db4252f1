"""Real PostgreSQL, Redis and HTTP processes on loopback, for the lab and for the tests.

Every server lives in a directory of its own and is started on a free loopback port. Each one
records the pid of the process it started in that directory, so that stopping it (even from
another Python process, as ``lab down`` does) signals exactly that process and nothing else.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A server could not be prepared, started or stopped; the message says why."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    """Return once something accepts TCP connections on ``port``; raise ServerError otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"process {process.pid} exited with {process.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerError(f"nothing listens on {LOOPBACK}:{port} after {timeout:.0f}s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    return True


def read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_pid(pid: int, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Signal ``pid``, wait for it to go away, and kill it if it outlives ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def server_user() -> pwd.struct_passwd | None:
    """The account servers run as when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerError("running as root, but neither a 'postgres' nor a 'nobody' account exists to run servers as")


def _demote(user: pwd.struct_passwd | None):
    if user is None:
        return None

    def switch() -> None:
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    return switch


def closed_parent(path: Path, user: pwd.struct_passwd | None) -> Path | None:
    """The first existing parent of ``path`` that others (so a demoted server account) cannot enter, or None."""
    if user is None:
        return None
    for parent in Path(path).resolve().parents:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def hand_over(path: Path, user: pwd.struct_passwd | None) -> None:
    """Give ``path`` (recursively) to the server account, so a demoted server can write to it."""
    if user is None:
        return
    os.chown(path, user.pw_uid, user.pw_gid)
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def find_pg_bindir() -> Path:
    """Directory holding initdb and pg_ctl: PATH first, then the newest Debian server package."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    raise ServerError("PostgreSQL server binaries (initdb, pg_ctl) not found: install the 'postgresql' package")


class PostgresServer:
    """A PostgreSQL cluster in ``datadir`` listening on loopback ``port``.

    With a ``password``, TCP connections need it (scram-sha-256) and the Unix socket (in
    ``datadir``) stays trusted for the harness itself; without one, everything is trusted.
    """

    def __init__(self, datadir: Path, port: int | None = None, superuser: str = "postgres", password: str | None = None):
        self.datadir = Path(datadir)
        self.port = port or free_port()
        self.superuser = superuser
        self.password = password
        self.bindir = find_pg_bindir()
        self.user = server_user()
        self.logfile = self.datadir.parent / f"{self.datadir.name}.log"

    # -- lifecycle ---------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            preexec_fn=_demote(self.user),
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            check=False,
        )
        if check and result.returncode != 0:
            raise ServerError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
        return result

    def _check_reachable(self) -> None:
        closed = closed_parent(self.datadir, self.user)
        if closed:
            raise ServerError(
                f"PostgreSQL runs as '{self.user.pw_name}', which cannot enter {closed} (mode "
                f"{oct(os.stat(closed).st_mode & 0o777)}): put the data directory elsewhere or make {closed} searchable")

    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised():
            return
        self.datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._check_reachable()
        hand_over(self.datadir, self.user)
        args = ["initdb", "-D", str(self.datadir), "-U", self.superuser, "--auth-local=trust", "-E", "UTF8"]
        pwfile = self.datadir.parent / f".{self.datadir.name}.pw"
        if self.password:
            # initdb reads the password from a file so that it never shows in a command line.
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.password + "\n")
            hand_over(pwfile, self.user)
            args += ["--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            args += ["--auth-host=trust"]
        try:
            self._run(*args)
        finally:
            pwfile.unlink(missing_ok=True)

    @property
    def pidfile(self) -> Path:
        return self.datadir / "postmaster.pid"

    def pid(self) -> int | None:
        pid = read_pidfile(self.pidfile)
        return pid if pid and pid_alive(pid) else None

    def start(self, timeout: float = 60.0) -> "PostgresServer":
        self.init()
        if self.pid():
            return self
        self.logfile.touch()
        hand_over(self.logfile, self.user)
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses={LOOPBACK} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, "-w", "-t", str(int(timeout)), "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.pid():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)
        pid = self.pid()
        if pid:
            stop_pid(pid)

    # -- client side -------------------------------------------------------------------------
    def connection_params(self, dbname: str = "postgres") -> dict:
        params = {"host": LOOPBACK, "port": self.port, "user": self.superuser, "dbname": dbname}
        if self.password:
            params["password"] = self.password
        return params

    def connect(self, dbname: str = "postgres"):
        import psycopg2  # imported here so that the lab CLI starts without it for `down`

        conn = psycopg2.connect(**self.connection_params(dbname), connect_timeout=10)
        conn.autocommit = True
        return conn

    def execute(self, sql: str, params: tuple = (), dbname: str = "postgres") -> list[tuple]:
        with contextlib.closing(self.connect(dbname)) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str, owner: str | None = None) -> None:
        from psycopg2 import sql

        if self.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
            return
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            statement = sql.SQL("{} OWNER {}").format(statement, sql.Identifier(owner))
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(statement)


class ManagedProcess:
    """A long-running child process whose pid is kept in ``pidfile`` so any process can stop it."""

    def __init__(self, name: str, workdir: Path, argv: list[str], env: dict | None = None, port: int | None = None,
                 user: pwd.struct_passwd | None = None, cwd: Path | None = None):
        self.name = name
        self.workdir = Path(workdir)
        self.argv = argv
        self.env = env
        self.port = port
        self.user = user
        self.cwd = cwd
        self.pidfile = self.workdir / f"{name}.pid"
        self.logfile = self.workdir / f"{name}.log"
        self._process: subprocess.Popen | None = None

    def pid(self) -> int | None:
        pid = read_pidfile(self.pidfile)
        return pid if pid and pid_alive(pid) else None

    def start(self, timeout: float = 30.0) -> "ManagedProcess":
        if self.pid():
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as log:
            # A new session: the process outlives the caller (lab up) and gets no terminal signals.
            self._process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                cwd=self.cwd, start_new_session=True, preexec_fn=_demote(self.user),
            )
        self.pidfile.write_text(f"{self._process.pid}\n", encoding="ascii")
        if self.port:
            try:
                wait_for_port(self.port, timeout, self._process)
            except ServerError as exc:
                self.stop()
                raise ServerError(f"{self.name}: {exc}; last log lines:\n{self.log_tail()}") from None
        return self

    def stop(self, timeout: float = 15.0) -> None:
        pid = self.pid()
        if pid:
            stop_pid(pid, timeout)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
        self.pidfile.unlink(missing_ok=True)

    def kill(self) -> None:
        """Stop without a chance to clean up, as a crash would."""
        pid = self.pid()
        if pid:
            stop_pid(pid, sig=signal.SIGKILL)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class RedisServer(ManagedProcess):
    """A redis-server on loopback. Its settings (password included) go through a 0600 config
    file, never the command line. RDB snapshots are written to ``workdir/dump.rdb``."""

    def __init__(self, workdir: Path, port: int | None = None, password: str | None = None, persistent: bool = False):
        port = port or free_port()
        # persistent: an append-only file keeps the data (BullMQ queues, job id counters) across a
        # stop and start, as a production Redis behind BullMQ does.
        self.persistent = persistent
        binary = shutil.which("redis-server")
        if not binary:
            raise ServerError("redis-server not found: install the 'redis-server' package")
        self.password = password
        conf = Path(workdir) / "redis.conf"
        super().__init__("redis", workdir, [binary, str(conf)], port=port)
        self.conf = conf

    def start(self, timeout: float = 30.0) -> "RedisServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        settings = [
            f"port {self.port}", f"bind {LOOPBACK}", "protected-mode yes", "daemonize no",
            f"dir {self.workdir}", "dbfilename dump.rdb", 'save ""',
            "appendonly yes" if self.persistent else "appendonly no",
        ]
        if self.password:
            settings.append(f"requirepass {self.password}")
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(settings) + "\n")
        super().start(timeout)
        return self

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host=LOOPBACK, port=self.port, db=db, password=self.password, socket_timeout=10)
