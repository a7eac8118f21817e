"""Checkpoints as Hugging Face model repositories: one folder per model, the layout the Hub serves.

    folder/config.json        the architecture config + metadata (what `gald.load_checkpoint` reads)
    folder/model.safetensors  the weights
    folder/README.md          the model card, with Hub metadata (license, library, tags, datasets, val mIoU
                              per head as model-index results) in its YAML front matter
    folder/<kind>.json        measurements (eval, ga_reach, mask, inference_scale)

Load with `gald.load_checkpoint(folder)` or `PretrainedGALDNet.from_pretrained(folder or "user/repo")`.

    python -m gald.hub convert checkpoints/galdnet_lite2_camvid        # two files -> folder (weights moved as is)
    python -m gald.hub card checkpoints/galdnet_lite2_camvid           # rewrite README.md's front matter
    python -m gald.hub push checkpoints/galdnet_lite2_camvid user/repo  # needs the network and a token
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import ModelHubMixin

from .heads import CARD_TITLES, HEAD_KEYS
from .io.checkpoint import (
    FOLDER_CONFIG,
    FOLDER_WEIGHTS,
    CheckpointError,
    atomic_write_bytes,
    checkpoint_paths,
    checkpoint_stem,
    is_folder_checkpoint,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
    sidecar_path,
)
from .models import GALDConfig, GALDNet

LIBRARY_NAME = "gald"
LICENSE = "mit"
TAGS = ["semantic-segmentation", "image-segmentation", "galdnet", "global-aggregation", "local-distribution"]
# measurements that travel with the weights
SIDECARS = ("eval", "ga_reach", "mask", "inference_scale", "cgnl_gradients")
DATASETS = {"camvid": ("CamVid", "camvid")}  # dataset name in the metadata -> (display name, Hub tag)


def _dataset(meta: dict[str, Any]) -> tuple[str, str]:
    name = str((meta.get("data") or {}).get("name") or meta.get("dataset") or "camvid").lower()
    return DATASETS.get(name.split(":")[0], (name, name))


def card_metadata(meta: dict[str, Any], evaluation: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """The model card's front matter: what the Hub indexes (license, library, tags, datasets, results)."""
    display, tag = _dataset(meta)
    front: dict[str, Any] = {"license": LICENSE, "library_name": LIBRARY_NAME, "pipeline_tag": "image-segmentation",
                             "tags": [*TAGS, (meta.get("config") or {}).get("backbone", "galdnet")],
                             "datasets": [tag]}
    heads = (evaluation or {}).get("heads") or {}
    metrics = [{"type": "mean_iou", "name": f"val mIoU, {CARD_TITLES[h]}", "value": round(100 * heads[h]["miou"], 2)}
               for h in reversed(HEAD_KEYS)  # the main head first
               if isinstance(heads.get(h), dict) and isinstance(heads[h].get("miou"), (int, float))]
    if metrics:
        split = (evaluation or {}).get("split", "val")
        front["model-index"] = [{"name": name, "results": [{
            "task": {"type": "image-segmentation", "name": "Semantic segmentation"},
            "dataset": {"type": tag, "name": display, "split": split}, "metrics": metrics}]}]
    return front


def model_card(folder: Path, body: str | None = None) -> str:
    """README.md for a checkpoint folder: the front matter from its config.json and eval.json, then `body`
    (default: a short description with how to load it)."""
    meta = read_metadata(folder)
    evaluation = _optional_json(sidecar_path(folder, "eval"))
    front = card_metadata(meta, evaluation, folder.name)
    cfg = meta.get("config") or {}
    if body is None:
        results = "".join(f"\n| {m['name'].removeprefix('val mIoU, ')} | {m['value']:.1f} |"
                          for m in front.get("model-index", [{}])[0].get("results", [{}])[0].get("metrics", []))
        body = (f"# {folder.name}\n\nGALDNet (*Global Aggregation then Local Distribution in Fully Convolutional "
                f"Networks*, Li et al., BMVC 2019): {cfg.get('arrangement', 'gald').upper()} arrangement, "
                f"{cfg.get('backbone')} backbone at output stride {cfg.get('output_stride')}, GA = "
                f"{cfg.get('ga')}, LD = {cfg.get('ld_downsample')}, {cfg.get('num_classes')} classes, inference "
                f"scale {(meta.get('inference') or {}).get('scale', 1.0):g}.\n"
                + (f"\n| head | val mIoU % |\n|---|---|{results}\n" if results else "")
                + "\n```python\nimport gald\nmodel, meta = gald.load_checkpoint(\"path/to/this/folder\")\n"
                "# or: from gald.hub import PretrainedGALDNet; model = PretrainedGALDNet.from_pretrained(...)\n```\n"
                "\nCode, training recipe and the full model card: the GALD Studio repository (`gald/`, "
                "`docs/model_cards/`).\n")
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + body.lstrip()


def write_card(folder: Path, body: str | None = None) -> Path:
    path = folder / "README.md"
    atomic_write_bytes(path, model_card(folder, body).encode())
    return path


def save_folder(folder: str | os.PathLike, model: GALDNet, metadata: dict[str, Any] | None = None, **kwargs
                ) -> Path:
    """Write a checkpoint folder (weights, config.json, README.md)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder, model, metadata, **kwargs)
    write_card(folder)
    return folder


def convert(path: str | os.PathLike, folder: str | os.PathLike | None = None, *, move: bool = True) -> Path:
    """A two-file checkpoint (`x.safetensors` + `x.json` + `x.<kind>.json`) -> folder `x/` (default): the weights
    file is moved (or copied) byte for byte, the metadata JSON becomes config.json unchanged, measurements move
    in as `<kind>.json`, and README.md is generated."""
    old = checkpoint_stem(path)
    if is_folder_checkpoint(old):
        raise CheckpointError(f"{old} is already a folder checkpoint")
    weights, meta = checkpoint_paths(old)
    read_metadata(old)  # refuse anything that is not a GALD checkpoint before touching files
    if not weights.is_file():
        raise CheckpointError(f"checkpoint weights not found: {weights}")
    folder = Path(folder) if folder is not None else old
    if folder.exists() and any(folder.iterdir()):
        raise CheckpointError(f"{folder} exists and is not empty")
    # the sources are named before the folder exists: once it does, `old` reads as a folder checkpoint
    moves = [(weights, folder / FOLDER_WEIGHTS), (meta, folder / FOLDER_CONFIG)]
    moves += [(sidecar_path(old, k), folder / f"{k}.json") for k in SIDECARS if sidecar_path(old, k).is_file()]
    folder.mkdir(parents=True, exist_ok=True)
    transfer = shutil.move if move else shutil.copy2
    for source, target in moves:
        transfer(str(source), str(target))
    write_card(folder)
    return folder


def _optional_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _decode_config(value: Any) -> GALDConfig:
    """config.json holds the metadata with the architecture under "config" (a bare config also decodes)."""
    data = value.get("config", value) if isinstance(value, dict) else {}
    return GALDConfig.from_dict(data)


CODERS = {GALDConfig: (lambda c: c.to_dict(), _decode_config)}


class PretrainedGALDNet(GALDNet, ModelHubMixin, library_name=LIBRARY_NAME, license=LICENSE, tags=list(TAGS),
                        pipeline_tag="image-segmentation", coders=CODERS):
    """GALDNet with `from_pretrained` (a local folder, or a Hub repository id: that needs the network),
    `save_pretrained` (a checkpoint folder) and `push_to_hub`. `.meta` holds the checkpoint's metadata."""

    meta: dict[str, Any]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> PretrainedGALDNet:
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except CheckpointError:
            raise
        except Exception as exc:  # offline, unknown repository, no access: one clear message
            raise CheckpointError(f"{str(pretrained_model_name_or_path)!r} is not a local checkpoint folder and could "
                                  f"not be downloaded from the Hugging Face Hub ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir, force_download: bool,
                         local_files_only: bool, token, **_kwargs) -> PretrainedGALDNet:
        folder = Path(model_id)
        if not folder.is_dir():
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model_id, revision=revision, cache_dir=cache_dir, token=token,
                                            force_download=force_download, local_files_only=local_files_only))
        model, meta = load_checkpoint(folder)
        instance = cls(model.config)
        instance.load_state_dict(model.state_dict(), strict=True)
        instance.meta = meta
        return instance.eval()

    def _save_pretrained(self, save_directory: Path) -> None:
        save_folder(save_directory, self, {k: v for k, v in getattr(self, "meta", {}).items()
                                           if k not in ("format", "format_version", "config", "storage_dtype")})


def push(folder: str | os.PathLike, repo_id: str, *, token: str | None = None, private: bool | None = None) -> str:
    """Upload a checkpoint folder as model repository `repo_id` (needs the network and a write token)."""
    folder = checkpoint_stem(folder)
    if not is_folder_checkpoint(folder):
        raise CheckpointError(f"{folder} is not a checkpoint folder: convert it first (python -m gald.hub convert)")
    load_checkpoint(folder)  # never upload a folder that does not load
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise CheckpointError("HF_HUB_OFFLINE is set: pushing to the Hub needs the network")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True).repo_id
        commit = api.upload_folder(repo_id=repo, repo_type="model", folder_path=str(folder),
                                   commit_message=f"Upload {folder.name} (gald.hub push)")
    except Exception as exc:  # no network, no token, no rights
        raise CheckpointError(f"could not push {folder} to {repo_id!r} ({type(exc).__name__}: {exc})") from exc
    return str(commit)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="two-file checkpoint -> folder (weights moved byte for byte)")
    c.add_argument("checkpoint")
    c.add_argument("folder", nargs="?", default=None, help="default: the checkpoint's name as a folder")
    c.add_argument("--copy", action="store_true", help="copy instead of moving the files")
    k = sub.add_parser("card", help="(re)write README.md's front matter and body from config.json / eval.json")
    k.add_argument("folder")
    p = sub.add_parser("push", help="upload a checkpoint folder to the Hugging Face Hub (network + token)")
    p.add_argument("folder")
    p.add_argument("repo_id")
    p.add_argument("--private", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.command == "convert":
            print(convert(args.checkpoint, args.folder, move=not args.copy))
        elif args.command == "card":
            print(write_card(checkpoint_stem(args.folder)))
        else:
            print(push(args.folder, args.repo_id, private=args.private or None))
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
