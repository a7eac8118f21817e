"""Data: a dataset with bad files, end to end through the training CLI."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

from PIL import Image

from benchmarks.app_harness import subprocess_env

from .common import PYTHON, REPO, TRACEBACK, Result, short, synthetic_pair


def make_camvid(root: Path, n_train: int = 16, n_val: int = 4, size: tuple[int, int] = (80, 64),
                seed: int = 0) -> Path:
    """SegNet CamVid layout (train/, trainannot/, val/, valannot/) of coloured rectangles, (w, h) = size."""
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rgb, label = synthetic_pair(size, seed=seed * 1000 + (0 if split == "train" else 500) + i)
            Image.fromarray(rgb).save(root / split / f"{split}_{i:03d}.png")
            Image.fromarray(label, "L").save(root / f"{split}annot" / f"{split}_{i:03d}.png")
    return root


def add_bad_samples(root: Path) -> tuple[Path, Path]:
    """A truncated image and a label of the wrong size in train/. Returns (bad image, bad label)."""
    rgb, label = synthetic_pair((80, 64), seed=99)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    bad_image = root / "train" / "train_corrupt.png"
    bad_image.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    Image.fromarray(label, "L").save(root / "trainannot" / "train_corrupt.png")
    Image.fromarray(rgb).save(root / "train" / "train_badlabel.png")
    bad_label = root / "trainannot" / "train_badlabel.png"
    Image.fromarray(label[:32, :40], "L").save(bad_label)
    return bad_image, bad_label


def config_accepts(key: str) -> bool:
    """Whether `--set key=...` is a valid override (model.mid_channels is not, in some versions)."""
    from gald.io.config_file import load_config

    try:
        load_config(None, [f"{key}=32"])
    except ValueError:
        return False
    return True


def train_args(data_root: Path, out: Path, iters: int, *, eval_every: int = 2, batch: int = 4,
               crop: int = 64, extra: tuple[str, ...] = ()) -> list[str]:
    spec = f"camvid:{data_root}"
    sets = [f"data.train={spec}", f"data.val={spec}", f"data.crop_size=[{crop},{crop}]", f"optim.batch_size={batch}",
            "data.workers=0", f"optim.iters={iters}", "train.save_every=1", "data.val_limit=2",
            f"train.eval_every={eval_every}", "train.log_every=1", *extra]
    if config_accepts("model.mid_channels"):
        sets.append("model.mid_channels=32")
    args = [a for s in sets for a in ("--set", s)]
    return args + ["--no-progress", "--device", "cpu", "--out", str(out)]




def data_results(workdir: Path) -> list[Result]:
    import warnings

    from gald.data import build_dataset

    root = make_camvid(workdir / "camvid_bad", n_train=4, n_val=2)
    bad_image, bad_label = add_bad_samples(root)
    results = []
    # 1. the training CLI stops with a message naming the file
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "gald.train", *train_args(root, workdir / "run_bad", 6, batch=2)],
                          cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    named = str(bad_image) in proc.stderr or str(bad_label) in proc.stderr
    spam = "traceback" if TRACEBACK.search(proc.stderr) else "no traceback"
    results.append(Result("data", "train CLI on folder with corrupt image + wrong-size label",
                          "exit != 0, message names the file",
                          f"exit {proc.returncode}, {spam}: {short(tail.replace(str(root), '<root>'), 80)}",
                          proc.returncode != 0 and named, time.perf_counter() - t0))
    # 2. on_error="skip": both bad samples skipped with a warning each, counted
    t0 = time.perf_counter()
    ds = build_dataset(f"camvid:{root}", "train", on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))]
    messages = [str(w.message) for w in caught]
    named_both = any(str(bad_image) in m for m in messages) and any(str(bad_label) in m for m in messages)
    ok = ds.skipped == 2 and len(items) == len(ds) and named_both
    results.append(Result("data", 'build_dataset(on_error="skip") on the same folder',
                          "2 skipped with warnings naming them",
                          f"skipped={ds.skipped}, {len(items)}/{len(ds)} items, {len(messages)} warnings"
                          + ("" if named_both else " [files not named]"), ok, time.perf_counter() - t0))
    # 3. on_error="raise" (the default) names the file in the exception
    ds = build_dataset(f"camvid:{root}", "train")
    names = []
    for i in range(len(ds)):
        try:
            ds[i]
        except Exception as exc:
            names.append(f"{type(exc).__name__}: {exc}")
    named = [n for n in names if str(bad_image) in n or str(bad_label) in n]
    results.append(Result("data", 'build_dataset(on_error="raise"): each bad sample', "DatasetError naming the file",
                          short("; ".join(n.replace(str(root), "<root>") for n in names), 90),
                          len(named) == 2 and all(n.startswith("DatasetError") for n in names)))
    return results


