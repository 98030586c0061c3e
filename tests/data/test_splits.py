"""Split policies: official splits, seeded piece/performer-disjoint hash splits, splits files,
all recorded in the cache index, and nothing written into the dataset."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from avsep.data.layouts import read_layout
from avsep.data.prepare import PrepareSettings, prepare
from avsep.data.records import DataError, SourceRecord, TrackRecord
from avsep.data.splits import (
    MUSDB18_VALIDATION,
    SPLITS,
    assign_splits,
    disjoint_groups,
    parse_fractions,
)
from tests.data import test_layouts as tl
from tests.data.test_prepare import tree_digest

URMP_PIECES = ("01_Jupiter_vn_vc", "02_Jupiter_fl_cl", "03_Spring_vn_va", "04_Sonata_fl_tpt",
               "05_Waltz_tpt_tbn", "06_Minuet_ob_bn", "07_Elegy_vc_db")
MIR1K_SINGERS = ("abjones", "amy", "bobon", "davidson", "geniusturtle", "heycat", "jmzen",
                 "khair")


def record(track_id: str, piece: str | None = None, performer: str | None = None,
           **extra: object) -> TrackRecord:
    source = SourceRecord(name="vocals", role="vocals", audio_path=Path(f"{track_id}.wav"))
    return TrackRecord(layout="test", track_id=track_id, split="unknown", sources=[source],
                       piece=piece, performer=performer, extra=dict(extra))


def splits_of(index_path: Path) -> dict[str, str]:
    return {t["id"]: t["split"] for t in json.loads(index_path.read_text())["tracks"]}


def urmp_tree(root: Path) -> Path:
    for folder in URMP_PIECES:
        tl.urmp_piece(root, folder, 0.3)
    return root


def mir1k_tree(root: Path) -> Path:
    for singer in MIR1K_SINGERS:
        for song, clip in ((1, 1), (1, 2), (2, 1)):
            tl.wav(root / "Wavfile" / f"{singer}_{song}_{clip:02d}.wav", 0.2, rate=16000,
                   channels=2)
    return root


# ---------------------------------------------------------------------------- hash split


def test_urmp_without_split_file_gets_a_deterministic_disjoint_split(tmp_path: Path) -> None:
    root = urmp_tree(tmp_path / "urmp")
    before = tree_digest(root)
    first = prepare("urmp", root, tmp_path / "a", PrepareSettings(8000)).index_path
    index = json.loads(first.read_text())
    assert index["root"] == str(root.resolve()) and index["layout"] == "urmp"
    policy = index["split_policy"]
    assert (policy["name"], policy["seed"], policy["fractions"]) == ("hash", 0, [0.8, 0.1, 0.1])
    splits = splits_of(first)
    assert set(splits) == set(URMP_PIECES) and set(splits.values()) == set(SPLITS)
    assert policy["counts"] == {s: list(splits.values()).count(s) for s in SPLITS}
    assert policy["counts"]["train"] >= 4  # 7 pieces: one to val, one to test, the rest by share
    # the two arrangements of "Jupiter" are one piece: they land on one side
    assert splits["01_Jupiter_vn_vc"] == splits["02_Jupiter_fl_cl"]
    titles = {s: {p.split("_")[1] for p, v in splits.items() if v == s} for s in SPLITS}
    assert not (titles["train"] & titles["val"] or titles["train"] & titles["test"]
                or titles["val"] & titles["test"])
    # deterministic, and the dataset is only read
    again = prepare("urmp", root, tmp_path / "b", PrepareSettings(8000)).index_path
    assert splits_of(again) == splits
    assert tree_digest(root) == before and not (root / "avsep_splits.json").exists()
    other = prepare("urmp", root, tmp_path / "c", PrepareSettings(8000),
                    split_options={"seed": 5, "fractions": (0.6, 0.2, 0.2)}).index_path
    policy = json.loads(other.read_text())["split_policy"]
    assert (policy["seed"], policy["fractions"]) == (5, [0.6, 0.2, 0.2])
    assert splits_of(other)["01_Jupiter_vn_vc"] == splits_of(other)["02_Jupiter_fl_cl"]


def test_mir1k_without_split_file_is_singer_disjoint(tmp_path: Path) -> None:
    root = mir1k_tree(tmp_path / "mir1k")
    index_path = prepare("mir1k", root, tmp_path / "cache", PrepareSettings(16000)).index_path
    index = json.loads(index_path.read_text())
    assert index["split_policy"]["name"] == "hash"
    splits = splits_of(index_path)
    assert len(splits) == 3 * len(MIR1K_SINGERS) and set(splits.values()) == set(SPLITS)
    singers = {s: {t.split("_")[0] for t, v in splits.items() if v == s} for s in SPLITS}
    assert sum(len(v) for v in singers.values()) == len(MIR1K_SINGERS)  # each on one side
    assert len(singers["train"]) >= 5
    # the paper's split (Huang et al.): abjones and amy train/validate, the others test
    paper = prepare("mir1k", root, tmp_path / "paper", PrepareSettings(16000),
                    split_options={"policy": "paper"}).index_path
    assert json.loads(paper.read_text())["split_policy"]["name"] == "paper"
    assert {t.split("_")[0] for t, v in splits_of(paper).items() if v != "test"} == \
        {"abjones", "amy"}


def test_groups_join_tracks_that_share_a_piece_or_a_performer() -> None:
    tracks = [record("a", "Jupiter", performers=["P1", "P2"]),
              record("b", "Spring", performers=["P2", "P3"]),
              record("c", "Jupiter"), record("d", "Waltz", performers=["P4"]),
              record("e", None, "P4"), record("f")]
    groups = sorted(sorted(r.track_id for r in g) for g in disjoint_groups("urmp", tracks))
    assert groups == [["a", "b", "c"], ["d", "e"], ["f"]]
    policy = assign_splits("urmp", Path("/nowhere"), tracks)
    assert policy.name == "hash" and len({tracks[0].split, tracks[1].split,
                                          tracks[2].split}) == 1
    assert tracks[3].split == tracks[4].split
    assert sorted(policy.counts.values()) == [1, 2, 3]  # three groups: one per split


def test_fractions_are_checked() -> None:
    assert parse_fractions("0.7,0.2,0.1") == (0.7, 0.2, 0.1)
    for bad in ("0.8,0.1", "0.5,0.5,0.5", "a,b,c", "0,0.5,0.5"):
        with pytest.raises(ValueError, match="--split-fractions"):
            parse_fractions(bad)


# ---------------------------------------------------------------------------- official splits


def test_musdb18_official_split_with_the_14_validation_tracks(tmp_path: Path) -> None:
    spec = find_spec("musdb")  # the list is the one sigsep's musdb package ships
    config = Path(spec.submodule_search_locations[0]) / "configs" / "mus.yaml"
    assert MUSDB18_VALIDATION == frozenset(yaml.safe_load(config.read_text())
                                           ["validation_tracks"])
    assert len(MUSDB18_VALIDATION) == 14
    records, _ = read_layout("musdb18", tl.musdb_tree(tmp_path))
    policy = assign_splits("musdb18", tmp_path, records)
    assert policy.name == "official" and "validation_tracks" in policy.source
    assert {r.track_id: r.split for r in records} == {
        "Actions - One Minute Smile": "val", "A Band - Song": "train",
        "Some One - Test Song": "test"}
    assert policy.counts == {"train": 1, "val": 1, "test": 1}


# ---------------------------------------------------------------------------- splits files


def test_a_splits_file_overrides_every_rule(tmp_path: Path) -> None:
    tracks = [record(f"t{i}") for i in range(4)]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"t0": "train", "t1": "train", "t2": "val", "t3": "test",
                                "absent": "test"}))
    policy = assign_splits("musdb18", tmp_path, tracks, splits_file=path)
    assert policy.name == "file" and policy.source == str(path.resolve())
    assert [t.split for t in tracks] == ["train", "train", "val", "test"]
    assert policy.cli_flags() == ["--splits", str(path.resolve())]
    path.write_text(json.dumps({"t0": "train", "t1": "val"}))
    with pytest.raises(DataError, match=r"names no split for track 't2' \(and 1 more\)") as err:
        assign_splits("urmp", tmp_path, tracks, splits_file=path)
    assert err.value.path == path.resolve()
    path.write_text(json.dumps({"t0": "training"}))
    with pytest.raises(DataError, match="track 't0' has split 'training'"):
        assign_splits("urmp", tmp_path, tracks, splits_file=path)
    with pytest.raises(DataError, match="splits file not found: pass --splits"):
        assign_splits("urmp", tmp_path, tracks, splits_file=tmp_path / "nope.json")


def test_a_split_file_inside_the_dataset_is_read_and_can_be_ignored(tmp_path: Path) -> None:
    tracks = [record("01_Jupiter_vn_vc", "01_Jupiter"), record("02_Spring_fl", "02_Spring"),
              record("03_Waltz_fl", "03_Waltz")]
    (tmp_path / "avsep_splits.json").write_text(json.dumps({
        "01_Jupiter_vn_vc": "train", "02_Spring_fl": "val"}))
    with pytest.raises(DataError, match="track '03_Waltz_fl'.*--split-policy hash") as err:
        assign_splits("urmp", tmp_path, tracks)
    assert err.value.path.name == "avsep_splits.json"
    policy = assign_splits("urmp", tmp_path, tracks, policy="hash")
    assert policy.name == "hash" and sorted(t.split for t in tracks) == ["test", "train", "val"]
    with pytest.raises(ValueError, match="has no paper split"):
        assign_splits("urmp", tmp_path, tracks, policy="paper")


def test_cli_inspect_and_prepare_take_the_split_flags(tmp_path: Path) -> None:
    root = mir1k_tree(tmp_path / "mir1k")
    code, text = tl.run_cli("data", "inspect", "--layout", "mir1k", "--root", str(root),
                            "--json", "--split-seed", "3")
    assert code == 0
    shown = json.loads(text)
    assert shown["split_policy"]["seed"] == 3
    assert {t["split"] for t in shown["tracks"]} == set(SPLITS)
    mine = tmp_path / "splits.json"
    mine.write_text(json.dumps({p.stem: "train" if p.stem.startswith("a") else "test"
                                for p in (root / "Wavfile").glob("*.wav")}))
    code, text = tl.run_cli("prepare", "--layout", "mir1k", "--root", str(root), "--out",
                            str(tmp_path / "cache"), "--sample-rate", "16000", "--splits",
                            str(mine))
    assert code == 0 and "splits: file" in text and "warning: no tracks in ['val']" in text
    assert set(splits_of(tmp_path / "cache" / "index.json").values()) == {"train", "test"}
    code, text = tl.run_cli("prepare", "--layout", "mir1k", "--root", str(root), "--out",
                            str(tmp_path / "c2"), "--sample-rate", "16000", "--split-policy",
                            "paper", "--split-fractions", "0.5,0.5,0")
    assert code == 0 and "splits: paper" in text
