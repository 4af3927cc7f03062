"""How benchmark results leave the process: tables, Markdown sections, charts, and what the figures depend on.

Shared by the Redis and PostgreSQL benchmarks, which write to the same page
(docs/performance.md): the Redis run owns the page and keeps the PostgreSQL
section between its markers; the PostgreSQL run rewrites only that section.
matplotlib is optional (not a dependency of the project): charts are skipped, or
refused up front, without it.
"""

import datetime as dt
import importlib.metadata
import importlib.util
import math
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import Result

REPO = Path(__file__).resolve().parent.parent
#: The markers around benchmarks/pg_bench.py's section of the page.
PG_START, PG_END = "<!-- pg-bench:start -->", "<!-- pg-bench:end -->"


# --------------------------------------------------------------------------- tables
def text_table(head: Sequence[str], rows: list[list[str]], numbers_from: int | None = 2, split_ops: bool = True) -> str:
    """A fixed-width table for the terminal.

    Columns from ``numbers_from`` on are right-aligned (None: none are); with ``split_ops``
    a blank line separates rows of different operations (first column).
    """
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    right = len(head) if numbers_from is None else numbers_from
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in rows:
        if split_ops and previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        cells = [c.rjust(w) if i >= right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip() if split_ops else "  ".join(cells))
    return "\n".join(lines)


def md_table(head: Sequence[str], rows: list[list[str]], text_columns: int = 2, spaced: bool = False) -> str:
    """A Markdown table; columns after the first ``text_columns`` are right-aligned.

    ``spaced`` writes the alignment row as ``| --- | ---: |`` (the PostgreSQL section's
    style) instead of ``|---|---:|``, so regenerated pages keep their diff small.
    """
    aligns = ["---" if i < text_columns else "---:" for i in range(len(head))]
    rule = "| " + " | ".join(aligns) + " |" if spaced else "|" + "|".join(aligns) + "|"
    return "\n".join(["| " + " | ".join(head) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)])


def fmt_paired(ratio: float) -> str:
    return "-" if math.isnan(ratio) else f"{ratio:.2f}"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


# --------------------------------------------------------------------------- Markdown sections
def marked(text: str, start: str, end: str) -> str | None:
    """The part of ``text`` from marker ``start`` to marker ``end`` (both included), or None."""
    first, last = text.find(start), text.find(end)
    return text[first : last + len(end)] if 0 <= first < last else None


def replace_section(out: Path, section: str, start: str, end: str) -> None:
    """Put ``section`` (markers included) in place of the marked part of ``out``; append it when absent."""
    old = out.read_text() if out.exists() else ""
    first, last = old.find(start), old.find(end)
    if 0 <= first < last:
        new = old[:first] + section + old[last + len(end) :]
    else:
        new = (old.rstrip("\n") + "\n\n" if old else "") + section + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(new)


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- charts
def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ratios(results: list[Result], png: Path) -> str | None:
    """Bars of time per op relative to raw, one per result; the file's name, or None without matplotlib."""
    if not have_matplotlib():
        return None
    plt = _pyplot()
    labels = [f"{r.op}: {r.impl}" for r in results]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(labels) + 1.2))
    ax.barh(range(len(labels)), [r.x_raw for r in results], color=["#999999" if r.raw else "#3a78b5" for r in results])
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("time per operation relative to the raw driver (1.0 = raw; lower is better)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png.name


def plot_grouped(
    results: list[Result],
    png: Path,
    ops: Sequence[str],
    bars: Sequence[tuple[str, str, str]],
    labels: tuple[str, str],
    target: tuple[float, str],
) -> None:
    """Grouped bars of throughput relative to raw (log scale), per operation and N.

    ``bars``: (implementation, flavour, colour) per bar of a group; ``labels``: (title, y axis);
    ``target``: (value, label) of a dashed line.
    """
    plt = _pyplot()
    groups = sorted({(ops.index(r.op), r.n) for r in results})
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(bars)
    for k, (name, flavour, colour) in enumerate(bars):
        found = [(g, r) for g, (op, n) in enumerate(groups) for r in results
                 if (r.impl, r.flavour, r.op, r.n) == (name, flavour, ops[op], n)]  # fmt: skip
        xs = [g + (k - (len(bars) - 1) / 2) * width for g, _ in found]
        label = name if "reference" in name else f"{name} ({flavour})"
        drawn = ax.bar(xs, [1 / r.x_raw for _, r in found], width, label=label, color=colour)
        ax.bar_label(drawn, fmt="%.2f", fontsize=6, padding=1)
    ax.set_yscale("log")
    ax.set_ylim(0.1, 30)
    ax.set_yticks([0.2, 0.5, 0.8, 1, 2, 5, 10], ["0.2", "0.5", "0.8", "1", "2", "5", "10"])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(target[0], color="red", linewidth=0.8, linestyle="--", label=target[1])
    ax.set_xticks(range(len(groups)), [f"{ops[op]}\nN={n:,}" for op, n in groups], fontsize=8)
    ax.set_ylabel(labels[1])
    ax.set_title(labels[0], fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- machine and versions
def git(*argv: str) -> str:
    """Output of a git command in the repository ('?' when git is unavailable)."""
    try:
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def git_bytes(*argv: str) -> bytes:
    """Raw output of a git command (b'' when git is unavailable)."""
    try:
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return b""


def dist(name: str) -> str:
    """The installed version of a distribution."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """Cores, CPU model and kernel: ``2 cores (AMD EPYC), Linux 6.1``."""
    return f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}"


def python() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def load() -> str:
    """The one-minute load average, two decimals."""
    return f"{os.getloadavg()[0]:.2f}"
