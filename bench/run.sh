#!/usr/bin/env bash
# Generate the 1k, 100k and 1M databases on PostgreSQL, EXPLAIN the 1M one, time all three
# in interleaved rounds, then drop them.
#   bash bench/run.sh [RESULTS.json]
# BB_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432) is the server; the
# databases are bb_bench_1k, bb_bench_100k and bb_bench_1m (~1 GB of disk in all). The
# EXPLAIN output goes next to the results file. To measure another revision, export it
# (git archive REV app migrations | tar -x -C DIR) and set PYTHONPATH=DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${BB_BENCH_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
results=${1:-bench/results.json}
python=.venv/bin/python
urls=()
for size in 1k:1000 100k:100000 1m:1000000; do
    url="$server/bb_bench_${size%%:*}"
    "$python" bench/generate.py --database-url "$url" --items "${size##*:}" --recreate >/dev/null
    urls+=(--database-url "$url")
done
trap 'for u in "${urls[@]}"; do [ "$u" = --database-url ] || "$python" bench/generate.py --database-url "$u" --drop; done' EXIT
"$python" bench/explain.py --database-url "$server/bb_bench_1m" >"${results%.json}-explain-1m.txt"
"$python" bench/backlog_page.py "${urls[@]}" --results "$results"
