"""A wheel of the running avsep, so a registered model carries the exact code that serves it.

The registered pyfunc imports avsep, which is on no package index. So that an environment
manager other than ``local`` (``mlflow models serve --env-manager virtualenv|uv``) can
install it, :func:`build_wheel` writes a pure-Python wheel (PEP 427, ``py3-none-any``) of the
``avsep`` package as it is imported now: every file under the package folder (no
``__pycache__``) plus the installed distribution's ``METADATA`` (its pinned ``Requires-Dist``
lines, so pip pulls torch, mlflow, ... at the versions avsep was installed with) and
``entry_points.txt``. It is written directly with :mod:`zipfile`: a build backend
(``setuptools`` + ``wheel``) is not guaranteed in the environment, and nothing is fetched.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

DIST = "avsep"
TAG = "py3-none-any"


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode("ascii")


def package_files(root: Path) -> list[Path]:
    """The files of the package folder ``root`` that go into the wheel, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo"))


def installed_distribution() -> metadata.Distribution:
    """avsep's installed distribution: the ``.dist-info`` one when several are on the path (a
    stale ``avsep.egg-info`` in the working directory shadows it otherwise). Raises
    RuntimeError when there is none (the fix: ``pip install -e .`` in the repository)."""
    found = list(metadata.distributions(name=DIST))
    if not found:
        raise RuntimeError("avsep is not installed as a distribution, so no wheel of it can be "
                           "logged with the model; run `pip install -e .` in the repository "
                           "(scripts/setup.sh does)")
    return next((d for d in found if d.read_text("METADATA")), found[0])


def core_metadata(dist: metadata.Distribution) -> str:
    """The wheel's ``METADATA``: the installed one, or (from an egg-info) the fields pip needs:
    name, version, Python range and the pinned ``Requires-Dist`` lines."""
    text = dist.read_text("METADATA")
    if text:
        return text
    meta = dist.metadata
    lines = ["Metadata-Version: 2.1", f"Name: {meta['Name']}", f"Version: {dist.version}"]
    if meta.get("Requires-Python"):
        lines.append(f"Requires-Python: {meta['Requires-Python']}")
    lines += [f"Requires-Dist: {req}" for req in dist.requires or ()]
    return "\n".join(lines) + "\n"


def build_wheel(out_dir: Path | str) -> Path:
    """Write ``avsep-<installed version>-py3-none-any.whl`` into ``out_dir``; returns it.

    Raises RuntimeError when avsep is imported from a folder that is not an installed
    distribution (the fix: ``pip install -e .`` in the repository)."""
    import avsep

    dist = installed_distribution()
    version = dist.version
    info = f"{DIST}-{version}.dist-info"
    root = Path(avsep.__file__).resolve().parent
    entries: list[tuple[str, bytes]] = [
        (f"{DIST}/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in package_files(root)]
    entries.append((f"{info}/METADATA", core_metadata(dist).encode()))
    entries.append((f"{info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: avsep.tracking.wheel\n"
                                      f"Root-Is-Purelib: true\nTag: {TAG}\n").encode()))
    entries.append((f"{info}/top_level.txt", f"{DIST}\n".encode()))
    if dist.read_text("entry_points.txt"):
        entries.append((f"{info}/entry_points.txt", dist.read_text("entry_points.txt").encode()))
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in entries)
    record += f"{info}/RECORD,,\n"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{DIST}-{version}-{TAG}.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*entries, (f"{info}/RECORD", record.encode())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return wheel
