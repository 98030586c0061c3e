"""Conditioned U-Net / Multi-Head U-Net: every conditioning × context × mask combination."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from zoo_helpers import forward_backward, gradient_problems, overfit, tiny_batch  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.cunet import (  # noqa: E402
    COMPATIBLE,
    MASK_TYPES,
    VISUAL_CONTEXTS,
)
from avsep.models.registry import parameter_count  # noqa: E402

PAIRS = [(cond, ctx) for cond, contexts in COMPATIBLE.items() for ctx in contexts]
# The full product runs with `-m slow`; the default run covers every (conditioning, context)
# pair with ratio masks, every mask type with one pair, and three multi-head pairs.
FAST_MASK_PAIR = ("film_bottleneck", "labels")
CUNET_CASES = [
    pytest.param(cond, ctx, mask, marks=() if mask == "ratio" or (cond, ctx) == FAST_MASK_PAIR
                 else pytest.mark.slow)
    for cond, ctx in PAIRS for mask in MASK_TYPES
]
FAST_MHUNET = {("none", "none"), ("film_encoder", "labels"), ("final_multiply", "visual")}
MHUNET_CASES = [pytest.param(cond, ctx, marks=() if (cond, ctx) in FAST_MHUNET
                             else pytest.mark.slow) for cond, ctx in PAIRS]


def _check(model, out: dict, batch: dict) -> None:
    key = "magnitude" if model.mask_type == "direct" else "mask"
    b, k = batch["mixture"].shape[0], len(model.source_names)
    frames = model.spec.stft.num_frames(batch["mixture"].shape[-1])
    assert out[key].shape == (b, k, 1, model.spec.stft.n_bins, frames)
    assert out[key].is_complex() == (model.mask_type == "complex")
    problems = gradient_problems(model)
    if model.context_kind == "visual":
        # one frame per source: the front-end LSTM's recurrent weights never act (h0 = 0)
        zero = [n for n in problems.pop("zero", []) if "lstm.weight_hh" not in n]
        if zero:
            problems["zero"] = zero
    assert problems == {}


@pytest.mark.parametrize(("conditioning", "context", "mask_type"), CUNET_CASES)
def test_cunet_every_conditioning_context_and_mask(conditioning: str, context: str,
                                                   mask_type: str) -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": conditioning,
                   "context": context, "mask_type": mask_type})
    batch = tiny_batch(model)
    _check(model, forward_backward(model, batch), batch)


@pytest.mark.parametrize(("conditioning", "context"), MHUNET_CASES)
def test_mhunet_every_conditioning_and_context(conditioning: str, context: str) -> None:
    model = build({"name": "mhunet", "preset": "tiny", "conditioning": conditioning,
                   "context": context})
    assert len(model.decoders) == 13
    # every instrument sounds somewhere in the batch, so every decoder gets a gradient (with
    # label_multiply an instrument absent from the whole batch leaves its decoder untouched)
    batch = tiny_batch(model, active=13)
    _check(model, forward_backward(model, batch), batch)


@pytest.mark.parametrize("name", ["cunet", pytest.param("mhunet", marks=pytest.mark.slow)])
@pytest.mark.parametrize(("mask_type", "loss"), [(m, None) for m in MASK_TYPES] + [
    ("ratio", "l1"), ("ratio", "si_sdr")])
def test_log_frequency_scale_log_magnitudes_and_losses(name: str, mask_type: str,
                                                       loss: str | None) -> None:
    model = build({"name": name, "preset": "tiny", "mask_type": mask_type, "loss": loss,
                   "frequency_scale": "log", "magnitude_scale": "log"})
    batch = tiny_batch(model, active=13)
    _check(model, forward_backward(model, batch), batch)


@pytest.mark.parametrize("name", ["cunet", "mhunet"])
@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_label_multiply_zeroes_absent_instruments_exactly(name: str, mask_type: str) -> None:
    model = build({"name": name, "preset": "tiny", "conditioning": "label_multiply",
                   "mask_type": mask_type, "frequency_scale": "log"}).eval()
    batch = tiny_batch(model, batch_size=3)
    with torch.no_grad():
        out = model(batch)
    est = out["magnitude" if mask_type == "direct" else "mask"]
    absent = batch["labels"] == 0
    assert absent.any() and (~absent).any()
    assert torch.count_nonzero(est[absent]) == 0
    assert torch.count_nonzero(est[~absent]) > 0
    waves = model.separate(batch)
    assert torch.count_nonzero(waves[absent]) == 0


def test_final_multiply_gives_class_probabilities() -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "final_multiply",
                   "context": "visual_maxpool"}).eval()
    with torch.no_grad():
        out = model(tiny_batch(model))
    probs = out["probabilities"]
    assert probs.shape == (2, 13)
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert (out["mask"] <= probs[:, :, None, None, None] + 1e-7).all()  # sigmoid mask <= 1


def test_absent_video_streams_do_not_reach_the_context() -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "film_bottleneck",
                   "context": "visual_maxpool"}).eval()
    video = tiny_batch(model)["video"].clone()
    video[:, 1:] = 0  # only the first source has a video
    with torch.no_grad():
        context = model.visual(video)
        alone = model.visual.frontend(video[:, :1]).amax(dim=2)[:, 0]
    assert torch.allclose(context, alone.clamp_min(0), atol=1e-6)


@pytest.mark.parametrize(("context", "frames"), [("visual", 1), ("visual_motion", 3),
                                                 ("visual_maxpool", 3), ("labels", None)])
def test_spec_tells_the_data_side_what_to_load(context: str, frames: int | None) -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
                   "context": context})
    assert model.spec.frames_per_clip == frames
    assert ("video" in model.inputs) == (context in VISUAL_CONTEXTS)
    assert ("labels" in model.inputs) == (context == "labels")
    if frames:
        assert model.spec.extra["video_streams"] == 3
        assert model.spec.fps * model.spec.clip_seconds == pytest.approx(frames)


def _closed_form_count(widths: tuple[int, ...], multi_head: bool) -> int:
    """Parameters of the unconditioned U-Net with encoder ``widths``: 4x4 stride-2 convs + BN,
    3x3 decoder convs + BN on the skip concatenations, a 3x3 output conv to 13 masks (one decoder)
    or to 1 mask in each of 13 decoders."""
    chans = [1, *widths]
    encoder = sum(16 * i * o + 2 * o for i, o in zip(chans[:-1], chans[1:], strict=True))
    outs = list(reversed(widths[:-1]))
    ins = [a + b for a, b in zip([widths[-1], *outs[:-1]], outs, strict=True)]
    hidden = sum(9 * i * o + 2 * o for i, o in zip(ins, outs, strict=True))

    def final(out: int) -> int:
        return 9 * widths[0] * out + out

    return encoder + (13 * (hidden + final(1)) if multi_head else hidden + final(13))


def test_paper_spec_and_parameter_counts() -> None:
    with torch.device("meta"):
        model = build({"name": "cunet"})
    spec = model.spec
    assert (spec.stft.sample_rate, spec.stft.n_fft, spec.stft.hop_length) == (11025, 1022, 256)
    assert spec.stft.n_bins == 512 and spec.stft.num_frames(spec.clip_samples) == 256
    paper = (16, 32, 64, 128, 256, 512)
    assert parameter_count("cunet") == _closed_form_count(paper, multi_head=False)
    assert parameter_count("mhunet") == _closed_form_count(paper, multi_head=True)


def test_tiny_presets_single_head_is_wider_without_dropout() -> None:
    """The tiny C-U-Net (one decoder, 13 masks) is 16 -> 128 wide without dropout; the tiny
    MHU-Net keeps 8 -> 64 and dropout 0.2 in each of its 13 decoders (docs/models_extra.md)."""
    single = build({"name": "cunet", "preset": "tiny"})
    multi = build({"name": "mhunet", "preset": "tiny"})
    assert sum(p.numel() for p in single.parameters()) == \
        _closed_form_count((16, 32, 64, 128), multi_head=False) == 320_029
    assert sum(p.numel() for p in multi.parameters()) == \
        _closed_form_count((8, 16, 32, 64), multi_head=True) == 517_525
    def rates(model: torch.nn.Module) -> set[float]:
        return {m.p for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)}

    assert rates(single) == set()
    assert rates(multi) == {0.2}
    # the tiny STFT and clip (hence the caches) are shared by both
    assert single.spec.stft == multi.spec.stft
    assert single.spec.clip_samples == multi.spec.clip_samples


def test_log_frequency_masks_come_back_on_the_linear_grid() -> None:
    model = build({"name": "cunet", "preset": "tiny", "frequency_scale": "log",
                   "conditioning": "label_multiply"}).eval()
    batch = tiny_batch(model)
    with torch.no_grad():
        mask = model(batch)["mask"]
    assert mask.shape[-2] == model.spec.stft.n_bins
    assert mask.min() >= 0 and mask.max() <= 1  # interpolation keeps sigmoid masks in [0, 1]


def test_tiny_cunet_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = build({"name": "cunet", "preset": "tiny"})
    first, last = overfit(model, tiny_batch(model, batch_size=1), steps=60, lr=1e-2)
    assert last < first / 10, (first, last)


@pytest.mark.slow
def test_tiny_mhunet_with_labels_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = build({"name": "mhunet", "preset": "tiny", "conditioning": "film_encoder"})
    first, last = overfit(model, tiny_batch(model, batch_size=1), steps=60, lr=1e-2)
    assert last < first / 10, (first, last)


@pytest.mark.parametrize(("config", "message"), [
    ({"conditioning": "label_multiply", "context": "visual"}, "valid contexts for "
     "'label_multiply': labels"),
    ({"conditioning": "final_multiply", "context": "labels"}, "valid contexts for "
     "'final_multiply': visual, visual_motion, visual_maxpool"),
    ({"conditioning": "film_final", "context": "none"}, "valid contexts"),
    ({"conditioning": "none", "context": "labels"}, "valid contexts for 'none': none"),
    ({"conditioning": "film_bottleneck", "context": "visual", "frontend": "none"},
     "needs a visual front-end"),
    ({"conditioning": "film_bottleneck", "context": "labels", "frontend": "resnet18"},
     "needs a visual context"),
    ({"conditioning": "film_middle"}, "valid choices: none, film_bottleneck"),
    ({"context": "audio"}, "valid choices: none, labels, visual"),
    ({"mask_type": "phase"}, "valid choices: ratio, binary, complex, direct"),
    ({"mask_type": "complex", "mask_activation": "sigmoid"}, "valid choices: tanh"),
    ({"frequency_scale": "mel"}, "valid choices: linear, log"),
    ({"mask_type": "binary", "loss": "l2"}, "valid choices: bce, si_sdr"),
    ({"dropuot": 0.1}, "unknown option"),
])
def test_bad_configs_fail_at_build_time_listing_choices(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build({"name": "cunet", "preset": "tiny", **config})


def test_missing_labels_are_named() -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "label_multiply"})
    batch = tiny_batch(model)
    with pytest.raises(KeyError, match="labels"):
        model({"mixture": batch["mixture"]})
    with pytest.raises(ValueError, match=r"\(B, 13\)"):
        model({**batch, "labels": batch["labels"][:, :5]})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cunet", "mhunet"])
def test_paper_size_forward(name: str) -> None:
    model = build({"name": name, "conditioning": "label_multiply"}).eval()
    batch = tiny_batch(model, batch_size=1)
    with torch.no_grad():
        out = model(batch)
    assert out["mask"].shape == (1, 13, 1, 512, 256)


# ------------------------------------------------------------------ paper-faithful defaults
def _capture(module: torch.nn.Module, store: dict, key: str, pre: bool = False):
    def hook(_m, args, output=None):
        store[key] = (args[0] if pre else output).detach().clone()
    return (module.register_forward_pre_hook(hook) if pre
            else module.register_forward_hook(hook))


def _film_run(model, batch, gamma_shift: float, layer: int) -> dict[str, torch.Tensor]:
    """Forward with γ of FiLM layer ``layer`` shifted by ``gamma_shift``; captures the encoder
    blocks' outputs, every decoder block's output and input, and the final conv's input."""
    store: dict[str, torch.Tensor] = {}
    handles = [_capture(b, store, f"enc{i}") for i, b in enumerate(model.encoder.blocks)]
    handles += [_capture(b.act, store, f"enc{i}.act_in", pre=True)
                for i, b in enumerate(model.encoder.blocks)]
    handles += [_capture(b.norm, store, f"enc{i}.norm") for i, b in enumerate(model.encoder.blocks)]
    decoder = model.decoders[0]
    handles += [_capture(b, store, f"dec{i}") for i, b in enumerate(decoder.blocks)]
    handles.append(_capture(decoder.blocks[0], store, "dec0.in", pre=True))
    handles.append(_capture(decoder.final, store, "final.in", pre=True))
    gen = model.film.layers[layer]
    channels = model.film.channels[layer]
    with torch.no_grad():
        gen.bias[:channels] += gamma_shift
        store["films"] = model.film(batch["labels"].float())
        model(batch)
        gen.bias[:channels] -= gamma_shift
    for h in handles:
        h.remove()
    return store


@pytest.mark.parametrize("conditioning", ["film_encoder", "film_bottleneck", "film_final"])
def test_film_gamma_changes_exactly_the_layer_it_names(conditioning: str) -> None:
    torch.manual_seed(0)
    model = build({"name": "cunet", "preset": "tiny", "conditioning": conditioning,
                   "context": "labels"}).eval()
    batch = tiny_batch(model)
    depth = len(model.encoder.blocks)
    layer = 1 if conditioning == "film_encoder" else 0  # encoder FiLM: the second block
    base = _film_run(model, batch, 0.0, layer)
    moved = _film_run(model, batch, 0.7, layer)
    gamma, beta = moved["films"][layer]
    view = (*gamma.shape, 1, 1)
    if conditioning == "film_encoder":
        for i in range(depth):  # blocks before the modulated one see nothing
            same = torch.equal(base[f"enc{i}"], moved[f"enc{i}"])
            assert same == (i < layer), i
        # the FiLM sits between block 1's norm and its activation: act input = γ·norm + β
        torch.testing.assert_close(moved[f"enc{layer}.act_in"],
                                   gamma.reshape(view) * moved[f"enc{layer}.norm"]
                                   + beta.reshape(view))
        assert torch.equal(base[f"enc{layer}.norm"], moved[f"enc{layer}.norm"])
    elif conditioning == "film_bottleneck":
        for i in range(depth):  # the whole encoder, bottleneck output included, is upstream
            assert torch.equal(base[f"enc{i}"], moved[f"enc{i}"]), i
        z = moved[f"enc{depth - 1}"]
        skip = moved[f"enc{depth - 2}"]
        filmed = model.decoders[0]._up(gamma.reshape(view) * z + beta.reshape(view),
                                       skip.shape[2:])
        torch.testing.assert_close(moved["dec0.in"][:, :z.shape[1]], filmed)
        assert not torch.equal(base["dec0.in"], moved["dec0.in"])
    else:
        for i in range(depth):
            assert torch.equal(base[f"enc{i}"], moved[f"enc{i}"]), i
        for i in range(len(model.decoders[0].blocks)):  # every hidden decoder block upstream
            assert torch.equal(base[f"dec{i}"], moved[f"dec{i}"]), i
        assert (base["final.in"] - moved["final.in"]).abs().max() > 1e-3
        g0, b0 = base["films"][layer]
        unfilmed = (base["final.in"] - b0.reshape(view)) / g0.reshape(view)
        torch.testing.assert_close(moved["final.in"],
                                   gamma.reshape(view) * unfilmed + beta.reshape(view),
                                   rtol=1e-4, atol=1e-4)


def test_ratio_targets_divide_by_the_mixture_magnitude() -> None:
    """Eq. 2: the L2 loss is taken against |S_i| / |Y| (clipped to [0, 1]), not Σ_j |S_j|."""
    from avsep.audio.stft import stft

    model = build({"name": "cunet", "preset": "tiny", "conditioning": "label_multiply"}).eval()
    assert model.loss_options == {"denominator": "mixture"}
    batch = tiny_batch(model)
    with torch.no_grad():
        out = model(batch)
        loss = float(model.loss(batch, out))
    sources = stft(batch["sources"], model.spec.stft).abs()
    mix = stft(batch["mixture"], model.spec.stft).abs().unsqueeze(1)
    target = torch.where(mix > 0, (sources / mix.clamp_min(1e-8)).clamp(0, 1),
                         torch.zeros_like(sources))
    assert loss == pytest.approx(float((out["mask"] - target).pow(2).mean()), rel=1e-5)
    by_sum = sources / sources.sum(1, keepdim=True).clamp_min(1e-8)
    assert abs(loss - float((out["mask"] - by_sum).pow(2).mean())) > 1e-6
    old = build({"name": "cunet", "preset": "tiny", "conditioning": "label_multiply",
                 "mask_denominator": "sources"})
    assert old.loss_options == {"denominator": "sources"}


def test_bce_is_unweighted_with_lambda_as_an_option() -> None:
    model = build({"name": "cunet", "preset": "tiny", "mask_type": "binary"})
    assert model.loss_options == {"pos_weight": 1.0, "weighting": "none",
                                  "denominator": "mixture"}
    tuned = build({"name": "cunet", "preset": "tiny", "mask_type": "binary", "pos_weight": 3.0,
                   "bce_weighting": "log1p"})
    assert tuned.loss_options == {"pos_weight": 3.0, "weighting": "log1p",
                                  "denominator": "mixture"}
    batch = tiny_batch(tuned)
    tuned.load_state_dict(model.state_dict())
    model.eval()
    tuned.eval()
    with torch.no_grad():
        out = model(batch)
        assert float(tuned.loss(batch, out)) != pytest.approx(float(model.loss(batch, out)))
    with pytest.raises(ValueError, match="pos_weight"):
        build({"name": "cunet", "preset": "tiny", "mask_type": "binary", "pos_weight": 0})


def test_db_norm_is_the_solos_minus_one_to_one_scale() -> None:
    model = build({"name": "cunet", "preset": "tiny"})
    mix = model.mixture_stft(tiny_batch(model, batch_size=3))
    x = model.features(mix)
    flat = x.flatten(1)
    assert torch.allclose(flat.min(1).values, torch.full((3,), -1.0))
    assert torch.allclose(flat.max(1).values, torch.full((3,), 1.0))
    z = build({"name": "cunet", "preset": "tiny", "magnitude_scale": "db_zscore"}).features(mix)
    assert torch.allclose(z.flatten(1).mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(z.flatten(1).std(1), torch.ones(3), atol=1e-3)


@pytest.mark.parametrize(("context", "trainable"), [("visual", True), ("visual_motion", False),
                                                    ("visual_maxpool", False)])
def test_multi_frame_contexts_freeze_the_front_end(context: str, trainable: bool) -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
                   "context": context})
    frontend = model.visual.frontend
    assert all(p.requires_grad == trainable for p in frontend.parameters())
    forward_backward(model, tiny_batch(model))
    grads = [p.grad for p in frontend.parameters()]
    if trainable:
        assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    else:
        assert all(g is None for g in grads)
        assert model.visual.lstm is None or model.visual.lstm.weight_ih_l0.grad is not None
    override = build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
                      "context": context, "frontend_trainable": not trainable})
    assert all(p.requires_grad != trainable for p in override.visual.frontend.parameters())


def test_motion_lstm_reads_the_unpooled_front_end_features() -> None:
    """Paper: ResNet-50 features (2048) -> LSTM with 1024 hidden units; the LSTM input is the
    front-end's own width, and only single-frame / max-pooled features are pooled."""
    with torch.device("meta"):
        model = build({"name": "cunet", "conditioning": "film_final", "context": "visual_motion"})
    assert (model.visual.lstm.input_size, model.visual.lstm.hidden_size) == (2048, 1024)
    assert model.visual.dim == 1024
    with torch.device("meta"):
        single = build({"name": "cunet", "conditioning": "film_final", "context": "visual"})
    assert single.visual.lstm is None and single.visual.pool.output_size == 1024
    tiny = build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
                  "context": "visual_motion", "frontend": "resnet18"})
    assert tiny.visual.lstm.input_size == 512 and tiny.visual.dim == 16
    video = tiny_batch(tiny)["video"]
    assert tiny.visual(video).shape == (2, 16)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_visual_weights_come_from_a_local_file(tmp_path: Path, suffix: str) -> None:
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / f"r18{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
                   "context": "visual", "frontend": "resnet18", "frontend_weights": str(path)})
    loaded = model.visual.frontend.net.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key
    with pytest.raises(FileNotFoundError, match="model option frontend_weights"):
        build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
               "context": "visual", "frontend": "resnet18",
               "frontend_weights": str(tmp_path / "missing.pth")})
