"""Static HTML of the ipywidgets outputs, drawn from the widget state nbclient saves at the end of the run.

ipywidgets draws a widget with JavaScript (its HTML manager) that no PyPI package ships, so a page cannot load
it offline. The book draws instead what the notebook showed at the end of the run: boxes as flex rows and
columns with their layout's CSS, HTML and labels as their value, buttons, progress bars and inputs as
disabled HTML controls. It becomes the output's ``text/html``, which the pages prefer to the widget view
(conf.py); an output that already has a ``text/html`` of its own keeps it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

__all__ = ["SNAPSHOT_CLASS", "add_snapshots", "snapshot_html"]

SNAPSHOT_CLASS = "fslib-widget-snapshot"
"""The CSS class of the element around each widget snapshot."""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_REF = "IPY_MODEL_"
_CAPTION = "A snapshot of this widget at the end of the book's run; in JupyterLab it is live."
_BOX_DIRECTION = {"HBoxModel": "row", "VBoxModel": "column", "BoxModel": "row", "GridBoxModel": "row"}
_BUTTONS = {"ButtonModel", "ToggleButtonModel"}
_PROGRESS = {"FloatProgressModel", "IntProgressModel"}

Models = Mapping[str, Mapping[str, Any]]
"""Widget state by model id: each model's ``state`` traits, as nbclient saves them."""


def add_snapshots(nb: Any) -> int:
    """Give every widget output of ``nb`` a ``text/html`` snapshot, then drop the notebook's widget state.

    Returns:
        How many outputs got a snapshot.
    """
    widgets = nb.metadata.pop("widgets", {})
    models = {model_id: model["state"] for model_id, model in widgets.get(WIDGET_STATE, {}).get("state", {}).items()}
    added = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/html" not in data:
                snapshot = snapshot_html(data[WIDGET_VIEW]["model_id"], models)
                if snapshot is not None:
                    data["text/html"] = snapshot
                    added += 1
    return added


def snapshot_html(model_id: str, models: Models) -> str | None:
    """The widget ``model_id`` drawn as static HTML, with a caption; None when its state was not saved."""
    if model_id not in models:
        return None
    return (
        f'<div class="{SNAPSHOT_CLASS}">{_draw(model_id, models)}'
        f'<p style="font-size:smaller;font-style:italic">{_CAPTION}</p></div>'
    )


def _draw(model_id: str, models: Models) -> str:
    state = models.get(model_id)
    if state is None:
        return ""  # a child whose state did not reach the kernel's last message
    name = state.get("_model_name", "")
    style = _layout_css(state, models)
    if name in _BOX_DIRECTION:
        inner = "".join(_draw(child.removeprefix(_REF), models) for child in state.get("children", []))
        flex = f"display:flex;flex-direction:{_BOX_DIRECTION[name]};flex-wrap:wrap;gap:0.4em;"
        return f'<div style="{flex}{style}">{inner}</div>'
    if name in _BUTTONS:
        pressed = ' aria-pressed="true"' if state.get("value") is True else ""
        return f'<button disabled{pressed} style="{style}">{html.escape(str(state.get("description", "")))}</button>'
    if name in _PROGRESS:
        bar = f'<progress value="{state.get("value", 0)}" max="{state.get("max", 100)}" style="{style}"></progress>'
        return _labelled(state, bar)
    if name in {"HTMLModel", "HTMLMathModel"}:
        return _labelled(state, f'<div style="{style}">{state.get("value", "")}</div>')  # the run's own HTML
    if "value" in state:
        return _labelled(state, f'<span style="{style}">{html.escape(_value_text(state))}</span>')
    return ""


def _labelled(state: Mapping[str, Any], control: str) -> str:
    description = html.escape(str(state.get("description") or ""))
    if not description:
        return control
    return f'<div style="display:flex;gap:0.4em;align-items:baseline"><span>{description}</span>{control}</div>'


def _value_text(state: Mapping[str, Any]) -> str:
    """What an input shows: its value, or the labels of a selection widget's chosen options."""
    labels = state.get("_options_labels")
    index = state.get("index")
    if labels is not None and index is not None:
        chosen = index if isinstance(index, list) else [index]
        return ", ".join(str(labels[i]) for i in chosen)
    return str(state["value"])


def _layout_css(state: Mapping[str, Any], models: Models) -> str:
    """The widget's Layout as inline CSS, escaped for an attribute: a Layout trait is the CSS property of its name."""
    layout = models.get(str(state.get("layout", "")).removeprefix(_REF), {})
    return html.escape(
        "".join(
            f"{trait.replace('_', '-')}:{value};"
            for trait, value in layout.items()
            if value is not None and not trait.startswith("_")
        )
    )
