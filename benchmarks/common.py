"""What every benchmark section shares: the run's settings, and a report of rows, targets and plots."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fslib.lab.bench import compare_latencies, percentiles

__all__ = ["Config", "Report", "Target", "latency_rows", "markdown_table", "ratio", "spread"]


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
    ) -> dict[str, list[np.ndarray]]:
        """:func:`fslib.lab.bench.compare_latencies` with this run's counts.

        ``iterations`` and ``warmup`` lower the counts for slow operations (a
        call of 100 ms); quick mode keeps its own tiny counts.
        """
        n = self.iterations if iterations is None or self.quick else iterations
        warm = self.warmup if warmup is None or self.quick else warmup
        return compare_latencies(fns, n=n, warmup=warm, repeats=self.repeats)


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """The median of ``values``, and their min and max."""
    return float(np.median(values)), float(min(values)), float(max(values))


def ratio(runs: Mapping[str, list[np.ndarray]], num: str, den: str, q: str = "p50") -> tuple[float, float, float]:
    """``num``'s percentile over ``den``'s: the median across repeats, and the min and max.

    Each repeat's ratio compares two variants sampled back to back, so noise
    that slows one repeat slows both sides of its ratio.
    """
    return spread([percentiles(a)[q] / percentiles(b)[q] for a, b in zip(runs[num], runs[den])])


def latency_rows(section: str, case: str, runs: Mapping[str, list[np.ndarray]], per: int = 1) -> list[dict[str, Any]]:
    """One table row per variant: p50/p90/p99 in microseconds (median across repeats) and the p50 spread."""
    rows = []
    for variant, repeats in runs.items():
        pcts = [percentiles(r) for r in repeats]
        p50s = [p["p50"] for p in pcts]
        row: dict[str, Any] = {
            "section": section,
            "case": case,
            "variant": variant,
            "iterations": int(repeats[0].size),
            "repeats": len(repeats),
        }
        for q in ("p50", "p90", "p99"):
            row[f"{q}_us"] = float(np.median([p[q] for p in pcts])) * 1e6
        row["p50_min_us"], row["p50_max_us"] = min(p50s) * 1e6, max(p50s) * 1e6
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
        measured: tuple[float, float, float],
        limit: float,
        *,
        higher_is_better: bool = False,
        detail: str = "",
        across: str = "repeats",
    ) -> None:
        """:meth:`target` on a (median, min, max) from :func:`ratio` or :func:`spread`; the detail quotes the range."""
        med, lo, hi = measured
        span = f"{across} {lo:.2f}-{hi:.2f}"
        self.target(name, med, limit, higher_is_better=higher_is_better, detail=f"{detail}, {span}" if detail else span)

    def note(self, text: str) -> None:
        """A decision or caveat for the markdown report."""
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def plot(self, name: str, draw: Callable[[Any], None]) -> None:
        """Draw a figure with ``draw(ax)`` and save it as ``name``.png."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2))
        try:
            draw(ax)
            ax.grid(True, alpha=0.3)
            fig.tight_layout()
            self.config.out.mkdir(parents=True, exist_ok=True)
            fig.savefig(self.config.out / f"{name}.png", dpi=110)
            self.plots.append(f"{name}.png")
        finally:
            plt.close(fig)

    def machine(self) -> dict[str, Any]:
        """Where these figures come from."""
        return {
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
