import pytest

from tests.studio.access_world import world_fixture

# Acme and Globex with one of everything, built once per module (see access_world.py).
world = pytest.fixture(scope="module")(world_fixture)
