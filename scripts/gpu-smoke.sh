#!/usr/bin/env bash
# GPU smoke run (issue 16): one command, under 5 minutes, on a machine with an NVIDIA GPU.
#   scripts/gpu-smoke.sh            # outputs in ./gpu-smoke-out
#   OUT=/some/dir scripts/gpu-smoke.sh
# Writes: check-deep.json (llmdoctor check --deep --json), snapshot.json, pytest-gpu.txt, nvidia-smi.txt,
# and summary.txt (exit codes and timings). Real outputs can become fixtures under tests/data/real/.
set -u
OUT="${OUT:-./gpu-smoke-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
LLMDOCTOR="${LLMDOCTOR:-$PY -m llmdoctor}"
summary="$OUT/summary.txt"
: > "$summary"

step() {  # step NAME SECONDS CMD... : time-boxed, exit code and duration recorded
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - start))" | tee -a "$summary" >&2
}

command -v nvidia-smi >/dev/null && step nvidia-smi 30 sh -c "nvidia-smi -q > '$OUT/nvidia-smi.txt' 2>&1"
step check-deep 200 sh -c "$LLMDOCTOR check --deep --json -o '$OUT/check-deep.json' --force 2> '$OUT/check-deep.stderr'"
step snapshot 60 sh -c "$LLMDOCTOR snapshot -o '$OUT/snapshot.json' --force 2> '$OUT/snapshot.stderr'"
step pytest-gpu 120 sh -c "$PY -m pytest -q -p no:cacheprovider -m gpu tests > '$OUT/pytest-gpu.txt' 2>&1"
cat "$summary"
! grep -q "rc=124" "$summary"
