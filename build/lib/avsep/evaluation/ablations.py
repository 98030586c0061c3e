"""Visual ablations of ``avsep eval`` (Li, Wang & Duan, sec. V-E2, Fig. 10).

An ablation replaces only the visual streams that exist in the excerpt: a stream that is all
zeros is an absent source slot (instrument models) and stays all zeros, so the model still
sees which slots are empty. Video is uint8 (V, T, Cv, H, W) per item.

* ``video_constant`` — every frame of a present stream is the stream's mean grey level. The
  paper feeds "constant zero values"; an all-zero stream means *absent source* to the
  instrument models here (C-U-Net zeroes its context, Sound of Pixels' slot goes silent), so
  the constant is the clip's mean level instead. After the front-end's per-clip
  standardisation both are the same constant input.
* ``video_noise`` ("White-noise") — i.i.d. uniform integer noise over the stream's own pixel
  range ``[min, max]`` (the paper: "white noise normalised to the same range as the videos of
  mouth regions").
* ``white_noise_star`` ("White-noise*", "the white noise is directly fused with the audio
  embedding, replacing the whole visual branch") — the video is left as is, and the output of
  the model's visual front-end (the module fused with the audio embedding: (B, V, T, D)
  per-frame features) is replaced, for present streams, by i.i.d. uniform noise over the
  ``[min, max]`` range of the genuine features of that stream. The paper does not state the
  noise statistics; this follows its White-noise setting (same range as what it replaces).
* ``video_mismatched`` ("Mismatch") — the present streams get the videos of another test
  excerpt (its present streams in order, cycled when it has fewer).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from avsep.evaluation.chunks import present_streams, slice_pad

ABLATIONS = ("video_constant", "video_noise", "white_noise_star", "video_mismatched")


def _uniform_like(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """Uniform noise of ``x``'s shape in [low, high] (broadcast), float64 draws on the CPU."""
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64)
    return (low.double().cpu() + u * (high - low).double().cpu()).to(x.device)


def _replace_streams(video: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """``video`` (V, ...) with the present streams taken from ``new`` (V, ...)."""
    keep = present_streams(video).reshape(-1, *([1] * (video.ndim - 1)))
    return torch.where(keep, new.to(video.dtype), video)


def ablate(item: dict[str, torch.Tensor], kind: str, other: dict[str, torch.Tensor],
           generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A copy of ``item`` with its present video streams replaced as ``kind`` says.

    ``item["video"]`` is uint8 (V, T, Cv, H, W); ``other`` is another test item (for
    ``video_mismatched``). ``white_noise_star`` acts on features: the video is unchanged here
    and :func:`feature_noise` does the replacement.
    """
    if kind not in ABLATIONS:
        raise ValueError(f"unknown ablation {kind!r}; valid choices: {', '.join(ABLATIONS)}")
    video = item["video"]
    if kind == "white_noise_star":
        return dict(item)
    flat = video.flatten(1).float()  # (V, T*Cv*H*W)
    shape = (-1, *([1] * (video.ndim - 1)))
    if kind == "video_constant":
        new = flat.mean(dim=1).round().reshape(shape).expand_as(video)
    elif kind == "video_noise":
        low = flat.amin(dim=1).reshape(shape)
        high = flat.amax(dim=1).reshape(shape)
        new = _uniform_like(video, low, high + 1, generator).floor().clamp(max=255)
    else:
        source = other["video"]
        usable = torch.nonzero(present_streams(source)).flatten().tolist() or [0]
        streams = [source[usable[v % len(usable)]] for v in range(video.shape[0])]
        new = slice_pad(torch.stack(streams), 0, video.shape[1], 1)
    return {**item, "video": _replace_streams(video, new)}


def visual_frontend(model: nn.Module) -> nn.Module:
    """The module whose output is the model's per-frame visual embedding (B, V, T, D)."""
    from avsep.models.frontends import VisualFrontend

    for module in model.modules():
        if isinstance(module, VisualFrontend):
            return module
    raise ValueError(f"{type(model).__name__} has no visual front-end (VisualFrontend) to "
                     "replace; white_noise_star applies to audio-visual models only")


@contextmanager
def feature_noise(model: nn.Module, generator: torch.Generator) -> Iterator[None]:
    """While active, the visual front-end's output of present streams is white noise.

    The front-end maps frames (B, V, T, Cv, H, W) to features (B, V, T, D); each present
    stream's features are replaced by uniform noise over that stream's own [min, max].
    """
    frontend = visual_frontend(model)

    def hook(_module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        frames = args[0]
        present = present_streams(frames)  # (B, V)
        flat = output.flatten(2)
        low = flat.amin(dim=2)[..., None, None]
        high = flat.amax(dim=2)[..., None, None]
        noise = _uniform_like(output, low, high, generator).to(output.dtype)
        return torch.where(present[..., None, None], noise, output)

    handle = frontend.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
