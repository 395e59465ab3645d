"""The load run's markdown: a table per database, the largest against the smallest, and issue
#9's targets judged on the largest."""

from typing import Any

Check = tuple[str, float, str, bool]  # target, measured, unit, met
WORKLOADS = {  # name: what it is (reference rows first)
    "ref_a": "(a) bare FastAPI, 50 objects from memory",
    "ref_b": "(b) bare FastAPI + driver, first page",
    "ref_b_deep": "(b) bare FastAPI + driver, deep page",
    "page_first": "backlog page, first",
    "page_deep": "backlog page, deep cursor",
    "item_get": "single item GET",
    "item_create": "item create",
    "item_move": "item move (to top)",
    "request_submit": "request submit",
    "sprint_report": "sprint report",
    "webhook": "webhook ingest (signed GitHub)",
    "mix": "mix",
}


def document(meta: dict[str, Any], results: dict[str, Any]) -> str:
    """Everything the run prints: each database's table, then per backend the largest
    database against the smallest and the targets."""
    out = [f"{meta}"]
    for url, result in results.items():
        out += ["", f"### {url} ({items_label(result['items'])} items)", "", table(result)]
    for backend in ("postgresql", "sqlite"):
        runs = [r for url, r in results.items() if url.startswith(backend)]
        by_size = sorted(runs, key=lambda r: r["items"])
        if len(by_size) > 1:
            small, large = by_size[0], by_size[-1]
            title = (
                f"{backend}: {items_label(large['items'])} against {items_label(small['items'])}"
            )
            out += ["", f"### {title}", "", scaling(small, large)]
            out += ["", f"### {backend}: targets of issue #9", "", targets(small, large)]
    return "\n".join(out) + "\n"


def table(result: dict[str, Any]) -> str:
    runs = result["workloads"]
    a, b = runs["ref_a"]["loaded"]["rps"], runs["ref_b"]["loaded"]["rps"]
    # Server CPU per request: what throughput would be on an idle machine (one busy worker),
    # and far steadier than req/s while other work shares the 2 cores.
    cpu_a = runs["ref_a"]["loaded"]["cpu_ms"]
    cpu_b = (runs["ref_b_deep"]["loaded"]["cpu_ms"], runs["ref_b"]["loaded"]["cpu_ms"])
    rows = [
        "| workload | req/s (32 conn) | x (a) | x (b) | p50 / p99 loaded (ms) "
        "| p50 / p99 unloaded (ms) | server CPU ms/req | CPU x (a) | CPU x (b) | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in WORKLOADS.items():
        if name not in runs:
            continue
        loaded, alone = runs[name]["loaded"], runs[name]["unloaded"]
        ref_b = runs["ref_b_deep" if name == "page_deep" else "ref_b"]["loaded"]["rps"]
        rows.append(
            f"| {label} | {loaded['rps']:.0f} | {loaded['rps'] / a:.2f} | "
            f"{loaded['rps'] / (ref_b if name != 'ref_b' else b):.2f} | "
            f"{loaded['p50']:.2f} / {loaded['p99']:.2f} | {alone['p50']:.2f} / {alone['p99']:.2f} "
            f"| {loaded['cpu_ms']:.2f} | {cpu_a / loaded['cpu_ms']:.2f} "
            f"| {cpu_b[name != 'page_deep'] / loaded['cpu_ms']:.2f} "
            f"| {loaded['non2xx'] + alone['non2xx']} |"
        )
    return "\n".join(rows)


def scaling(small: dict[str, Any], large: dict[str, Any]) -> str:
    sizes = f"{items_label(small['items'])} / {items_label(large['items'])}"
    rows = [
        f"| workload | unloaded p50 {sizes} (ms) | ratio "
        "| loaded p99 (ms) | ratio | req/s | ratio | server CPU ms/req | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in WORKLOADS.items():
        if name not in small["workloads"]:
            continue
        s, big = small["workloads"][name], large["workloads"][name]
        p50s, p50l = s["unloaded"]["p50"], big["unloaded"]["p50"]
        p99s, p99l = s["loaded"]["p99"], big["loaded"]["p99"]
        rs, rl = s["loaded"]["rps"], big["loaded"]["rps"]
        cs, cl = s["loaded"]["cpu_ms"], big["loaded"]["cpu_ms"]
        rows.append(
            f"| {label} | {p50s:.2f} / {p50l:.2f} | {p50l / p50s:.2f}x | {p99s:.1f} / {p99l:.1f} "
            f"| {p99l / p99s:.2f}x | {rs:.0f} / {rl:.0f} | {rl / rs:.2f}x "
            f"| {cs:.2f} / {cl:.2f} | {cl / cs:.2f}x |"
        )
    return "\n".join(rows)


def targets(small: dict[str, Any], large: dict[str, Any]) -> str:
    """Issue #9's targets, judged on the largest database (scaling: against the smallest)."""
    checks = _speed_checks(large["workloads"]) + _scaling_checks(small, large)
    rows = ["| target | measured | met |", "|---|---:|---|"]
    rows += [f"| {t} | {v:.2f} {unit} | {'yes' if ok else '**no**'} |" for t, v, unit, ok in checks]
    return "\n".join(rows)


def _speed_checks(runs: dict[str, Any]) -> list[Check]:
    def rps(name: str) -> float:
        return float(runs[name]["loaded"]["rps"])

    def cpu(name: str) -> float:  # the reference's CPU per request over this one's
        return float(runs["ref_a" if name == "a" else name]["loaded"]["cpu_ms"])

    def p50(name: str) -> float:
        return float(runs[name]["unloaded"]["p50"])

    checks: list[Check] = []
    for page, ref in (("page_first", "ref_b"), ("page_deep", "ref_b_deep")):
        if page in runs:
            for target, ratio, floor in (
                ("0.33x (a)", rps(page) / rps("ref_a"), 0.33),
                ("0.8x (b)", rps(page) / rps(ref), 0.8),
                ("0.8x (b), by server CPU", cpu(ref) / cpu(page), 0.8),
                ("0.33x (a), by server CPU", cpu("a") / cpu(page), 0.33),
            ):
                checks.append((f"{page} >= {target}", ratio, "x", ratio >= floor))
            checks.append((f"{page} unloaded p50 <= 2 ms", p50(page), "ms", p50(page) <= 2))
    for name in ("item_create", "item_move", "request_submit"):
        if name in runs:
            checks.append((f"{name} unloaded p50 <= 5 ms", p50(name), "ms", p50(name) <= 5))
    if "webhook" in runs:
        ratio = rps("webhook") / rps("ref_a")
        checks.append(("webhook >= 0.3x (a)", ratio, "x", ratio >= 0.3))
        ratio = cpu("a") / cpu("webhook")
        checks.append(("webhook >= 0.3x (a), by server CPU", ratio, "x", ratio >= 0.3))
    return checks


def _scaling_checks(small: dict[str, Any], large: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    sizes = f"{items_label(large['items'])} / {items_label(small['items'])}"
    for name, big in large["workloads"].items():
        if name.startswith("ref_") or name not in small["workloads"]:
            continue
        few = small["workloads"][name]
        ratio = big["unloaded"]["p50"] / few["unloaded"]["p50"]
        checks.append((f"{name} unloaded p50 {sizes} <= 1.5x", ratio, "x", ratio <= 1.5))
        ratio = big["loaded"]["cpu_ms"] / few["loaded"]["cpu_ms"]
        checks.append((f"{name} server CPU {sizes} <= 1.5x", ratio, "x", ratio <= 1.5))
    return checks


def items_label(items: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if items >= size:
            return f"{items / size:g}{suffix}"
    return str(items)
