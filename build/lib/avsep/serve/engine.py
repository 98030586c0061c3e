"""The inference path shared by ``avsep serve`` and ``avsep separate``.

A :class:`Separator` wraps one trained zoo model. ``make_jobs`` turns a decoded request into
fixed-length chunk items (the model's batch-item contract, docs/contracts.md), ``run`` pushes
any list of items — from one request or many — through the model in one batch, and
``assemble`` cross-fades the chunk outputs back into full-length stems at the input's rate.

Model input is made by :mod:`avsep.data.preprocess`, the functions ``avsep prepare`` made the
training cache with, at the parameters the package recorded (``preprocessing``): audio through
the same resampler; a video through the same crop chain (the boxes sidecar when one comes with
it, else the face detector for singers, else the centre) at the cache's fps, crop and channels,
then to the model's frames exactly as the training loader converts cached frames
(:func:`avsep.data.datasets.frames.to_model_frames`, ``cache_frame_index``). A crop that cannot
be made as the model was trained (e.g. no face found) adds a one-line notice.

Above the model's band (half its sample rate) a model separates nothing. Rule: the mixture's
residual above the band (the input minus the input taken to the model's rate and back) is added
to the ``accompaniment`` stem, so the stems still sum to the mixture; a model without an
``accompaniment`` stem (instrument models) returns no stem with it. Either way a one-line
notice says so when the input's rate is above the model's.

The Wiener iteration count a request does not set is the one the model was validated at
(package key ``wiener_iterations``; 0 for packages without it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avsep.audio.chunking import ChunkPlan, merge, split
from avsep.data.datasets.frames import cache_frame_index, to_model_frames
from avsep.data.preprocess import (
    Preprocessing,
    Subject,
    audio_front_end,
    crop_video,
    resample,
)
from avsep.data.records import URMP_INSTRUMENTS, DataError
from avsep.data.video import open_video
from avsep.serve.accelerate import compile_blocks, installed, openvino_would_report
from avsep.serve.backends import BACKENDS
from avsep.serve.errors import BadRequest
from avsep.serve.precision import (  # noqa: F401 - PRECISIONS etc. are this module's API too
    PRECISION_CHOICES,
    PRECISIONS,
    cpu_supports_bf16,
    resolve_precision,
)

SUPPORTED_INPUTS = {"mixture", "video", "labels"}


def auto_backend(device: torch.device, precision: str) -> str:
    """``--backend auto`` of ``avsep separate`` and of a model loaded in-process: on CPU in fp32,
    ONNX Runtime for the blocks it runs when installed (measured faster than torch fp32,
    docs/serve.md); else torch. OpenVINO is not chosen here: a test process that had run it
    in-process crashed twice when it later started Ray itself (docs/serve.md), and such a
    process may be a Ray driver. A Serve replica chooses by :func:`serving_backend`."""
    if device.type != "cpu" or precision != "fp32":
        return "torch"
    return "onnxruntime" if installed("onnxruntime") else "torch"


def serving_backend(device: torch.device, precision: str) -> str:
    """``avsep serve --backend auto``, resolved in the replica: OpenVINO for a network that runs
    in bf16 on the CPU when it is installed without its telemetry package (as
    ``scripts/setup.sh`` installs it; 1.7x faster than torch's bf16 for MMDenseNet's bands,
    3.9x for Y-Net's video trunk, docs/serve.md), else :func:`auto_backend`'s choice. A
    replica is a Ray worker that loads its model after Ray is up and never starts Ray itself,
    unlike the processes where OpenVINO crashed; checking the package does not import it."""
    if (device.type == "cpu" and precision == "bf16" and installed("openvino")
            and not openvino_would_report()):
        return "openvino"
    return auto_backend(device, precision)


@dataclass
class VideoInput:
    """A user's video for one stream: an opened source (:func:`avsep.data.video.open_video`:
    a file, an upload's bytes or a frame array) and its boxes sidecar (parsed, or None)."""

    video: Any
    sidecar: dict[str, Any] | None = None


@dataclass
class Request:
    """A decoded request: audio (C, L) float32 at ``rate``; videos, each a :class:`VideoInput`
    or a uint8 frame array (T, H, W, 3) at the model's fps; ``wiener_iterations`` None: the
    package's validated count."""

    audio: np.ndarray
    rate: int
    videos: list[VideoInput | np.ndarray] = field(default_factory=list)
    labels: list[str] | None = None
    wiener_iterations: int | None = None


@dataclass
class Separation:
    """A separated request: {stem: (C, L) float32} at the input's rate, and one-line notices."""

    stems: dict[str, np.ndarray]
    notices: list[str]


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
    wiener_iterations: int = 0
    above: np.ndarray | None = None  # (C, length) the mixture above the model's band
    notices: list[str] = field(default_factory=list)


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
        if backend not in BACKENDS + ("auto",):
            raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {backend!r} "
                             "(avsep serve --backend)")
        self.asked_precision = precision
        self.precision = resolve_precision(precision, device)
        self.model = model.to(device).eval()
        self.payload = payload or {}
        self.device = torch.device(device)
        backend = auto_backend(self.device, self.precision) if backend == "auto" else backend
        # blocks the backend's runtime runs (0: the whole network runs in torch)
        self.compiled_blocks = compile_blocks(self.model, backend, torch.get_num_threads(),
                                              self.precision)
        self.backend = backend if self.compiled_blocks else "torch"  # what runs the network
        self.overlap = overlap
        self.spec = model.spec
        self.rate = model.spec.stft.sample_rate
        spec = self.spec
        recorded = self.payload.get("preprocessing")
        # packages saved without a cache: the model's own contract, crop methods unknown
        self.preprocessing = Preprocessing.from_json(recorded) if recorded else Preprocessing(
            sample_rate=self.rate, fps=spec.fps, crop=tuple(spec.crop) if spec.crop else None,
            video_channels=spec.video_channels)
        self.wiener_iterations = int(self.payload.get("wiener_iterations", 0))

    @classmethod
    def from_uri(cls, uri: str, tracking_uri: str | None = None, **kwargs: Any) -> Separator:
        """Load ``uri`` (see :mod:`avsep.tracking.loading`); ``kwargs`` go to the constructor."""
        from avsep.tracking.loading import load_model

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

    @property
    def name(self) -> str:
        """The registered model's name (``models:/NAME@alias`` or ``/VERSION``), else the
        package's model name."""
        uri = str(self.payload.get("uri") or "")
        if uri.startswith("models:/"):
            return uri[len("models:/"):].split("@", 1)[0].split("/", 1)[0]
        return str(self.payload.get("model", {}).get("name", type(self.model).__name__))

    def above_band_rule(self) -> str:
        """What happens to an input above the model's band (the module docstring's rule)."""
        band = f"the model separates up to {self.rate / 2:g} Hz (half its {self.rate} Hz rate)"
        if "accompaniment" in self.model.source_names:
            return f"{band}; the mixture above that band is added to `accompaniment`, so the " \
                   "stems still sum to the mixture"
        return f"{band}; the mixture above that band is in no stem (this model has no " \
               "accompaniment stem)"

    def precision_info(self) -> dict[str, Any]:
        """The precision the network runs in, what was asked (``--precision``) and why."""
        if self.asked_precision != "auto":
            why = f"--precision {self.asked_precision}"
        elif self.precision == "bf16":
            why = "auto: this CPU has native bf16 (AVX512-BF16 or AMX); --precision fp32 for " \
                  "full precision"
        else:
            why = "auto: bf16 only on a CPU with native bf16 (AVX512-BF16 or AMX)"
        return {"running": self.precision, "asked": self.asked_precision,
                "cpu_bf16": cpu_supports_bf16(), "why": why}

    def info(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "model": self.payload.get("model", {}).get("name", type(self.model).__name__),
            "name": self.name,
            "uri": self.payload.get("uri"),
            "version": self.payload.get("version"),
            "wiener_iterations": self.wiener_iterations,
            "precision": self.precision_info(),
            "above_band": self.above_band_rule(),
            "preprocessing": self.preprocessing.to_json(),
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
    def _subject(self, stream: int, labels: list[str] | None,
                 sidecar: dict[str, Any] | None) -> Subject:
        """Who stream ``stream``'s crop is around: the singer, or the labelled player."""
        if self.model.data_kind == "instruments":
            label = labels[stream] if labels and stream < len(labels) else None
            subject = Subject(name=label or f"player{stream + 1}", role="instrument",
                              instrument=label)
        else:
            subject = Subject(name="vocals", role="vocals")
        named = (sidecar or {}).get("boxes", {})
        if sidecar is not None and subject.name not in named and len(named) == 1:
            subject = Subject(name=next(iter(named)), role=subject.role,
                              instrument=subject.instrument)  # a sidecar of one source
        return subject

    def video_frames(self, video: VideoInput | np.ndarray, stream: int = 0,
                     labels: list[str] | None = None) -> tuple[np.ndarray, str]:
        """The crops of ``video`` as training saw them: uint8 (T, H, W, Cv) at the recorded
        fps, crop and channels (the frames ``avsep prepare`` caches), and the crop method."""
        if isinstance(video, np.ndarray):
            try:
                video = VideoInput(open_video(video, array_fps=float(self.spec.fps or 25.0),
                                              name="video"))
            except DataError as err:
                raise BadRequest(400, err.problem) from err
        subject = self._subject(stream, labels, video.sidecar)
        try:
            return crop_video(video.video, subject, self.preprocessing, video.sidecar)
        except DataError as err:
            raise BadRequest(400, f"{err.path.name}: {err.problem}") from err

    def crop_notice(self, how: str) -> str | None:
        """One line when a crop by ``how`` is not what the model was trained on, else None.

        Any other method counts: the methods place and size the box differently (the synthetic
        corpus's sidecar box is about 1.4x the face detector's mouth box), and a model trained
        on one scale separates badly from another (tests/serve/test_av_end_to_end.py).
        """
        trained = self.preprocessing.crop_from or {}
        if not trained or how in trained:
            return None
        methods = ", ".join(sorted(trained))
        why = {"centre": "no boxes sidecar came with the video and no face was found in it",
               "detector": "no boxes sidecar came with the video",
               "strips": "no boxes sidecar came with the video"}.get(how, "")
        return (f"the video was cropped by {how!r} ({why}), but the model was trained on "
                f"{methods!r} crops, placed and sized differently: expect a worse separation; "
                "send the video's boxes sidecar (<video>.boxes.json beside the file, or the "
                "`boxes` upload field)")

    def _video_stream(self, video: VideoInput | np.ndarray, seconds: float, stream: int,
                      labels: list[str] | None) -> tuple[torch.Tensor, str | None]:
        """A request's video -> model frames (T, Cv, h, w) uint8 at the recorded fps, and a
        notice (or None) on the crop."""
        frames, how = self.video_frames(video, stream, labels)
        fps = float(self.preprocessing.fps or self.spec.fps)
        needed = int(np.ceil(seconds * fps - 1e-6))
        if frames.shape[0] + 1 < needed:  # one frame of slack for rounding
            raise BadRequest(
                400, f"the video is shorter than the audio: {frames.shape[0]} frames at "
                     f"{fps:g} fps, the audio needs {needed}"
            )
        model_frames = to_model_frames(frames, tuple(self.spec.crop) if self.spec.crop else None,
                                       self.spec.video_channels)
        return torch.from_numpy(model_frames), self.crop_notice(how)

    def _video_chunks(self, streams: list[torch.Tensor], plan: ChunkPlan) -> torch.Tensor:
        """Frames of each chunk: (n_chunks, V, frames_per_clip, Cv, h, w), each model frame the
        recorded-fps frame shown at its instant (as the training loader reads the cache)."""
        per_clip = self.spec.frames_per_clip
        fps = float(self.spec.fps)
        cache_fps = float(self.preprocessing.fps or fps)
        out = []
        for start in plan.starts:
            first = int(round(start / self.rate * fps))
            index = torch.from_numpy(cache_frame_index(first, per_clip, fps, cache_fps))
            out.append(torch.stack([s[index.clamp(max=s.shape[0] - 1)] for s in streams]))
        return torch.stack(out)

    def no_video_message(self) -> str:
        """Why a request without video cannot be served, and the audio-only alias to use."""
        uri = str(self.payload.get("uri") or "")
        instead = "an audio-only model (the registry's `@champion-audio` alias)"
        if uri.startswith("models:/") and "@" in uri:
            instead = f"the audio-only champion models:/{self.name}@champion-audio"
        return ("this model is audio-visual: it separates with the video of the singer (or "
                "players) and no video came with the audio; give a video with its sound track, "
                f"or the video beside the audio. For audio alone, use {instead}")

    def make_jobs(self, request: Request) -> Jobs:
        mixture = np.ascontiguousarray(request.audio, dtype=np.float32)
        if mixture.ndim != 2:
            raise BadRequest(400, f"audio must be (channels, samples), got {mixture.shape}")
        names = self.stem_names(request.labels)
        resampled = audio_front_end(mixture, request.rate, self.rate)
        notices, above = [], None
        if request.rate > self.rate:
            low = resample(resampled, self.rate, request.rate)
            low = np.pad(low, ((0, 0), (0, max(0, mixture.shape[-1] - low.shape[-1]))))
            above = mixture - low[:, :mixture.shape[-1]]
            notices.append(self.above_band_rule())
        audio = torch.from_numpy(np.ascontiguousarray(resampled))
        channels, length = audio.shape
        model_channels = self.spec.channels
        if model_channels > 1 and channels not in (1, model_channels):
            raise BadRequest(400, f"this model separates {model_channels}-channel audio; got "
                                  f"{channels} channels (send mono or {model_channels} channels)")
        per_channel = model_channels == 1 and channels > 1
        if model_channels == 2 and channels == 1:
            audio = torch.from_numpy(audio_front_end(resampled, self.rate, self.rate, 2))
        plan = ChunkPlan.for_length(length, self.spec.clip_samples, self.overlap)
        pieces = split(audio, plan)  # (n, C, chunk)
        shared: dict[str, torch.Tensor] = {}
        video_chunks = None
        if self.needs_video:
            if not request.videos:
                raise BadRequest(400, self.no_video_message())
            wanted = int(self.spec.extra.get("video_streams", 1))
            padded = self.model.data_kind == "instruments"  # all-zero streams = absent sources
            if len(request.videos) > wanted or (len(request.videos) < wanted and not padded):
                raise BadRequest(400, f"this model needs {wanted} video stream(s) (one `video` "
                                      f"field each), got {len(request.videos)}")
            made = [self._video_stream(v, length / self.rate, i, request.labels)
                    for i, v in enumerate(request.videos)]
            streams = [stream for stream, _ in made]
            notices += [notice for _, notice in made if notice]
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
        wiener = self.wiener_iterations if request.wiener_iterations is None \
            else int(request.wiener_iterations)
        return Jobs(items=items, plan=plan, channels=channels, per_channel=per_channel,
                    rate=request.rate, length=mixture.shape[-1], names=names,
                    wiener_iterations=wiener, above=above, notices=notices)

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
        shared = None
        if items and "video" in items[0] and hasattr(self.model, "encode_video"):
            with autocast:
                shared = self._shared_features(items, max_batch)
        for first in range(0, len(items), max_batch):
            group = items[first:first + max_batch]
            batch = {k: torch.stack([it[k] for it in group]).to(self.device) for k in group[0]}
            if shared is not None:
                batch["visual_features"] = shared[first:first + max_batch]
            with autocast:
                estimates = self.model.separate(batch, wiener_iterations=wiener_iterations)
            outputs.extend(estimates.float().cpu().unbind(0))
        return outputs

    def _shared_features(self, items: list[dict[str, torch.Tensor]],
                         max_batch: int) -> torch.Tensor:
        """Visual features (N, T, D) of ``items``, the encoder run once per distinct video (in
        batches of ``max_batch`` videos).

        ``make_jobs`` gives every channel of a chunk the same video tensor (a mono model runs
        once per channel), so a stereo upload's items share one encoder pass per chunk, also
        when the model's batch cap puts the two channels in separate calls.
        """
        distinct: dict[int, torch.Tensor] = {}
        for item in items:
            distinct.setdefault(id(item["video"]), item["video"])
        position = {key: i for i, key in enumerate(distinct)}
        videos = list(distinct.values())
        features = torch.cat([
            self.model.encode_video(torch.stack(videos[i:i + max_batch]).to(self.device))
            for i in range(0, len(videos), max_batch)])
        return features[torch.tensor([position[id(item["video"])] for item in items])]

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
        stems = merge(stacked, jobs.plan).numpy()  # (S, C, L_model)
        stems = resample(np.ascontiguousarray(stems, dtype=np.float32), self.rate, jobs.rate)
        stems = np.pad(stems, ((0, 0), (0, 0), (0, max(0, jobs.length - stems.shape[-1]))))
        out = dict(zip(jobs.names, stems[..., :jobs.length].astype(np.float32), strict=True))
        if jobs.above is not None and "accompaniment" in out:  # the module docstring's rule
            out["accompaniment"] = out["accompaniment"] + jobs.above
        return out

    def separate_request(self, request: Request) -> Separation:
        """The whole local path: request -> stems at the input's rate (labelled stems only) and
        the request's notices."""
        jobs = self.make_jobs(request)
        stems = self.assemble(self.run(jobs.items, jobs.wiener_iterations), jobs)
        return Separation(stems, jobs.notices)

    def separate(self, request: Request) -> dict[str, np.ndarray]:
        """:meth:`separate_request`'s stems: {stem name: (C, L) float32}."""
        return self.separate_request(request).stems


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
