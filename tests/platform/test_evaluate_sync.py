"""Sync accuracy against context length (VocaLiST protocol): planted offsets are recovered.

The scorer stub knows each cached video frame's number (stamped in its pixels by the demo
cache) and the recorded voice; its score for an (audio, video) pair is the cosine similarity of
the audio with the voice recorded during the frames it is shown, ``lag`` frames later. With
lag 0 its score peaks exactly at the true offset, so the offset search must recover every
planted offset; with lag 3 it is wrong by 3 frames everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avsep.evaluation.sync import evaluate_sync

SPF = 640  # samples per video frame at 16 kHz / 25 fps


@pytest.fixture(scope="module")
def sync_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avsep.data.datasets.synthetic_cache import make_demo_cache

    return make_demo_cache(tmp_path_factory.mktemp("sync") / "cache", sample_rate=16000,
                           crop=(48, 96), fps=25.0, seconds=4.0, singers={"test": 1},
                           extra_vocals=0, instruments=(), solos=0, ensembles=0)


def voice_of(cache: Path) -> np.ndarray:
    """float32 (L,): the one test singer's voice as cached."""
    from avsep.data.datasets.lipsync import LipSyncDataset
    from avsep.models.vocalist import vocalist_spec

    dataset = LipSyncDataset(cache, vocalist_spec(), "test")
    (_, source), = dataset.targets
    return dataset.store.audio(source, 0, source.samples).mean(0)


def waveform_scorer(voice: np.ndarray, lag: int = 0):
    """(audio (N, C, W·SPF), video (N, 1, W, 3, H, W)) -> (N,): cosine similarity between the
    audio and the recorded voice during the frames shown, ``lag`` frames later (1 exactly at
    the true alignment whatever the clip's gain; 0 against silence)."""
    from avsep.data.datasets.synthetic_cache import frame_numbers

    reference = torch.from_numpy(np.pad(voice, (SPF * 40, SPF * 40))).float()

    def score(audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        heard = audio.float().mean(1)  # (N, W·SPF)
        first = torch.from_numpy(frame_numbers(video[:, 0].numpy())[:, 0]) + lag + 40
        seen = torch.stack([reference[f * SPF: f * SPF + heard.shape[1]] for f in first.tolist()])
        return torch.nn.functional.cosine_similarity(heard, seen, dim=1, eps=1e-9)

    return score


def test_planted_offsets_are_recovered(sync_cache: Path) -> None:
    scorer = waveform_scorer(voice_of(sync_cache))
    table = evaluate_sync(scorer, sync_cache, "test", contexts=(5, 9, 15),
                          tolerance=(0, 1, 5), planted=(-7, 0, 4), items=3)
    assert list(table["context"]) == [5, 9, 15]
    assert list(table["n"]) == [9, 9, 9]  # 1 singer x 3 clips x 3 planted offsets
    assert table["excerpt"].nunique() == 1  # one row per (context, singer's track)
    assert table["seconds"].tolist() == pytest.approx([0.2, 0.36, 0.6])
    for column in ("acc_tol0", "acc_tol1", "acc_tol5"):
        assert table[column].tolist() == [1.0, 1.0, 1.0]


def test_a_shifted_scorer_misses_by_its_shift(sync_cache: Path) -> None:
    scorer = waveform_scorer(voice_of(sync_cache), lag=3)
    table = evaluate_sync(scorer, sync_cache, "test", contexts=(5, 15), tolerance=(1, 3, 5),
                          planted=(0, 6), items=2)
    assert table["acc_tol1"].tolist() == [0.0, 0.0]  # wrong by 3 frames: outside ±1
    assert table["acc_tol3"].tolist() == [1.0, 1.0]  # ... inside ±3 and ±5
    assert table["acc_tol5"].tolist() == [1.0, 1.0]


def test_contexts_shorter_than_the_window_are_skipped(sync_cache: Path) -> None:
    scorer = waveform_scorer(voice_of(sync_cache))
    table = evaluate_sync(scorer, sync_cache, "test", contexts=(5, 7, 9), tolerance=(1,),
                          window=7, items=1)
    assert list(table["context"]) == [7, 9] and table["acc_tol1"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"contexts": (3,)}, "shorter than the model's 5-frame window"),
        ({"planted": (20,)}, "within the search range ±15"),
        ({"tolerance": (-1,)}, "tolerances must be >= 0"),
    ],
)
def test_bad_options_are_named(sync_cache: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_sync(waveform_scorer(np.ones(64000, dtype=np.float32)), sync_cache, "test",
                      **options)


def test_real_tiny_vocalist_end_to_end(sync_cache: Path) -> None:
    """A tiny VocaLiST (untrained) runs the whole protocol: rates and window from its spec,
    one row per context, accuracies that are fractions of the clips, ±5 never below ±1."""
    from avsep.models import build

    torch.manual_seed(0)
    model = build({"name": "vocalist", "preset": "tiny"}).eval()
    table = evaluate_sync(model, sync_cache, "test", contexts=(5, 6), tolerance=(1, 5),
                          items=1)
    assert list(table["context"]) == [5, 6] and list(table["n"]) == [1, 1]
    for column in ("acc_tol1", "acc_tol5"):
        assert set(table[column].tolist()) <= {0.0, 1.0}
    assert (table["acc_tol5"] >= table["acc_tol1"]).all()


def test_the_sync_table_pools_excerpts_weighted_by_their_clips() -> None:
    """Per-excerpt rows -> the paper's table: accuracy = correct clips / clips per context."""
    import pandas as pd

    from avsep.evaluation.tables import sync_table

    rows = pd.DataFrame({"context": [5, 5, 15, 15], "excerpt": ["a", "b", "a", "b"],
                         "seconds": [0.2, 0.2, 0.6, 0.6], "n": [2, 6, 2, 6],
                         "acc_tol1": [1.0, 0.5, 1.0, 1.0]})
    table = sync_table(rows)
    assert list(table["context"]) == [5, 15]
    assert table["acc ±1 frames (%)"].tolist() == pytest.approx([62.5, 100.0])  # (2 + 3) / 8
    assert list(table["n"]) == [8, 8] and list(table["excerpts"]) == [2, 2]
