"""The README's generated tables equal what their commands print from the committed JSON files.

Each generated block sits between `<!-- generated: COMMAND -->` and `<!-- end generated -->`; this test
reruns the command's function on the committed files and compares. Regenerate with the command shown.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gald.reports import ablation_table, head_protocol_table, model_card

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- generated: (?P<cmd>[^\n]*?) -->\n(?P<body>.*?)\n<!-- end generated -->", re.S)


def _blocks() -> dict[str, str]:
    return {m["cmd"]: m["body"] for m in BLOCK.finditer((ROOT / "README.md").read_text())}


def _generate(cmd: str) -> str:
    args = cmd.split()
    if args[:2] == ["python", "-m"] and args[2] == "gald.reports.model_card":
        ck = Path(args[args.index("--checkpoint") + 1])
        return model_card.card(ROOT / ck)
    if args[:3] == ["python", "-m", "gald.reports.ablation_table"]:
        directory = Path(args[args.index("--dir") + 1]) if "--dir" in args else Path("checkpoints/ablations")
        return ablation_table.markdown(ablation_table.load_rows(ROOT / directory))
    if args[:3] == ["python", "-m", "gald.reports.head_protocol_table"]:
        directory = Path(args[args.index("--dir") + 1]) if "--dir" in args else Path("checkpoints/ablations/head")
        return head_protocol_table.markdown(head_protocol_table.summarize(head_protocol_table.load(ROOT / directory)))
    raise AssertionError(f"README names an unknown generator: {cmd}")


def test_readme_has_the_generated_blocks():
    cmds = _blocks()
    assert any("gald.reports.model_card" in c for c in cmds), "the model card is not generated"
    assert any("gald.reports.ablation_table" in c for c in cmds), "the ablation table is not generated"


@pytest.mark.parametrize("cmd", sorted(_blocks()))
def test_readme_block_matches_its_command(cmd):
    expected = _generate(cmd)
    assert _blocks()[cmd].strip() == expected.strip(), f"README is stale: rerun `{cmd}` and paste its output"


def test_a_changed_number_is_caught(tmp_path):
    """The comparison is not vacuous: one digit changed in a block makes it differ."""
    cmd = next(c for c in _blocks() if "gald.reports.model_card" in c)
    body = _blocks()[cmd]
    digit = re.search(r"\d", body)
    changed = body[:digit.start()] + str((int(digit.group()) + 1) % 10) + body[digit.end():]
    assert changed.strip() != _generate(cmd).strip()
