#!/usr/bin/env bash
# Real Tornado-based projects' own test suites, run unmodified on real Tornado and on squall.
#
#   compat/real_projects.sh                      all three projects
#   compat/real_projects.sh terminado flower     some of them
#
# For each project: a scratch virtual environment under $SQUALL_RP_DIR (default
# /tmp/squall-real-projects), the project's released package from the package index (pinned
# below; real Tornado comes in as its dependency and stays installed), squall installed from
# this checkout (editable, so its .pth hook is there for child processes), and the project's
# test suite from its sdist. The suite runs twice with the same interpreter and arguments:
#
#   python -m pytest ...                      real Tornado
#   python -m squall.tornado -m pytest ...    squall, through the tornado alias
#
# and the script prints passed/failed/errors/skipped of both runs (from pytest's JUnit XML,
# kept in $SQUALL_RP_DIR/<project>-{tornado,squall}.xml with the full logs beside them).
# Exit status: 0 when every project meets its target (terminado: at least as many passing tests
# as on Tornado; the others: at least 95 % of Tornado's passing count), 1 otherwise.
#
# jupyter_server's suite (about 1,200 tests, many starting kernels) runs in full, serially: about
# six minutes per run on a 2-core machine. Needs the package index once (then it reuses the
# environments; delete $SQUALL_RP_DIR to start afresh). SQUALL_RP_SQUALL=DIR installs squall from
# another checkout (say, one with branches merged) instead of this one; SQUALL_RP_MODES=squall
# re-runs only the squall side (the Tornado side's last report is reused).
#
# Real Tornado is pinned to the newest 6.5 release: squall reports Tornado's 6.5 API level under
# the alias (docs/tornado-differences.md), and Tornado 6.6's new deprecation warnings fail ~40
# jupyter_server tests on Tornado itself (its suite turns warnings into errors).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SQUALL_RP_DIR:-/tmp/squall-real-projects}"
PYTHON="${PYTHON:-python3}"
TORNADO_PIN="tornado==6.5.10"
SQUALL_SRC="${SQUALL_RP_SQUALL:-$ROOT}"

# name | pip requirement (pinned) | extra test requirements | pytest arguments (after the paths)
PROJECTS=(
  "terminado|terminado==0.18.1|pytest pytest-timeout|tests"
  "flower|flower==2.2.0|pytest pytest-timeout redis>=4.3.6|tests/unit"
  "jupyter_server|jupyter_server==2.21.1|ipykernel pytest-console-scripts pytest-timeout pytest-jupyter[server]>=0.7 requests flaky|tests"
)
# Targets: the squall run must pass at least this share (percent) of what passes on Tornado.
declare -A TARGET=([terminado]=100 [flower]=95 [jupyter_server]=95)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local name
  for name in "${want[@]}"; do [ "$name" = "$1" ] && return 0; done
  return 1
}

count() {  # count JUNIT_XML -> "passed failed errors skipped", one count per test (not subtest)
  "$PYTHON" - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET

counts = {"passed": 0, "failure": 0, "error": 0, "skipped": 0}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    kinds = {child.tag for child in case}
    kind = next((k for k in ("error", "failure", "skipped") if k in kinds), "passed")
    counts[kind] += 1
print(counts["passed"], counts["failure"], counts["error"], counts["skipped"])
EOF
}

setup_project() {  # setup_project NAME REQUIREMENT EXTRAS
  local name="$1" requirement="$2" extras="$3"
  local venv="$WORK/$name-venv" src="$WORK/$name-src"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  echo "== $name: installing $requirement, $TORNADO_PIN, the test tools and squall from $SQUALL_SRC"
  # shellcheck disable=SC2086  # the extras are separate words on purpose
  "$venv/bin/python" -m pip install -q "$requirement" "$TORNADO_PIN" $extras >"$WORK/$name-pip.log" 2>&1 \
    || { tail -20 "$WORK/$name-pip.log"; return 1; }
  "$venv/bin/python" -m pip install -q -e "$SQUALL_SRC" >>"$WORK/$name-pip.log" 2>&1 \
    || { tail -20 "$WORK/$name-pip.log"; return 1; }
  if [ ! -d "$src" ]; then
    local dl="$WORK/$name-sdist"
    rm -rf "$dl" && mkdir -p "$dl"
    "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: -d "$dl" "$requirement" \
      >>"$WORK/$name-pip.log" 2>&1 || { tail -20 "$WORK/$name-pip.log"; return 1; }
    mkdir -p "$src"
    tar -xzf "$dl"/*.tar.gz -C "$src" --strip-components=1
  fi
}

run_suite() {  # run_suite NAME ARGS MODE(tornado|squall)
  local name="$1" args="$2" mode="$3"
  local venv="$WORK/$name-venv" src="$WORK/$name-src"
  local xml="$WORK/$name-$mode.xml" log="$WORK/$name-$mode.log"
  local runner=("$venv/bin/python")
  [ "$mode" = squall ] && runner+=(-m squall.tornado)
  echo "== $name on $mode: $(date +%T)"
  # Run from the sdist: its tests, and its copy of the package (the released code); the
  # environment's bin first on PATH, as when it is activated (console scripts: jupyter, ...).
  # shellcheck disable=SC2086  # the arguments are separate words on purpose
  (cd "$src" && env -u SQUALL_TORNADO_ALIAS PATH="$venv/bin:$PATH" "${runner[@]}" -m pytest \
     $args -p no:cacheprovider -q --color=no --junitxml="$xml" >"$log" 2>&1) || true
  if [ ! -s "$xml" ]; then
    echo "   no JUnit report: see $log"; tail -5 "$log"; return 1
  fi
  grep -E "^=*.* in [0-9.]+s" "$log" | tail -1 || true
}

mkdir -p "$WORK"
status=0
summary=()
for entry in "${PROJECTS[@]}"; do
  IFS='|' read -r name requirement extras args <<<"$entry"
  selected "$name" || continue
  setup_project "$name" "$requirement" "$extras"
  for mode in ${SQUALL_RP_MODES:-tornado squall}; do
    run_suite "$name" "$args" "$mode" || { status=1; continue 2; }
  done
  read -r tp tf te ts <<<"$(count "$WORK/$name-tornado.xml")"
  read -r sp sf se ss <<<"$(count "$WORK/$name-squall.xml")"
  need=$(( (tp * ${TARGET[$name]} + 99) / 100 ))
  verdict="ok"
  if [ "$sp" -lt "$need" ]; then verdict="BELOW TARGET"; status=1; fi
  summary+=("$(printf '%-15s tornado: %4d passed %3d failed %3d errors %3d skipped | squall: %4d passed %3d failed %3d errors %3d skipped | target >= %d: %s' \
    "$name" "$tp" "$tf" "$te" "$ts" "$sp" "$sf" "$se" "$ss" "$need" "$verdict")")
done
echo
echo "== results (reports and logs in $WORK)"
for line in "${summary[@]}"; do echo "$line"; done
exit "$status"
