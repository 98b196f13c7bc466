"""Lay out the Sphinx sources and build the HTML: the README as the landing page, the notebooks in reading order.

The sources are a copy (``<out>/src``): ``index.md`` is the README with the table of contents appended,
``notebooks/`` holds the executed notebooks, and every other repository file the README links to is copied
to the same relative path, so its links work in the site as they do on a forge. Sphinx runs with
``conf.py`` beside this file and turns every warning into an error (a broken link fails the build).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = ["CONF_DIR", "ROOT", "SiteBuildError", "build_html", "linked_files", "write_sources"]

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = Path(__file__).resolve().parent
NOTEBOOK_FOLDER = "notebooks"

# A Markdown link or image target: ](target), ](<target>), ](target "title") or ](target 'title').
_LINK = re.compile(r"""\]\(\s*<?([^()\s<>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)""")


class SiteBuildError(Exception):
    """Sphinx reported errors or warnings (printed above); nothing was published."""


def linked_files(markdown: str, base: Path) -> list[str]:
    """The repository files ``markdown`` links to, relative to ``base``: no URLs, anchors or missing files.

    Returns:
        Relative POSIX paths, each once, in the order of their first link.
    """
    found: dict[str, None] = {}
    for target in _LINK.findall(markdown):
        path = target.split("#", 1)[0]
        if path and ":" not in path and not path.startswith("/") and (base / path).is_file():
            found.setdefault(Path(path).as_posix())
    return list(found)


def write_sources(src: Path, executed: Sequence[Path]) -> None:
    """Lay out the site's sources in ``src`` (emptied first) from the README and the executed notebooks."""
    shutil.rmtree(src, ignore_errors=True)
    (src / NOTEBOOK_FOLDER).mkdir(parents=True)
    for notebook in executed:
        shutil.copy2(notebook, src / NOTEBOOK_FOLDER / notebook.name)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    extra_pages = []
    for relative in linked_files(readme, ROOT):
        if relative.startswith(f"{NOTEBOOK_FOLDER}/"):
            continue  # the executed copy is already there
        (src / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, src / relative)
        if relative.endswith(".md"):
            extra_pages.append(relative.removesuffix(".md"))
    (src / "index.md").write_text(readme + _contents(extra_pages), encoding="utf-8")


def _contents(extra_pages: Sequence[str]) -> str:
    """The hidden tables of contents: the notebooks by name (reading order), then the README's other pages."""
    contents = f"\n\n```{{toctree}}\n:hidden:\n:glob:\n:caption: Notebooks\n\n{NOTEBOOK_FOLDER}/*\n```\n"
    if extra_pages:
        contents += "\n```{toctree}\n:hidden:\n:caption: More\n\n" + "\n".join(extra_pages) + "\n```\n"
    return contents


def build_html(src: Path, html: Path, doctrees: Path) -> None:
    """Run Sphinx's HTML builder on ``src`` into ``html`` (emptied first).

    Raises:
        SiteBuildError: Sphinx reported an error or a warning.
    """
    from sphinx.cmd.build import build_main

    shutil.rmtree(html, ignore_errors=True)
    shutil.rmtree(doctrees, ignore_errors=True)
    args = ["-b", "html", "-c", str(CONF_DIR), "-d", str(doctrees), "-W", "--keep-going", "-q", str(src), str(html)]
    if build_main(args) != 0:
        raise SiteBuildError(f"Sphinx failed on {src} (its messages are above)")
