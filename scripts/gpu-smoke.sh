#!/usr/bin/env bash
# GPU smoke test, for a machine with a real NVIDIA GPU (the project's device runs, or yours).
# Runs llmdoctor for real and keeps the output as fixtures under $OUT (default: tests/data/real/):
#   snapshot.json   llmdoctor snapshot
#   report.json     llmdoctor check --json
#   pytest-gpu.txt  the tests marked gpu
# Usage: OUT=/some/dir bash scripts/gpu-smoke.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-tests/data/real}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv && .venv/bin/pip install -q -e '.[test]' || exit 1
fi
. .venv/bin/activate
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
llmdoctor snapshot -o "$OUT/snapshot.json" --force
llmdoctor check --json > "$OUT/report.json"; echo "check exit code: $?"
llmdoctor check --from "$OUT/snapshot.json" || true
python -m pytest -q -m gpu 2>&1 | tee "$OUT/pytest-gpu.txt"
