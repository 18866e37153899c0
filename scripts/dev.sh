#!/usr/bin/env bash
# The README's two commands. Each does ALL the set-up first (idempotent, fast when done):
#   bash scripts/dev.sh demo   # set up, run notebooks/quickstart.ipynb offline, open it in JupyterLab
#   bash scripts/dev.sh test   # set up, run the lint/type gate, the JS unit tests and the whole pytest suite (browser tests included)
#
# Set-up: .venv in the repo (python3 -m venv), torch==2.13.0 first (a CPU wheel lies on disk; an
# unpinned torch would pull a multi-GB CUDA build), then `pip install -e ".[test]"` (its build runs
# `npm install` + esbuild in js/), then Debian's chromium when /usr/bin/chromium is missing.
#
# Options: demo --no-lab (or NO_LAB=1) stops after the offline run; test passes extra arguments to
# pytest (bash scripts/dev.sh test -k matrix). AW_FORCE_SETUP=1 redoes the pip step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TORCH_PIN="torch==2.13.0"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1m[dev.sh]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

setup_python() {
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Redo the pip step only when what it installs from has changed (or the package is missing).
  local stamp="$VENV/.albert-widget-setup" want
  want="$(cat pyproject.toml js/package.json js/package-lock.json 2>/dev/null | sha256sum | cut -c1-32)"
  if [ "${AW_FORCE_SETUP:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && "$PY" -c "import albert_widget, torch, playwright, jupyterlab" 2>/dev/null; then
    return 0
  fi
  log "installing $TORCH_PIN (CPU wheel) first"
  "$PY" -m pip install --quiet "$TORCH_PIN"
  if [ ! -d js/node_modules ]; then
    log "npm ci in js/"
    (cd js && npm ci --no-audit --no-fund --loglevel=error)
  fi
  log "pip install -e .[test] (builds the front end with esbuild)"
  "$PY" -m pip install --quiet -e ".[test]" "$TORCH_PIN"
  echo "$want" >"$stamp"
}

setup_frontend() {
  # The editable install built the bundle once; rebuild it when js/src changed since (milliseconds).
  if [ ! -x js/node_modules/.bin/esbuild ] || [ ! -x js/node_modules/.bin/biome ] || [ ! -x js/node_modules/.bin/tsc ]; then
    (cd js && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -s albert_widget/static/widget.js ] || [ ! -f albert_widget/static/widget.css ] \
     || [ -n "$(find js/src js/build.mjs -newer albert_widget/static/widget.js -print -quit)" ]; then
    log "bundling js/src -> albert_widget/static/"
    (cd js && npm run --silent build)
  fi
}

setup_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  log "installing Debian's chromium (for the browser tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] || { log "chromium did not install"; return 1; }
}

setup() {
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  command -v npm >/dev/null || { log "node and npm are required (Node 20)"; exit 1; }
  setup_python
  setup_frontend
}

# The lint, format and type gate (CI fails on it): ruff + mypy (typed core) for Python, Biome + tsc
# (the page-kernel contract) for js/. `bash scripts/dev.sh fix` applies the formatters.
PY_SOURCES=(albert_widget tests benchmarks notebooks)
cmd_lint() {
  log "lint: ruff check, ruff format --check, mypy; js: biome check, tsc"
  "$VENV/bin/ruff" check "${PY_SOURCES[@]}"
  "$VENV/bin/ruff" format --check "${PY_SOURCES[@]}"
  "$VENV/bin/mypy"
  (cd js && npm run --silent lint)
}

cmd_fix() {
  "$VENV/bin/ruff" check --fix "${PY_SOURCES[@]}" || true
  "$VENV/bin/ruff" format "${PY_SOURCES[@]}"
  (cd js && npm run --silent format)
}

cmd_test() {
  setup
  setup_chromium
  cmd_lint
  log "node --test (js/)"
  (cd js && node --test test/)
  log "pytest"
  local rc=0
  "$PY" -m pytest -p no:cacheprovider -ra --durations=15 tests "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then log "pytest collected no tests: that is a failure"; fi
  return "$rc"
}

cmd_demo() {
  local lab=1
  for arg in "$@"; do
    case "$arg" in
      --no-lab) lab=0 ;;
      *) log "unknown demo option: $arg"; exit 2 ;;
    esac
  done
  [ "${NO_LAB:-0}" = 1 ] && lab=0
  setup
  log "running notebooks/quickstart.ipynb offline (packaged pretrained all-MiniLM-L6-v2)"
  "$PY" - <<'PY'
import json, sys, time
import nbformat
from nbclient import NotebookClient

t0 = time.time()
nb = nbformat.read("notebooks/quickstart.ipynb", as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "notebooks"}}).execute()
summary = None
for cell in nb.cells:
    for out in cell.get("outputs", []):
        for line in str(out.get("text", "")).splitlines():
            if line.startswith("SUMMARY "):
                summary = json.loads(line[len("SUMMARY "):])
if summary is None:
    sys.exit("the quickstart printed no SUMMARY line")
print(f"quickstart ran in {time.time() - t0:.1f} s, offline")
print(f"  model:   {summary['model']} ({summary.get('model_type', '')}: {summary.get('model_path', '')})")
print(f"  text:    {summary['text']!r}")
print(f"  tokens:  {summary['num_tokens']}  {' '.join(summary['tokens'])}")
print(f"  shape:   {summary['num_layers']} layers x {summary['num_heads']} heads x {summary['num_tokens']} x {summary['num_tokens']}")
print(f"  bytes:   {summary['bytes_per_layer']:,} per layer sent to the page as float32 "
      f"({summary['bytes_all_layers']:,} for all {summary['num_layers']} layers)")
PY
  if [ "$lab" = 1 ]; then
    log "starting JupyterLab on notebooks/quickstart.ipynb (Ctrl+C to stop)"
    local extra=()
    [ "$(id -u)" -eq 0 ] && extra+=(--allow-root)
    exec "$VENV/bin/jupyter" lab "${extra[@]}" notebooks/quickstart.ipynb
  fi
}

case "${1:-}" in
  demo) shift; cmd_demo "$@" ;;
  test) shift; cmd_test "$@" ;;
  setup) shift; setup; setup_chromium ;;
  lint) shift; setup; cmd_lint ;;
  fix) shift; setup; cmd_fix ;;
  *) echo "usage: bash scripts/dev.sh demo [--no-lab] | test [pytest args...] | lint | fix" >&2; exit 2 ;;
esac
