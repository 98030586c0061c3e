"""`avsep eval` per paper: BSS Eval per present source against museval, PES of silent slots,
Slizovskaia / Solos / Li / Swaminathan tables, visual ablations on present streams only,
white-noise* on the visual embedding, Sound of Pixels on ensembles larger than its slots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from avsep.data.datasets import make_dataset
from avsep.evaluation.ablations import ablate, feature_noise
from avsep.evaluation.chunks import present_streams, separate_long
from avsep.evaluation.separation import evaluate
from avsep.evaluation.tables import slizovskaia_table, solos_table, swaminathan_table
from avsep.models import build
from avsep.platform.data import model_dataset_options

INSTRUMENTS = ("violin", "flute", "cello", "trumpet")


@pytest.fixture(scope="module")
def cunet():
    torch.manual_seed(0)  # FiLM conditioning: every slot's mask is non-zero before training
    return build({"name": "cunet", "preset": "tiny", "context": "labels",
                  "conditioning": "film_bottleneck"}).eval()


@pytest.fixture(scope="module")
def instrument_cache(tmp_path_factory, cunet) -> Path:
    from avsep.data.datasets.synthetic_cache import make_demo_cache

    return make_demo_cache(tmp_path_factory.mktemp("inst") / "cache",
                           sample_rate=cunet.spec.stft.sample_rate, seconds=2.0,
                           singers={"train": 1, "val": 1, "test": 1}, instruments=INSTRUMENTS,
                           solos=1, ensembles=2, seed=3)


def test_cunet_scores_present_sources_like_museval_and_silent_slots_by_pes(
        cunet, instrument_cache):
    from avsep.metrics.reference import museval_v4

    dataset = make_dataset("instruments", instrument_cache, cunet.spec, "test",
                           **model_dataset_options(cunet, {}))
    rows = evaluate(cunet, dataset, wiener=0, ablations=False, max_items=2)
    model = rows[rows["system"] == "model"]
    present, absent = model[model["present"]], model[~model["present"]]
    assert len(present) >= 4 and len(absent) == 2 * 13 - len(present)
    assert np.isfinite(present[["sdr", "sir", "sar", "isr"]].to_numpy()).all()
    assert absent[["sdr", "sir", "sar", "isr"]].isna().all().all()
    # an absent slot's PES is the energy of its (non-silent) estimate: above the -80 dB floor
    assert np.isfinite(absent["pes"]).all() and (absent["pes"] > -80.0).all()

    item = dataset[0]
    refs = item["sources"]
    keep = torch.nonzero(refs.flatten(1).abs().amax(1) > 0).flatten()
    est = separate_long(cunet, item, wiener=0)[keep]
    rate = cunet.spec.stft.sample_rate
    expected = museval_v4(refs[keep].double().transpose(1, 2).numpy(),
                          est.double().transpose(1, 2).numpy(), rate, rate)
    got = model[(model["item"] == 0) & model["present"]].set_index("source")
    names = [cunet.source_names[int(k)] for k in keep]
    for metric in ("sdr", "sir", "sar", "isr"):
        want = np.nanmedian(expected[metric], axis=1)
        np.testing.assert_allclose(got.loc[names, metric].to_numpy(), want, atol=0.01)

    # the paper code's PES: whole-excerpt energy of a silent slot's (non-zero) estimate
    assert present["pes_code"].isna().all()
    full = separate_long(cunet, item, wiener=0).double()
    first_absent = model[(model["item"] == 0) & ~model["present"]].iloc[0]
    slot = cunet.source_names.index(first_absent["source"])
    energy_db = 10 * np.log10((full[slot] ** 2).sum(-1).numpy() + 1e-8).mean()
    assert first_absent["pes_code"] == pytest.approx(energy_db, abs=1e-6)

    table = slizovskaia_table(rows).set_index(["system", "instrument"])
    assert np.isfinite(table.loc[("model", names[0]), ["SDR", "SIR", "SAR"]].astype(float)).all()
    bassoon = table.loc[("model", "bassoon")]  # never in the cache: absent from both excerpts
    assert bassoon["absent"] == 2 and np.isfinite(bassoon["PES"]) and bassoon["excerpts"] == 0
    both = model[model["source"] == "bassoon"]["pes_code"]
    assert bassoon["PES (code) n"] == 2 and bassoon["PES (code)"] == pytest.approx(both.mean())
    sizes = solos_table(rows)
    assert set(sizes["condition"]) <= {"2 sources", "3 sources", "4 sources"}


def test_label_multiply_gives_silent_estimates_the_pes_floor(instrument_cache):
    torch.manual_seed(0)
    model = build({"name": "cunet", "preset": "tiny", "context": "labels",
                   "conditioning": "label_multiply"}).eval()
    dataset = make_dataset("instruments", instrument_cache, model.spec, "test",
                           **model_dataset_options(model, {}))
    rows = evaluate(model, dataset, wiener=0, ablations=False, max_items=1)
    absent = rows[(rows["system"] == "model") & ~rows["present"]]
    np.testing.assert_allclose(absent["pes"], -80.0, atol=1e-9)  # 10 log10(1e-8)
    mixture = rows[(rows["system"] == "mixture") & ~rows["present"]]
    assert (mixture["pes"] > -80.0).all()  # the mixture leaks into every silent slot
    # the paper's code skips all-zero estimates: label-multiply's silent slots have no PES there
    assert absent["pes_code"].isna().all() and len(absent) > 0
    assert mixture["pes_code"].notna().all()
    table = slizovskaia_table(rows).set_index("system")
    assert (table.loc["model", "PES (code) n"] == 0).all()
    assert table.loc["model", "PES (code)"].isna().all()


def test_swaminathan_table_is_the_length_weighted_mean():
    rows = pd.DataFrame({
        "system": ["model"] * 3, "source": ["vocals"] * 3, "present": [True] * 3,
        "nsdr": [2.0, 4.0, 10.0], "sir_clip": [1.0, 1.0, 5.0], "sar_clip": [0.0, 8.0, 0.0],
        "seconds": [1.0, 3.0, 4.0]})
    table = swaminathan_table(rows).iloc[0]
    assert table["GNSDR"] == pytest.approx((2 * 1 + 4 * 3 + 10 * 4) / 8)
    assert table["GSIR"] == pytest.approx((1 + 3 + 20) / 8)
    assert table["GSAR"] == pytest.approx(24 / 8)
    assert table["clips"] == 3 and table["seconds"] == pytest.approx(8.0)


def test_singing_rows_carry_nsdr_over_the_mixture(tiny_cache):
    torch.manual_seed(0)
    model = build({"name": "mmdensenet", "preset": "tiny"}).eval()
    dataset = make_dataset("singing", tiny_cache, model.spec, "test",
                           **model_dataset_options(model, {"test_seconds": 1.5}))
    rows = evaluate(model, dataset, wiener=0, ablations=False)
    mixture = rows[rows["system"] == "mixture"]
    np.testing.assert_allclose(mixture["nsdr"], 0.0, atol=1e-9)
    oracle = rows[rows["system"] == "oracle_irm"].reset_index()
    base = mixture.reset_index()
    np.testing.assert_allclose(oracle["nsdr"], oracle["sdr_clip"] - base["sdr_clip"], atol=1e-9)
    assert (oracle["nsdr"] > 3.0).all()
    table = swaminathan_table(rows)
    gnsdr = table.set_index(["system", "source"])["GNSDR"]
    assert gnsdr[("oracle_irm", "vocals")] == pytest.approx(
        oracle[oracle["source"] == "vocals"]["nsdr"].mean())  # equal lengths: plain mean


def _video(streams: int, present: int, frames: int = 4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    video = torch.randint(40, 200, (streams, frames, 3, 16, 16), generator=gen,
                          dtype=torch.uint8)
    video[present:] = 0
    return video


@pytest.mark.parametrize("kind", ["video_constant", "video_noise", "video_mismatched"])
def test_ablations_replace_present_streams_only(kind):
    item = {"mixture": torch.zeros(1, 10), "video": _video(3, 2)}
    other = {"video": _video(3, 1).flip(-1)}
    new = ablate(item, kind, other, torch.Generator().manual_seed(0))["video"]
    assert torch.equal(new[2], torch.zeros_like(new[2]))  # the absent slot stays absent
    assert present_streams(new).tolist() == [True, True, False]
    assert not torch.equal(new[:2], item["video"][:2])
    if kind == "video_noise":  # uniform over each stream's own pixel range
        for v in range(2):
            assert new[v].min() >= item["video"][v].min()
            assert new[v].max() <= item["video"][v].max()
    if kind == "video_constant":
        assert new[0].unique().numel() == 1
        assert abs(int(new[0].flatten()[0]) - item["video"][0].float().mean()) <= 0.5
    if kind == "video_mismatched":  # the other item's present stream, in both present slots
        assert torch.equal(new[0], other["video"][0]) and torch.equal(new[1], other["video"][0])


def test_white_noise_star_replaces_the_visual_embedding_of_present_streams():
    from avsep.models.frontends import build_frontend

    torch.manual_seed(0)
    frontend = build_frontend("conv2d_lstm", in_channels=3, dim=8).eval()
    video = _video(2, 1, frames=6)[None]  # (1, V=2, T, 3, H, W), stream 1 absent
    genuine = frontend(video)
    with feature_noise(frontend, torch.Generator().manual_seed(0)):
        noisy = frontend(video)
    assert noisy.shape == genuine.shape == (1, 2, 6, 8)
    assert torch.equal(noisy[:, 1], genuine[:, 1])  # absent stream untouched
    assert not torch.allclose(noisy[:, 0], genuine[:, 0])
    assert noisy[:, 0].min() >= genuine[:, 0].min() - 1e-6  # same range as the embedding
    assert noisy[:, 0].max() <= genuine[:, 0].max() + 1e-6
    assert frontend(video).equal(genuine)  # the hook is gone afterwards
    # successive frames are independent draws: white, not a constant offset
    assert noisy[0, 0].std(dim=0).min() > 0


def test_sound_of_pixels_separates_large_ensembles_in_stream_groups():
    torch.manual_seed(0)
    model = build({"name": "sop", "preset": "tiny", "num_sources": 2}).eval()
    spec = model.spec
    gen = torch.Generator().manual_seed(0)
    item = {"mixture": 0.1 * torch.randn(1, spec.clip_samples, generator=gen),
            "video": torch.zeros(4, spec.frames_per_clip, 3, *spec.crop, dtype=torch.uint8)}
    item["video"][:3] = torch.randint(1, 255, (3, spec.frames_per_clip, 3, *spec.crop),
                                      generator=gen, dtype=torch.uint8)
    out = separate_long(model, item, wiener=0)
    assert out.shape == (4, 1, spec.clip_samples)
    assert out[3].abs().max() == 0  # absent stream: silent estimate
    pair = separate_long(model, {**item, "video": item["video"][[2, 0]]}, wiener=0)
    # a source's estimate depends on its own stream only, whatever group it is separated in
    torch.testing.assert_close(out[2], pair[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out[0], pair[1], atol=1e-5, rtol=1e-4)
