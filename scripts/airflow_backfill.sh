#!/usr/bin/env bash
# Backfill days FROM..TO through Airflow (scheduler + DAG processor + API server).
#
#   scripts/airflow_backfill.sh FROM TO [TIMEOUT_S]     e.g. scripts/airflow_backfill.sh 2026-01-01 2026-01-03
#
# Starts the three Airflow 3 processes in the background with the same environment as
# `make demo`, unpauses the DAG, then, by BACKFILL_MODE:
#   range (default)  triggers emotion_drift_backfill once with params start=FROM, end=TO: one
#                    Spark application runs the days in order, each through every stage
#                    (what `emodrift backfill` does), about the CLI's time;
#   daily            `airflow backfill create` on emotion_drift_nightly: one DAG run per day,
#                    one at a time (drift reads earlier days), three Spark applications and
#                    six task processes per day (~10x slower; see benchmarks/RESULTS.md).
# Waits until the run(s) finished, prints their states, stops the processes and exits 1 when
# a run failed (2 on timeout). Needs `make install`; runs `airflow db migrate` (idempotent).
# Settings (environment): AIRFLOW_HOME (./airflow_home), EMODRIFT_LANDING (./landing),
# EMODRIFT_LAKE (./lake), BACKFILL_MODE (range | daily), BACKFILL_TIMEOUT_S (3600),
# BACKFILL_REPROCESS (daily mode; failed: rerun days whose run failed; none | completed),
# AIRFLOW__API__PORT (28080), AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT (28793),
# AIRFLOW__CORE__PARALLELISM (1).
# Do not run it while another scheduler serves the same AIRFLOW_HOME.
set -euo pipefail

FROM=${1:?usage: $0 FROM TO [TIMEOUT_S]}
TO=${2:?usage: $0 FROM TO [TIMEOUT_S]}
TIMEOUT_S=${3:-${BACKFILL_TIMEOUT_S:-3600}}
REPROCESS=${BACKFILL_REPROCESS:-failed}
MODE=${BACKFILL_MODE:-range}
case $MODE in
    range) DAG_ID=emotion_drift_backfill ;;
    daily) DAG_ID=emotion_drift_nightly ;;
    *) echo "BACKFILL_MODE must be range or daily, not $MODE" >&2; exit 1 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=$ROOT/.venv/bin
[ -x "$BIN/airflow" ] || { echo "no $BIN/airflow: run 'make install' first" >&2; exit 1; }

# the Makefile's environment
export PATH=$BIN:$PATH
export AIRFLOW_HOME=${AIRFLOW_HOME:-$ROOT/airflow_home}
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
export PYSPARK_PYTHON=$BIN/python PYSPARK_DRIVER_PYTHON=$BIN/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export EMODRIFT_LANDING=${EMODRIFT_LANDING:-$ROOT/landing}
export EMODRIFT_LAKE=${EMODRIFT_LAKE:-$ROOT/lake}
# Airflow 3: task processes report to the API server's execution API, so point them at it.
# Non-default ports keep clear of other Airflows on a shared machine.
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=${AIRFLOW__API__PORT:-28080}
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$AIRFLOW__API__PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$AIRFLOW__API__BASE_URL/execution/
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-28793}
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-1}

LOGS=$AIRFLOW_HOME/backfill-logs/$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$LOGS"
say() { echo "[airflow_backfill $(date -u +%H:%M:%S)] $*"; }
af() { airflow "$@" 2>>"$LOGS/cli.log"; }

PIDS=()
WAS_PAUSED=""
stop() {
    local rc=$?
    trap - EXIT INT TERM
    [ "$WAS_PAUSED" = True ] && af dags pause "$DAG_ID" >/dev/null || true
    if [ ${#PIDS[@]} -gt 0 ]; then
        say "stopping ${PIDS[*]}"
        for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
        for _ in $(seq 30); do
            alive=0; for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ $alive = 0 ] && break; sleep 1
        done
        for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    fi
    say "logs: $LOGS"
    exit $rc
}
trap stop EXIT
trap 'exit 130' INT TERM

if curl -sf "$AIRFLOW__API__BASE_URL/api/v2/monitor/health" >/dev/null 2>&1; then
    say "something already answers on $AIRFLOW__API__BASE_URL: set AIRFLOW__API__PORT" >&2; exit 1
fi
mkdir -p "$AIRFLOW_HOME"
airflow db migrate >"$LOGS/migrate.log" 2>&1 || { tail -30 "$LOGS/migrate.log"; exit 1; }

for proc in api-server dag-processor scheduler; do
    setsid airflow "$proc" >"$LOGS/$proc.log" 2>&1 &   # own process group: stop() kills its children too
    PIDS+=($!)
    say "started airflow $proc (pid $!, log $LOGS/$proc.log)"
done

say "waiting for the API server and for $DAG_ID to be parsed"
for i in $(seq 120); do
    details=$(af dags details "$DAG_ID" -o json | grep '^\[' || true)
    curl -sf "$AIRFLOW__API__BASE_URL/api/v2/monitor/health" >/dev/null 2>&1 && [ -n "$details" ] && break
    [ "$i" = 120 ] && { say "Airflow did not come up in time" >&2; exit 1; }
    sleep 2
done
WAS_PAUSED=$(python -c 'import json,sys; print(json.loads(sys.argv[1])[0]["is_paused"])' "$details")

af dags unpause "$DAG_ID" >/dev/null
if [ "$MODE" = range ]; then
    RUN_ID=range__${FROM}__${TO}__$(date -u +%Y%m%dT%H%M%S)
    say "triggering $DAG_ID $RUN_ID"
    af dags trigger "$DAG_ID" --run-id "$RUN_ID" --conf "{\"start\": \"$FROM\", \"end\": \"$TO\"}" >>"$LOGS/cli.log" \
        || { tail -5 "$LOGS/cli.log"; exit 1; }
else
    say "creating the backfill $FROM..$TO (reprocess: $REPROCESS)"
    af backfill create --dag-id "$DAG_ID" --from-date "$FROM" --to-date "$TO" \
        --max-active-runs 1 --reprocess-behavior "$REPROCESS" >>"$LOGS/cli.log" \
        || { tail -5 "$LOGS/cli.log"; exit 1; }
fi

# the runs to wait for: the triggered range run, or the daily backfill's runs (run ids start
# with backfill__; the logical date is the day); printed as "day-or-range state start end"
runs() {
    af dags list-runs "$DAG_ID" -o json | grep '^\[' | python -c '
import json, sys
lo, hi, range_run = sys.argv[1], sys.argv[2], sys.argv[3]
for run in json.load(sys.stdin):
    if range_run:
        wanted, name = run["run_id"] == range_run, f"{lo}..{hi}"
    else:
        wanted = run["run_id"].startswith("backfill__") and lo <= (run["logical_date"] or "")[:10] <= hi
        name = (run["logical_date"] or "")[:10]
    if wanted:
        print(name, run["state"], (run["start_date"] or "-")[:19], (run["end_date"] or "-")[:19])
' "$FROM" "$TO" "${RUN_ID:-}" | sort
}

START=$(date +%s)
while :; do
    states=$(runs) || states=""   # a CLI hiccup (SQLite busy): try again next round
    elapsed=$(( $(date +%s) - START ))
    say "${elapsed}s: $(awk '{print $2}' <<<"$states" | sort | uniq -c | xargs)"
    [ -n "$states" ] && ! awk '{print $2}' <<<"$states" | grep -qvE '^(success|failed)$' && break
    [ "$elapsed" -ge "$TIMEOUT_S" ] && { say "timed out after ${TIMEOUT_S}s"; echo "$states"; exit 2; }
    # a dead service never finishes the runs: show the logs and stop instead of waiting
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            say "airflow process ${PIDS[$i]} exited early; last lines of the service logs:" >&2
            for log in "$LOGS"/api-server.log "$LOGS"/dag-processor.log "$LOGS"/scheduler.log; do
                grep -q . "$log" 2>/dev/null && { echo "== $log"; tail -20 "$log"; }
            done >&2
            exit 1
        fi
    done
    sleep 15
done

echo "day        state    started             ended"
echo "$states"
say "backfill $FROM..$TO finished in ${elapsed}s"
if grep -q ' failed ' <<<"$states"; then
    # point at the evidence: the newest task logs that report an error
    say "failed runs; task logs with errors (newest last):" >&2
    find "$AIRFLOW_HOME/logs" -name '*.log' -newer "$LOGS/migrate.log" -print0 2>/dev/null \
        | xargs -0 -r grep -l -E 'ERROR|Traceback' 2>/dev/null | xargs -r ls -tr | tail -3 \
        | while read -r log; do echo "== $log"; tail -25 "$log"; done >&2
    exit 1
fi
