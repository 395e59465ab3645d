"""Before/after of two revisions, interleaved, so that both see the same machine load.

    python bench/ab.py OLD NEW --database-url postgresql://postgres@127.0.0.1/bench_perf_1m \
        [--only page_first,item_get] [--rounds 5] [--seconds 2]

Exports each revision's `app` and `migrations` (`git archive`; NEW may be `WORKTREE`) and
starts one `backlog-bridge serve` per revision, both at once. Then, round after round, runs
each workload on each server in turn with wrk: 1 connection (unloaded), then 32. Prints the
median over the rounds of p50 (unloaded) and of req/s (loaded) per revision, and NEW / OLD.
On a shared 2-core machine absolute numbers swing by 2x from minute to minute; pairing the
two revisions round by round keeps the comparison fair.
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import load  # sibling modules: bench/ is not a package
import workloads

HERE = Path(__file__).resolve().parent


def export(revision: str, into: Path) -> Path:
    if revision == "WORKTREE":
        return HERE.parent
    target = into / revision
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "app", "migrations"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--only", default="page_first,page_deep,item_get,item_move")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    return parser.parse_args()


Samples = dict[tuple[str, str, str], list[float]]  # (workload, revision, p50|rps): per round


async def main() -> None:
    args = _arguments()
    rnd = load.random.Random(9)
    fixture = await load.prepare(args.database_url, rnd)
    names = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        work = Path(tmp)
        urls: dict[str, str] = {}
        servers = []
        for revision in (args.old, args.new):
            servers.append(server := load.Servers(args.database_url, work))
            server.env["PYTHONPATH"] = str(export(revision, work))
            bin_dir = Path(sys.executable).parent
            urls[revision] = server.start("app", [str(bin_dir / "backlog-bridge"), "serve"])
        try:
            for url in urls.values():
                await load.wait_ready(url, "/readyz")
            integration = await load.setup_app(urls[args.new], fixture, work / "page.json")
            lines = workloads.workload_lines(fixture, rnd, integration_id=integration)
            for name in names:
                (work / f"{name}.txt").write_text("\n".join(lines[name]) + "\n")
                for url in urls.values():
                    await load.check_once(url, lines[name][0])
            samples = _rounds(urls, names, work, args)
        finally:
            for server in servers:
                server.stop()
    sys.stdout.write(_table(samples, names, args.old, args.new))


def _rounds(
    urls: dict[str, str], names: list[str], work: Path, args: argparse.Namespace
) -> Samples:
    """Both revisions in turn, round after round, so both see the same machine load."""
    samples: Samples = {}
    for round_ in range(args.rounds):
        for name in names:
            for revision, url in urls.items():
                file = work / f"{name}.txt"
                alone = load.wrk(url, file, connections=1, seconds=args.seconds)
                busy = load.wrk(url, file, connections=32, seconds=args.seconds)
                samples.setdefault((name, revision, "p50"), []).append(alone["p50"])
                samples.setdefault((name, revision, "rps"), []).append(busy["rps"])
        load.log(f"round {round_ + 1} done")
    return samples


def _table(samples: Samples, names: list[str], old: str, new: str) -> str:
    rows = [
        f"| workload | p50 unloaded {old} / {new} (ms) | new/old "
        f"| req/s (32 conn) {old} / {new} | new/old |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        p50 = [statistics.median(samples[(name, r, "p50")]) for r in (old, new)]
        rps = [statistics.median(samples[(name, r, "rps")]) for r in (old, new)]
        rows.append(
            f"| {name} | {p50[0]:.2f} / {p50[1]:.2f} | {p50[1] / p50[0]:.2f}x "
            f"| {rps[0]:.0f} / {rps[1]:.0f} | {rps[1] / rps[0]:.2f}x |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    asyncio.run(main())
