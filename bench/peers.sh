#!/usr/bin/env bash
# Run squall's hello-world apps in the shared peer harness (../shared/bench/peers), beside
# Tornado, uvicorn+starlette and the raw uvloop+httptools ceiling, and write the tables.
#   bench/peers.sh                 # 3 rounds x 8 s (about 5 minutes)
#   bench/peers.sh --rounds 1      # extra arguments go to the harness's run.py
# Needs a virtual environment at .venv with squall installed (pip install -e .).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/../shared/bench/peers}"
PY="$ROOT/.venv/bin/python"
# The tables go to bench/results/peers-latest.md: the harness's own RESULTS.md holds the shared
# anchors and is not ours to overwrite.
exec bash "$PEERS/run.sh" --out "$ROOT/bench/results/peers-latest.md" \
  --only squall_raw,squall_web,uvicorn_starlette \
  --peer "squall_raw=$PY $ROOT/bench/hello.py {port}" \
  --peer "squall_web=$PY $ROOT/bench/web_hello.py {port}" "$@"
