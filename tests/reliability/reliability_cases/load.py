"""Load: the app as a subprocess, concurrent clients, a burst beyond the queue, resident memory."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.app_harness import AppProcess, Peak

from .common import Result, short, synthetic_pair
from .inputs import AppClient


def load_images(workdir: Path, n: int, size: tuple[int, int] = (160, 120)) -> list[Path]:
    """n distinct images (so the Predictor's cache never answers instead of the network)."""
    d = workdir / "load_images"
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = d / f"img_{i:04d}.png"
        if not p.exists():
            Image.fromarray(synthetic_pair(size, seed=1000 + i)[0]).save(p)
        paths.append(p)
    return paths


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def concurrent_load(server: AppProcess, images: list[Path], clients: int, per_client: int) -> dict[str, Any]:
    """`clients` threads, each with its own gradio_client, each running `per_client` analyses back to back."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    apps = [AppClient(server.url, False) for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def worker(c: int) -> None:
        barrier.wait()
        for j in range(per_client):
            img = images[(c * per_client + j) % len(images)]
            t0 = time.perf_counter()
            try:
                out = apps[c].analyze(img)
                ok = "Analysed" in str(out.get("summary", ""))
                problem = None if ok else "no summary"
            except Exception as exc:
                problem = f"{type(exc).__name__}: {short(str(exc), 80)}"
            with lock:
                (failures.append(problem) if problem else latencies.append(time.perf_counter() - t0))

    t0 = time.perf_counter()
    with Peak(server, interval=0.1) as sampler:  # RSS sampled in a thread: the peak during the burst
        threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "per_client": per_client, "requests": clients * per_client,
            "ok": len(latencies), "failures": len(failures), "failure_messages": sorted(set(failures))[:5],
            "p50_s": round(_pct(latencies, 50), 2), "p95_s": round(_pct(latencies, 95), 2),
            "max_s": round(max(latencies, default=float("nan")), 2), "wall_s": round(wall, 1),
            "throughput_per_min": round(60 * len(latencies) / wall, 1), "rss_before_mb": round(sampler.before),
            "rss_peak_mb": round(sampler.peak)}


def burst(server: AppProcess, images: list[Path], n: int) -> dict[str, Any]:
    """Submit `n` analyses at once from one client: beyond the queue's max_size they must be refused, not pile up."""
    app = AppClient(server.url, False)
    from gradio_client import handle_file

    jobs = [app.client.submit(handle_file(str(images[i % len(images)])), None, 0.6, 0, api_name="/analyze")
            for i in range(n)]
    done, refused, other = 0, 0, []
    for job in jobs:
        try:
            job.result(timeout=600)
            done += 1
        except Exception as exc:
            if re.search(r"queue is full|Queue is full", str(exc), re.I):
                refused += 1
            else:
                other.append(short(f"{type(exc).__name__}: {exc}", 80))
    return {"submitted": n, "completed": done, "refused_queue_full": refused, "other_errors": sorted(set(other))[:3]}


def sequential_memory(server: AppProcess, images: list[Path], n: int, warmup: int) -> dict[str, Any]:
    """RSS after each of `n` sequential analyses (distinct images); slope of a linear fit after `warmup`."""
    app = AppClient(server.url, False)
    rss, lat, failures = [], [], 0
    disk0, cache0 = server.disk_mb(), server.disk_mb("gradio")
    for i in range(n):
        t0 = time.perf_counter()
        try:
            app.analyze(images[i % len(images)])
            lat.append(time.perf_counter() - t0)
        except Exception:
            failures += 1
        rss.append(server.rss_mb())
    y = np.asarray(rss[warmup:])
    x = np.arange(warmup, n)
    slope = float(np.polyfit(x, y, 1)[0]) * 100 if len(y) > 2 else float("nan")
    disk, cache = server.disk_mb() - disk0, server.disk_mb("gradio") - cache0
    exports = server.tmp / "gald_studio"  # app.scratch: <pid>-<token>/exports/<one folder per analysis>
    return {"requests": n, "warmup": warmup, "failures": failures, "rss_first_mb": round(rss[0]),
            "rss_after_warmup_mb": round(rss[min(warmup, n - 1)]), "rss_last_mb": round(rss[-1]),
            "rss_max_mb": round(max(rss)), "slope_mb_per_100": round(slope, 2),
            "p50_s": round(_pct(lat, 50), 2), "p95_s": round(_pct(lat, 95), 2),
            "disk_growth_mb_per_100": round(100 * disk / max(n, 1), 2),
            "gradio_cache_growth_mb_per_100": round(100 * cache / max(n, 1), 2),
            "app_export_dirs_at_end": len(list(exports.glob("*/exports/*"))),
            "rss_series_mb": [round(v, 1) for v in rss]}


def load_results(figures: dict[str, Any], *, rss_limit_mb: float = 3072, slope_limit: float = 25.0) -> list[Result]:
    c, s = figures["concurrent"], figures["sequential"]
    out = [Result("load", f"{c['clients']} clients x {c['per_client']} analyses", "0 failures",
                  f"{c['failures']} failures; p50 {c['p50_s']} s, p95 {c['p95_s']} s"
                  + (f" [{'; '.join(c['failure_messages'])}]" if c["failures"] else ""), c["failures"] == 0),
           Result("load", "server RSS during concurrent load", f"< {rss_limit_mb / 1024:.0f} GB",
                  f"peak {c['rss_peak_mb']} MB", c["rss_peak_mb"] < rss_limit_mb),
           Result("load", f"{s['requests']} sequential analyses", "0 failures, RSS < 3 GB",
                  f"{s['failures']} failures, max RSS {s['rss_max_mb']} MB",
                  s["failures"] == 0 and s["rss_max_mb"] < rss_limit_mb),
           Result("load", f"RSS slope after {s['warmup']} warm-up requests", f"< {slope_limit:g} MB / 100 requests",
                  f"{s['slope_mb_per_100']:+.1f} MB / 100 requests", s["slope_mb_per_100"] < slope_limit)]
    if "delete_cache" in figures:
        bounded = bool(figures["delete_cache"]) and s["app_export_dirs_at_end"] <= 16
        out.append(Result("load", "temp files (disk)", "bounded: delete_cache set, app exports pruned",
                          f"+{s['disk_growth_mb_per_100']:.0f} MB / 100 analyses "
                          f"({s['gradio_cache_growth_mb_per_100']:.0f} in gradio's cache); "
                          f"delete_cache={figures['delete_cache']}; {s['app_export_dirs_at_end']} export dirs left",
                          bounded))
    if figures.get("server_errors"):
        out[0].observed += f" [server log: {'; '.join(figures['server_errors'])}]"
    if "queue_max_size" in figures:
        out.append(Result("load", "queue bound (demo.queue max_size)", "set (bounded)",
                          str(figures["queue_max_size"]), bool(figures["queue_max_size"])))
    if "burst" in figures:
        b = figures["burst"]
        out.append(Result("load", f"burst of {b['submitted']} at once", "excess refused (queue full), rest done",
                          f"{b['completed']} done, {b['refused_queue_full']} refused"
                          + (f", other errors: {b['other_errors']}" if b["other_errors"] else ""),
                          not b["other_errors"] and b["completed"] + b["refused_queue_full"] == b["submitted"]
                          and (b["refused_queue_full"] > 0 or b["submitted"] <= (figures.get("queue_max_size") or 0))))
        if "after_burst_ok" in b:
            out.append(Result("load", "a request after the burst", "served normally",
                              "served" if b["after_burst_ok"] else b.get("after_burst_error", "failed"),
                              b["after_burst_ok"]))
    return out


def queue_max_size() -> int | None:
    """max_size of the app's queue (app.ui.QUEUE_SIZE; the tests also check the built demo's queue)."""
    from app import ui

    return getattr(ui, "QUEUE_SIZE", None)


def delete_cache_setting(checkpoint: Path) -> Any:
    """`delete_cache` of the Blocks the app builds: gradio's cache is otherwise never cleaned."""
    from app.inference import Predictor
    from app.ui import build_demo

    return build_demo(Predictor.from_checkpoint(checkpoint)).delete_cache


def server_errors(log: Path, limit: int = 5) -> list[str]:
    """Distinct exception lines in the server log (for the report when a request failed)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"^(?:[\w.]+(?:Error|Exception|Interrupt)\b.*)$", text, re.M)
    return sorted({short(f, 150) for f in found if not f.startswith("KeyboardInterrupt")})[:limit]


def run_load(checkpoint: Path, workdir: Path, *, clients: int, per_client: int, sequential: int, warmup: int,
             burst_n: int = 0, image_size: tuple[int, int] = (160, 120)) -> dict[str, Any]:
    """Every phase gets its own images, so no request is answered from the Predictor's cache. After a burst,
    one more analysis must be served normally (`after_burst_ok`)."""
    n_conc = clients * per_client
    images = load_images(workdir, 2 + n_conc + burst_n + sequential, image_size)
    first, conc = images[0], images[1:1 + n_conc]
    bursts, seq = images[1 + n_conc:1 + n_conc + burst_n], images[1 + n_conc + burst_n:-1]
    figures: dict[str, Any] = {"image_size": f"{image_size[0]}x{image_size[1]}", "checkpoint": str(checkpoint),
                               "queue_max_size": queue_max_size(), "delete_cache": delete_cache_setting(checkpoint)}
    t0 = time.perf_counter()
    with AppProcess(checkpoint, workdir) as server:
        figures["startup_s"] = round(time.perf_counter() - t0, 1)
        figures["rss_idle_mb"] = round(server.rss_mb())
        AppClient(server.url, False).analyze(first)  # the first request pays lazy imports
        figures["concurrent"] = concurrent_load(server, conc, clients, per_client)
        if burst_n:
            figures["burst"] = burst(server, bursts, burst_n)
            try:
                after = AppClient(server.url, False).analyze(images[-1])
                figures["burst"]["after_burst_ok"] = "Analysed" in str(after.get("summary", ""))
            except Exception as exc:  # the server must serve normally once the burst has drained
                figures["burst"]["after_burst_ok"] = False
                figures["burst"]["after_burst_error"] = short(f"{type(exc).__name__}: {exc}", 80)
        figures["sequential"] = sequential_memory(server, seq, sequential, warmup)
        figures["rss_end_mb"] = round(server.rss_mb())
    figures["server_errors"] = server_errors(server.log_path)
    return figures
