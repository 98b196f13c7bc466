"""Show a function's source in a notebook: the store's Redis commands, on screen."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from IPython.display import Code

__all__ = ["show_source"]


def show_source(function: Callable[..., Any]) -> Code:
    """The source of ``function`` (e.g. ``fslib.FeatureStore.bulk_load``), highlighted, as a cell's result.

    Args:
        function: A function or method defined in Python.

    Returns:
        An ``IPython.display.Code`` object; display it as a cell's last expression.

    Raises:
        TypeError: ``function`` has no Python source (a builtin).
    """
    return Code(textwrap.dedent(inspect.getsource(function)), language="python")
