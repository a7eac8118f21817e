"""Generated blocks in the documentation: text between `<!-- generated: COMMAND -->` and `<!-- end generated -->`.

A report command (model card, Table 1 tables) prints its block; with `--write` it replaces the block whose
marker names the same command in its documentation file. `tests/training/test_readme_tables.py` reruns every
block's command on the committed JSONs and compares, so a stale block fails CI.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = ("README.md", "docs/**/*.md")  # globs under the repository root that may hold generated blocks
# the body never crosses another marker, so an empty block cannot swallow the blocks after it
BLOCK = re.compile(r"<!-- generated: (?P<cmd>[^\n]*?) -->\n"
                   r"(?P<body>(?:(?!<!-- (?:generated:|end generated)).)*?)\n?<!-- end generated -->", re.S)


def doc_files(root: Path = ROOT) -> list[Path]:
    return sorted({p for pattern in DOC_FILES for p in root.glob(pattern)})


def blocks(root: Path = ROOT) -> dict[str, tuple[Path, str]]:
    """Every generated block under `root`: command -> (file, body). A command named twice is an error."""
    found: dict[str, tuple[Path, str]] = {}
    for path in doc_files(root):
        for m in BLOCK.finditer(path.read_text()):
            if m["cmd"] in found:
                raise ValueError(f"`{m['cmd']}` generates two blocks: {found[m['cmd']][0]} and {path}")
            found[m["cmd"]] = (path, m["body"])
    return found


def write_block(path: Path, cmd: str, body: str) -> bool:
    """Replace the body of the block whose marker is `cmd` in `path`; returns whether the file changed."""
    text = path.read_text()
    matches = [m for m in BLOCK.finditer(text) if m["cmd"] == cmd]
    if len(matches) != 1:
        named = [m["cmd"] for m in BLOCK.finditer(text)]
        raise SystemExit(f"{path} has {len(matches)} blocks marked `<!-- generated: {cmd} -->` (it has: {named})")
    m = matches[0]
    new = f"{text[:m.start()]}<!-- generated: {cmd} -->\n{body.strip(chr(10))}\n<!-- end generated -->{text[m.end():]}"
    if new != text:
        path.write_text(new)
    return new != text


def _marker_arg(arg: object) -> str:
    """Paths in markers are relative to the repository root, as the documentation shows them."""
    if isinstance(arg, Path) and arg.is_absolute():
        try:
            return str(arg.relative_to(ROOT))
        except ValueError:
            return str(arg)
    return str(arg)


def command(module: str, *args: object) -> str:
    """The marker text for `python -m module args...` (module as the running script's __spec__ names it)."""
    return " ".join(["python", "-m", module, *map(_marker_arg, args)])


def add_arguments(parser: argparse.ArgumentParser, default_target: str) -> None:
    parser.add_argument("--write", action="store_true",
                        help=f"replace the block in its documentation file ({default_target}) instead of printing it")
    parser.add_argument("--target", type=Path, help=f"the file --write edits (default: {default_target})")


def emit(text: str, args: argparse.Namespace, default_target: Path, module: str, *cmd_args: object) -> None:
    """Print `text`, or with `--write` put it into the block marked `python -m module cmd_args...`."""
    if not args.write:
        print(text)
        return
    target = args.target or default_target
    changed = write_block(target, command(module, *cmd_args), text)
    print(f"{target}: {'updated' if changed else 'already up to date'}")
