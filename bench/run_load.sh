#!/usr/bin/env bash
# Issue #9's load run: every workload alone and as a mix, against the app and the two
# reference apps, with wrk, on PostgreSQL 1k/100k/1M and SQLite 1k/100k items.
#   bash bench/run_load.sh [RESULTS.json]        (FRESH=1 regenerates the databases)
# Needs wrk (apt-get install -y wrk) and the dev venv. Databases: bench_perf_{1k,100k,1m} on
# BB_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432) and /tmp/bench_perf_*.db;
# they are kept for the next run (the 1M one takes a minute or two to make). The write
# workloads add a few thousand items, requests and deliveries to them each run.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${BB_BENCH_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
results=${1:-bench/results-load.json}
python=.venv/bin/python
urls=()
for spec in "$server/bench_perf_1k 1000" "$server/bench_perf_100k 100000" \
    "$server/bench_perf_1m 1000000" "sqlite:////tmp/bench_perf_1k.db 1000" \
    "sqlite:////tmp/bench_perf_100k.db 100000"; do
    read -r url items <<<"$spec"
    if [ "${FRESH:-0}" = 1 ]; then
        "$python" bench/generate.py --database-url "$url" --items "$items" --recreate >/dev/null
    elif ! "$python" bench/generate.py --database-url "$url" --items "$items" >/dev/null 2>&1; then
        echo "using the existing $url" >&2  # generate.py refuses a database that has items
    fi
    urls+=(--database-url "$url")
done
"$python" bench/load.py "${urls[@]}" --results "$results" "${@:2}"
