"""Dataset formats from tiny synthetic folders: layouts, label mapping, bad-data handling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gald.data import CAMVID_CLASSES, CAMVID_PALETTE, DatasetError, build_dataset, normalize, worker_init_fn

H, W = 24, 32


def _write_pair(image_path: Path, label_path: Path, seed: int, void: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    label = rng.integers(0, 11, (H, W)).astype(np.uint8)
    label[0, :4] = void
    image_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(image_path)
    Image.fromarray(label, mode="L").save(label_path)
    return image, label


def make_camvid(root: Path, n: int = 3, txt: str | None = "relative") -> dict[str, list]:
    """SegNet layout; ``txt`` = None (no list), "relative" or "absolute" (/SegNet/CamVid/... paths)."""
    samples: dict[str, list] = {}
    for offset, split in enumerate(("train", "val")):
        lines, samples[split] = [], []
        for i in range(n):
            name = f"{split}_{i:03d}.png"
            pair = _write_pair(root / split / name, root / f"{split}annot" / name, seed=100 * offset + i)
            samples[split].append(pair)
            prefix = "/SegNet/CamVid/" if txt == "absolute" else ""
            lines.append(f"{prefix}{split}/{name} {prefix}{split}annot/{name}")
        if txt:
            (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return samples


def expected_label(label: np.ndarray) -> torch.Tensor:
    out = label.astype(np.int64)
    out[out == 11] = 255
    return torch.from_numpy(out)


# --------------------------------------------------------------------------- CamVid
@pytest.mark.parametrize("txt", [None, "relative", "absolute"])
def test_camvid_loads_and_maps_void(tmp_path: Path, txt: str | None) -> None:
    samples = make_camvid(tmp_path, txt=txt)
    ds = build_dataset(f"camvid:{tmp_path}", "val")
    assert len(ds) == 3 and ds.num_classes == 11 and ds.ignore_index == 255
    assert ds.class_names == CAMVID_CLASSES and ds.palette == CAMVID_PALETTE
    x, y = ds[1]
    image, label = samples["val"][1]
    assert x.shape == (3, H, W) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.equal(y, expected_label(label))
    assert (y[0, :4] == 255).all()
    assert torch.allclose(x, normalize(image))
    assert Path(ds.files[1][0]).name == "val_001.png"


def test_missing_split_and_unknown_prefix(tmp_path: Path) -> None:
    make_camvid(tmp_path, txt=None)
    with pytest.raises(DatasetError, match="test"):
        build_dataset(f"camvid:{tmp_path}", "test")
    with pytest.raises(DatasetError, match="does not exist"):
        build_dataset(f"camvid:{tmp_path / 'nope'}", "train")
    for spec in ("voc:/x", "/just/a/path"):
        with pytest.raises(DatasetError) as info:
            build_dataset(spec, "train")
        assert all(p in str(info.value) for p in ("camvid:", "cityscapes:", "hf:"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "emptyannot").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        build_dataset(f"camvid:{tmp_path}", "empty")


def test_corrupt_image_names_file_and_skip_counts(tmp_path: Path) -> None:
    samples = make_camvid(tmp_path)
    bad = tmp_path / "train" / "train_001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ds = build_dataset(f"camvid:{tmp_path}", "train")
    with pytest.raises(DatasetError, match="train_001.png"):
        ds[1]

    ds = build_dataset(f"camvid:{tmp_path}", "train", on_error="skip")
    with pytest.warns(UserWarning, match="train_001.png"):
        _, y = ds[1]
    assert torch.equal(y, expected_label(samples["train"][2][1]))  # the next valid sample
    assert ds.skipped == 1
    ds[1]  # known-bad sample: skipped again silently, not double-counted
    assert ds.skipped == 1
    assert len([ds[i] for i in range(len(ds))]) == 3


def test_wrong_size_label_names_file(tmp_path: Path) -> None:
    make_camvid(tmp_path)
    label_path = tmp_path / "valannot" / "val_002.png"
    Image.fromarray(np.zeros((H + 2, W), dtype=np.uint8), mode="L").save(label_path)
    ds = build_dataset(f"camvid:{tmp_path}", "val")
    with pytest.raises(DatasetError, match="val_002.png"):
        ds[2]


def test_missing_label_file(tmp_path: Path) -> None:
    make_camvid(tmp_path, txt=None)
    (tmp_path / "trainannot" / "train_000.png").unlink()
    with pytest.raises(DatasetError, match="train_000.png"):
        build_dataset(f"camvid:{tmp_path}", "train")
    with pytest.warns(UserWarning):
        ds = build_dataset(f"camvid:{tmp_path}", "train", on_error="skip")
    assert len(ds) == 2 and ds.skipped == 1


def test_out_of_range_label_value(tmp_path: Path) -> None:
    make_camvid(tmp_path)
    label_path = tmp_path / "valannot" / "val_000.png"
    Image.fromarray(np.full((H, W), 42, dtype=np.uint8), mode="L").save(label_path)
    with pytest.raises(DatasetError, match="42"):
        build_dataset(f"camvid:{tmp_path}", "val")[0]


# --------------------------------------------------------------------------- Cityscapes
def test_cityscapes_labelid_to_trainid(tmp_path: Path) -> None:
    for split, city in (("train", "aachen"), ("train", "bremen"), ("val", "lindau")):
        folder = tmp_path / "leftImg8bit" / split / city
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{city}_000000_000019"
        Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(folder / f"{stem}_leftImg8bit.png")
        label = np.zeros((H, W), dtype=np.uint8)
        label[:, :8], label[:, 8:16], label[:, 16:24], label[:, 24:] = 7, 26, 0, 33
        gt = tmp_path / "gtFine" / split / city
        gt.mkdir(parents=True, exist_ok=True)
        Image.fromarray(label, mode="L").save(gt / f"{stem}_gtFine_labelIds.png")
    ds = build_dataset(f"cityscapes:{tmp_path}", "train")
    assert len(ds) == 2 and ds.num_classes == 19 and ds.class_names[13] == "car"
    _, y = ds[0]
    assert (y[:, :8] == 0).all() and (y[:, 8:16] == 13).all()
    assert (y[:, 16:24] == 255).all() and (y[:, 24:] == 18).all()
    with pytest.raises(DatasetError, match="test"):
        build_dataset(f"cityscapes:{tmp_path}", "test")


# --------------------------------------------------------------------------- Hugging Face
@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep load_dataset("parquet") arrow caches out of the user's ~/.cache."""
    import datasets as hfds

    monkeypatch.setattr(hfds.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def _hf_rows(n: int = 3, void: int = 11) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]
    labels = [rng.integers(0, 11, (H, W)).astype(np.uint8) for _ in range(n)]
    for label in labels:
        label[-1, -3:] = void
    return images, labels


def test_hf_save_to_disk_custom_columns_and_label_map(tmp_path: Path) -> None:
    import datasets as hfds

    images, labels = _hf_rows()
    features = hfds.Features({"img": hfds.Image(), "mask": hfds.Image()})
    rows = {"img": [Image.fromarray(i) for i in images], "mask": [Image.fromarray(m, mode="L") for m in labels]}
    hfds.DatasetDict({"val": hfds.Dataset.from_dict(rows, features=features)}).save_to_disk(str(tmp_path / "d"))

    with pytest.raises(DatasetError, match="class names"):
        build_dataset(f"hf:{tmp_path / 'd'}", "val", image_column="img", label_column="mask")
    with pytest.raises(DatasetError, match="available columns"):
        build_dataset(f"hf:{tmp_path / 'd'}", "val", class_names=CAMVID_CLASSES)
    with pytest.raises(DatasetError, match="available splits"):
        build_dataset(f"hf:{tmp_path / 'd'}", "train", image_column="img", label_column="mask")

    ds = build_dataset(
        f"hf:{tmp_path / 'd'}",
        "val",
        image_column="img",
        label_column="mask",
        class_names=CAMVID_CLASSES,
        label_map={11: 255},
    )
    assert len(ds) == 3 and len(ds.palette) == 11 and len(ds.files) == 3
    x, y = ds[2]
    assert torch.allclose(x, normalize(images[2]))
    assert torch.equal(y, expected_label(labels[2]))


def test_hf_parquet_folder_glob_meta_and_array_labels(tmp_path: Path, hf_cache: None) -> None:
    import datasets as hfds

    images, labels = _hf_rows(void=255)
    features = hfds.Features({"image": hfds.Image(), "label": hfds.Array2D((H, W), "uint8")})
    table = hfds.Dataset.from_dict({"image": [Image.fromarray(i) for i in images], "label": labels}, features=features)
    out = tmp_path / "pq"
    out.mkdir()
    table.to_parquet(str(out / "train-00000.parquet"))
    meta = {"class_names": [f"c{i}" for i in range(11)], "palette": [[i, i, i] for i in range(11)]}
    (out / "gald_meta.json").write_text(json.dumps(meta))

    for spec in (f"hf:{out}", f"hf:{out}/{{split}}-*.parquet", f"hf:{out / 'train-00000.parquet'}"):
        ds = build_dataset(spec, "train")
        assert ds.class_names[3] == "c3" and ds.palette[3] == (3, 3, 3)
        x, y = ds[0]
        assert torch.allclose(x, normalize(images[0]))
        assert torch.equal(y, torch.from_numpy(labels[0].astype(np.int64)))
    with pytest.raises(DatasetError, match="val"):
        build_dataset(f"hf:{out}", "val")
    with pytest.raises(DatasetError, match="does not exist"):
        build_dataset(f"hf:{tmp_path / 'missing'}", "train")


def test_hf_corrupt_row_names_sample(tmp_path: Path) -> None:
    import datasets as hfds

    images, labels = _hf_rows(void=255)
    features = hfds.Features({"image": hfds.Image(), "label": hfds.Image()})
    image_cells = [{"bytes": b"garbage", "path": "broken.png"}] + [Image.fromarray(i) for i in images[1:]]
    rows = {"image": image_cells, "label": [Image.fromarray(m, mode="L") for m in labels]}
    hfds.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "d"))
    ds = build_dataset(f"hf:{tmp_path / 'd'}", "train", class_names=CAMVID_CLASSES)
    with pytest.raises(DatasetError, match=r"#0.*broken\.png"):
        ds[0]
    ds = build_dataset(f"hf:{tmp_path / 'd'}", "train", class_names=CAMVID_CLASSES, on_error="skip")
    with pytest.warns(UserWarning, match="broken.png"):
        ds[0]
    assert ds.skipped == 1


def test_hf_hub_offline_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import gald.data.hf as hf

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(hf, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(DatasetError, match="unreachable") as info:
        build_dataset("hf:someone/camvid", "train")
    assert "local path" in str(info.value)

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(hf, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(hf.hfds, "load_dataset", refuse)
    with pytest.raises(DatasetError, match="no route to host"):
        build_dataset("hf:someone/camvid", "train")


# --------------------------------------------------------------------------- converter
@pytest.mark.parametrize("fmt", ["disk", "parquet"])
def test_converter_embeds_bytes(tmp_path: Path, fmt: str, hf_cache: None) -> None:
    from gald.data.convert_camvid_hf import main

    source, out = tmp_path / "camvid", tmp_path / "out"
    samples = make_camvid(source, n=2, txt="absolute")
    assert main(["--root", str(source), "--out", str(out), "--format", fmt]) == 0
    shutil.rmtree(source)  # loading must not need the original files any more

    meta = json.loads((out / "gald_meta.json").read_text())
    assert meta["class_names"] == CAMVID_CLASSES and meta["splits"] == {"train": 2, "val": 2}
    for split in ("train", "val"):
        ds = build_dataset(f"hf:{out}", split)
        assert ds.class_names == CAMVID_CLASSES and ds.palette == CAMVID_PALETTE
        for i, (image, label) in enumerate(samples[split]):
            x, y = ds[i]
            assert torch.allclose(x, normalize(image))
            assert torch.equal(y, expected_label(label))
    assert main(["--root", str(source), "--out", str(out)]) == 1  # source gone -> clean error


# --------------------------------------------------------------------------- loader plumbing
def test_worker_init_fn_and_dataloader(tmp_path: Path) -> None:
    from gald.data import TrainTransform

    torch.manual_seed(123)
    worker_init_fn(0)
    seeded = np.random.rand()
    np.random.seed(123)
    assert seeded == np.random.rand()

    make_camvid(tmp_path)
    ds = build_dataset(f"camvid:{tmp_path}", "train", TrainTransform(crop_size=(16, 16)))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, worker_init_fn=worker_init_fn)
    x, y = next(iter(loader))
    assert x.shape == (2, 3, 16, 16) and y.shape == (2, 16, 16) and y.dtype == torch.int64
