"""No unsafe deserialisation in the runtime code: every torch.load has weights_only=True, no pickle.load."""

from __future__ import annotations

import reliability_cases as rc


def test_no_unsafe_loads_in_repository():
    problems = rc.unsafe_load_calls()
    assert not problems, "unsafe deserialisation calls:\n" + "\n".join(problems)


def test_detector_finds_unsafe_calls(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "import torch, pickle\nfrom torch import load as tl\n"
        "a = torch.load('x')\nb = torch.load('x', weights_only=False)\nc = tl('x')\n"
        "d = pickle.loads(b'')\n"
        "ok = torch.load('x', weights_only=True)  # fine\n# torch.load('in a comment') is not code\n")
    found = rc.unsafe_load_calls(tmp_path, ("pkg",))
    assert [line.split(":")[1] for line in found] == ["3", "4", "5", "6"], found
