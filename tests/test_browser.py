"""End to end in a real browser: JupyterLab + headless Debian Chromium run 06_dashboard.ipynb.

A person's session: open the notebook, run every cell but the closing one, click
Bulk-load, Pause/Resume, Read features, Pipeline HMGET, Inspect and Reset, read what
the page shows, then run the closing cell. The panels must refresh by themselves
(a task on the kernel's event loop) and carry streaming features for the users shown.
JupyterLab serves a copy of the notebook so the committed file never gets outputs.
At the end the kernel, its embedded Redis and JupyterLab must all be gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

from fslib.local import free_port

from system_deps import CHROMIUM, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_dashboard.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous for 2 noisy shared cores, but every wait is bounded.
SERVER_START_S = 120
KERNEL_WORK_MS = 180_000
CLICK_RESULT_MS = 60_000
QUEUED_OR_RUN = re.compile(r"\[(\*|\d+)\]:")

pytestmark = [
    needs_chromium,
    pytest.mark.timeout(600),
]


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (kernels, their embedded redis-server, ...)."""
    children = _children_by_parent()
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def wait_for_server(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=5) as reply:
                json.load(reply)
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A JupyterLab on a free loopback port, no token, serving a copy of the notebook."""
    served = tmp_path / "notebooks"
    served.mkdir()
    shutil.copy(NOTEBOOK, served / NOTEBOOK.name)
    user_settings = {
        # No news/update toasts over the page.
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        # Keep every cell in the DOM: a windowed notebook drops off-screen outputs.
        "notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in user_settings.items():
        path = tmp_path / "settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}  # the kernel's own Redis
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    port = free_port()
    log = (tmp_path / "jupyterlab.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab",
            "--allow-root", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
            "--IdentityProvider.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={served}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, process, SERVER_START_S)
        yield url, process
    finally:
        leftovers = shut_down(process)
        if leftovers:
            print((tmp_path / "jupyterlab.log").read_text(errors="replace")[-4000:])
        assert not leftovers, f"still running after JupyterLab shut down: {leftovers}"


def shut_down(process: subprocess.Popen[bytes]) -> list[str]:
    """Stop JupyterLab (it shuts its kernels down first) and return what survived, killed."""
    tree = descendants(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # jupyter_server's clean exit: kernels get a shutdown request
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [f"{pid}: {command_line(pid)}" for pid in tree if alive(pid)]
    for pid in tree:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    return survivors


def run_cell(page: Page, cell: Locator, kind: str) -> None:
    """Shift+Enter on the selected cell; a code cell must get queued (``[*]``) or run (``[n]``).

    A keypress that lands while the page is still wiring up the kernel can be
    dropped; then the cell is selected again and the key pressed once more.
    """
    from playwright.sync_api import expect

    page.keyboard.press("Shift+Enter")
    if kind != "code":
        return
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(3):
        try:
            expect(prompt).to_have_text(QUEUED_OR_RUN, timeout=20_000)
            return
        except AssertionError:
            # The selection moved on without running it: step back up to it, press again.
            page.keyboard.press("Escape")
            page.keyboard.press("ArrowUp")
            page.keyboard.press("Shift+Enter")
    expect(prompt).to_have_text(QUEUED_OR_RUN, timeout=20_000)


@contextmanager
def notebook_page(url: str, notebook: Path) -> Iterator[Page]:
    """Headless Chromium showing ``notebook`` in JupyterLab with its kernel idle; a screenshot if the block fails."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        try:
            page.set_default_timeout(CLICK_RESULT_MS)
            page.goto(f"{url}/lab/tree/{notebook.name}", timeout=KERNEL_WORK_MS)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=KERNEL_WORK_MS)
            kernel_idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            expect(kernel_idle).to_have_count(1, timeout=KERNEL_WORK_MS)
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{notebook.stem}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_dashboard_notebook_in_a_real_browser(jupyterlab: tuple[str, subprocess.Popen[bytes]]) -> None:
    from playwright.sync_api import expect

    url, server = jupyterlab
    with notebook_page(url, NOTEBOOK) as page:
        kernel_idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        # Run every cell before the last code cell (which closes the dashboard) as a person would:
        # select the first cell, then Shift+Enter (run and advance) once per cell.
        kinds = [cell["cell_type"] for cell in json.loads(NOTEBOOK.read_text())["cells"]]
        closing = max(index for index, kind in enumerate(kinds) if kind == "code")
        at_closing = page.locator(".jp-StatusBar-Widget", has_text=f"Cell {closing + 1}/{len(kinds)}")
        cells = page.locator(".jp-Notebook .jp-Cell")
        expect(cells).to_have_count(len(kinds))
        cells.first.click(force=True)
        page.keyboard.press("Escape")
        for index, kind in enumerate(kinds[:closing]):
            run_cell(page, cells.nth(index), kind)
        expect(at_closing).to_have_count(1)

        dashboard = page.locator(".fslib-dashboard")
        expect(dashboard).to_be_visible(timeout=KERNEL_WORK_MS)
        status = dashboard.locator(".fslib-worker-status")  # the worker status, shown once
        expect(status).to_have_text(re.compile(r"^running · "), timeout=KERNEL_WORK_MS)
        # The cells after the dashboard ran too (materialize(300) from code).
        stdout = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stdout']")
        expect(stdout.filter(has_text="Bulk-loaded 300 users")).to_be_visible(timeout=KERNEL_WORK_MS)
        expect(kernel_idle).to_have_count(1, timeout=KERNEL_WORK_MS)

        # The panels refresh on their own: the worker's tick count moves with no click.
        first = status.inner_text()
        expect(status).not_to_have_text(first, timeout=CLICK_RESULT_MS)

        # Materialize: type a count, click Bulk-load.
        count = dashboard.locator(".fslib-count input")
        count.fill("250")
        count.press("Tab")
        dashboard.locator("button.fslib-materialize").click()
        expect(dashboard.locator(".fslib-ok", has_text="Bulk-loaded 250 users")).to_be_visible()
        expect(dashboard.locator(".fslib-state-table")).to_contain_text("entities300")
        expect(dashboard.locator(".fslib-state-table")).to_contain_text("batch TTL (key, last load)3,600 s")

        # Pause / Resume: one button, the badge follows.
        toggle = dashboard.locator("button.fslib-toggle")
        expect(toggle).to_have_text("Pause")
        toggle.click()
        expect(status).to_have_text(re.compile(r"^paused · "))
        expect(toggle).to_have_text("Resume")
        toggle.click()
        expect(status).to_have_text(re.compile(r"^running · "))
        expect(toggle).to_have_text("Pause")

        # Read features: the default mix of batch and streaming features for u0001.
        dashboard.locator("button.fslib-read").click()
        table = dashboard.locator(".fslib-read-table")
        expect(table).to_be_visible()
        expect(table.locator("tr.fslib-batch")).to_have_count(3)
        expect(table.locator("tr.fslib-streaming")).to_have_count(2)
        expect(table.locator("tr.fslib-batch").first).to_contain_text("risk_segment")
        expect(table.locator("tr.fslib-batch").first).to_contain_text("- (key TTL only)")
        # The worker reaches every user within the streaming TTL: u0001's streaming fields are there,
        # each with its field TTL and the age of its event (the worker writes with event times).
        for row in table.locator("tr.fslib-streaming").all():
            expect(row).to_contain_text(re.compile(r"\d+ s-?\d+\.\d s ago$"))
        expect(dashboard.locator(".fslib-summary", has_text="HMGET latency")).to_contain_text("u0001: key TTL")
        expect(dashboard.locator(".fslib-summary", has_text="HMGET latency")).to_contain_text("5/5 features present")
        read_user = dashboard.locator(".fslib-read-user input")
        read_user.fill("u9999")
        read_user.press("Tab")
        dashboard.locator("button.fslib-read").click()
        expect(dashboard.locator(".fslib-summary")).to_contain_text(["u9999: entity missing: fall back"])

        # Batch scoring and Inspect, then the picture, then Reset with its confirmation.
        dashboard.locator("button.fslib-score").click()
        expect(dashboard.locator(".fslib-score-table tbody tr")).to_have_count(5)
        expect(dashboard.locator(".fslib-summary", has_text="in one pipeline")).to_contain_text("100 found")
        dashboard.locator("button.fslib-inspect").click()
        expect(dashboard.locator(".fslib-inspect-table")).to_contain_text("country_iso")
        dashboard.screenshot(path=str(ARTIFACTS / "dashboard.png"))
        dashboard.locator("button.fslib-reset").click()
        confirm = dashboard.locator("button.fslib-reset-confirm")
        expect(confirm).to_be_visible()
        confirm.click()
        expect(dashboard.locator(".fslib-ok", has_text="Dropped 300 users")).to_be_visible()
        expect(confirm).to_be_hidden()
        expect(dashboard.locator(".fslib-state-table")).to_contain_text("entities0")

        # Finally the closing cell: the panels go grey, the threads stop.
        # (focus is in the widgets now: select the last cell again first)
        cells.nth(closing).locator(".jp-InputPrompt").click(force=True)  # no wait for a still layout
        expect(at_closing).to_have_count(1)
        page.keyboard.press("Shift+Enter")
        expect(stdout.filter(has_text="dashboard closed")).to_be_visible(timeout=KERNEL_WORK_MS)
        expect(status).to_have_text(re.compile(r"^stopped · "))
        expect(dashboard.locator(".fslib-note", has_text="Dashboard closed")).to_be_visible()
        expect(dashboard.locator("button.fslib-read")).to_be_disabled()
        expect(toggle).to_be_disabled()
    # What the fixture's shut-down check covers: the kernel and the embedded Redis it started.
    running = [command_line(pid) for pid in descendants(server.pid)]
    assert any("ipykernel" in line for line in running), running
    assert any("redis-server" in line for line in running), running


EXPIRY_NOTEBOOK = ROOT / "notebooks" / "04_ttl_expiry.ipynb"
RAN = re.compile(r"\[\d+\]:")
READING_PAUSE_S = 2.0  # a reader looks at each result before going on; the timed part must not mind


@pytest.fixture
def expiry_lab(jupyterlab: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """The same JupyterLab, serving a copy of 04 beside the dashboard's."""
    shutil.copy(EXPIRY_NOTEBOOK, tmp_path / "notebooks" / EXPIRY_NOTEBOOK.name)
    return jupyterlab


def test_ttl_expiry_notebook_cell_by_cell_in_a_real_browser(expiry_lab: tuple[str, subprocess.Popen[bytes]]) -> None:
    """04 run one cell at a time, waiting for each result and pausing to read it: every cell
    succeeds, and every plotting cell shows its figure as a loaded image."""
    from playwright.sync_api import expect

    url, _server = expiry_lab
    cells_json = json.loads(EXPIRY_NOTEBOOK.read_text())["cells"]
    kinds = [cell["cell_type"] for cell in cells_json]
    plotting = {index for index, cell in enumerate(cells_json) if "lab.plots." in "".join(cell["source"])}
    assert len(plotting) >= 3, "04 should plot the heatmap, the timeline and the statuses"
    with notebook_page(url, EXPIRY_NOTEBOOK) as page:
        cells = page.locator(".jp-Notebook .jp-Cell")
        expect(cells).to_have_count(len(kinds))
        cells.first.click(force=True)
        page.keyboard.press("Escape")
        for index, kind in enumerate(kinds):
            cell = cells.nth(index)
            run_cell(page, cell, kind)
            if kind != "code":
                continue
            expect(cell.locator(".jp-InputPrompt")).to_have_text(RAN, timeout=KERNEL_WORK_MS)
            errors = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0, f"cell {index} failed:\n{errors.first.inner_text()}"
            if index in plotting:
                image = cell.locator(".jp-OutputArea-output img")
                expect(image).to_have_count(1)
                expect(image).to_be_visible()
                width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
                assert width > 0, f"cell {index}: the figure's image did not load"
                cell.screenshot(path=str(ARTIFACTS / f"ttl-expiry-cell-{index}.png"))
            page.wait_for_timeout(READING_PAUSE_S * 1000)
        stdout = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stdout']")
        expect(stdout.filter(has_text="recorder stopped; deleted")).to_be_visible()
