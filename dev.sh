#!/usr/bin/env bash
# Charm Studio's two commands:
#   ./dev.sh start   set up, then run Studio (web, worker, beat) with demo data
#   ./dev.sh test    set up, then run the whole test suite
# With no DATABASE_URL / REDIS_URL set, both use embedded PostgreSQL and Redis under ./var.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

setup() {
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($PY --version) …"
    "$PY" -m venv .venv
  fi
  # Reinstall only when the requirements change.
  local stamp=.venv/.requirements.sha
  local want
  want=$(cat requirements.txt requirements-dev.txt requirements-charm.txt sdk/pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing requirements …"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r requirements-dev.txt -r requirements-charm.txt
    # The real Charm SDK without its cloud extras, and Studio's exporter plugin for it.
    .venv/bin/python -m pip install --quiet --no-deps charmos==0.5.2
    .venv/bin/python -m pip install --quiet --no-deps -e ./sdk
    echo "$want" > "$stamp"
  fi
}

case "${1:-}" in
  start)
    shift
    setup
    exec .venv/bin/python -m studio.up "$@"
    ;;
  test)
    shift
    setup
    if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
      eval "$(.venv/bin/python -m studio.up --services-only | sed 's/^/export /')"
    fi
    export SECRET_KEY=${SECRET_KEY:-test-secret-key-not-for-production}
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh start [--port 8000] | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
