"""Reliability and security report: `python -m benchmarks.reliability [--quick] [--only GROUP ...]`.

Runs every case of tests/reliability/reliability_cases/ against the real app, library and CLIs and prints
one table (case, expected, observed, ok) plus the load figures; writes everything to
benchmarks/reliability.json. Exit code 1 if any case is not ok. Full run: about 10 minutes on a busy
2-core CPU; `--quick` shrinks the load and crash-resume parts (about 5 minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
import reliability_cases as rc  # noqa: E402  (the cases are test code: tests/reliability/reliability_cases/)

GROUPS = ("inputs", "hygiene", "checkpoints", "source", "data", "training", "load")
FULL = {"clients": 16, "per_client": 5, "sequential": 200, "warmup": 20, "burst": 40, "iters": 8, "kills": 3}
QUICK = {"clients": 8, "per_client": 2, "sequential": 40, "warmup": 10, "burst": 24, "iters": 6, "kills": 3}


def table(results: list[rc.Result]) -> str:
    heads = ("group", "case", "expected", "observed", "ok")
    rows = [(r.group, r.case, r.expected, r.observed, "yes" if r.ok else ("KNOWN BUG" if r.xfail else "NO"))
            for r in results]
    widths = [min(max(len(h), *(len(row[i]) for row in rows)), cap) for i, (h, cap) in
              enumerate(zip(heads, (11, 44, 38, 100, 9), strict=True))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [(c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(row, widths, strict=True)]
        return "| " + " | ".join(cells) + " |"

    lines = [fmt(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join([*lines, *(fmt(r) for r in rows)])


def load_summary(figures: dict) -> str:
    c, s = figures["concurrent"], figures["sequential"]
    lines = [f"server: python app.py (subprocess), {figures.get('checkpoint', 'tiny checkpoint')}, "
             f"{figures['image_size']} images, "
             f"queue max_size={figures['queue_max_size']}, start-up {figures['startup_s']} s, "
             f"idle RSS {figures['rss_idle_mb']} MB",
             f"concurrent: {c['clients']} clients x {c['per_client']} = {c['requests']} analyses, "
             f"{c['failures']} failures, p50 {c['p50_s']} s, p95 {c['p95_s']} s, max {c['max_s']} s, "
             f"wall {c['wall_s']} s ({c['throughput_per_min']}/min), RSS peak {c['rss_peak_mb']} MB"]
    if "burst" in figures:
        b = figures["burst"]
        lines.append(f"burst: {b['submitted']} submitted at once -> {b['completed']} completed, "
                     f"{b['refused_queue_full']} refused (queue full), other errors {b['other_errors'] or 'none'}; "
                     f"the next request {'served' if b.get('after_burst_ok') else 'FAILED'}")
    lines.append(f"sequential: {s['requests']} analyses, {s['failures']} failures, p50 {s['p50_s']} s, "
                 f"p95 {s['p95_s']} s, RSS {s['rss_first_mb']} -> {s['rss_after_warmup_mb']} (after "
                 f"{s['warmup']}) -> {s['rss_last_mb']} MB, max {s['rss_max_mb']} MB, slope "
                 f"{s['slope_mb_per_100']:+.2f} MB / 100 requests; temp files grow "
                 f"{s['disk_growth_mb_per_100']} MB / 100 requests "
                 f"({s['gradio_cache_growth_mb_per_100']} MB in gradio's cache, cleaned by "
                 f"delete_cache={figures.get('delete_cache')}), {s['app_export_dirs_at_end']} app export dirs "
                 "at the end")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer load requests, shorter training")
    p.add_argument("--only", nargs="+", choices=GROUPS, help="run only these groups")
    p.add_argument("--json", default=str(Path(__file__).with_name("reliability.json")), help="output JSON")
    p.add_argument("--workdir", help="keep the generated files here (default: a temporary folder)")
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    groups = args.only or GROUPS
    results: list[rc.Result] = []
    figures: dict = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gald_reliability_") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        checkpoint = rc.make_checkpoint(work / "tiny")

        def step(name: str, fn) -> None:
            t0 = time.perf_counter()
            print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.__stderr__, flush=True)
            out = fn()
            results.extend(out)
            bad = sum(not r.ok for r in out)
            print(f"    {len(out)} cases, {bad} not ok, {time.perf_counter() - t0:.0f} s", file=sys.__stderr__,
                  flush=True)

        if "inputs" in groups or "hygiene" in groups:
            # gradio prints a server-side traceback for every refused request: keep them in a log file
            log = work / "server_inprocess.log"
            with open(log, "w") as f, contextlib.redirect_stderr(f), rc.serve_inprocess(checkpoint) as (demo, url):
                if "inputs" in groups:
                    step("inputs", lambda: rc.input_results(url, work / "inputs"))
                if "hygiene" in groups:
                    step("hygiene", lambda: rc.hygiene_results(url, work / "hygiene", checkpoint, demo))
        if "checkpoints" in groups:
            step("checkpoints", lambda: [*rc.checkpoint_results(work / "checkpoints"),
                                         rc.app_refuses_checkpoint(work / "checkpoints")])
        if "source" in groups:
            step("source", rc.source_results)
        if "data" in groups:
            step("data", lambda: rc.data_results(work / "data"))
        if "training" in groups:
            def training() -> list[rc.Result]:
                out, figures["training"] = rc.crash_resume(work / "training", iters=size["iters"], kills=size["kills"])
                return [*out, rc.kill_during_validation(work / "training"), rc.nan_stop(work / "training")]
            step("training", training)
        if "load" in groups:
            def load() -> list[rc.Result]:
                figures["load"] = rc.run_load(checkpoint, work / "load", clients=size["clients"],
                                              per_client=size["per_client"], sequential=size["sequential"],
                                              warmup=size["warmup"], burst_n=size["burst"])
                return rc.load_results(figures["load"])
            step("load", load)
    for r in results:
        if not r.ok and r.xfail is None:
            r.xfail = rc.KNOWN_BUGS.get(r.case)
    n_ok = sum(r.ok for r in results)
    print(table(results))
    print(f"\n{len(results)} cases, {n_ok} ok, {sum(1 for r in results if not r.ok and r.xfail)} known bugs, "
          f"{sum(1 for r in results if not r.ok and not r.xfail)} unexpected failures "
          f"({time.perf_counter() - t_start:.0f} s, {'quick' if args.quick else 'full'})")
    if "load" in figures:
        print("\n" + load_summary(figures["load"]))
    if "training" in figures:
        t = figures["training"]
        print(f"\ntraining: reference {t['iters']} steps in {t['reference_seconds']} s; kills: "
              + "; ".join(f"#{k['kill']} after snapshot {k['after_snapshot']} (+{k['delay_steps']} step) -> "
                          f"snapshot {k['snapshot_at_kill']}, {k['checkpoints']}"
                          + (f", temp files left {k['temp_files_left']}" if k["temp_files_left"] else "")
                          for k in t["kills"]))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "mode": "quick" if args.quick else "full",
              "command": "python -m benchmarks.reliability" + (" --quick" if args.quick else ""),
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": len(__import__("os").sched_getaffinity(0))},
              "n_cases": len(results), "n_ok": n_ok, "results": [r.row() for r in results], "figures": figures}
    if "load" in figures:
        figures["load"]["sequential"] = {**figures["load"]["sequential"]}  # keep the RSS series in the JSON
    Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0 if all(r.ok or r.xfail for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
