"""The Space, proven: benchmarks/space_check.py assembles the Space's files, installs them the way the Space
builder does into a fresh venv, starts the app headless and answers /analyze, then again with a stand-in
`spaces` module (ZeroGPU). Cold-start seconds are recorded by the script, not asserted here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks import space_check


def _git_repo(path: Path, files: dict[str, bytes]) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def test_binary_files_outside_lfs_are_named(tmp_path):
    repo = _git_repo(tmp_path / "r", {".gitattributes": b"*.png filter=lfs diff=lfs merge=lfs -text\n",
                                       "a.png": b"\x89PNG\0\1", "b.bin": b"\0\1\2", "c.txt": b"text\n"})
    assert space_check.lfs_problems(repo, ["a.png", "b.bin", "c.txt"]) == ["b.bin"]


def test_front_matter_must_match_the_pins(tmp_path):
    (tmp_path / "app.py").write_text("")
    (tmp_path / "requirements.txt").write_text("gradio==6.31.0\n")
    (tmp_path / "README.md").write_text("---\nsdk: gradio\nsdk_version: 6.0.0\napp_file: app.py\n---\n# x\n")
    problems = space_check.config_problems(tmp_path)
    assert any("sdk_version 6.0.0" in p for p in problems) and any("python_version" in p for p in problems)
    (tmp_path / "README.md").write_text("# no front matter\n")
    with pytest.raises(space_check.SpaceCheckError, match="no front matter"):
        space_check.config_problems(tmp_path)


def test_this_repository_is_a_valid_space(tmp_path):
    report = space_check.assemble(tmp_path)
    assert report["lfs_missing"] == [] and report["config_problems"] == [], report
    assert set(report["top_level"]) >= {"README.md", "app.py", "requirements.txt", "app", "gald", "checkpoints"}
    assert not any(p in report["top_level"] for p in ("tests", "benchmarks", ".ci")), report["top_level"]


@pytest.mark.slow
def test_space_installs_starts_and_answers(tmp_path):
    report = space_check.run(tmp_path)
    i, cold, zero = report["install"], report["cold_start"], report["zerogpu_standin"]
    assert i["torch"].endswith("+cpu") and i["torch_left_alone"] and not i["nvidia_packages"], i
    assert i["training_only_installed"] == [], i
    assert cold["summary"].startswith("Analysed") or "Analysed" in cold["summary"], cold
    assert zero["spaces_import_before_torch"] and zero["handlers_auto_wrapped"] > 0, zero
    assert {"run_network", "run_attribution"} <= set(zero["gpu_calls"]), zero
