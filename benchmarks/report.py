"""Markdown for the results file: number formatting, tables, the machine block, and writing
RESULTS.md so that a partial run (`--only`) replaces its own sections and keeps the others."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

MARK = "<!-- section:{name} -->"
END = "<!-- /section:{name} -->"
_SECTION = re.compile(r"<!-- section:(\w+) -->\n(.*?)<!-- /section:\1 -->\n?", re.DOTALL)


def seconds(value: float | None) -> str:
    """Seconds with three significant figures (ms below one second)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def ratio(value: float | None, *, lower_bound: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    shown = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{'> ' if lower_bound else ''}{shown}×"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def machine_block(*, start: dict[str, Any], end_load: Sequence[float] | None) -> list[str]:
    load = " / ".join(f"{x:.2f}" for x in start["load_average"])
    lines = ["## Machine", "",
             *table(["date", "CPU", "cores", "memory", "Python",
                     "load average at start (1/5/15 min)"],
                    [[start["date"], start["cpu"], start["cores"], f"{start['memory_gb']} GB",
                      start["python"], load]])]
    if end_load is not None:
        lines += [f"Load average at the end: {' / '.join(f'{x:.2f}' for x in end_load)}.", ""]
    versions = ", ".join(f"{name} {version}" for name, version in start["packages"].items())
    return [*lines, f"Libraries: {versions}.", ""]


def read_sections(path: Path) -> dict[str, str]:
    """The section blocks of an earlier results file, by section name."""
    if not path.is_file():
        return {}
    return {m.group(1): m.group(2) for m in _SECTION.finditer(path.read_text())}


def write_results(*, path: Path, preamble: list[str], sections: dict[str, list[str]],
                  order: Sequence[str]) -> None:
    """Write `preamble`, then every section in `order`: this run's, else the earlier file's."""
    earlier = read_sections(path)
    out = list(preamble)
    for name in order:
        body = "\n".join(sections[name]) + "\n" if name in sections else earlier.get(name)
        if body is None:
            continue
        out += [MARK.format(name=name), body.rstrip("\n"), END.format(name=name), ""]
    path.write_text("\n".join(out))


def error_summary(error: BaseException) -> str:
    """One line for a table or list: the last line of a worker's stderr, usually the error."""
    text = str(error).strip()
    line = text.splitlines()[-1] if text else type(error).__name__
    return line.replace("|", "/").replace("`", "'")
