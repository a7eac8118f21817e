"""The documentation's generated tables equal what their commands print from the committed JSON files.

Each generated block sits between `<!-- generated: COMMAND -->` and `<!-- end generated -->` in README.md or
a file under docs/ (model cards in docs/model_cards/, Table 1 in docs/ablations.md); this test reruns the
command's function on the committed files and compares. Regenerate with the command shown plus `--write`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gald.reports import ablation_table, checkpoint_table, doc_blocks, head_protocol_table, model_card

ROOT = doc_blocks.ROOT
# bundled checkpoints: NAME.safetensors + NAME.json, or a folder NAME/ holding model.safetensors
BUNDLED = sorted({p.stem for p in (ROOT / "checkpoints").glob("*.safetensors")}
                 | {p.parent.name for p in (ROOT / "checkpoints").glob("*/model.safetensors")})


def _generate(cmd: str) -> str:
    args = cmd.split()
    module = args[2] if args[:2] == ["python", "-m"] else ""
    if module.endswith(".checkpoint_table"):
        return checkpoint_table.markdown([checkpoint_table.row(ROOT / ck) for ck in args[3:]])
    if module.endswith(".model_card"):
        return model_card.card(ROOT / args[args.index("--checkpoint") + 1])
    directory = Path(args[args.index("--dir") + 1]) if "--dir" in args else None
    if module.endswith(".ablation_table"):
        return ablation_table.markdown(ablation_table.load_rows(ROOT / (directory or "checkpoints/ablations")))
    if module.endswith(".head_protocol_table"):
        rows = head_protocol_table.load(ROOT / (directory or "checkpoints/ablations/head"))
        return head_protocol_table.table(rows)
    raise AssertionError(f"the docs name an unknown generator: {cmd}")


def test_docs_have_the_generated_blocks():
    cmds = doc_blocks.blocks()
    assert any("ablation_table" in c for c in cmds), "the ablation table is not generated"
    protocols = {c.split("--dir ")[1].split()[0] for c in cmds if "head_protocol_table" in c}
    assert {"checkpoints/ablations/head", "checkpoints/ablations/e2e"} <= protocols, \
        "both Table 1 protocols are generated"
    assert BUNDLED, "no bundled checkpoint found"
    table = [c for c in cmds if ".checkpoint_table " in c]
    assert len(table) == 1 and cmds[table[0]][0] == ROOT / "README.md", "README's checkpoint table is not generated"
    assert sorted(Path(ck).name for ck in table[0].split()[3:]) == BUNDLED, "README's table misses a checkpoint"
    for name in BUNDLED:  # one card per bundled checkpoint, in its own file
        card = ROOT / "docs" / "model_cards" / f"{name}.md"
        assert [c for c, (path, _) in cmds.items() if path == card and c.endswith(f"checkpoints/{name}")], \
            f"{card.relative_to(ROOT)} has no generated block for checkpoints/{name}"


@pytest.mark.parametrize("cmd", sorted(doc_blocks.blocks()))
def test_doc_block_matches_its_command(cmd):
    path, body = doc_blocks.blocks()[cmd]
    assert body.strip() == _generate(cmd).strip(), \
        f"{path.relative_to(ROOT)} is stale: rerun `{cmd} --write`"


def test_a_changed_number_is_caught():
    """The comparison is not vacuous: one digit changed in a block makes it differ."""
    cmd = next(c for c in doc_blocks.blocks() if "model_card" in c)
    body = doc_blocks.blocks()[cmd][1]
    digit = re.search(r"\d", body)
    changed = body[:digit.start()] + str((int(digit.group()) + 1) % 10) + body[digit.end():]
    assert changed.strip() != _generate(cmd).strip()


def test_write_replaces_only_its_own_block(tmp_path, monkeypatch, capsys):
    """`--write` puts the command's output into the block with its marker and leaves the rest of the file alone."""
    cmd = "python -m gald.reports.ablation_table --dir checkpoints/ablations"
    other = "<!-- generated: python -m x --dir y -->\nkeep me\n<!-- end generated -->"
    doc = tmp_path / "ablations.md"
    doc.write_text(f"# Title\n\n<!-- generated: {cmd} -->\nstale\n<!-- end generated -->\n\ntext\n\n{other}\n")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["ablation_table", "--dir", "checkpoints/ablations", "--write",
                                      "--target", str(doc)])
    ablation_table.main()
    text = doc.read_text()
    assert "stale" not in text and "keep me" in text and text.startswith("# Title\n") and "\ntext\n" in text
    assert doc_blocks.BLOCK.search(text)["body"] == _generate(cmd).strip()
    assert "updated" in capsys.readouterr().out
    ablation_table.main()  # a second write changes nothing
    assert "already up to date" in capsys.readouterr().out and doc.read_text() == text


def test_write_refuses_a_file_without_the_marker(tmp_path, monkeypatch):
    doc = tmp_path / "card.md"
    doc.write_text("# no generated block here\n")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["model_card", "--checkpoint", "checkpoints/galdnet_r18_camvid", "--write",
                                      "--target", str(doc)])
    with pytest.raises(SystemExit, match="0 blocks marked"):
        model_card.main()
    assert doc.read_text() == "# no generated block here\n"


def test_writing_an_empty_block_leaves_the_blocks_after_it(tmp_path):
    """A new, empty block used to match up to the *next* block's end marker, so --write deleted everything
    in between."""
    doc = tmp_path / "doc.md"
    doc.write_text("a\n<!-- generated: python -m x --dir new -->\n<!-- end generated -->\nmiddle\n"
                   "<!-- generated: python -m x --dir old -->\nold body\n<!-- end generated -->\nend\n")
    assert doc_blocks.write_block(doc, "python -m x --dir new", "new body\n")
    assert doc.read_text() == ("a\n<!-- generated: python -m x --dir new -->\nnew body\n<!-- end generated -->\n"
                               "middle\n<!-- generated: python -m x --dir old -->\nold body\n<!-- end generated -->\n"
                               "end\n")
    assert not doc_blocks.write_block(doc, "python -m x --dir new", "new body")  # unchanged: no write
