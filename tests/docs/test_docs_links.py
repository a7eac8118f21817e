"""The documentation holds together: README is a front door, every relative link and anchor resolves, and the
citation files agree with each other and with the license."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 250
# Pages other branches of issue #18 add (app: #19's helper, architecture: #20's, gpu: #21's, reliability: #22's);
# drop each name once its page is merged, so that a link to a missing page fails again.
PENDING: set[str] = set()
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _markdown_files(root: Path) -> list[Path]:
    names = ["README.md", "CHANGELOG.md", "benchmarks/RESULTS.md"]
    return sorted([root / n for n in names if (root / n).exists()] + list(root.glob("docs/**/*.md")))


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def broken_links(root: Path, pending: set[str] = frozenset()) -> list[str]:
    """Relative links (and their #anchors) in the repository's markdown that point nowhere."""
    broken = []
    for md in _markdown_files(root):
        for target in LINK.findall(FENCE.sub("", md.read_text())):
            if re.match(r"[a-z]+:", target):  # http(s):, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (md.parent / file_part).resolve() if file_part else md
            rel = dest.relative_to(root).as_posix() if dest.is_relative_to(root) else str(dest)
            if not dest.exists():
                if rel not in pending:
                    broken.append(f"{md.relative_to(root)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{md.relative_to(root)}: {target} (no such heading)")
    return broken


MODULE = re.compile(r"python -m ([A-Za-z_][\w.]*\w)(?![\w.<])")  # not a placeholder such as `gald.<command>`


def _module_exists(root: Path, module: str) -> bool:
    """A module of this repository (commands run from its root) or an installed one."""
    path = root.joinpath(*module.split("."))
    if (root / module.split(".")[0]).is_dir():
        return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing_modules(root: Path) -> list[str]:
    """`python -m X` commands in the markdown whose module X does not exist (a renamed or removed CLI)."""
    missing = []
    for md in _markdown_files(root):
        for module in sorted(set(MODULE.findall(md.read_text()))):
            if not _module_exists(root, module):
                missing.append(f"{md.relative_to(root)}: python -m {module}")
    return missing


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_every_relative_link_resolves():
    assert broken_links(ROOT, PENDING) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Some section\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md) [ok](docs/a.md#some-section) [web](https://example.org/x)\n"
        "[gone](docs/missing.md) [bad anchor](docs/a.md#no-such-section)\n```\n[in code](nowhere.md)\n```\n")
    assert broken_links(tmp_path) == ["README.md: docs/missing.md (no such file)",
                                      "README.md: docs/a.md#no-such-section (no such heading)"]


def test_every_documented_command_exists():
    assert missing_modules(ROOT) == []


def test_a_renamed_command_is_caught(tmp_path):
    (tmp_path / "gald").mkdir()
    (tmp_path / "gald" / "train.py").write_text("")
    (tmp_path / "README.md").write_text("`python -m gald.train`, `python -m gald.no_such_cli --x`, "
                                        "`python -m json.tool`, `python -m no_such_tool`, `python -m gald.<command>`\n")
    assert missing_modules(tmp_path) == ["README.md: python -m gald.no_such_cli", "README.md: python -m no_such_tool"]


def _bibtex_authors(text: str, key: str) -> list[str]:
    entry = text[text.index(key):]
    names = re.search(r"author\s*=\s*\{(.*?)\},?\n", entry)[1]
    return [n.strip() for n in names.split(" and ")]


def test_citation_files_agree():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    readme = (ROOT / "README.md").read_text()
    cff_authors = [f"{a['family-names']}, {a['given-names']}" for a in paper["authors"]]
    assert _bibtex_authors(readme, "@inproceedings{") == cff_authors
    assert paper["title"] in readme and str(paper["year"]) in readme
    assert cff["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    front_matter = readme.split("---")[1]
    assert "license: mit" in front_matter
