"""The notebooks at a reader's pace: cell by cell, a pause before every code cell, on a busy machine.

nbmake runs a notebook's cells back to back. A reader runs them one at a time and
reads in between, on a laptop busy with other work; a timed story that only holds
back to back (a TTL that runs out while the reader reads) passes nbmake and fails
the reader. Here nbclient executes each notebook with an ``on_cell_execute`` hook
that sleeps before every code cell, while two busy-loop processes occupy the CPUs.

``make test`` runs the time-sensitive notebooks (:data:`TIME_SENSITIVE`);
``make paced`` runs every notebook (``FSLIB_PACED=all``). ``FSLIB_PACE_SECONDS``
sets the pause (10 s by default). A failing notebook is saved with its outputs
under ``test-artifacts/paced/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "paced"

TIME_SENSITIVE = [
    "03_streaming_writes.ipynb",
    "04_ttl_expiry.ipynb",
    "06_dashboard.ipynb",
    "09_serving_over_http.ipynb",
    "10_late_and_replayed_events.ipynb",
]
"""Notebooks whose story depends on time (TTLs, a worker's ticks): paced in every ``make test``."""

PACE_S = float(os.environ.get("FSLIB_PACE_SECONDS", "10"))
NEIGHBOURS = 2
"""Busy-loop processes beside the kernel: both cores of a small laptop taken by other work."""
CELL_TIMEOUT_S = 300
"""nbclient's limit for one cell's own run, pause not included."""
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def paced_notebooks() -> list[Path]:
    """The time-sensitive notebooks, or every notebook when ``FSLIB_PACED=all``."""
    if os.environ.get("FSLIB_PACED", "").strip().lower() == "all":
        return sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    return [NOTEBOOK_DIR / name for name in TIME_SENSITIVE]


def code_cells(path: Path) -> int:
    """How many code cells ``path`` has (each gets a pause)."""
    return sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)


class Reader:
    """An ``on_cell_execute`` hook: pauses ``pace_s`` before each code cell, and notes which ones."""

    def __init__(self, pace_s: float) -> None:
        self.pace_s = pace_s
        self.paused_before: list[int] = []

    async def __call__(self, cell: Any, cell_index: int) -> None:
        self.paused_before.append(cell_index)
        await asyncio.sleep(self.pace_s)


def run_paced(notebook: Any, folder: Path, reader: Reader) -> None:
    """Execute ``notebook`` in place, in ``folder``, with ``reader`` pausing before each code cell.

    Raises:
        CellExecutionError: A cell failed; the message shows its source and traceback.
    """
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        on_cell_execute=reader,
    )
    client.execute()


@pytest.fixture(scope="module")
def busy_machine() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two processes spinning on the CPUs for the module's tests, stopped by their pids afterwards."""
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(NEIGHBOURS)]
    try:
        yield neighbours
    finally:
        for process in neighbours:
            process.terminate()
        for process in neighbours:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_reader_pauses_before_each_code_cell_and_a_failure_names_its_cell(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# a story"),
            nbformat.v4.new_code_cell("import os\nhere = os.getcwd()"),
            nbformat.v4.new_code_cell(""),  # nothing to run: no pause either
            nbformat.v4.new_code_cell("assert here.endswith('story'), 'the kernel runs in the wrong folder'"),
            nbformat.v4.new_code_cell("raise RuntimeError('the third act fails')"),
            nbformat.v4.new_code_cell("never = True"),
        ]
    )
    folder = tmp_path / "story"
    folder.mkdir()
    reader = Reader(pace_s=0.01)
    with pytest.raises(CellExecutionError, match="the third act fails") as failure:
        run_paced(notebook, folder, reader)
    assert "raise RuntimeError" in str(failure.value)  # the failing cell's source, for the reader of the log
    assert reader.paused_before == [1, 3, 4]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(path, marks=pytest.mark.timeout(int(code_cells(path) * (PACE_S + 30) + 300)), id=path.name)
        for path in paced_notebooks()
    ],
)
def test_notebook_at_a_readers_pace(path: Path, busy_machine: list[subprocess.Popen[bytes]]) -> None:
    assert all(process.poll() is None for process in busy_machine), "a busy neighbour died: the machine is idle"
    notebook = nbformat.read(path, as_version=4)
    reader = Reader(PACE_S)
    try:
        run_paced(notebook, NOTEBOOK_DIR, reader)
    except CellExecutionError as exc:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / path.name)
        pytest.fail(
            f"{path.name} failed at a reader's pace ({PACE_S:g} s before each code cell, {NEIGHBOURS} busy "
            f"neighbours); the executed copy is {ARTIFACTS / path.name}\n{_COLOUR.sub('', str(exc))}",
            pytrace=False,
        )
    assert len(reader.paused_before) == sum(bool(c.source.strip()) for c in notebook.cells if c.cell_type == "code")
