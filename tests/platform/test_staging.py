"""A trial killed between staging a checkpoint and Ray's copy of it leaves the folder; the next
training process on the machine removes the folders of processes that are gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from avsep.platform import staging


def _folder_of_a_killed_process(root: Path) -> Path:
    """A real process stages a checkpoint folder and dies without removing it (SIGKILL)."""
    code = ("import os, signal, sys; from pathlib import Path; from avsep.platform import staging; "
            "folder = staging.checkpoint_folder(Path(sys.argv[1])); "
            "(folder / 'model.pt').write_bytes(b'x' * 1000); print(folder, flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    result = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == -9, result.stderr
    return Path(result.stdout.strip())


def test_only_old_folders_of_dead_processes_are_removed(tmp_path):
    orphan = _folder_of_a_killed_process(tmp_path)
    mine = staging.checkpoint_folder(tmp_path)  # this process is alive
    legacy = tmp_path / "avsep-ckpt-q1w2e3r4"  # the old naming: no process to check
    legacy.mkdir()
    other = tmp_path / "not-avsep-123-4"
    other.mkdir()
    assert orphan.name.startswith(f"avsep-ckpt-{int(orphan.name.split('-')[2])}-")
    assert mine.name.startswith(f"avsep-ckpt-{os.getpid()}-")

    # right after the kill the orphan is too recent to be told from a folder in use
    assert staging.remove_orphans(tmp_path) == []
    later = time.time() + staging.ORPHAN_AGE_S + 1
    assert staging.remove_orphans(tmp_path, now=later) == [orphan]
    assert not orphan.exists()
    assert mine.is_dir() and legacy.is_dir() and other.is_dir()
    assert staging.remove_orphans(tmp_path, now=later) == []  # nothing left to remove
