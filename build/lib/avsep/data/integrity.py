"""Sizes and checksums of a prepared cache's files: recorded when written, checked when read.

``avsep prepare`` (and :func:`avsep.data.datasets.synthetic_cache.write_cache`) record, in each
track entry of ``index.json``, every file of the track with its size in bytes and the sha256 of
its bytes as written::

    "files": {"tracks/<dir>/audio/vocals.npy": {"size": 640128, "sha256": "3f1c..."}, ...}

Readers check them in two steps, so that a cache damaged after ``prepare`` (a full disk, a
partial copy to a cluster's shared storage, a flipped byte) is named instead of crashing a run:

* :func:`check_sizes` before a run starts (one ``stat`` per file of the splits the run reads;
  :func:`avsep.platform.caches.resolve_cache` calls it for the cache it picks);
* :func:`verify_once` when a file is first opened in a process (the sha256 of the whole file,
  once per process and file, by :class:`avsep.data.datasets.cache.ArrayStore`).

Either failure raises :class:`CacheIntegrityError` (a ``DataError``: the CLI prints it on one
line and exits non-zero) naming the file, what the index records against what is on disk, and
the ``avsep prepare`` command that rewrites it (:func:`rewrite_command`, from the layout, dataset
root, split policy and space/model the index records). Re-running ``prepare`` verifies every
track it would reuse and rewrites the ones whose files differ from their record.

An index written before sizes and checksums were recorded is accepted: its files are read
unchecked, with one warning per cache and process that names the command recording them
(``prepare`` rewrites such tracks, as it cannot vouch for bytes it did not write). Nothing here
deletes or modifies a file.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avsep.data.records import DataError

ALGORITHM = "sha256"  # 0.9 GB/s on this machine's CPU (SHA extensions), blake2b 0.47 GB/s
CHUNK = 1 << 20
PLACEHOLDER_LAYOUT, PLACEHOLDER_ROOT = "LAYOUT", "/path/to/dataset"
SHOWN = 5  # problems listed in one error before "and N more"

_verified: set[tuple[str, int, str]] = set()  # files whose checksum matched, in this process
_warned: set[str] = set()  # caches whose missing records were reported, in this process


class CacheIntegrityError(DataError):
    """A cache file differs from the size or checksum its index records; the message names the
    file, the expected and found values, and the ``avsep prepare`` command that rewrites it."""


@dataclass(frozen=True)
class FileRecord:
    """What ``index.json`` records of one file: its size in bytes and sha256 (hex)."""

    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, ALGORITHM: self.sha256}

    @classmethod
    def from_json(cls, raw: Any, where: Path) -> FileRecord:
        try:
            return cls(int(raw["size"]), str(raw[ALGORITHM]))
        except (KeyError, TypeError, ValueError):
            raise DataError(where, f"a 'files' record must be {{\"size\": BYTES, "
                                   f"\"{ALGORITHM}\": HEX}}, got {raw!r}") from None


def file_digest(path: Path) -> str:
    """sha256 (hex) of the bytes of ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(folder: Path, prefix: str) -> dict[str, dict[str, Any]]:
    """``{prefix/<relative path>: {"size", "sha256"}}`` of every file under ``folder`` (a track
    folder as just written; its ``track.json`` excluded), for a track entry's ``files``."""
    out = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        if path.name == "track.json" and path.parent == Path(folder):
            continue
        rel = f"{prefix}/{path.relative_to(folder).as_posix()}"
        out[rel] = FileRecord(path.stat().st_size, file_digest(path)).to_json()
    return out


def parse_files(entry: Mapping[str, Any], root: Path, where: Path) -> dict[Path, FileRecord] | None:
    """The ``files`` of a track entry as ``{absolute path: record}``; None when the entry
    records none (an index written before they were recorded)."""
    raw = entry.get("files")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DataError(where, f"track {entry.get('id')!r}: 'files' must be an object "
                               "path -> {size, sha256}")
    return {root / rel: FileRecord.from_json(value, where) for rel, value in raw.items()}


def size_problem(path: Path, record: FileRecord) -> str | None:
    """Why ``path`` does not have its recorded size (None when it has)."""
    try:
        found = path.stat().st_size
    except FileNotFoundError:
        return f"missing file (index.json records {record.size} bytes)"
    if found == record.size:
        return None
    what = "truncated" if found < record.size else "longer than written"
    return f"{what}: index.json records {record.size} bytes, found {found}"


def content_problem(path: Path, record: FileRecord) -> str | None:
    """Why ``path`` does not hold its recorded bytes (size first, then sha256; None if it does)."""
    problem = size_problem(path, record)
    if problem is not None:
        return problem
    found = file_digest(path)
    if found == record.sha256:
        return None
    return (f"checksum mismatch: index.json records sha256 {record.sha256[:16]}..., the file "
            f"hashes to {found[:16]}... (same size, {record.size} bytes: its content changed "
            "after prepare wrote it)")


def mismatched(root: Path, files: Mapping[str, Any]) -> list[str]:
    """The files of a track record (``{rel: {"size", "sha256"}}``) that are missing or differ
    from it, as ``"rel: why"`` (``avsep prepare`` rewrites such a track instead of reusing it)."""
    out = []
    for rel, raw in files.items():
        problem = content_problem(Path(root) / rel, FileRecord.from_json(raw, Path(root) / rel))
        if problem is not None:
            out.append(f"{rel}: {problem}")
    return out


# ----------------------------------------------------------------------------- the fix


def rewrite_command(index: Mapping[str, Any], cache: Path) -> str:
    """The ``avsep prepare`` command that rewrites the cache at ``cache`` from what its
    ``index`` records (layout, dataset root, split policy, and ``--space``/``--model`` or
    explicit settings); placeholders, said so, where the index does not record the source."""
    from avsep.data.splits import SplitPolicy

    cache = Path(cache)
    layout, root = index.get("layout"), index.get("root")
    known = bool(layout and root)
    flags = ["--layout", str(layout) if known else PLACEHOLDER_LAYOUT,
             "--root", str(root) if known else PLACEHOLDER_ROOT]
    policy = index.get("split_policy") or {}
    if known and policy.get("name"):
        flags += SplitPolicy.from_json(dict(policy)).cli_flags()
    if index.get("space"):
        flags += ["--out", str(cache.parent), "--space", str(index["space"]),
                  "--preset", str(index.get("preset") or "tiny")]
    elif index.get("model"):
        flags += ["--out", str(cache), "--model", str(index["model"]),
                  "--preset", str(index.get("preset") or "tiny")]
    else:
        flags += ["--out", str(cache)] + _settings_flags(index)
    command = "avsep prepare " + shlex.join(flags)
    if not known:
        command += (f"  ({cache / 'index.json'} records no dataset layout and root: put your "
                    "copy's in place of the placeholders)")
    return command


def _settings_flags(index: Mapping[str, Any]) -> list[str]:
    from avsep.data.needs import settings_flags
    from avsep.data.prepare import PrepareSettings

    crop = index.get("crop")
    try:
        settings = PrepareSettings(int(index["sample_rate"]), index.get("fps"),
                                   (int(crop[0]), int(crop[1])) if crop else None,
                                   int(index.get("video_channels") or 3), index.get("channels"))
    except (KeyError, TypeError, ValueError):
        return ["--sample-rate", "HZ"]
    return settings_flags(settings)


def _error(problems: list[tuple[Path, str]], fix: str) -> CacheIntegrityError:
    first, why = problems[0]
    more = "".join(f"\n  {p}: {w}" for p, w in problems[1:SHOWN])
    if len(problems) > SHOWN:
        more += f"\n  and {len(problems) - SHOWN} more"
    extra = f"; {len(problems) - 1} more file(s) of the cache too:{more}" if more else ""
    return CacheIntegrityError(first, f"{why}{extra}\nrewrite it with:\n  {fix}")


# ----------------------------------------------------------------------------- checks


def check_tracks(tracks: Iterable[Mapping[str, Any]], cache: Path, fix: str
                 ) -> dict[Path, FileRecord]:
    """The recorded files of the track entries ``tracks`` of the cache at ``cache``, each checked
    to have its recorded size (one ``stat``); warns once when some tracks record none.

    Raises:
        CacheIntegrityError: a file is missing or has another size (all such files listed),
            with ``fix``, the command that rewrites them.
    """
    where = cache / "index.json"
    problems: list[tuple[Path, str]] = []
    records: dict[Path, FileRecord] = {}
    unrecorded = 0
    for track in tracks:
        files = parse_files(track, cache, where)
        if files is None:
            unrecorded += 1
            continue
        records.update(files)
        for path, record in files.items():
            problem = size_problem(path, record)
            if problem is not None:
                problems.append((path, problem))
    if problems:
        raise _error(problems, fix)
    if unrecorded:
        warn_unrecorded(cache, unrecorded, fix)
    return records


def check_sizes(cache: Path | str, splits: Iterable[str] | None = None) -> int:
    """:func:`check_tracks` of the tracks of ``splits`` (all when None) of the cache at
    ``cache``, the check a run makes before it starts; returns the number of files checked."""
    cache = Path(cache).expanduser().resolve()
    where = cache / "index.json"
    try:
        index = json.loads(where.read_text())
        tracks = list(index.get("tracks", []))
    except (OSError, ValueError, AttributeError) as err:
        raise DataError(where, f"cannot read the cache index ({err})") from None
    wanted = None if splits is None else set(splits)
    chosen = [t for t in tracks if wanted is None or t.get("split") in wanted]
    return len(check_tracks(chosen, cache, rewrite_command(index, cache)))


def warn_unrecorded(cache: Path, tracks: int, fix: str) -> None:
    """Say once per process that ``tracks`` tracks of ``cache`` record no sizes/checksums."""
    if str(cache) in _warned:
        return
    _warned.add(str(cache))
    print(f"warning: {cache / 'index.json'}: {tracks} track(s) record no file sizes or "
          "checksums (prepared before avsep recorded them), so a damaged file there is not "
          f"detected; record them by rewriting those tracks with:\n  {fix}", file=sys.stderr,
          flush=True)


def verify_once(path: Path, record: FileRecord | None, fix: str) -> None:
    """Check ``path`` against its ``record`` (size, then sha256) the first time this process
    opens it; no record: nothing to check.

    Raises:
        CacheIntegrityError: naming the file, what differs, and ``fix``.
    """
    if record is None:
        return
    key = (str(path), record.size, record.sha256)
    if key in _verified:
        return
    problem = content_problem(Path(path), record)
    if problem is not None:
        raise _error([(Path(path), problem)], fix)
    _verified.add(key)
