"""Every relative link and anchor in README.md and docs/*.md resolves."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`]*`")


def _prose(path: Path) -> list[str]:
    """The page's lines outside code fences."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces → '-', repeats numbered."""
    found: set[str] = set()
    for line in _prose(path):
        heading = re.match(r"#{1,6} (.+)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        n, unique = 0, slug
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in _prose(path):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{target} (no such file)")
            elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                broken.append(f"{target} (no such heading)")
    return broken


def test_every_relative_link_and_anchor_resolves():
    assert len(PAGES) > 5  # README and the docs were found
    broken = {page.name: links for page in PAGES if (links := broken_links(page))}
    assert not broken, broken


def test_the_checker_catches_a_missing_file_and_heading(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## A (section)\n")
    page.write_text("# Here\n[ok](other.md#a-section) [ok](#here) [bad](gone.md) "
                    "[bad](other.md#nope) [bad](#nowhere) `[code](gone.md)`\n")
    assert broken_links(page) == ["gone.md (no such file)", "other.md#nope (no such heading)",
                                  "#nowhere (no such heading)"]


def test_the_readme_stays_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
