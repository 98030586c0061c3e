"""``avsep.tracking`` sits beneath ``platform`` and ``serve``: importing it imports neither.

The pyfunc reaches the serving engine only inside ``load_context``/``predict`` (its module
docstring says why), so a fresh interpreter that imports every tracking module must hold no
``avsep.platform`` or ``avsep.serve`` module afterwards. The wheel a registered model carries
holds every file of the package and installs where pip can read it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import avsep
from avsep.tracking.wheel import build_wheel, package_files


def test_importing_tracking_imports_neither_platform_nor_serve():
    code = ("import json, sys, pkgutil, importlib, avsep.tracking as t\n"
            "names = [m.name for m in pkgutil.iter_modules(t.__path__, 'avsep.tracking.')]\n"
            "names = [n for n in names if not n.endswith('pyfunc_entry')]\n"  # runs set_model
            "[importlib.import_module(n) for n in names]\n"
            "print(json.dumps([names, sorted(k for k in sys.modules\n"
            "    if k.startswith(('avsep.platform', 'avsep.serve')))]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    names, upper = json.loads(out)
    assert {"avsep.tracking.store", "avsep.tracking.registry", "avsep.tracking.loading",
            "avsep.tracking.pyfunc", "avsep.tracking.wheel"} <= set(names)
    assert upper == []


def test_the_wheel_holds_the_package_and_pinned_requirements(tmp_path):
    from pathlib import Path

    wheel = build_wheel(tmp_path)
    assert wheel.name == f"avsep-{avsep.__version__}-py3-none-any.whl"
    root = Path(avsep.__file__).resolve().parent
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"avsep-{avsep.__version__}.dist-info"
        meta = archive.read(f"{info}/METADATA").decode()
        record = archive.read(f"{info}/RECORD").decode().splitlines()
    files = {f"avsep/{p.relative_to(root).as_posix()}" for p in package_files(root)}
    assert files <= names and "avsep/tracking/pyfunc_entry.py" in names
    assert not any("__pycache__" in n for n in names)
    assert len(record) == len(names)  # every file listed once, RECORD itself unhashed
    assert "Name: avsep" in meta and "Requires-Dist: mlflow==" in meta
    assert "Requires-Dist: torch==" in meta
    # pip accepts it (no dependencies, no index): a valid PEP 427 wheel
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)], check=True)
    assert (target / "avsep" / "tracking" / "registry.py").read_bytes() == (
        root / "tracking" / "registry.py").read_bytes()
