"""What every benchmark section shares: the run's settings, and a report of rows, targets and plots."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fslib.lab.bench import LatencyComparison, Spread, compare_latencies

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Config", "Report", "Target", "latency_rows", "markdown_table"]


@dataclass(frozen=True)
class Config:
    """Sizes and iteration counts of one run."""

    url: str
    quick: bool
    out: Path
    iterations: int = 2000
    warmup: int = 200
    repeats: int = 3

    @classmethod
    def from_env(cls, url: str) -> Config:
        """Read ``BENCH_QUICK`` and ``BENCH_OUT``."""
        quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        out = Path(os.environ.get("BENCH_OUT") or Path(__file__).parent / "results")
        if quick:
            return cls(url, True, out, iterations=50, warmup=5, repeats=1)
        return cls(url, False, out)

    def pick(self, full: Any, quick: Any) -> Any:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full

    def compare(
        self, fns: Mapping[str, Callable[[], object]], iterations: int | None = None, warmup: int | None = None
    ) -> LatencyComparison:
        """:func:`fslib.lab.bench.compare_latencies` with this run's counts.

        ``iterations`` and ``warmup`` lower the counts for slow operations (a
        call of 100 ms); quick mode keeps its own tiny counts.
        """
        n = self.iterations if iterations is None or self.quick else iterations
        warm = self.warmup if warmup is None or self.quick else warmup
        return compare_latencies(fns, n=n, warmup=warm, repeats=self.repeats)


def latency_rows(section: str, case: str, runs: LatencyComparison, per: int = 1) -> list[dict[str, Any]]:
    """One table row per variant: p50/p90/p99 in microseconds (median across repeats) and the p50 spread."""
    rows = []
    for variant, repeats in runs.items():
        p50 = runs.ms(variant, 50)
        row: dict[str, Any] = {
            "section": section,
            "case": case,
            "variant": variant,
            "iterations": int(repeats[0].size),
            "repeats": len(repeats),
            "p50_us": p50.median * 1e3,
            "p90_us": runs.ms(variant, 90).median * 1e3,
            "p99_us": runs.ms(variant, 99).median * 1e3,
            "p50_min_us": p50.low * 1e3,
            "p50_max_us": p50.high * 1e3,
        }
        if per > 1:
            row["p50_per_entity_us"] = row["p50_us"] / per
        rows.append(row)
    return rows


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table; floats to 4 significant digits (pandas' own needs tabulate)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _commit() -> str:
    """The checked-out commit (short, ``+changes`` when the tree differs from it), or ``unknown`` outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=False
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=False)
    except OSError:  # no git on this machine
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


@dataclass
class Target:
    """One target of the issues (#7, #11, #14) and whether this run met it; the verdict is computed, never stored."""

    name: str
    measured: float
    limit: float
    higher_is_better: bool
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.measured >= self.limit if self.higher_is_better else self.measured <= self.limit

    @property
    def verdict(self) -> str:
        """``PASS`` or ``MISS``, from the measured value."""
        return "PASS" if self.passed else "MISS"

    @property
    def sign(self) -> str:
        return ">=" if self.higher_is_better else "<="

    def line(self) -> str:
        target = f"(target {self.sign} {self.limit:g})"
        return f"{self.verdict}  {self.name}: {self.measured:.4g} {target} {self.detail}".rstrip()


@dataclass
class Report:
    """Rows, targets, notes and plots gathered by the sections, written at the end."""

    config: Config
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))

    def target(
        self, name: str, measured: float, limit: float, *, higher_is_better: bool = False, detail: str = ""
    ) -> None:
        """Record a target and print its verdict right away."""
        target = Target(name, measured, limit, higher_is_better, detail)
        self.targets.append(target)
        print(target.line(), flush=True)

    def target_spread(
        self,
        name: str,
        measured: Spread,
        limit: float,
        *,
        higher_is_better: bool = False,
        detail: str = "",
        across: str = "repeats",
    ) -> None:
        """:meth:`target` on the median of a :class:`~fslib.lab.bench.Spread`; the detail quotes its range."""
        span = f"{across} {measured.low:.2f}-{measured.high:.2f}"
        self.target(
            name,
            measured.median,
            limit,
            higher_is_better=higher_is_better,
            detail=f"{detail}, {span}" if detail else span,
        )

    def note(self, text: str) -> None:
        """A decision or caveat for the markdown report."""
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def figure(self, name: str, fig: Figure) -> None:
        """Save a :mod:`fslib.lab.plots` figure as ``name``.png (no pyplot: the figure is its own canvas)."""
        self.config.out.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.config.out / f"{name}.png", dpi=110)
        self.plots.append(f"{name}.png")

    def machine(self) -> dict[str, Any]:
        """Where these figures come from: the run (date, commit) and the machine, so a quote can name it."""
        return {
            "date": self.started,
            "commit": _commit(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            **self.facts,
        }

    def write(self) -> Path:
        """Write results.md, results.csv and results.json into the output folder."""
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(self.rows)
        frame.to_csv(out / "results.csv", index=False)
        payload = {
            "quick": self.config.quick,
            "machine": self.machine(),
            "targets": [{**asdict(t), "passed": t.passed, "verdict": t.verdict} for t in self.targets],
            "notes": self.notes,
            "rows": self.rows,
        }
        (out / "results.json").write_text(json.dumps(payload, indent=2, default=str))
        (out / "results.md").write_text(self.markdown(frame))
        return out

    def markdown(self, frame: pd.DataFrame) -> str:
        lines = ["# fslib benchmark results", ""]
        if self.config.quick:
            lines += ["**Quick mode (BENCH_QUICK=1): smoke test, numbers are meaningless.**", ""]
        lines += ["Machine: " + ", ".join(f"{k}={v}" for k, v in self.machine().items()), ""]
        lines += ["## Targets", "", "| verdict | target | measured | limit | detail |", "|---|---|---|---|---|"]
        for t in self.targets:
            lines.append(f"| {t.verdict} | {t.name} | {t.measured:.4g} | {t.sign} {t.limit:g} | {t.detail} |")
        if self.notes:
            lines += ["", "## Notes and decisions", ""] + [f"- {n}" for n in self.notes]
        for section, part in frame.groupby("section", sort=False) if not frame.empty else ():
            lines += ["", f"## {section}", "", markdown_table(part.drop(columns="section").dropna(axis=1, how="all"))]
        if self.plots:
            lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in self.plots]
        return "\n".join(lines) + "\n"
