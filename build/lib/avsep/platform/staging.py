"""The folder in which a training process stages each epoch's checkpoint.

Every epoch, rank 0 writes its checkpoint to a fresh folder in the system's temp dir and
removes it once Ray Train has copied it to the run's storage (``session.report``). A process
killed in between (SIGKILL: a lost node, a killed driver's trials, the OOM killer) cannot
remove it, and each such folder holds a whole checkpoint (6 MB at the tiny preset). The
folders are named after their process, so the next training process on the machine removes
those of processes that no longer exist. A folder is only removed when it is also older than
:data:`ORPHAN_AGE_S`: a live process's folder exists for the seconds between ``mkdtemp`` and
the copy, so a process id that the sweep cannot see (another pid namespace sharing ``/tmp``)
does not lose a folder still in use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "avsep-ckpt-"
ORPHAN_AGE_S = 600.0


def checkpoint_folder(root: Path | None = None) -> Path:
    """A new, empty staging folder ``<temp>/avsep-ckpt-<pid>-<random>`` for this process."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_orphans(root: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the staging folders under ``root`` (default: the temp dir) whose process is gone
    and that are older than :data:`ORPHAN_AGE_S`; returns them. Folders of other names, of
    live processes or too recent are kept."""
    root = Path(root or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    for folder in root.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            if now - folder.stat().st_mtime < ORPHAN_AGE_S:
                continue
        except FileNotFoundError:  # another process removed it first
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
