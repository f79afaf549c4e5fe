"""The private stack fault tests break: started once a session, checked whole after
each test, so one test's outage never leaks into the next."""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.faults.services import Stack, postgres_bin, redis_server


@pytest.fixture(scope="session")
def stack():
    if postgres_bin() is None or redis_server() is None:
        pytest.skip("fault tests need PostgreSQL's server programs and redis-server")
    if os.geteuid() == 0 and not _has_account("postgres"):
        pytest.skip("run as root, fault tests need a postgres account to run PostgreSQL as")
    # Not pytest's tmp_path: its folders are private to this user, and PostgreSQL may
    # run as another.
    root = Path(tempfile.mkdtemp(prefix="studio-faults-"))
    root.chmod(0o755)
    private = Stack(root)
    try:
        private.start()
    except Exception:
        print(private.log_tail())
        private.stop()
        raise
    yield private
    private.stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Target:
    """One test's project on the private stack, and a connection to look at its data."""

    stack: Stack
    key: str
    project_id: int

    @property
    def port(self) -> int:
        return self.stack.port

    def conn(self) -> psycopg.Connection:
        return self.stack.postgres.connect()


@pytest.fixture
def target(stack):
    name = f"faults-{uuid.uuid4().hex[:8]}"
    key = stack.manage("createapikey", "--org", "Faults", "--project", name).strip()
    with stack.postgres.connect() as conn:
        (project_id,) = conn.execute(
            "SELECT id FROM studio_project WHERE name = %s", [name]
        ).fetchone()
    yield Target(stack, key, project_id)
    stack.stop_workers()
    _heal(stack)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "stack" in item.funcargs:
        report.sections.append(("private stack logs", item.funcargs["stack"].log_tail()))
    return report


def _heal(stack: Stack) -> None:
    """Bring back whatever a failed test left down."""
    if stack.redis.process is None or stack.redis.process.poll() is not None:
        stack.redis.start()
    try:
        stack.postgres.connect().close()
    except psycopg.OperationalError:
        with contextlib.suppress(subprocess.CalledProcessError):
            stack.postgres.start()


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
