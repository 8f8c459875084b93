"""Plain-text and Markdown tables for the benchmarks' output."""

from __future__ import annotations

from collections.abc import Sequence


def render(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int], markdown: bool
) -> str:
    """Columns in `right` are right-aligned (numbers); Markdown for bench/RESULTS.md."""
    if markdown:
        sep = ["---:" if i in right else "---" for i in range(len(headers))]
        return "\n".join("| " + " | ".join(line) + " |" for line in [headers, sep, *rows])
    table = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(headers), rule, *[fmt(line) for line in table[1:]]])
