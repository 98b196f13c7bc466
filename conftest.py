"""Settings for every pytest run, the notebooks' (nbmake) included.

FSLIB_UNATTENDED tells a notebook that nobody is at the keyboard: the dashboard
notebook then closes its dashboard at the end, while a person's Run All keeps it live.
Kernels and JupyterLab started by the tests inherit it.
"""

from __future__ import annotations

import os

os.environ.setdefault("FSLIB_UNATTENDED", "1")
