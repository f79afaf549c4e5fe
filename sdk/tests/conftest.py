"""Fixtures for the exporter's own tests: a local Studio stand-in and a fresh sender.

No Django here: run with `python -m pytest sdk/tests -p no:django`, or from the
repository's test suite.
"""

import sys
from pathlib import Path

import pytest

try:
    import charm_studio  # noqa: F401 (installed with `pip install -e ./sdk`?)
except ImportError:  # not installed: test the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from charm_studio import exporter as exporter_module
from charm_studio import sender as sender_module
from charm_studio.testing import FakeStudio

AGENT = "invoice-bot@1.4.0"


@pytest.fixture(autouse=True)
def _fresh_sender(monkeypatch, tmp_path):
    """Each test gets its own sender, settings and working directory."""
    for name in ("URL", "API_KEY", "AGENT", "ENVIRONMENT", "BUFFER"):
        monkeypatch.delenv(f"CHARM_STUDIO_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    exporter_module._current_run.set(None)  # tests share one thread: no run carries over
    sender_module._discard_sender()
    yield
    sender_module._discard_sender()


@pytest.fixture
def studio(monkeypatch):
    """A running FakeStudio that new exporters send to."""
    with FakeStudio() as fake:
        monkeypatch.setenv("CHARM_STUDIO_URL", fake.url)
        monkeypatch.setenv("CHARM_STUDIO_API_KEY", "csk_test_key")
        monkeypatch.setenv("CHARM_STUDIO_AGENT", AGENT)
        yield fake


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused."""
    with FakeStudio() as fake:
        port = fake.port
    return port
