"""The widgets of a :class:`~fslib.lab.dashboard.Dashboard`, and the HTML of the demo's results.

Every button calls one method of the dashboard and shows what it returns as HTML (:func:`to_html`,
one renderer per result of :mod:`fslib.demo`), or the error as one line from :func:`describe_error`,
no traceback (its public home is :mod:`fslib.lab.dashboard`). Statuses are the freshness statuses of
:class:`~fslib.freshness.FeatureStatus`, the words the HTTP demo API answers. Nothing here talks to
Redis but through the dashboard, which this module imports only for type checking.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import redis

from fslib.demo import BatchReadResult, DemoState, MaterializeResult, ReadResult, kind_of
from fslib.errors import FeatureStoreError
from fslib.freshness import FeatureStatus
from fslib.lab.widgets import WorkerControls, plural
from fslib.urls import mask_url

if TYPE_CHECKING:
    from fslib.lab.dashboard import Dashboard

__all__ = [
    "DashboardView",
    "describe_error",
    "format_duration",
    "html_line",
    "html_table",
    "register_html",
    "to_html",
    "ttl_text",
]

logger = logging.getLogger(__name__)

_PICKER_LIMIT = 500  # user ids offered in the pickers; any id can still be typed
_DEFAULT_READ = ("risk_segment", "tx_count_7d", "avg_amount_30d", "tx_count_5m", "last_login_ts")
_COLORS = {"ok": "#166534", "note": "#a16207", "error": "#b91c1c", "updated": "#6b7280"}  # by message class
_KIND_STYLE = {"batch": "background:#e0ecff;color:#1d4ed8", "streaming": "background:#ffedd5;color:#c2410c"}


def describe_error(exc: BaseException, url: str) -> str:
    """A one-line, readable account of a failed action (no traceback); ``url`` is shown masked."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return (
            f"Redis is unreachable at {mask_url(url)} ({exc}). "
            "The dashboard keeps trying: repeat the action once Redis is back."
        )
    if isinstance(exc, (TypeError, ValueError)):
        return f"Bad input: {exc}"
    if isinstance(exc, (FeatureStoreError, redis.RedisError, RuntimeError)):
        return f"{type(exc).__name__}: {exc}"
    return f"Unexpected {type(exc).__name__}: {exc}"


def format_duration(seconds: float) -> str:
    """A latency in the unit that reads best: µs, ms or s."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def age_text(seconds: float | None) -> str:
    """An event's age as words: seconds up to 100, then the largest whole unit; empty when no event time."""
    if seconds is None:
        return ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= max(size, 100):
            return f"{seconds / size:,.0f} {unit} ago"
    return f"{seconds:.1f} s ago"


def ttl_text(seconds: int, none: str = "- (key TTL only)") -> str:
    """A TTL reply as words: -2 is "- (no field)", -1 is ``none``."""
    return {-2: "- (no field)", -1: none}.get(seconds, f"{seconds} s")


def html_line(css_class: str, text: str) -> str:
    """One escaped line; ``ok``, ``note``, ``error`` and ``updated`` lines have their own colour."""
    color = _COLORS.get(css_class, "inherit")
    return f"<div class='fslib-{css_class}' style='color:{color}'>{html.escape(text)}</div>"


def _notes(notes: Sequence[str]) -> str:
    return "".join(html_line("note", note) for note in notes)


def _cell(value: object) -> str:
    # A value that is None (no schema default) or <NA> (a frame's hole) shows as a dash, never as a status word.
    return "-" if value is None or value is pd.NA else html.escape(str(value))


def html_table(headers: Sequence[str], rows: Sequence[tuple[Sequence[object], str]], css_class: str) -> str:
    """An HTML table of ``(cells, kind)`` rows; the kind (``batch``, ``streaming``, ``""``) colours the row."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        f"<tr class='fslib-{kind or 'row'}' style='{_KIND_STYLE.get(kind, '')}'>"
        + "".join(f"<td style='padding:2px 8px'>{_cell(cell)}</td>" for cell in cells)
        + "</tr>"
        for cells, kind in rows
    )
    header = f"<thead><tr>{head}</tr></thead>" if headers else ""
    return f"<table class='{css_class}' style='border-collapse:collapse'>{header}<tbody>{body}</tbody></table>"


def state_html(state: DemoState) -> str:
    """The store-state panel."""
    stats, users = state.store_stats, state.entity_count
    refresh = f"{plural(state.users_per_tick, 'user')} per {state.tick_seconds:g} s tick"
    if users:  # each tick takes the next users of a round, every user once
        refresh += f": each user every {state.round_seconds:.3g} s"
    rows = {
        "Redis": state.redis_url,
        "key prefix": f"{state.key_prefix}*",
        "entities": f"{users:,}",
        "batch TTL (key, last load)": f"{state.last_load_ttl_seconds:,} s",
        "streaming TTL (field)": f"{state.streaming_ttl_seconds:,} s",
        "worker refresh": refresh,
        "batch writes": f"{stats.batch_writes:,}",
        "streaming writes": f"{stats.streaming_writes:,}",
        "entities read": f"{stats.reads:,}",
        "fields read": f"{stats.fields_read:,}",
    }
    return html_table((), [([name, value], "") for name, value in rows.items()], "fslib-state-table")


def materialize_html(result: MaterializeResult) -> str:
    """What a bulk load wrote and how fast, after a note per clamped input."""
    rate = result.written / max(result.elapsed_seconds, 1e-9)
    summary = (
        f"Bulk-loaded {plural(result.written, 'user')} with key TTL {result.ttl_seconds:,} s "
        f"in {format_duration(result.elapsed_seconds)} ({rate:,.0f} users/s)."
    )
    return _notes(result.notes) + html_line("ok", summary)


def read_html(result: ReadResult) -> str:
    """One row per feature: kind, value served, status (with the error of an ``invalid`` one), field TTL, event age."""
    latency = f"EXISTS + HMGET latency {format_duration(result.latency_seconds)}"
    if result.key_ttl_seconds == -2:  # what the Redis docs demo's model handler detects
        summary = f"{result.entity_id}: entity missing: fall back to defaults ({latency})"
    else:
        present = f"{len(result.values)}/{len(result.features)} features present"
        summary = f"{result.entity_id}: key TTL {ttl_text(result.key_ttl_seconds, 'none')}, {latency}, {present}"
    rows = [
        (
            [
                f.name,
                f.kind,
                f.value,
                f"{f.status}: {f.error}" if f.error else f.status,
                ttl_text(f.field_ttl_seconds),
                age_text(f.event_age_seconds),
            ],
            f.kind,
        )
        for f in result.features
    ]
    headers = ["feature", "kind", "value", "status", "field TTL", "event age"]
    return html_line("summary", summary) + html_table(headers, rows, "fslib-read-table")


def batch_html(result: BatchReadResult) -> str:
    """The summary, then the first five users: a value where ``present``, else its status."""
    summary = (
        f"{plural(result.requested, 'user')} in one pipeline: {format_duration(result.latency_seconds)} total, "
        f"{result.per_entity_seconds * 1e6:.1f} µs per user; {result.found:,} found, "
        f"{plural(result.fields_present, 'field')} present"
    )
    sample = list(result.vectors.values())[:5]
    names = list(sample[0].values) if sample else []
    rows = [
        (
            [
                vector.entity_id,
                *(
                    vector.values[name] if vector.statuses[name] is FeatureStatus.PRESENT else vector.statuses[name]
                    for name in names
                ),
            ],
            "",
        )
        for vector in sample
    ]
    table = html_table(["entity", *names], rows, "fslib-score-table")
    return _notes(result.notes) + html_line("summary", summary) + table


_RENDERERS: dict[type[Any], Callable[[Any], str]] = {
    DemoState: state_html,
    MaterializeResult: materialize_html,
    ReadResult: read_html,
    BatchReadResult: batch_html,
}


def to_html(result: object) -> str:
    """The HTML of a demo result (a text is taken as HTML already)."""
    return result if isinstance(result, str) else _RENDERERS[type(result)](result)


def register_html() -> None:
    """Show the demo's results as this HTML in IPython, e.g. a ``dash.state()`` ending a cell; outside it, nothing."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        formatter = shell.display_formatter.formatters["text/html"]
        for cls, render in _RENDERERS.items():
            formatter.for_type(cls, render)


class DashboardView:
    """The widgets of one :class:`Dashboard`; every callback calls one of its methods."""

    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        schema, prefix = dash.store.schema, html.escape(dash.store.key_prefix)
        self.state_html, self.state_status = w.HTML(), w.HTML()
        self.controls = WorkerControls(dash.worker, auto_refresh_seconds=None, startable=True)
        self.controls.toggle_button.add_class("fslib-toggle")
        self.controls.status_line.add_class("fslib-worker-status")
        self.buttons = [self.controls.refresh_button]  # and every one _button makes: all disabled on close
        narrow = {"layout": {"width": "200px"}, "style": {"description_width": "initial"}}
        self.count = w.IntText(value=200, description="users", _dom_classes=["fslib-count"], **narrow)
        self.ttl = w.IntText(
            dash.store.batch_ttl_seconds, description="key TTL (s)", _dom_classes=["fslib-ttl"], **narrow
        )
        self.read_user, self.inspect_user = (
            w.Combobox(value="u0001", description="user", ensure_option=False, _dom_classes=[css], **narrow)
            for css in ("fslib-read-user", "fslib-inspect-user")
        )
        self.read_names = w.SelectMultiple(
            options=[(f"{spec.name}  ·  {spec.kind.value}", spec.name) for spec in schema],
            value=[name for name in _DEFAULT_READ if name in schema],
            rows=len(schema),
            description="features",
            layout={"width": "340px"},
        )
        self.score_count = w.IntText(value=100, description="users", _dom_classes=["fslib-score-count"], **narrow)
        self.max_age = w.FloatText(  # the read's and batch scoring's, as on the web page
            value=0, description="max age (s), 0: none", _dom_classes=["fslib-max-age"], **narrow
        )
        self.load_out, self.read_out, self.inspect_out, self.reset_out = (w.HTML() for _ in range(4))
        self.score_out = w.HTML(layout={"overflow": "auto"})  # 11 columns may not fit
        self.load_button = self._button("Bulk-load", "fslib-materialize", self._materialize, self.load_out)
        self.read_button = self._button("Read features", "fslib-read", self._read, self.read_out)
        self.score_button = self._button("Read in one pipeline", "fslib-score", self._score, self.score_out)
        self.inspect_button = self._button("Inspect", "fslib-inspect", self._inspect, self.inspect_out, "info")
        self.reset_button = self._button("Reset…", "fslib-reset", lambda: self._ask(True), self.reset_out, "danger")
        self.confirm_button = self._button(
            "Yes, drop them", "fslib-reset-confirm", self._reset, self.reset_out, "danger"
        )
        self.cancel_button = self._button("Cancel", "fslib-reset-cancel", lambda: self._ask(False), self.reset_out, "")
        question = w.HTML(f"Drop every user under <code>{prefix}*</code>?")
        self.confirm_box = w.HBox([question, self.confirm_button, self.cancel_button], layout={"display": "none"})
        panels = [
            self._panel("Store state", self.state_html, self.state_status),
            self._panel("Streaming worker", self.controls),
            self._panel("Materialize (batch path)", w.HBox([self.count, self.ttl]), self.load_button, self.load_out),
            self._panel("Reset", self.reset_button, self.confirm_box, self.reset_out),
        ]
        read_form = w.VBox([self.read_user, self.read_names, self.max_age, self.read_button])
        score_form, inspect_form = (
            w.HBox([self.score_count, self.score_button]),
            w.HBox([self.inspect_user, self.inspect_button]),
        )
        self.root = w.VBox(
            [
                w.HBox(panels, layout={"flex_flow": "row wrap"}),
                self._panel("Inference read (EXISTS + HMGET in one step)", w.HBox([read_form, self.read_out])),
                self._panel("Batch scoring (one pipelined read of u0001..)", score_form, self.score_out),
                self._panel("Inspect (HGETALL + HTTL, debugging only)", inspect_form, self.inspect_out),
            ],
            _dom_classes=["fslib-dashboard"],
        )
        self._run(self.state_status, self._fill_pickers)

    def _button(
        self, label: str, css_class: str, action: Callable[[], Any], out: w.HTML, style: str = "primary"
    ) -> w.Button:
        """A button that runs ``action`` and shows its result (or its error) in ``out``."""
        button = w.Button(
            description=label, button_style=style, layout={"width": "max-content"}, _dom_classes=[css_class]
        )
        button.on_click(lambda _: self._run(out, action))
        self.buttons.append(button)
        return button

    @staticmethod
    def _panel(title: str, *children: w.Widget) -> w.VBox:
        box = {"border": "1px solid #d1d5db", "padding": "4px 10px", "margin": "4px"}
        return w.VBox([w.HTML(f"<b>{html.escape(title)}</b>"), *children], layout=box, _dom_classes=["fslib-panel"])

    def _run(self, out: w.HTML, action: Callable[[], Any]) -> None:
        # A panel must survive any failure: show the message, never a traceback.
        try:
            out.value = to_html(action())
        except Exception as exc:
            logger.debug("dashboard action failed", exc_info=True)
            out.value = html_line("error", describe_error(exc, self.dash.redis_url))
        self.dash.refresh()

    def _fill_pickers(self) -> str:
        self.read_user.options = self.inspect_user.options = tuple(self.dash.store.list_entity_ids(_PICKER_LIMIT))
        return ""

    def _materialize(self) -> MaterializeResult:
        result = self.dash.materialize(self.count.value, self.ttl.value)
        self._fill_pickers()
        return result

    def _max_age_seconds(self) -> float | None:
        return None if self.max_age.value == 0 else self.max_age.value  # a negative one: the read says why not

    def _read(self) -> ReadResult:
        return self.dash.read_features(
            self.read_user.value.strip(), self.read_names.value, max_age_seconds=self._max_age_seconds()
        )

    def _score(self) -> BatchReadResult:
        return self.dash.batch_score(self.score_count.value, max_age_seconds=self._max_age_seconds())

    def _inspect(self) -> str:
        found = self.dash.inspect(self.inspect_user.value.strip())
        if not found.exists:
            return html_line("note", str(found))
        summary = f"{found.key}: key TTL {ttl_text(found.key_ttl_seconds, 'none')}"
        kinds = {name: kind_of(self.dash.store.schema, name) for name in found.fields}
        rows = [
            ([name, kinds[name], state.value, ttl_text(state.ttl_seconds)], kinds[name])
            for name, state in found.fields.items()
        ]
        table = html_table(["feature", "kind", "value", "field TTL"], rows, "fslib-inspect-table")
        return html_line("summary", summary) + table

    def _ask(self, confirm: bool) -> str:
        self.confirm_box.layout.display = "flex" if confirm else "none"
        return html_line(
            "note", "Confirm to drop every user, or cancel." if confirm else "Cancelled: nothing was deleted."
        )

    def _reset(self) -> str:
        self.confirm_box.layout.display = "none"
        deleted = self.dash.reset()
        self._fill_pickers()
        return html_line("ok", f"Dropped {plural(deleted, 'user')} under {self.dash.store.key_prefix}*.")

    def show_state(self, state: DemoState | Exception) -> None:
        """Redraw the store-state panel (or the error that kept it from reading Redis) and the worker panel."""
        if isinstance(state, Exception):
            self.state_status.value = html_line("error", describe_error(state, self.dash.redis_url))
        else:
            self.state_html.value = state_html(state)
            self.state_status.value = html_line("updated", f"updated {time.strftime('%H:%M:%S')}")
        self.controls.refresh()  # needs no Redis: stays live while Redis is down

    def show_closed(self) -> None:
        """Grey out the panels of a closed dashboard."""
        for button in self.buttons:
            button.disabled = True
        self.controls.startable = False  # the toggle reads "Stopped", disabled
        self.controls.refresh()  # the status line gives the last tick as a clock time
        message = "Dashboard closed: worker and auto-refresh stopped. Create a new Dashboard to start again."
        self.state_status.value = html_line("note", message)
