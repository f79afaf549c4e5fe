"""Shared fixtures: three users (owner, teammate, outsider in another organization),
projects and keys, helpers to ingest and apply events, and a real Celery worker."""

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from billing.prices import default_prices_create
from runs.partitions import forget_known
from runs.protocol import validate_event
from studio.apikeys import apikey_create
from studio.redis import redis_client
from studio.services import member_set, organization_get_or_create, project_get_or_create

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-test-password-42"


@pytest.fixture(autouse=True)
def _fast_password_hashing(request, settings):
    # The real hasher is slow by design, and tests make many users. A server in another
    # process checks passwords with the real settings, so its tests keep the real hasher.
    if "asgi_server" not in request.fixturenames:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Each test's database is rolled back or flushed, partitions included.
    forget_known()
    yield
    forget_known()


@pytest.fixture
def org(db):
    # A transactional test's flush also empties the prices a migration loaded.
    default_prices_create()
    return organization_get_or_create(name="Acme")


@pytest.fixture
def project(org):
    return project_get_or_create(organization=org, name="Invoice bot")


@pytest.fixture
def other_org(db):
    return organization_get_or_create(name="Globex")


@pytest.fixture
def other_project(other_org):
    return project_get_or_create(organization=other_org, name="Globex agents")


def _user(org, username: str, role: str):
    return member_set(organization=org, username=username, role=role, password=PASSWORD).user


@pytest.fixture
def owner(org, project):
    return _user(org, "olivia", "owner")


@pytest.fixture
def teammate(org, project):
    return _user(org, "theo", "developer")


@pytest.fixture
def outsider(other_org, other_project):
    return _user(other_org, "oscar", "owner")


@pytest.fixture
def make_member(org, project):
    return lambda role: _user(org, f"user-{role}", role)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return login(owner)


@pytest.fixture
def ingest_key(project) -> str:
    return apikey_create(project=project, scopes=["ingest", "read"])[1]


@pytest.fixture
def api(ingest_key):
    """A client sending the project's key."""
    client = Client(headers={"Authorization": f"Bearer {ingest_key}"})
    return client


T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def ev(type_: str, run_id: str = "run_1", *, at: float = 0, seq: int | None = None,
       event_id: str | None = None, agent: str | None = "invoice-bot", **data) -> dict:  # fmt: skip
    """One protocol event, `at` seconds after T0."""
    event = {
        "v": 1,
        "event_id": event_id or uuid.uuid4().hex,
        "run_id": run_id,
        "ts": (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
        "type": type_,
        "data": data,
    }
    if seq is not None:
        event["seq"] = seq
    if agent:
        event["agent"] = {"name": agent, "version": "1.4.0"}
    return event


def apply_now(project, events: list[dict]):
    """Apply events in this process, through the same store-and-apply path as the worker."""
    from django.db import transaction

    from runs.ingest.apply import ApplyResult
    from runs.ingest.inbox import batch_apply, batch_store
    from runs.models import IngestBatch

    parsed = [validate_event(e) for e in events]
    with transaction.atomic():
        batches = batch_store(project=project, events=parsed, rejected=[])
    results = [batch_apply(batch.pk) for batch in batches]  # one per shard
    if None in results:  # a worker running in the test took it: let it finish
        pending = IngestBatch.objects.filter(pk__in=[b.pk for b in batches], status="pending")
        wait_for(lambda: not pending.exists())
    return ApplyResult(
        inserted=sum(r.inserted for r in results if r),
        duplicates=sum(r.duplicates for r in results if r),
        late=sum(r.late for r in results if r),
        runs={run: status for r in results if r for run, status in r.runs.items()},
    )


class Worker:
    """A real `celery -A studio worker` process on the test database and its own queue."""

    def __init__(self, queue: str, concurrency: int = 1) -> None:
        db = settings.DATABASES["default"]
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        if db["HOST"] and db["HOST"].startswith("/"):
            url = f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}&port={db['PORT']}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": queue,
            "SECRET_KEY": "test-worker",
        }
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "-l", "warning",
             "-c", str(self.concurrency), "--without-heartbeat", "--without-gossip",
             "--without-mingle", "-n", f"test-{uuid.uuid4().hex[:6]}@%h"],
            env=self.env,
            cwd=BASE_DIR,
            start_new_session=True,
        )  # fmt: skip
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_queue(settings):
    """A queue of this test's own, so no other run's messages reach its workers."""
    queue = f"studio-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    from studio.celery import app

    app.conf.task_default_queue = queue
    yield queue
    redis_client().delete(queue)
    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture
def worker(transactional_db, celery_queue):
    """Start real workers with `worker.start()`; all are stopped after the test."""
    started: list[Worker] = []

    def start(concurrency: int = 1) -> Worker:
        w = Worker(celery_queue, concurrency).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_for(condition, timeout: float = 30, interval: float = 0.1):
    """Poll until `condition()` is truthy; fail with what it last returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s; last value {value!r}")
        time.sleep(interval)
        connection.close()  # see other processes' commits with a fresh snapshot


@pytest.fixture(autouse=True)
def _clean_event_table(request, django_db_blocker):
    """The event table is not a Django model table, so a flush leaves its rows: clear
    them after tests whose writes were committed (rolled-back tests leave nothing)."""
    yield
    if {"transactional_db", "live_server", "worker"} & set(request.fixturenames):
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE runs_event")


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright; browser tests skip where it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made
    # by the test around it are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


def log_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the real login form."""
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def other_backends() -> set[int]:
    """The server processes of this database's connections other than this test's own:
    a web server's or a worker's."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}
