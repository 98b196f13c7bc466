"""Programs some tests need from the operating system, not from pip: an old Redis and Chromium.

``make test`` installs them on Debian or Ubuntu when it runs as root, as CI does
(``make system-deps``). Elsewhere (macOS, or a user without root) nothing is
installed, and the tests that need them skip with a reason that says how to get them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "OLD_REDIS", "needs_chromium", "needs_old_redis"]

OLD_REDIS = "/usr/bin/redis-server"
"""Debian's redis-server 7.0: a real server too old for per-field TTL, which fslib must refuse."""
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, driven by Playwright in the browser test."""

_HOW_TO_INSTALL = "on Debian or Ubuntu run `sudo make system-deps` (or `sudo apt-get install {package}`)"


def _redis_version(binary: str) -> tuple[int, ...] | None:
    """The version ``binary --version`` reports, or None when it cannot be run."""
    try:
        banner = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v=(\d+(?:\.\d+)*)", banner)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _old_redis_missing() -> str | None:
    """Why the too-old Redis cannot be used, or None when it can."""
    version = _redis_version(OLD_REDIS)
    if version is None:
        return f"needs a Redis older than 7.4 at {OLD_REDIS}: {_HOW_TO_INSTALL.format(package='redis-server')}"
    if version[:2] >= (7, 4):
        return f"{OLD_REDIS} is Redis {'.'.join(map(str, version))}, not older than 7.4: nothing to refuse"
    return None


_OLD_REDIS_MISSING = _old_redis_missing()

needs_old_redis = pytest.mark.skipif(_OLD_REDIS_MISSING is not None, reason=_OLD_REDIS_MISSING or "")
"""Skip a test that starts :data:`OLD_REDIS` when it is absent or not old."""

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"needs Chromium at {CHROMIUM}: {_HOW_TO_INSTALL.format(package='chromium')}; "
    "on macOS this browser test is skipped",
)
"""Skip the browser test when Debian's Chromium is absent."""
