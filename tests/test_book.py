"""``make book`` builds the whole series as a static site that works offline.

The module builds the book once (``python -m book`` into a temporary folder, every notebook executed on the
embedded Redis) and reads what came out: a page per notebook in reading order, the README as the landing
page, the executed-on note on every notebook page, every figure the run drew shown on its page, widget
outputs drawn as static snapshots, and nothing loaded from outside the site (parsed in every page and
stylesheet, then watched in a real browser that also runs the search). The small tests at the top run the
pieces on their own.
"""

from __future__ import annotations

import base64
import itertools
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from bs4 import BeautifulSoup, Tag

from book.execute import METADATA_KEY, NOTE_CLASS, NotebookFailedError, Run, execute_notebook, notebooks
from book.site import linked_files
from book.widgets import SNAPSHOT_CLASS, WIDGET_VIEW, snapshot_html

from system_deps import CHROMIUM, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks(ROOT / "notebooks")
BUILD_TIMEOUT_S = 1500
"""The whole build: the series runs in about 3-4 minutes on 2 busy cores; each cell has its own 120 s."""

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 120)

_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+(?:url\()?\s*['"]([^'"]+)""")


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _article(path: Path) -> Tag:
    """A page's own content, without the theme's headers and navigation."""
    article = _soup(path).find("article")
    assert isinstance(article, Tag), f"{path} has no <article>"
    return article


def _heading(tag: Tag | None) -> str:
    """A heading's text without Sphinx's permalink sign."""
    assert tag is not None
    for link in tag.select("a.headerlink"):
        link.decompose()
    return tag.get_text(" ", strip=True)


def _title(markdown: str) -> str:
    """The text of the first ``# `` heading, without Markdown's inline markup."""
    line = next(line for line in markdown.splitlines() if line.startswith("# "))
    return re.sub(r"[`*_]", "", line[2:]).strip()


def _is_remote(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc) and parts.scheme not in ("data", "file")


def _local_file(page: Path, url: str) -> Path:
    return (page.parent / unquote(urlsplit(url).path)).resolve()


# --- the pieces on their own -------------------------------------------------------------------------------


def test_linked_files_are_the_readmes_own_files_only(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# guide")
    (tmp_path / "logo.png").write_bytes(b"png")
    markdown = (
        "[guide](docs/guide.md#setup) and [again](docs/guide.md), ![logo](logo.png 'the logo'), "
        "[gone](docs/missing.md), [site](https://example.org/x.md), [anchor](#top), [mail](mailto:a@b.c)"
    )
    assert linked_files(markdown, tmp_path) == ["docs/guide.md", "logo.png"]


def test_a_widget_snapshot_draws_the_saved_state() -> None:
    models = {
        "box": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_text", "IPY_MODEL_bar", "IPY_MODEL_gone"]},
        "text": {"_model_name": "HTMLModel", "value": "<b>batch write</b>", "layout": "IPY_MODEL_hidden"},
        "hidden": {"_model_name": "LayoutModel", "display": "none", "width": None},
        "bar": {"_model_name": "FloatProgressModel", "value": 2000.0, "max": 2000.0, "description": "done"},
    }
    snapshot = snapshot_html("box", models)
    assert snapshot is not None
    page = BeautifulSoup(snapshot, "html.parser")
    text = page.select_one(".fslib-widget-snapshot b")
    assert text is not None and text.text == "batch write"
    assert "display:none" in str(text.parent.get("style"))  # the layout's CSS, hidden as in JupyterLab
    bar = page.select_one("progress")
    assert bar is not None and (bar["value"], bar["max"]) == ("2000.0", "2000.0")
    assert "done" in page.get_text()
    assert snapshot_html("not-saved", models) is None


def test_a_notebook_runs_in_its_folder_and_its_widgets_become_snapshots(tmp_path: Path) -> None:
    folder = tmp_path / "story"
    folder.mkdir()
    source = folder / "story.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A story\n\nIt begins."),
            nbformat.v4.new_code_cell("import os\nassert os.getcwd().endswith('story'), os.getcwd()"),
            nbformat.v4.new_code_cell("import ipywidgets as w\nw.VBox([w.Label('3 of 4'), w.IntProgress(3, max=4)])"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, source)
    target = tmp_path / "executed.ipynb"
    run = execute_notebook(source, target)

    executed = nbformat.read(target, as_version=4)
    assert Run(**executed.metadata[METADATA_KEY]) == run
    assert re.fullmatch(r"\d+\.\d+\.\d+", run.redis_version) and run.redis_url is None
    assert executed.cells[0].source.startswith("# A story\n\n```{admonition} Executed ")
    assert len(executed.cells) == 3  # the version probe is gone again
    assert "widgets" not in executed.metadata  # no widget state on the page: nothing to load
    (widget,) = executed.cells[2].outputs
    snapshot = BeautifulSoup(widget.data["text/html"], "html.parser")
    bar = snapshot.select_one("progress")
    assert bar is not None and (bar["value"], bar["max"]) == ("3", "4")
    assert "3 of 4" in snapshot.get_text()


def test_a_failing_notebook_names_itself_and_keeps_its_outputs(tmp_path: Path) -> None:
    source = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print('first')"), nbformat.v4.new_code_cell("raise ValueError('second')")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, source)
    target = tmp_path / "out.ipynb"
    with pytest.raises(NotebookFailedError, match=r"broken\.ipynb failed") as failure:
        execute_notebook(source, target)
    assert "ValueError: second" in str(failure.value)
    assert nbformat.read(target, as_version=4).cells[0].outputs[0]["text"] == "first\n"


# --- the whole book ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, datetime, datetime]:
    """The book built once: its output folder, what ``python -m book`` printed, and when the build ran."""
    out = tmp_path_factory.mktemp("book")
    before = datetime.now(UTC).replace(microsecond=0)
    result = subprocess.run(
        [sys.executable, "-m", "book", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    after = datetime.now(UTC)
    assert result.returncode == 0, f"python -m book failed:\n{result.stdout}\n{result.stderr}"
    return out, result.stdout, before, after


@pytest.fixture(scope="module")
def html(built: tuple[Path, str, datetime, datetime]) -> Path:
    return built[0] / "html"


def _page(html: Path, notebook: Path) -> Path:
    return html / "notebooks" / f"{notebook.stem}.html"


def _executed(html: Path, notebook: Path) -> nbformat.NotebookNode:
    return nbformat.read(html.parent / "executed" / notebook.name, as_version=4)


def test_make_book_says_where_the_site_is_and_how_to_open_it(built: tuple[Path, str, datetime, datetime]) -> None:
    out, printed, _, _ = built
    index = out / "html" / "index.html"
    assert f"book: {index}" in printed.splitlines()
    assert f"python -m http.server --bind 127.0.0.1 --directory {out / 'html'}" in printed
    assert index.as_uri() in printed


def test_every_notebook_has_its_page_under_its_title(html: Path) -> None:
    assert NOTEBOOKS, "no notebooks found"
    for notebook in NOTEBOOKS:
        page = _page(html, notebook)
        assert page.is_file(), f"{notebook.name} has no page"
        source = nbformat.read(notebook, as_version=4)
        assert _heading(_article(page).find("h1")) == _title(source.cells[0].source), page


def test_every_notebook_page_says_when_and_on_which_redis_it_ran(
    built: tuple[Path, str, datetime, datetime], html: Path
) -> None:
    _, _, before, after = built
    for notebook in NOTEBOOKS:
        run = Run(**_executed(html, notebook).metadata[METADATA_KEY])
        assert before <= datetime.fromisoformat(run.started) <= after, f"{notebook.name}: not run by this build"
        assert re.fullmatch(r"\d+\.\d+\.\d+", run.redis_version), run
        notes = _soup(_page(html, notebook)).select(f".{NOTE_CLASS}")
        assert len(notes) == 1, f"{notebook.name}: {len(notes)} executed-on notes"
        text = notes[0].get_text(" ", strip=True)
        started = datetime.fromisoformat(run.started)
        assert f"Executed {started:%Y-%m-%d %H:%M} UTC on Redis {run.redis_version}" in text
        assert f"at {started:%H:%M:%S} UTC" in text
        assert ("embedded" in text) if run.redis_url is None else (run.redis_url in text)


def test_every_figure_of_the_run_is_shown_on_its_page(html: Path) -> None:
    figures = 0
    for notebook in NOTEBOOKS:
        drawn = [
            base64.b64decode(output.data["image/png"])
            for cell in _executed(html, notebook).cells
            for output in cell.get("outputs", [])
            if "image/png" in output.get("data", {})
        ]
        page = _page(html, notebook)
        shown = [_local_file(page, str(img["src"])) for img in _soup(page).select(".cell_output img")]
        assert all(path.is_file() for path in shown), f"{page.name}: an <img> without its file"
        assert sorted(drawn) == sorted(path.read_bytes() for path in shown), f"{page.name}: figures differ"
        figures += len(drawn)
    assert figures > 0, "the series drew no figure: nothing was checked"


def test_widget_outputs_are_static_snapshots(html: Path) -> None:
    snapshots = 0
    for notebook in NOTEBOOKS:
        outputs = [o for cell in _executed(html, notebook).cells for o in cell.get("outputs", [])]
        widgets = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
        assert all("text/html" in o.data for o in widgets), f"{notebook.name}: a widget output with no snapshot"
        expected = sum(SNAPSHOT_CLASS in o.data["text/html"] for o in widgets)
        page = _soup(_page(html, notebook))
        assert len(page.select(f".{SNAPSHOT_CLASS}")) == expected, notebook.name
        assert not page.select(f'script[type="{WIDGET_VIEW}"]'), f"{notebook.name}: a widget view needs JavaScript"
        snapshots += expected
    assert snapshots > 0, "the series showed no widget: nothing was checked"


def test_the_landing_page_is_the_readme(html: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = _article(html / "index.html")
    assert _heading(index.find("h1")) == _title(readme)
    sections = [re.sub(r"[`*]", "", line[3:]).strip() for line in readme.splitlines() if line.startswith("## ")]
    assert [_heading(h2) for h2 in index.find_all("h2")] == sections


def test_the_pages_follow_in_reading_order(html: Path) -> None:
    pages = [html / "index.html", *(_page(html, notebook) for notebook in NOTEBOOKS)]
    for page, following in itertools.pairwise(pages):
        link = _soup(page).find("link", rel="next")
        assert link is not None, f"{page.name} has no next page"
        assert _local_file(page, str(link["href"])) == following.resolve(), page.name
    sidebar = [
        _local_file(html / "index.html", str(a["href"])) for a in _soup(html / "index.html").select("nav.bd-docs-nav a")
    ]
    in_sidebar = [page for page in sidebar if page in {p.resolve() for p in pages[1:]}]
    assert in_sidebar == [page.resolve() for page in pages[1:]], "the sidebar lists the notebooks out of order"


def _pages(html: Path) -> list[Path]:
    """Every page Sphinx wrote (not the theme's templates that it copies into _static)."""
    return sorted(path for path in html.rglob("*.html") if "_static" not in path.relative_to(html).parts)


def test_no_page_loads_anything_from_elsewhere(html: Path) -> None:
    pages = _pages(html)
    assert len(pages) > len(NOTEBOOKS)
    for page in pages:
        soup = _soup(page)
        for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
            for element in soup.find_all(tag, attrs={attribute: True}):
                url = str(element[attribute])
                assert not _is_remote(url), f"{page.relative_to(html)} loads {url}"
                if urlsplit(url).path and not url.startswith("data:"):
                    assert _local_file(page, url).is_file(), f"{page.relative_to(html)}: {url} is missing"
    for stylesheet in sorted(html.rglob("*.css")):
        for match in _CSS_URL.finditer(stylesheet.read_text(encoding="utf-8")):
            url = match.group(1) or match.group(2)
            assert not _is_remote(url), f"{stylesheet.relative_to(html)} loads {url}"


def test_every_link_between_pages_resolves(html: Path) -> None:
    for page in _pages(html):
        for anchor in _soup(page).find_all("a", href=True):
            url = str(anchor["href"])
            if not _is_remote(url) and urlsplit(url).path and not url.startswith(("mailto:", "data:")):
                assert _local_file(page, url).exists(), f"{page.relative_to(html)} links to missing {url}"


@needs_chromium
def test_the_site_works_offline_in_a_browser_and_its_search_finds_a_notebook(html: Path) -> None:
    from playwright.sync_api import Request, Route, expect, sync_playwright

    elsewhere: list[str] = []

    def local_only(route: Route, request: Request) -> None:
        if request.url.startswith("file:"):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    last = NOTEBOOKS[-1]
    word = max(re.findall(r"[A-Za-z]{4,}", _title(nbformat.read(last, as_version=4).cells[0].source)), key=len)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.route("**/*", local_only)
            for notebook in NOTEBOOKS:
                page.goto(_page(html, notebook).as_uri(), wait_until="load")
                broken = page.eval_on_selector_all(
                    ".cell_output img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length"
                )
                assert broken == 0, f"{notebook.name}: {broken} figures do not show"
            page.goto(f"{(html / 'search.html').as_uri()}?q={word}", wait_until="load")
            expect(page.locator(f'#search-results a[href*="{last.stem}"]').first).to_be_visible(timeout=30_000)
        finally:
            browser.close()
    assert elsewhere == [], f"pages asked for {elsewhere}"
