"""`python -m studio.up`: start Charm Studio with demo data, all processes in one terminal.

With no DATABASE_URL / REDIS_URL it starts embedded PostgreSQL and Redis under ./var;
then migrates, starts a Celery worker and beat, loads the demo through the real
ingest pipeline (once), and serves the web app until Ctrl-C stops everything.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from studio import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def prepare_environment(*, services_only: bool = False) -> dict[str, str]:
    """Point every child process at the same servers, embedded unless URLs are given."""
    env = dict(os.environ)
    if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
        # On stderr: `--services-only` prints only the URLs, for `eval`.
        print("Starting embedded PostgreSQL and Redis under ./var …", file=sys.stderr, flush=True)
        state = embedded.start_all()
        env.setdefault("DATABASE_URL", state["DATABASE_URL"])
        env.setdefault("REDIS_URL", state["REDIS_URL"])
    if not services_only:
        env.setdefault("DEBUG", "true")
        env.setdefault("SECRET_KEY", _dev_secret())
    return env


def _dev_secret() -> str:
    path = embedded.DATA_DIR / "secret_key"
    embedded.DATA_DIR.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], env=env, cwd=BASE_DIR, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--demo-runs", type=int, default=300)
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument(
        "--services-only", action="store_true", help="start the servers, print URLs"
    )
    args = parser.parse_args()
    _stop_on_sigterm()

    env = prepare_environment(services_only=args.services_only)
    if args.services_only:
        print(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}")
        return
    manage(env, "migrate", "--no-input", "-v", "0")
    manage(env, "collectstatic", "--no-input", "-v", "0")
    children = [
        subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "studio", "worker", "-l", "warning", "-c", "2"],
            env=env,
            cwd=BASE_DIR,
        ),
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "studio",
                "beat",
                "-l",
                "warning",
                "-s",
                str(embedded.DATA_DIR / "celerybeat-schedule"),
            ],
            env=env,
            cwd=BASE_DIR,
        ),
    ]
    try:
        if not args.no_demo:
            manage(env, "demo", "--runs", str(args.demo_runs))
            # Runs that are still going, replayed in real time, for the live views.
            children.append(
                subprocess.Popen(
                    [PYTHON, "manage.py", "demo_live", "--forever"],
                    env=env,
                    cwd=BASE_DIR,
                    stdout=subprocess.DEVNULL,
                )
            )
        print(
            f"\n  Charm Studio is running at http://{args.host}:{args.port}/\n"
            "  Log in as demo / charm-studio-demo   (Ctrl-C stops everything)\n",
            flush=True,
        )
        web = subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "studio.asgi:application", "--host", args.host,
             "--port", str(args.port), "--log-level", "warning"],
            env=env,
            cwd=BASE_DIR,
        )  # fmt: skip
        children.append(web)
        web.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=30)


def _stop_on_sigterm() -> None:
    """`kill`, `timeout`, a service manager: SIGTERM stops the children as Ctrl-C does
    (Python's default would end this process alone and leave them running)."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    main()
