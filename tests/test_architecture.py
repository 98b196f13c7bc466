"""The layout is the architecture: the core imports no opt-in layer (fast, lab, serve) and runs without them."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import fslib
from fslib.local import EmbeddedRedis

PACKAGE = Path(fslib.__file__).parent
CORE = sorted(p for p in PACKAGE.glob("*.py"))
OPT_IN = ("fslib.fast", "fslib.lab", "fslib.serve")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_core_imports_no_opt_in_layer_except_the_transport_it_is_asked_for() -> None:
    for path in CORE:
        opt_in = {m for m in imported_modules(path) if m.startswith(OPT_IN)}
        # store.py loads the packed transport inside FeatureStore.__init__, only for transport="packed".
        allowed = {"fslib.fast.transport"} if path.name == "store.py" else set()
        assert opt_in <= allowed, f"{path.name} imports {sorted(opt_in - allowed)}"


def test_the_demo_model_is_core_and_its_views_stand_on_it() -> None:
    # One model behind the dashboard and the HTTP demo API: it knows neither view, nor their libraries.
    demo = PACKAGE / "demo.py"
    assert demo in CORE
    outside = {m for m in imported_modules(demo) if m.startswith((*OPT_IN, "ipywidgets", "fastapi", "pydantic"))}
    assert not outside, f"demo.py imports {sorted(outside)}"
    for view in (PACKAGE / "lab" / "dashboard.py", PACKAGE / "serve" / "demo_api.py"):
        assert "fslib.demo" in imported_modules(view), f"{view.name} does not call the demo model"


def test_local_servers_import_nothing_of_the_store() -> None:
    for path in sorted((PACKAGE / "local").glob("*.py")):
        ours = {m for m in imported_modules(path) if m.startswith("fslib")}
        assert all(m.startswith("fslib.local") for m in ours), f"{path.name} imports {sorted(ours)}"


def test_importing_fslib_loads_no_opt_in_layer_nor_notebook_libraries() -> None:
    code = (
        "import sys, fslib; "
        "print(sorted(m for m in sys.modules if m.startswith(('fslib.fast', 'fslib.lab', 'fslib.serve', "
        "'matplotlib', 'ipywidgets', 'fastapi', 'uvicorn'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_server_imports_no_notebook_helper() -> None:
    # A server is deployed without the notebook extra: fslib.serve stands on the core and fslib.fast only.
    for path in sorted((PACKAGE / "serve").glob("*.py")):
        ours = {m for m in imported_modules(path) if m.startswith("fslib.lab")}
        assert not ours, f"serve/{path.name} imports {sorted(ours)}"
    code = "import sys, fslib.serve; print(sorted(m for m in sys.modules if m.startswith(('fslib.lab', 'ipywidgets'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_core_alone_is_a_working_feature_store(tmp_path: Path, redis_server: EmbeddedRedis) -> None:
    # A reader deletes fast/, lab/ and serve/: bulk load, streaming writes, reads and reset still work.
    shutil.copytree(PACKAGE, tmp_path / "fslib", ignore=shutil.ignore_patterns("fast", "lab", "serve", "__pycache__"))
    script = """
import os, fslib
store = fslib.FeatureStore(fslib.connect(os.environ["REDIS_URL"]), key_prefix="core-only:")
assert store.bulk_load(fslib.synthesize_users(50)) == 50
store.update_streaming("u0001", {"tx_count_5m": 3})
assert store.get_features("u0001", ["tx_count_5m"], decode=True) == {"tx_count_5m": 3}
assert len(store.batch_get_features(store.list_entity_ids(), ["country_iso"])) == 50
assert store.reset() == 50
print("ok", fslib.__file__)
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "REDIS_URL": redis_server.url}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok") and str(tmp_path) in done.stdout


def test_the_two_stores_share_one_core_and_keep_only_their_redis_py_calls() -> None:
    # What does not touch the socket comes from StoreCore: a store's own private methods are its hooks,
    # and _scan_keys (the SCAN behind count, list and reset: redis-py calls itself).
    from fslib.core import StoreCore
    from fslib.fast import AsyncFeatureStore

    for store in (fslib.FeatureStore, AsyncFeatureStore):
        assert issubclass(store, StoreCore)
        own = {name for name in vars(store) if name.startswith("_") and not name.startswith("__")}
        assert own <= {"_packed_transport", "_check_client", "_scan_keys"}, f"{store.__name__} defines {sorted(own)}"
        assert "__init__" not in vars(store), f"{store.__name__} repeats the constructor of StoreCore"


def test_the_lua_scripts_ship_in_the_package() -> None:
    from fslib.scripts import GUARDED_WRITE, READ_VECTOR

    assert "redis.call('HSETEX'" in GUARDED_WRITE and "redis.pcall('HMGET'" in READ_VECTOR
    assert sorted(p.name for p in (PACKAGE / "lua").glob("*.lua")) == ["guarded_write.lua", "read_vector.lua"]
