"""The inference path shared by ``avsep serve`` and ``avsep separate``.

A :class:`Separator` wraps one trained zoo model. ``make_jobs`` turns a decoded request into
fixed-length chunk items (the model's batch-item contract, docs/contracts.md), ``run`` pushes
any list of items — from one request or many — through the model in one batch, and
``assemble`` cross-fades the chunk outputs back into full-length stems at the input's rate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

from avsep.audio.chunking import ChunkPlan, merge, split
from avsep.data.records import URMP_INSTRUMENTS
from avsep.data.video import LUMA
from avsep.serve.accelerate import BACKENDS, use_onnxruntime
from avsep.serve.errors import BadRequest

SUPPORTED_INPUTS = {"mixture", "video", "labels"}
PRECISIONS = ("fp32", "bf16")


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


@functools.lru_cache(maxsize=8)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(orig, new, dtype=torch.float32)


def resample(audio: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """``torchaudio.functional.resample`` of float32 (..., L) audio, the same numbers, with the
    sinc kernel built once per rate pair: building it was 0.15 s of a 5 s upload's 0.23 s of
    resampling (44.1 -> 32 kHz and back, measured)."""
    return _resampler(int(orig), int(new))(audio)


@dataclass
class Request:
    """A decoded request: audio (C, L) float32 at ``rate``, optional videos (T, H, W, 3) uint8."""

    audio: np.ndarray
    rate: int
    videos: list[np.ndarray] = field(default_factory=list)
    labels: list[str] | None = None
    wiener_iterations: int = 0


@dataclass
class Jobs:
    """The chunk items of one request and what ``assemble`` needs to put them back."""

    items: list[dict[str, torch.Tensor]]
    plan: ChunkPlan
    channels: int  # channels of the input audio
    per_channel: bool  # a mono model run once per input channel
    rate: int
    length: int
    names: tuple[str, ...]  # the stems to return (all sources, or the labelled ones)


def parse_labels(text: str | list[str] | None) -> list[str] | None:
    """'violin, flute' or ['violin', 'flute'] -> checked URMP instrument names."""
    if text is None or text == "" or text == []:
        return None
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in URMP_INSTRUMENTS]
    if unknown:
        raise BadRequest(
            400, f"unknown label(s) {unknown}; valid labels: {', '.join(URMP_INSTRUMENTS)}"
        )
    return names


class Separator:
    """Chunked, batched inference for one separation model of the zoo."""

    def __init__(self, model: torch.nn.Module, payload: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", overlap: float = 0.25,
                 precision: str = "fp32", backend: str = "torch"):
        if getattr(model, "task", "separation") != "separation":
            raise ValueError(f"{type(model).__name__} is a {model.task!r} model, not a separator")
        unsupported = set(model.inputs) - SUPPORTED_INPUTS
        if unsupported:
            raise ValueError(
                f"{type(model).__name__} needs inputs {sorted(unsupported)} that a request cannot "
                f"provide (supported: {sorted(SUPPORTED_INPUTS)})"
            )
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r} "
                             "(avsep serve --precision)")
        if backend not in BACKENDS + ("auto",):
            raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {backend!r} "
                             "(avsep serve --backend)")
        self.precision = precision
        self.model = model.to(device).eval()
        self.payload = payload or {}
        self.device = torch.device(device)
        if backend == "auto":  # ONNX Runtime for the CPU blocks it runs, when installed
            backend = "onnxruntime" if self.device.type == "cpu" and _has_onnxruntime() \
                else "torch"
        self.backend = backend
        # blocks ONNX Runtime runs (0: the whole network runs in torch)
        self.onnx_blocks = (use_onnxruntime(self.model, torch.get_num_threads())
                            if backend == "onnxruntime" else 0)
        self.overlap = overlap
        self.spec = model.spec
        self.rate = model.spec.stft.sample_rate

    @classmethod
    def from_uri(cls, uri: str, tracking_uri: str | None = None, **kwargs: Any) -> Separator:
        """Load ``uri`` (see :mod:`avsep.serve.loading`); ``kwargs`` go to the constructor."""
        from avsep.serve.loading import load_model

        model, payload = load_model(uri, tracking_uri=tracking_uri)
        payload.setdefault("uri", uri)
        return cls(model, payload, **kwargs)

    # ----------------------------------------------------------------------------- describe
    @property
    def needs_video(self) -> bool:
        return "video" in self.model.inputs

    @property
    def needs_labels(self) -> bool:
        return "labels" in self.model.inputs

    def stem_names(self, labels: list[str] | None) -> tuple[str, ...]:
        """The stems a request gets: every source, or exactly the labelled ones (in label order).

        A label that names no source of this model is a 400 that lists the model's stems.
        """
        sources = tuple(self.model.source_names)
        if not labels:
            return sources
        unknown = [name for name in labels if name not in sources]
        if unknown:
            raise BadRequest(400, f"`labels` {unknown} name no stem of this model (its stems: "
                                  f"{', '.join(sources)}); send labels among those stems, or no "
                                  "`labels` field to get every stem")
        return tuple(dict.fromkeys(labels))

    def info(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "model": self.payload.get("model", {}).get("name", type(self.model).__name__),
            "uri": self.payload.get("uri"),
            "version": self.payload.get("version"),
            "sources": list(self.model.source_names),
            "inputs": list(self.model.inputs),
            "sample_rate": self.rate,
            "clip_seconds": spec.clip_seconds,
            "video": {"fps": spec.fps, "frames_per_clip": spec.frames_per_clip,
                      "crop": list(spec.crop) if spec.crop else None,
                      "channels": spec.video_channels} if self.needs_video else None,
            "labels": list(URMP_INSTRUMENTS) if self.needs_labels else None,
            "metrics": self.payload.get("metrics", {}),
        }

    # ----------------------------------------------------------------------------- request -> items
    def _video_stream(self, frames: np.ndarray, seconds: float) -> torch.Tensor:
        """(T, H, W, 3) uint8 at spec.fps -> (T, Cv, h, w) uint8 at the model's crop size."""
        needed = int(np.ceil(seconds * self.spec.fps - 1e-6))
        if frames.shape[0] + 1 < needed:  # one frame of slack for rounding
            raise BadRequest(
                400, f"the video is shorter than the audio: {frames.shape[0]} frames at "
                     f"{self.spec.fps:g} fps, the audio needs {needed}"
            )
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        if self.spec.video_channels == 1:
            weights = torch.from_numpy(LUMA).view(1, 3, 1, 1)
            video = (video * weights).sum(1, keepdim=True)
        if self.spec.crop:
            video = F.interpolate(video, size=tuple(self.spec.crop), mode="bilinear",
                                  align_corners=False, antialias=True)
        return video.round().clamp(0, 255).to(torch.uint8)

    def _video_chunks(self, streams: list[torch.Tensor], plan: ChunkPlan) -> torch.Tensor:
        """Frames of each chunk: (n_chunks, V, frames_per_clip, Cv, h, w)."""
        per_clip = self.spec.frames_per_clip
        out = []
        for start in plan.starts:
            first = int(round(start / self.rate * self.spec.fps))
            index = torch.arange(first, first + per_clip)
            out.append(torch.stack([s[index.clamp(max=s.shape[0] - 1)] for s in streams]))
        return torch.stack(out)

    def make_jobs(self, request: Request) -> Jobs:
        audio = torch.from_numpy(np.ascontiguousarray(request.audio, dtype=np.float32))
        if audio.ndim != 2:
            raise BadRequest(400, f"audio must be (channels, samples), got {tuple(audio.shape)}")
        names = self.stem_names(request.labels)
        if request.rate != self.rate:
            audio = resample(audio, request.rate, self.rate)
        channels, length = audio.shape
        model_channels = self.spec.channels
        if model_channels > 1 and channels not in (1, model_channels):
            raise BadRequest(400, f"this model separates {model_channels}-channel audio; got "
                                  f"{channels} channels (send mono or {model_channels} channels)")
        per_channel = model_channels == 1 and channels > 1
        if model_channels == 2 and channels == 1:
            audio = audio.expand(2, -1)
        plan = ChunkPlan.for_length(length, self.spec.clip_samples, self.overlap)
        pieces = split(audio, plan)  # (n, C, chunk)
        shared: dict[str, torch.Tensor] = {}
        video_chunks = None
        if self.needs_video:
            if not request.videos:
                raise BadRequest(400, "this model is audio-visual: send a `video` file (or an "
                                      "audio upload with its own video track)")
            wanted = int(self.spec.extra.get("video_streams", 1))
            padded = self.model.data_kind == "instruments"  # all-zero streams = absent sources
            if len(request.videos) > wanted or (len(request.videos) < wanted and not padded):
                raise BadRequest(400, f"this model needs {wanted} video stream(s) (one `video` "
                                      f"field each), got {len(request.videos)}")
            streams = [self._video_stream(v, length / self.rate) for v in request.videos]
            streams += [torch.zeros_like(streams[0])] * (wanted - len(streams))
            video_chunks = self._video_chunks(streams, plan)
        if self.needs_labels:
            if not request.labels:
                raise BadRequest(400, "this model is label-conditioned: send `labels`, e.g. "
                                      "'violin,flute'")
            vector = torch.zeros(len(URMP_INSTRUMENTS))
            for name in request.labels:
                vector[URMP_INSTRUMENTS.index(name)] = 1.0
            shared["labels"] = vector
        items = []
        for i in range(len(plan.starts)):
            extra = dict(shared)
            if video_chunks is not None:
                extra["video"] = video_chunks[i]
            mixes = pieces[i].unsqueeze(1) if per_channel else pieces[i].unsqueeze(0)
            for mix in mixes:  # (C_model, chunk)
                items.append({"mixture": mix, **extra})
        return Jobs(items=items, plan=plan, channels=channels, per_channel=per_channel,
                    rate=request.rate, length=request.audio.shape[-1], names=names)

    # ----------------------------------------------------------------------------- run + assemble
    @torch.inference_mode()
    def run(self, items: list[dict[str, torch.Tensor]], wiener_iterations: int = 0,
            max_batch: int = 16) -> list[torch.Tensor]:
        """Separate chunk items in batches -> one (S, C_model, chunk) tensor per item.

        With ``precision="bf16"`` the network runs under bf16 autocast (STFT, masking, Wiener
        and iSTFT stay float32: ``SeparationModel`` computes them in float32).
        """
        outputs: list[torch.Tensor] = []
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.precision == "bf16")
        for first in range(0, len(items), max_batch):
            group = items[first:first + max_batch]
            batch = {k: torch.stack([it[k] for it in group]).to(self.device) for k in group[0]}
            with autocast:
                estimates = self.model.separate(batch, wiener_iterations=wiener_iterations)
            outputs.extend(estimates.float().cpu().unbind(0))
        return outputs

    def assemble(self, outputs: list[torch.Tensor], jobs: Jobs) -> dict[str, np.ndarray]:
        """Chunk outputs -> {stem name: (C, L) float32} at the request's rate and length.

        Only ``jobs.names`` are merged and resampled (a labelled request gets its stems only).
        """
        index = [self.model.source_names.index(name) for name in jobs.names]
        stacked = torch.stack(outputs)[:, index]  # (n * k, S_selected, Cm, chunk)
        n = len(jobs.plan.starts)
        if jobs.per_channel:
            stacked = stacked.view(n, jobs.channels, *stacked.shape[1:]).squeeze(3)
            stacked = stacked.permute(0, 2, 1, 3)  # (n, S, C, chunk)
        elif jobs.channels == 1 and stacked.shape[2] == 2:
            stacked = stacked.mean(2, keepdim=True)
        stems = merge(stacked, jobs.plan)  # (S, C, L_model)
        if jobs.rate != self.rate:
            stems = resample(stems, self.rate, jobs.rate)
        stems = F.pad(stems, (0, max(0, jobs.length - stems.shape[-1])))[..., : jobs.length]
        return dict(zip(jobs.names, stems.numpy().astype(np.float32), strict=True))

    def separate(self, request: Request) -> dict[str, np.ndarray]:
        """The whole local path: request -> {stem name: (C, L) float32} (labelled stems only)."""
        jobs = self.make_jobs(request)
        return self.assemble(self.run(jobs.items, request.wiener_iterations), jobs)


def write_stems(stems: dict[str, np.ndarray], rate: int, out_dir: Path) -> list[Path]:
    """Write each (C, L) stem as ``<out_dir>/<name>.wav`` (float32 WAV); returns the paths."""
    import soundfile as sf

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, audio in stems.items():
        path = out_dir / f"{name}.wav"
        sf.write(path, audio.T, rate, subtype="FLOAT")
        paths.append(path)
    return paths
