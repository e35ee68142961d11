#!/usr/bin/env bash
# Instructions per request on the in-process request path (bench/micro.py), counted by
# valgrind's callgrind: repeatable whatever else the machine is doing, unlike timings.
#   bench/instructions.sh [raw|web|serve] ...   (serve: the `squall serve` per-request layer too)
# The per-request figure is the difference between a run of 2N and a run of N requests,
# divided by N (start-up and warm-up cancel out).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
N="${N:-10000}"
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PY" bench/micro.py "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for kind in "${@:-raw web}"; do
  for k in $kind; do
    one=$(count "$k" "$N")
    two=$(count "$k" $((2 * N)))
    echo "$k: $(( (two - one) / N )) instructions/request"
  done
done
