"""The split policy of every layout: which tracks train, validate and test.

:func:`assign_splits` sets ``record.split`` of every track a layout reader returned and returns
the :class:`SplitPolicy` it applied; ``avsep prepare`` records that policy in each cache's
``index.json`` (``split_policy``) next to the per-track split (``tracks[i].split``). The first
rule that applies wins:

1. ``--splits FILE`` (``splits_file``): a JSON object ``{"<track id>": "train"|"val"|"test"}``
   naming every track (a Solos track may also be named by its YouTube id). A track it does not
   name is an error naming the track and the file. Policy ``"file"``.
2. ``--split-policy hash``: the seeded hash split below, whatever the layout publishes.
3. ``--split-policy paper`` (MIR-1K only): the split of Huang et al. (ISMIR 2014) that
   Swaminathan & Lerch use: singers ``abjones`` and ``amy`` train (the last songs of theirs,
   ``--opt val_fraction=0.1``, validate), the other 17 singers test. Policy ``"paper"``.
4. The dataset's official split (``--split-policy default``), policy ``"official"``:
   MUSDB18 — ``test/`` tests, and the 14 tracks of musdb's ``validation_tracks`` list (the one
   open-unmix uses) validate; Acappella — its release's CSV subsets (train, val_seen, test_seen,
   test_unseen_*); the synthetic corpus's singing part — its own ``<split>/`` folders.
5. A user's ``avsep_splits.json`` already inside a URMP or Solos copy (the synthetic corpus
   writes one beside its URMP pieces), or a URSing layout description that sets ``split`` or
   ``splits_file``: read, never written. Policy ``"dataset_file"`` / ``"layout_description"``.
6. Otherwise (URMP, Solos, MIR-1K, URSing): the seeded hash split, policy ``"hash"``.

The hash split is piece- and performer-disjoint: tracks are the nodes of a graph whose edges
join tracks sharing a piece or a performer; each connected component (a *group*) goes to one
split whole. Groups are ordered by ``sha256(f"{seed}:{smallest member key}")``; when there are
at least three groups, the first goes to val and the second to test (so neither is empty),
then each next group joins the split furthest below its target share of *tracks*
(``fractions``, default 0.8/0.1/0.1). Where a layout's names carry the performer and piece:

* URMP: the piece is the folder's title (``01_Jupiter_vn_vc`` -> ``Jupiter``, so two
  arrangements of one title stay together); players are only known from an
  ``avsep_meta.json`` beside the pieces (the synthetic corpus writes one), else pieces alone
  decide.
* MIR-1K: a clip ``abjones_1_01`` is singer ``abjones``, song ``abjones_1``, clip ``01``:
  every clip of a singer lands in one split.
* Solos: one YouTube video is one group (the release names no performer or piece).
* URSing: one track folder is one group unless the layout description gives a split.

Nothing is ever written into the dataset.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.data.records import DataError, TrackRecord

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_SEED = 0
POLICIES = ("default", "hash", "paper")
DATASET_SPLITS_FILE = "avsep_splits.json"

# MUSDB18's customary validation subset of train/: the 14 tracks of ``validation_tracks`` in
# sigsep's musdb package (configs/mus.yaml), the list open-unmix validates on.
MUSDB18_VALIDATION: frozenset[str] = frozenset({
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
})

# layouts whose reader applies the dataset's own published split, and where it comes from
OFFICIAL: dict[str, str] = {
    "musdb18": "MUSDB18 train/ and test/ folders; val = musdb's 14 validation_tracks "
               "(musdb configs/mus.yaml)",
    "acappella": "Acappella release CSV subsets: train, val_seen -> val, test_seen and "
                 "test_unseen_* -> test",
    "avsep_synth": "the synthetic corpus's own train/ val/ test/ folders",
}
PAPER: dict[str, str] = {
    "mir1k": "Huang et al. (ISMIR 2014): singers abjones and amy train (last songs val), "
             "the other singers test",
}


@dataclass
class SplitPolicy:
    """The split applied to a dataset, as recorded in a cache index (``split_policy``)."""

    name: str  # "file", "official", "paper", "dataset_file", "layout_description", "hash"
    source: str  # where the split comes from, in words or as a file path
    seed: int | None = None
    fractions: tuple[float, float, float] | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "seed": self.seed,
                "fractions": list(self.fractions) if self.fractions else None,
                "counts": dict(self.counts)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SplitPolicy:
        fractions = data.get("fractions")
        return cls(str(data.get("name")), str(data.get("source")), data.get("seed"),
                   tuple(fractions) if fractions else None,  # type: ignore[arg-type]
                   dict(data.get("counts") or {}))

    def cli_flags(self) -> list[str]:
        """The ``avsep prepare`` flags that reproduce this policy (empty for the default)."""
        if self.name == "file":
            return ["--splits", self.source]
        if self.name == "paper":
            return ["--split-policy", "paper"]
        flags: list[str] = []
        if self.name == "hash":
            if self.seed not in (None, DEFAULT_SEED):
                flags += ["--split-seed", str(self.seed)]
            if self.fractions and tuple(self.fractions) != DEFAULT_FRACTIONS:
                flags += ["--split-fractions", ",".join(f"{f:g}" for f in self.fractions)]
        return flags


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> ``(0.8, 0.1, 0.1)``; ValueError naming the flag otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(v < 0 for v in values) or not math.isclose(sum(values), 1.0,
                                                                          abs_tol=1e-6):
        raise ValueError(f"--split-fractions expects three non-negative numbers train,val,test "
                         f"that sum to 1 (e.g. --split-fractions 0.8,0.1,0.1), got {text!r}")
    if values[0] == 0:
        raise ValueError("--split-fractions: the train fraction must be positive "
                         "(e.g. --split-fractions 0.8,0.1,0.1)")
    return values  # type: ignore[return-value]


def read_splits_file(path: Path | str) -> dict[str, str]:
    """``{track id: split}`` from a user's JSON file; DataError naming the fix otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(path, "splits file not found: pass --splits with a JSON file "
                              '{"<track id>": "train"|"val"|"test", ...}')
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(path, f"unreadable JSON ({err})") from err
    if not isinstance(data, dict):
        raise DataError(path, 'expected a JSON object {"<track id>": "train"|"val"|"test", ...}')
    bad = {str(k): v for k, v in data.items() if v not in SPLITS}
    if bad:
        track, value = next(iter(bad.items()))
        raise DataError(path, f"track {track!r} has split {value!r}; every split must be one of "
                              f"{list(SPLITS)}")
    return {str(k): str(v) for k, v in data.items()}


def _apply_file(records: Sequence[TrackRecord], splits: dict[str, str], path: Path,
                fix: str) -> None:
    missing = []
    for record in records:
        keys = [record.track_id, record.extra.get("youtube_id")]
        split = next((splits[k] for k in keys if k in splits), None)
        if split is None:
            missing.append(record.track_id)
        else:
            record.split = split
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(path, f"names no split for track {missing[0]!r}{more}; add "
                              f'"{missing[0]}": "train"|"val"|"test" to it, or {fix}')


# ---------------------------------------------------------------------------- the hash split


def group_keys(layout: str, record: TrackRecord) -> list[str]:
    """The piece and performer keys that tie ``record`` to other tracks (may be empty)."""
    keys = []
    piece = record.piece
    if layout == "urmp" and piece:
        piece = piece.split("_", 1)[-1]  # "01_Jupiter" -> "Jupiter"
    if piece:
        keys.append(f"piece:{piece}")
    performers = list(record.extra.get("performers") or [])
    if record.performer:
        performers.append(record.performer)
    keys += [f"performer:{p}" for p in performers]
    return keys


def disjoint_groups(layout: str, records: Sequence[TrackRecord]) -> list[list[TrackRecord]]:
    """Connected components of tracks linked by a shared piece or performer."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, record in enumerate(records):
        for key in group_keys(layout, record):
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[TrackRecord]] = {}
    for i, record in enumerate(records):
        groups.setdefault(find(i), []).append(record)
    return list(groups.values())


def _hash(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def hash_split(layout: str, records: Sequence[TrackRecord], fractions: Sequence[float],
               seed: int) -> None:
    """Set ``record.split`` by the seeded, piece- and performer-disjoint rule (module doc)."""
    groups = disjoint_groups(layout, records)
    order = sorted(groups, key=lambda g: _hash(seed, min(
        [f"track:{r.track_id}" for r in g] + [k for r in g for k in group_keys(layout, r)])))
    total = sum(len(g) for g in groups)
    counts = dict.fromkeys(SPLITS, 0)
    forced = [s for s, f in zip(SPLITS[1:], fractions[1:], strict=True) if f > 0] \
        if len(order) >= 3 else []
    for i, group in enumerate(order):
        if i < len(forced):
            split = forced[i]
        else:
            split = max(SPLITS, key=lambda s: (fractions[SPLITS.index(s)] * total - counts[s],
                                               -SPLITS.index(s)))
        counts[split] += len(group)
        for record in group:
            record.split = split


# ---------------------------------------------------------------------------- the policy


def assign_splits(layout: str, root: Path | str, records: Sequence[TrackRecord], *,
                  splits_file: Path | str | None = None, policy: str = "default",
                  fractions: Sequence[float] = DEFAULT_FRACTIONS,
                  seed: int = DEFAULT_SEED) -> SplitPolicy:
    """Set every ``record.split`` by the first rule of the module docstring that applies."""
    if policy not in POLICIES:
        raise ValueError(f"unknown --split-policy {policy!r}; choose one of {list(POLICIES)}")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3:
        raise ValueError(f"split fractions must be three numbers train,val,test, got {fractions}")
    if splits_file is not None:
        path = Path(splits_file).expanduser().resolve()
        _apply_file(records, read_splits_file(path), path,
                    "drop --splits to use the layout's default split")
        result = SplitPolicy("file", str(path))
    elif policy == "paper":
        if layout not in PAPER:
            raise ValueError(f"--split-policy paper: layout {layout!r} has no paper split "
                             f"(only {sorted(PAPER)}); use --split-policy default")
        result = SplitPolicy("paper", PAPER[layout])
    elif policy == "default" and layout in OFFICIAL:
        result = SplitPolicy("official", OFFICIAL[layout])
    elif policy == "default" and layout in ("urmp", "solos") and \
            (Path(root) / DATASET_SPLITS_FILE).is_file():
        path = (Path(root) / DATASET_SPLITS_FILE).resolve()
        _apply_file(records, read_splits_file(path), path,
                    "pass --split-policy hash to ignore that file")
        result = SplitPolicy("dataset_file", str(path))
    elif policy == "default" and layout == "ursing" and any(r.split in SPLITS for r in records):
        result = SplitPolicy("layout_description", "the URSing layout description's split / "
                                                     "splits_file")
    else:
        hash_split(layout, records, fractions, seed)
        result = SplitPolicy("hash", "seeded piece- and performer-disjoint hash "
                                     "(avsep.data.splits)", seed, fractions)  # type: ignore[arg-type]
    unknown = [r.track_id for r in records if r.split not in SPLITS]
    if unknown:
        where = " (set 'split' or name it in the description's splits_file)" \
            if result.name == "layout_description" else ""
        raise DataError(Path(root), f"track {unknown[0]!r} has no train/val/test split under "
                                    f"policy {result.name!r}{where}; or pass --splits FILE "
                                    "naming every track, or --split-policy hash")
    result.counts = {s: sum(r.split == s for r in records) for s in SPLITS}
    return result


__all__ = ["DEFAULT_FRACTIONS", "DEFAULT_SEED", "MUSDB18_VALIDATION", "POLICIES", "SPLITS",
           "SplitPolicy", "assign_splits", "disjoint_groups", "hash_split", "parse_fractions",
           "read_splits_file"]
