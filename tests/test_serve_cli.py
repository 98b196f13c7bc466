"""``python -m fslib.serve --help`` tells the truth: every option shows its default, in plain words."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from fslib.serve.__main__ import parser

ROOT = Path(__file__).resolve().parents[1]


def help_blocks(text: str) -> dict[str, str]:
    """The help of each option, by its long name, its wrapped lines joined by single spaces."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.split("options:", 1)[1].splitlines():
        start = re.match(r"\s{2}(?:-\w, )?(--[\w-]+)", line)
        if start is not None:
            current = start.group(1)
            blocks[current] = ""
        if current is not None:
            blocks[current] = " ".join([*blocks[current].split(), *line.split()])
    return blocks


def test_help_shows_every_default_in_plain_words() -> None:
    env = {**os.environ, "COLUMNS": "100", "PYTHON_COLORS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "fslib.serve", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "``" not in done.stdout  # no reStructuredText markup in the description
    assert "python -m fslib.serve: the feature server" in done.stdout
    blocks = help_blocks(done.stdout)
    options = [a for a in parser()._actions if not isinstance(a, argparse._HelpAction)]
    assert set(blocks) == {"--help"} | {a.option_strings[-1] for a in options}
    for action in options:
        block = blocks[action.option_strings[-1]]
        assert "(default: " in block, f"{action.option_strings[-1]} does not say its default: {block}"
        value = action.default
        if value not in (None, False, []):  # those are said in words ("none", "off", "$REDIS_URL, else ...")
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            assert f"(default: {shown}" in block, f"{action.option_strings[-1]}: {block}"
