"""The notebooks are committed clean: no outputs, no execution counts, no widget state.

Also checks what every notebook of the series must have: the python3 kernelspec
(else JupyterLab asks "Select Kernel"), a "Prev | Contents | Next" line, a
consistent Prev/Next chain, and a link from the index.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
INDEX = "00_index.ipynb"

_LINK = re.compile(r"\]\(([^)\s]+\.ipynb)\)")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _markdown(nb: dict[str, Any]) -> str:
    return "\n".join(
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
    )


def nav_links(nb: dict[str, Any]) -> dict[str, str | None]:
    """The Prev and Next targets of the first "Prev | Contents | Next" line.

    That line has exactly three ``|``-separated parts, the middle one naming
    the Contents; the words Prev and Next are optional (arrows do as well).
    A part without a link (the first notebook's Prev) maps to None.
    """
    for line in _markdown(nb).splitlines():
        parts = line.split("|")
        if len(parts) == 3 and re.search(r"\bContents\b", parts[1], re.IGNORECASE):
            targets = [_LINK.search(part) for part in (parts[0], parts[2])]
            return {word: match.group(1) if match else None for word, match in zip(("Prev", "Next"), targets)}
    return {}


def notebook_problems(nb: dict[str, Any]) -> list[str]:
    """Everything that makes a notebook unfit to commit; empty when it is clean."""
    problems = []
    for number, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {number} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {number} has an execution count")
    metadata = nb.get("metadata", {})
    if "widgets" in metadata:
        problems.append("metadata.widgets holds widget state")
    if metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("no python3 kernelspec")
    if not {"Prev", "Next"} <= nav_links(nb).keys():
        problems.append("no 'Prev | Contents | Next' line")
    return problems


def test_there_are_notebooks() -> None:
    assert INDEX in [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path: Path) -> None:
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), "name must be NN_snake_case.ipynb"
    assert notebook_problems(_load(path)) == []


def test_a_dirty_notebook_is_caught() -> None:
    dirty = copy.deepcopy(_load(NOTEBOOK_DIR / INDEX))
    code = next(cell for cell in dirty["cells"] if cell["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    code["execution_count"] = 3
    dirty["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    del dirty["metadata"]["kernelspec"]
    for cell in dirty["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = "no navigation here"
    assert notebook_problems(dirty) == [
        f"cell {dirty['cells'].index(code)} has outputs",
        f"cell {dirty['cells'].index(code)} has an execution count",
        "metadata.widgets holds widget state",
        "no python3 kernelspec",
        "no 'Prev | Contents | Next' line",
    ]


def test_prev_next_chain_follows_the_numbering() -> None:
    names = [p.name for p in NOTEBOOKS]
    links = {p.name: nav_links(_load(p)) for p in NOTEBOOKS}
    for before, after in itertools.pairwise(names):
        assert links[before].get("Next") == after, f"{before}: Next should link {after}"
        assert links[after].get("Prev") == before, f"{after}: Prev should link {before}"


def test_index_links_every_notebook() -> None:
    linked = set(_LINK.findall(_markdown(_load(NOTEBOOK_DIR / INDEX))))
    missing = [p.name for p in NOTEBOOKS if p.name not in linked]
    assert not missing, f"{INDEX} does not link {missing}"
