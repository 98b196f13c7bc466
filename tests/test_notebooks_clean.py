"""The notebooks are committed clean: no outputs, no execution counts, no widget state.

Also checks what every notebook of the series must have: the python3 kernelspec
(else JupyterLab asks "Select Kernel"), a "Prev | Contents | Next" line, a
consistent Prev/Next chain, and a link from the index; and the series' shape
(:func:`series_problems`): a goal and "what you will learn" up front, exercises
at the end, asserts that tell the reader what to do, fslib imported one way, no
``FLUSHALL``.
"""

from __future__ import annotations

import ast
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


_EXERCISE = re.compile(r"^\d+\. ", re.MULTILINE)
FSLIB_MODULES = {"lab", "local", "fast", "serve"}
"""What a notebook may import from fslib by name; everything else is ``fslib.<name>``."""


def _code(cell: dict[str, Any]) -> str:
    """A code cell's Python, with IPython's ``%magic`` and ``!shell`` lines blanked."""
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _shows_private_source(node: ast.AST) -> bool:
    """``lab.show_source(x._y)``: the lesson is the public methods (dunders, such as ``__iter__``, are public)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "show_source"):
        return False
    names = [part for arg in node.args for part in ast.unparse(arg).split(".")]
    return any(name.startswith("_") and not name.startswith("__") for name in names)


def series_problems(nb: dict[str, Any]) -> list[str]:
    """Where a notebook departs from the series' shape; empty when it follows it."""
    problems = []
    cells = nb["cells"]
    first = "".join(cells[0]["source"]) if cells and cells[0]["cell_type"] == "markdown" else ""
    if "**Goal.**" not in first or "What you will learn" not in first:
        problems.append("the first cell lacks '**Goal.**' or 'What you will learn'")
    sections = re.split(r"^## ", _markdown(nb), flags=re.MULTILINE)
    last = sections[-1] if len(sections) > 1 else ""
    if not last.startswith("Try it yourself") or not 2 <= len(_EXERCISE.findall(last)) <= 4:
        problems.append("the last section is not '## Try it yourself' with 2-4 numbered exercises")
    for number, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        code = _code(cell)
        if re.search(r"\bflush(all|db)\b", code, re.IGNORECASE):
            problems.append(f"cell {number} flushes the database: delete the notebook's own prefix instead")
        try:
            tree, first_line = ast.parse(code), 1
        except SyntaxError:  # top-level await is valid in a notebook; parse it as a coroutine's body
            tree, first_line = (
                ast.parse("async def _cell():\n" + "\n".join(f"    {line}" for line in code.splitlines())),
                2,
            )
        for node in ast.walk(tree):
            if _shows_private_source(node):
                problems.append(f"cell {number}: show_source of a private name: show the public method a reader calls")
            if isinstance(node, ast.Assert) and node.msg is None:
                line = node.lineno - first_line + 1
                problems.append(f"cell {number}, line {line}: an assert without a message for the reader")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fslib"):
                names = {alias.name for alias in node.names}
                if node.module != "fslib" or not names <= FSLIB_MODULES:
                    problems.append(
                        f"cell {number}: 'from {node.module} import ...': use fslib.<name> or lab/local/fast/serve"
                    )
            if isinstance(node, ast.Import) and any(
                alias.name.startswith("fslib.") or (alias.name == "fslib" and alias.asname) for alias in node.names
            ):
                problems.append(f"cell {number}: import fslib as 'import fslib', and reach the rest through it")
    return problems


def test_there_are_notebooks() -> None:
    assert INDEX in [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path: Path) -> None:
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), "name must be NN_snake_case.ipynb"
    assert notebook_problems(_load(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_follows_the_series_shape(path: Path) -> None:
    assert series_problems(_load(path)) == []


def test_a_notebook_off_the_series_shape_is_caught() -> None:
    nb = copy.deepcopy(_load(NOTEBOOK_DIR / INDEX))
    nb["cells"][0]["source"] = "# no goal here"
    code = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    nb["cells"] += [
        {**code, "source": "%matplotlib inline\nfrom fslib.lab import plots\nimport fslib.fast\nassert 1 == 1"},
        {**code, "source": "x = await thing()\nassert x\nclient.flushall()"},
        {**code, "source": "lab.show_source(fslib.StreamingWorker._tick)\nlab.show_source(fslib.rows.X.__iter__)"},
    ]
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "## An appendix after the exercises"})
    first, second, third = len(nb["cells"]) - 4, len(nb["cells"]) - 3, len(nb["cells"]) - 2
    assert series_problems(nb) == [
        "the first cell lacks '**Goal.**' or 'What you will learn'",
        "the last section is not '## Try it yourself' with 2-4 numbered exercises",
        f"cell {first}: 'from fslib.lab import ...': use fslib.<name> or lab/local/fast/serve",
        f"cell {first}: import fslib as 'import fslib', and reach the rest through it",
        f"cell {first}, line 4: an assert without a message for the reader",
        f"cell {second} flushes the database: delete the notebook's own prefix instead",
        f"cell {second}, line 2: an assert without a message for the reader",
        f"cell {third}: show_source of a private name: show the public method a reader calls",
    ]


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_last_cell_repeats_the_navigation_line(path: Path) -> None:
    """A reader who reached the end goes on from there, without scrolling back to the top."""
    cells = _load(path)["cells"]
    top = "".join(cells[0]["source"]).splitlines()
    nav = next((line for line in top if "**Contents:**" in line), None)
    assert nav is not None, f"{path.name}: the first cell has no 'Prev | Contents | Next' line"
    assert cells[-1]["cell_type"] == "markdown" and nav in "".join(cells[-1]["source"]).splitlines(), (
        f"{path.name}: the last cell should end the notebook with {nav!r}"
    )


def test_index_links_every_notebook() -> None:
    linked = set(_LINK.findall(_markdown(_load(NOTEBOOK_DIR / INDEX))))
    missing = [p.name for p in NOTEBOOKS if p.name not in linked]
    assert not missing, f"{INDEX} does not link {missing}"
