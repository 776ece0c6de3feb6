#!/usr/bin/env bash
# Start one LatentStage worker per GPU on this host (without systemd), each pinned to its GPU
# with CUDA_VISIBLE_DEVICES and listening on 127.0.0.1:$((BASE_PORT + i)), all sharing one
# snapshot store; then wait, and stop them all on SIGINT/SIGTERM. Put nginx in front with
# deploy/nginx/latentstage.conf (its upstream lists the same ports).
#
#   deploy/worker/run-workers.sh [GPUS] [-- extra serve arguments]
#   GPUS: how many (default: nvidia-smi -L | wc -l). Environment: MODEL, STORE, BASE_PORT,
#   HOST, AUTOSNAPSHOT_S, LEASE_S, LATENTSTAGE (the CLI), LOG_DIR.
set -euo pipefail
gpus=${1:-$(nvidia-smi -L 2>/dev/null | wc -l)}
shift || true
[ "${1:-}" = "--" ] && shift
[ "$gpus" -ge 1 ] || { echo "error: no GPU found (give the count: $0 N)" >&2; exit 1; }
cli=${LATENTSTAGE:-latentstage}
store=${STORE:-/srv/latentstage/store}
base=${BASE_PORT:-50061}
logs=${LOG_DIR:-.}
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM
for ((i = 0; i < gpus; i++)); do
  CUDA_VISIBLE_DEVICES=$i "$cli" serve --host "${HOST:-127.0.0.1}" --port $((base + i)) \
    --device cuda --model "${MODEL:-bundled}" --server-id "$(hostname -s)-gpu$i" \
    --snapshot-store "$store" --autosnapshot-s "${AUTOSNAPSHOT_S:-10}" \
    --lease-s "${LEASE_S:-6}" --snapshot-dir "$store/../snapshots/gpu$i" \
    --max-sessions-per-peer 0 --max-worlds-per-peer 0 "$@" >"$logs/worker$i.log" 2>&1 &
  pids+=($!)
  echo "worker $i: GPU $i, port $((base + i)), pid $!, log $logs/worker$i.log"
done
wait
