"""Load test of `avsep serve`: real-time factors (HTTP and engine alone), latency, throughput.

For each zoo model (``--zoo-models``, paper size, untrained: the weights do not change the
cost of a forward pass) it reports

* ``engine_<backend>_<precision>``: the real-time factor (processing time / audio duration)
  of ``Separator.separate`` on the upload's decoded audio, no HTTP, with ``--threads``
  threads: torch fp32, torch bf16 (autocast), ONNX Runtime blocks fp32;
* ``batching_on`` / ``batching_off``: two Ray Serve applications on 127.0.0.1 side by side
  (routes ``/on`` and ``/off``, one replica each with ``--threads`` threads, ``--backend``;
  the off replica runs the cap the on replica calibrated, so the two differ only in the
  batcher): the real-time factor of one request through HTTP (median of ``--single`` a mode,
  alternating), then at 1, 4 and 16 concurrent clients ``--bursts`` bursts a mode in ABBA order
  (on/off, off/on, ...), each level's figures the medians over its bursts: wall time,
  requests/s, p50/p99 latency, the replica's CPU-seconds per request
  (``replica_cpu_s_per_request``: the replica process and all its threads, from a cpuacct
  cgroup when one can be made, else ``/proc/PID/stat``), the load average before and after;
* ``gain``: batching-on over batching-off throughput at each concurrency level (the medians),
  ``gain_paired``: the median over a level's bursts of each burst's ratio to the other mode's
  burst beside it in the ABBA order (a drift of the machine's speed over a level cancels),
  ``cpu_ratio``: batching-on over batching-off CPU-seconds per request, and
  ``same_code_path``: whether both replicas took the direct path (a calibrated cap of one chunk
  per call leaves the batcher nothing to merge, so ``avsep serve`` bypasses it, and a request of
  at least the cap's chunks skips the batcher's queue: then the gain is ~1 by construction and
  its spread is the noise of the bursts),
* ``side_by_side`` (``--side-by-side K``): K rounds a level with both modes loaded at once,
  ``clients`` clients each, each mode timed to its ``--requests``-th completion while the
  other keeps its load on; ``gain`` is off's time over on's, the median of the rounds. Both
  modes see the same machine at the same moments, so the drift between bursts (up to 2x a few
  seconds apart on this box) cancels; sharing the cores, the ratio is that of their work per
  request (goal line ``batching_never_below_0.95x_side_by_side``),

and open-unmix's separator at UMX-HQ size (4 targets, 1 Wiener iteration, random weights,
44.1 kHz stereo) on the same audio with the same threads: once at the start, and once after
each round of one-request figures (``openunmix_same_window``, which the goal line
``http_over_openunmix_same_window`` divides by): the shared test machine's speed drifts by
tens of percent within minutes (2026-12-06: the same in-process MMDenseNet call took 0.56 s
at 13:49 and 0.97 s at 13:58, nothing else running), so only a reference taken beside a
figure compares. Every figure is measured ``--repeats`` times (the machine may be shared);
each repeat is kept in the JSON. Goals (issue #13): batching never slower, >= 1.5x unbatched
at 16 clients, >= 10x real time (factor <= 0.1) through HTTP; issue #21: HTTP real-time factor
MMDenseNet <= 0.12, Y-Net <= 0.6, batching never below 0.95x unbatched.

The served model runs at ``--precision`` (default ``auto``, the serving default: bf16 on a CPU
with native bf16). An audio-visual model gets what a user with the song's video sends: the
singer's video as ``avsep synth`` renders it (112x112, H.264) with its boxes sidecar, as the
quick start's ``curl`` does (``--no-sidecar``: without it, so the face detector runs on every
request); the crop method and the crop's cost with and without the sidecar are printed. At the
end, per model: the real-time factor unbatched / batched at each client count (wall time of
the level over the audio served), the batch ratio, precision, crop method, open-unmix's figure
and ``uptime`` at start and end.

    .venv/bin/python benchmarks/serve_load.py [--zoo-models mmdensenet,cunet,ynet]
        [--seconds 5] [--requests 16] [--repeats 2] [--precision auto]
        [--engine torch:fp32,torch:bf16,onnxruntime:fp32,openvino:bf16,auto:auto]
        [--no-sidecar]

The final set of issues #13/#21 in under 8 minutes on a quiet 2-core machine (all three models,
one repeat, the serving default engine only, 3 bursts a mode at each level; ``--budget`` gives
a level fewer bursts when the model's share of its seconds would be passed):

    .venv/bin/python benchmarks/serve_load.py --final
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from _common import save

from avsep.serve.backends import BACKEND_CHOICES

UPLOAD_RATE = 44100


def make_audio(seconds: float, rate: int = UPLOAD_RATE) -> np.ndarray:
    """A stereo test signal (2, L) float32: two tones and a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    return np.stack([left, right]).astype(np.float32)


def wav_bytes(audio: np.ndarray, rate: int = UPLOAD_RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def singer_video(seconds: float, fps: float) -> tuple[bytes, bytes]:
    """The video a user has of the song, as the quick start's test songs come: a singer
    rendered as ``avsep synth`` renders the corpus (a face whose mouth moves, 112x112 at
    ``fps``, H.264) and its boxes sidecar (JSON bytes, the ``boxes`` upload field)."""
    import json

    import av

    from avsep.data.synth.faces import random_face, render_singer

    rng = np.random.default_rng(2)
    count = int(np.ceil(seconds * fps)) + 1
    openness = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * np.arange(count) / fps)
    frames, mouths = render_singer(random_face(rng), openness.astype(np.float32), rng, fps)
    sidecar = json.dumps({"fps": fps, "boxes": {"vocals": np.round(mouths.astype(np.float64), 2)
                                                          .tolist()}})
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue(), sidecar.encode()


def video_input(video: bytes, sidecar: bytes | None):
    """An engine :class:`~avsep.serve.engine.VideoInput` of an upload's video and sidecar."""
    from avsep.data.preprocess import parse_sidecar
    from avsep.data.video import open_video
    from avsep.serve.engine import VideoInput

    return VideoInput(open_video(video, name="clip.mp4"),
                      parse_sidecar(sidecar, "boxes") if sidecar else None)


def crop_figures(folder: str, video: bytes, sidecar: bytes | None) -> dict:
    """How serving crops the upload for the model packaged in ``folder`` (the crop chain's
    method: ``boxes``, ``detector``, ``centre``...) and what the crop costs a request, with the
    sidecar sent and without it (the face detector's path), wall seconds in this process."""
    from avsep.serve.engine import Separator

    separator = Separator.from_uri(folder)
    separator.video_frames(video_input(video, sidecar))  # warm-up: first-call imports
    out = {}
    for key, given in (("sent", sidecar), ("without_sidecar", None)):
        start = time.perf_counter()
        _, how = separator.video_frames(video_input(video, given))
        out[key] = {"crop_method": how, "crop_s": time.perf_counter() - start}
    return out


def package_fresh_model(name: str, preset: str) -> tuple[str, object]:
    """A model package folder for an untrained zoo model; (folder, model)."""
    from avsep.models import build
    from avsep.models.package import save_model_package

    config = {"name": name, "preset": preset}
    model = build(config)
    folder = Path(tempfile.mkdtemp(prefix="avsep-bench-model-"))
    save_model_package(model, config, folder)
    return str(folder), model


def timed(function, rounds: int) -> float:
    """Median wall time of ``rounds`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_factor(model, audio: np.ndarray, videos: list, seconds: float, precision: str,
                  backend: str, rounds: int = 2) -> float:
    """Real-time factor of ``Separator.separate`` (no HTTP) on ``audio`` at UPLOAD_RATE."""
    import copy

    from avsep.serve.engine import Request, Separator

    separator = Separator(copy.deepcopy(model), precision=precision, backend=backend)
    request = Request(audio=audio, rate=UPLOAD_RATE, videos=videos)
    return timed(lambda: separator.separate(request), rounds) / seconds


def openunmix_runner(audio: np.ndarray):
    """A call that separates ``audio`` with open-unmix's Separator at UMX-HQ size (4 targets,
    1 Wiener iteration, random weights), or None when openunmix is not installed."""
    try:
        import torch
        from openunmix.model import OpenUnmix, Separator
    except ImportError:
        return None
    targets = {name: OpenUnmix(nb_bins=2049, nb_channels=2, hidden_size=512, nb_layers=3,
                               max_bin=1487) for name in ("vocals", "drums", "bass", "other")}
    separator = Separator(targets, niter=1, sample_rate=44100.0, n_fft=4096, n_hop=1024,
                          nb_channels=2).eval()
    mix = torch.from_numpy(audio)[None]

    def run() -> None:
        with torch.inference_mode():
            separator(mix)

    return run


def loadavg() -> float:
    """The 1-minute load average (the machine may be shared)."""
    return round(os.getloadavg()[0], 2)


class ReplicaCpu:
    """CPU-seconds used so far by the replica process (all its threads): a fresh cpuacct
    cgroup holding it when one can be made (root, cgroup v1), else ``/proc/PID/stat``."""

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self, pid: int):
        self.pid = pid
        self.group: Path | None = self.ROOT / f"avsep-serve-load-{os.getpid()}-{pid}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(str(pid))
            self.source = "cpuacct cgroup"
        except OSError:
            self.group, self.source = None, "/proc/PID/stat"

    def seconds(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """Move the replica back to the root group and remove the cgroup (when one was made)."""
        if self.group is None:
            return
        try:
            (self.ROOT / "cgroup.procs").write_text(str(self.pid))
        except OSError:
            pass  # the replica has exited
        self.group.rmdir()


async def one_request(client: httpx.AsyncClient, url: str, files: dict) -> float:
    start = time.perf_counter()
    response = await client.post(url, files=files)
    response.raise_for_status()
    return time.perf_counter() - start


async def load(url: str, files: dict, clients: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            latencies.append(await one_request(client, url, files))

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=1800) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"clients": clients, "requests": requests, "wall_s": wall,
            "p50_s": statistics.median(ordered),
            "p99_s": ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))],
            "requests_per_s": requests / wall}


MODES = ("on", "off")  # batching on / off: two applications side by side, bursts alternate


async def side_by_side(urls: dict[str, str], files: dict, clients: int,
                       requests: int) -> dict[str, float]:
    """Both modes loaded at once, ``clients`` clients each, until each has completed
    ``requests`` requests -> {mode: seconds to its ``requests``-th completion}.

    The mode that gets there first keeps sending, so the other is measured under the same load
    to its end: both see the same machine at the same moments (this box's speed drifts by up to
    2x between bursts a few seconds apart, which ABBA bursts cannot cancel within a level), and
    sharing the cores fairly, the ratio of the two times is the ratio of their work per request.
    """
    done: dict[str, list[float]] = {mode: [] for mode in MODES}
    start = time.perf_counter()

    async def worker(client: httpx.AsyncClient, mode: str) -> None:
        while min(len(times) for times in done.values()) < requests:
            await one_request(client, f"{urls[mode]}/separate", files)
            done[mode].append(time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=1800) as client:
        await asyncio.gather(*(worker(client, mode) for mode in MODES for _ in range(clients)))
    return {mode: sorted(times)[requests - 1] for mode, times in done.items()}


def info(base: str) -> dict:
    return httpx.get(f"{base}/info", timeout=60).json()["runtime"]


def deploy_pair(folder: str, args) -> dict[str, str]:
    """Both modes as two applications (routes ``/on``, ``/off``), one replica each with
    ``--threads`` threads; only one computes at a time, so they never share the cores.

    The batching-on replica calibrates its cap (chunks per model call) as ``avsep serve`` does;
    the batching-off one is given that cap instead of calibrating its own, so the two differ
    only in the batcher (a second calibration can land on another cap by noise). Returns
    {mode: base URL}."""
    from ray import serve

    from avsep.serve.app import build_app
    from avsep.serve.launch import app_args

    half = max(1.0, (os.cpu_count() or 1) / 2)  # Ray's bookkeeping; threads are set apart
    config = app_args(folder, None, "1", 0.0, {}, True, args.max_batch_size,
                      cpus_per_replica=half, threads_per_replica=args.threads,
                      precision=args.precision, backend=args.backend)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    base = f"http://127.0.0.1:{args.port}"
    serve.run(build_app(config), name="bench-on", route_prefix="/on")
    cap = info(f"{base}/on")["max_chunks_per_call"]
    serve.run(build_app({**config, "batching": False, "calibrate_batch": False,
                         "max_batch_size": cap}), name="bench-off", route_prefix="/off")
    return {mode: f"{base}/{mode}" for mode in MODES}


def order(index: int) -> tuple[str, ...]:
    """ABBA: on/off, off/on, on/off, ... so a load that drifts favours neither mode."""
    return MODES if index % 2 == 0 else MODES[::-1]


def serve_figures(folder: str, files: dict, args, models_left: int = 1,
                  umx_run=None) -> dict:
    """Batching on and off side by side: the real-time factor of one request (``--single``
    requests a mode, alternating, each round followed by one open-unmix call in this
    process when ``umx_run`` is given: a reference taken in the same minutes, since this
    shared machine's speed drifts by tens of percent within minutes), then at each
    concurrency level ``--bursts`` bursts a mode, alternating ABBA; a level's figures are the
    medians over its bursts.

    With ``--budget``, a level gets fewer bursts (at least one a mode) when its estimated time
    (its requests one after another at the one-request latency, both modes) with the levels
    left would end past this model's share of the budget."""
    from ray import serve

    urls = deploy_pair(folder, args)
    cpus: dict[str, ReplicaCpu] = {}
    try:
        runtimes = {mode: info(url) for mode, url in urls.items()}
        cpus = {mode: ReplicaCpu(rt["pid"]) for mode, rt in runtimes.items()}
        for mode in MODES:  # warm-up (ONNX export, first-call allocations)
            asyncio.run(load(f"{urls[mode]}/separate", files, 1, 1))
        single: dict[str, list[float]] = {mode: [] for mode in MODES}
        reference: list[float] = []  # open-unmix in this process, between the requests
        for i in range(args.single):
            for mode in order(i):
                single[mode].append(asyncio.run(load(f"{urls[mode]}/separate", files, 1, 1))
                                    ["p50_s"])
            if umx_run is not None:
                reference.append(timed(umx_run, 1) / args.seconds)
        figures = {mode: {"real_time_factor": statistics.median(single[mode]) / args.seconds,
                          "single_latencies_s": single[mode], "replica": runtimes[mode],
                          "cpu_source": cpus[mode].source, "levels": []} for mode in MODES}
        if reference:
            figures["openunmix_same_window"] = {
                "real_time_factor": statistics.median(reference), "each": reference}
        latency = max(statistics.median(v) for v in single.values())
        share = (args.deadline - time.perf_counter()) / max(1, models_left)
        model_end = time.perf_counter() + share
        for index, clients in enumerate(args.levels):
            requests = max(args.requests, clients)
            left = sum(max(args.requests, c) for c in args.levels[index:])
            fits = (model_end - time.perf_counter()) / (2 * latency * left)
            bursts = max(1, min(args.bursts, int(min(fits, args.bursts))))
            if bursts < args.bursts:
                print(f"  --budget: {bursts} burst(s) a mode at {clients} clients (not "
                      f"{args.bursts})", flush=True)
            runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
            for burst in range(bursts):
                for mode in order(burst):
                    before, load_before = cpus[mode].seconds(), loadavg()
                    level = asyncio.run(load(f"{urls[mode]}/separate", files, clients, requests))
                    level["replica_cpu_s_per_request"] = (cpus[mode].seconds() - before) / requests
                    level["loadavg_before_after"] = [load_before, loadavg()]
                    runs[mode].append(level)
            for mode in MODES:
                bursts_of = runs[mode]
                wall = statistics.median(b["wall_s"] for b in bursts_of)
                calls = info(urls[mode]).get("batcher_calls")
                figures[mode]["levels"].append({
                    "clients": clients, "requests": requests, "bursts": len(bursts_of),
                    "wall_s": wall, "wall_s_each": [b["wall_s"] for b in bursts_of],
                    "requests_per_s": requests / wall,
                    # processing time per second of audio served at this level (all clients)
                    "real_time_factor": wall / (requests * args.seconds),
                    "p50_s": statistics.median(b["p50_s"] for b in bursts_of),
                    "p99_s": statistics.median(b["p99_s"] for b in bursts_of),
                    "replica_cpu_s_per_request": statistics.median(
                        b["replica_cpu_s_per_request"] for b in bursts_of),
                    "loadavg_before_after": [bursts_of[0]["loadavg_before_after"][0],
                                             bursts_of[-1]["loadavg_before_after"][1]],
                    "mean_chunks_per_batcher_call": calls and calls["mean_chunks"],
                    # the replica's count so far: requests that could share no call
                    "direct_requests_so_far": calls and calls.get("direct_requests")})
            on, off = (figures[mode]["levels"][-1] for mode in MODES)
            each = [round(b / a, 3) for a, b in zip(on["wall_s_each"], off["wall_s_each"],
                                                     strict=True)]
            print(f"  clients={clients:2d} ({len(runs['on'])} bursts a mode, medians)  "
                  f"real-time factor on {on['real_time_factor']:.3f} off "
                  f"{off['real_time_factor']:.3f}  ratio {off['wall_s'] / on['wall_s']:.3f} "
                  f"(bursts: {each})"
                  f"  CPU-s/request on {on['replica_cpu_s_per_request']:.3f} off "
                  f"{off['replica_cpu_s_per_request']:.3f}  load {on['loadavg_before_after']}",
                  flush=True)
        figures["side_by_side"] = side_by_side_levels(urls, files, args, cpus)
    finally:
        for cpu in cpus.values():
            cpu.close()
        for mode in MODES:
            serve.delete(f"bench-{mode}")
    return figures


def side_by_side_levels(urls: dict[str, str], files: dict, args,
                        cpus: dict[str, ReplicaCpu]) -> list[dict]:
    """``--side-by-side`` rounds at each level (:func:`side_by_side`): per level the time of
    each mode to its ``requests``-th completion per round, and the on-over-off throughput ratio
    (off's time over on's), its median over the rounds."""
    levels = []
    for clients in args.levels if args.side_by_side else []:
        requests = max(args.requests, clients)
        rounds = []
        for _ in range(args.side_by_side):
            before = {mode: cpus[mode].seconds() for mode in MODES}
            load_before = loadavg()
            times = asyncio.run(side_by_side(urls, files, clients, requests))
            rounds.append({"seconds": times, "gain": times["off"] / times["on"],
                           "replica_cpu_s": {mode: cpus[mode].seconds() - before[mode]
                                             for mode in MODES},
                           "loadavg_before_after": [load_before, loadavg()]})
        gain = statistics.median(r["gain"] for r in rounds)
        levels.append({"clients": clients, "requests": requests, "rounds": rounds,
                       "gain": gain})
        print(f"  side by side, clients={clients:2d} each ({requests} requests a mode, "
              f"{len(rounds)} rounds): on/off throughput {gain:.3f} (rounds: "
              f"{[round(r['gain'], 3) for r in rounds]})", flush=True)
    return levels


ENGINE_CHOICES = ("torch:fp32", "torch:bf16", "onnxruntime:fp32", "openvino:bf16", "auto:fp32",
                  "auto:auto")
RTF_GOALS = {"mmdensenet": 0.12, "ynet": 0.6, "cunet": 0.1}  # issue #21 item 2 (cunet: #13)


def measure_model(name: str, args, audio: np.ndarray, models_left: int = 1,
                  umx_run=None) -> dict:
    """Engine and HTTP figures of one untrained zoo model (``umx_run``: open-unmix's call, timed
    beside its requests); its package folder is removed after."""
    folder, model = package_fresh_model(name, args.preset)
    try:
        return measure_package(name, folder, model, args, audio, models_left, umx_run)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_package(name: str, folder: str, model, args, audio: np.ndarray,
                    models_left: int = 1, umx_run=None) -> dict:
    spec = model.spec
    files = {"audio": ("clip.wav", wav_bytes(audio), "audio/wav")}
    videos = []
    result: dict = {"repeats": [], "crop_method": None}
    if "video" in model.inputs:
        video, sidecar = singer_video(args.seconds, spec.fps)
        sidecar = None if args.no_sidecar else sidecar
        files["video"] = ("clip.mp4", video, "video/mp4")
        if sidecar:
            files["boxes"] = ("clip.boxes.json", sidecar, "application/json")
        videos = [video_input(video, sidecar)]
        result["video"] = "the song's singer video as avsep synth renders it (112x112, " \
                          f"{spec.fps:g} fps, H.264), " + \
                          ("no boxes sidecar" if args.no_sidecar else "with its boxes sidecar")
        result["crop"] = crop_figures(folder, video, sidecar)
        result["crop_method"] = result["crop"]["sent"]["crop_method"]
        print(f"{name}: video {result['video']}; crop method {result['crop_method']}; crop "
              f"{result['crop']['sent']['crop_s']:.2f} s a request, without the sidecar "
              f"({result['crop']['without_sidecar']['crop_method']}) "
              f"{result['crop']['without_sidecar']['crop_s']:.2f} s", flush=True)
    for repeat in range(args.repeats):
        figures: dict = {"loadavg_start": loadavg()}
        for choice in args.engine:
            backend, precision = choice.split(":")
            figures[f"engine_{backend}_{precision}"] = engine_factor(
                model, audio, videos, args.seconds, precision, backend, args.engine_rounds)
        print(f"{name} repeat {repeat + 1}: engine real-time factors "
              f"{ {k: round(v, 3) for k, v in figures.items()} }", flush=True)
        both = serve_figures(folder, files, args, models_left, umx_run)
        figures["batching_on"], figures["batching_off"] = both["on"], both["off"]
        figures["openunmix_same_window"] = both.get("openunmix_same_window")
        figures["side_by_side"] = both["side_by_side"]
        on, off = figures["batching_on"], figures["batching_off"]
        pairs = list(zip(on["levels"], off["levels"], strict=True))
        # on over off throughput: the medians of each level's bursts
        figures["gain"] = {str(a["clients"]): a["requests_per_s"] / b["requests_per_s"]
                           for a, b in pairs}
        # the same, paired: each burst against the other mode's burst next to it in time (ABBA),
        # the median of those ratios; a drift of the machine's speed over the level cancels
        figures["gain_paired"] = {
            str(a["clients"]): statistics.median(
                b_wall / a_wall for a_wall, b_wall in zip(a["wall_s_each"], b["wall_s_each"],
                                                          strict=True)) for a, b in pairs}
        figures["cpu_ratio"] = {str(a["clients"]): a["replica_cpu_s_per_request"]
                                / b["replica_cpu_s_per_request"] for a, b in pairs}
        # a cap of one chunk per call (no batcher), or every request of the run too large to
        # share a call (the batcher ran none itself): batching on took the direct path, as off
        on_direct = not on["replica"]["batching"] or all(
            level["mean_chunks_per_batcher_call"] is None for level in on["levels"])
        figures["same_code_path"] = on_direct and not off["replica"]["batching"] \
            and on["replica"]["max_chunks_per_call"] == off["replica"]["max_chunks_per_call"]
        print(f"{name} repeat {repeat + 1}: HTTP real-time factor on {on['real_time_factor']:.3f}"
              f" off {off['real_time_factor']:.3f}; batching gain "
              f"{ {k: round(v, 2) for k, v in figures['gain'].items()} } (paired "
              f"{ {k: round(v, 2) for k, v in figures['gain_paired'].items()} }); CPU on/off "
              f"{ {k: round(v, 2) for k, v in figures['cpu_ratio'].items()} }; same code path "
              f"{figures['same_code_path']}", flush=True)
        result["repeats"].append(figures)
    runs = result["repeats"]
    measured = [r for r in runs if r["gain"]]  # a --budget may have skipped every level
    goal = RTF_GOALS.get(name)
    result["goals"] = {
        "batching_never_slower": all(min(r["gain"].values()) >= 1.0 for r in measured)
        if measured else None,
        "batching_never_below_0.95x": all(min(r["gain"].values()) >= 0.95 for r in measured)
        if measured else None,
        f"http_real_time_factor_met (<= {goal})": goal and all(
            r["batching_on"]["real_time_factor"] <= goal for r in runs),
        "batching_never_below_0.95x_paired": all(
            min(r["gain_paired"].values()) >= 0.95 for r in measured) if measured else None,
        # both modes loaded at once (--side-by-side): the machine's drift hits both alike
        "batching_never_below_0.95x_side_by_side": all(
            min(level["gain"] for level in r["side_by_side"]) >= 0.95
            for r in runs) if all(r["side_by_side"] for r in runs) else None,
        "gain_side_by_side": [{str(level["clients"]): level["gain"]
                               for level in r["side_by_side"]} for r in runs],
        "gain_paired": [r["gain_paired"] for r in runs],
        "cpu_ratio_on_over_off": [r["cpu_ratio"] for r in runs],
        "same_code_path_on_and_off": [r["same_code_path"] for r in runs],
        "gain_at_16_clients": [r["gain"].get("16") for r in runs],
        "gain_at_16_clients_met (>= 1.5)": all(r["gain"].get("16", 0) >= 1.5 for r in runs),
        "http_real_time_factor": [r["batching_on"]["real_time_factor"] for r in runs],
        # the same request's figure over open-unmix's, both taken in the same minutes
        "http_over_openunmix_same_window": [
            r["batching_on"]["real_time_factor"] / r["openunmix_same_window"]["real_time_factor"]
            for r in runs if r.get("openunmix_same_window")],
        "ten_x_real_time_met (<= 0.1)": all(r["batching_on"]["real_time_factor"] <= 0.1
                                            for r in runs),
    }
    return result


def uptime() -> str:
    """``uptime``'s line (the load averages over 1, 5 and 15 minutes)."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def summary(name: str, result: dict, umx: list) -> str:
    """One model's figures of the last repeat in a few lines: real-time factor unbatched /
    batched at each client count, the batch ratio, precision, crop method, open-unmix's."""
    last = result["repeats"][-1]
    on, off = last["batching_on"], last["batching_off"]
    replica = on["replica"]
    levels = {lv["clients"]: lv for lv in off["levels"]}
    rows = [f"{c:2d} clients: {levels[c]['real_time_factor']:.3f} / {lv['real_time_factor']:.3f}"
            f" (batch ratio {last['gain'][str(c)]:.2f}, paired "
            f"{last['gain_paired'][str(c)]:.2f})"
            for lv in on["levels"] for c in [lv["clients"]] if c in levels]
    umx_text = ", ".join(f"{v:.3f}" for v in umx if v is not None) or "not measured"
    beside = last.get("openunmix_same_window")
    if beside:
        umx_text += (f" at the start, {beside['real_time_factor']:.3f} between this model's "
                     f"requests (batched / open-unmix "
                     f"{on['real_time_factor'] / beside['real_time_factor']:.2f}x)")
    return (f"{name}: precision {replica['precision']} (backend {replica['backend']}, "
            f"{replica['torch_threads']} threads, batching {replica['batching']}, cap "
            f"{replica.get('max_chunks_per_call')} chunks); crop method "
            f"{result['crop_method'] or 'none (audio only)'}"
            + (f" ({result['video']}; without the sidecar the detector's crop takes "
               f"{result['crop']['without_sidecar']['crop_s']:.2f} s a request)"
               if result.get("crop") else "") + "\n"
            f"  HTTP real-time factor of one request: unbatched {off['real_time_factor']:.3f}, "
            f"batched {on['real_time_factor']:.3f}; open-unmix UMX-HQ engine: "
            f"{umx_text}\n  real-time factor unbatched / batched (throughput):\n    "
            + "\n    ".join(rows)
            + ("\n  side by side, on/off throughput: " + ", ".join(
                f"{level['clients']} clients {level['gain']:.3f}"
                for level in last["side_by_side"]) if last.get("side_by_side") else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-models", default="mmdensenet,cunet,ynet")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each upload")
    parser.add_argument("--requests", type=int, default=16,
                        help="requests per concurrency level (at least one per client)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default 0: every core)")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="of the served model (avsep serve --precision; default auto)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto",
                        help="of the served model (avsep serve --backend; default auto)")
    parser.add_argument("--levels", default="1,4,16", help="concurrent clients, comma-separated")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", default="serve_load", help="results/<out>.json")
    parser.add_argument("--engine", default=",".join(ENGINE_CHOICES[:3]),
                        help=f"engine-only figures, backend:precision among {ENGINE_CHOICES}")
    parser.add_argument("--engine-rounds", type=int, default=2,
                        help="timed engine calls per figure (median; after one warm-up)")
    parser.add_argument("--single", type=int, default=3,
                        help="one-client requests for the HTTP real-time factor (median)")
    parser.add_argument("--openunmix", type=int, default=1, help="0: skip open-unmix's figure")
    parser.add_argument("--no-sidecar", action="store_true",
                        help="AV models: upload the video without its boxes sidecar (the crop "
                             "chain then runs the face detector on every request)")
    parser.add_argument("--bursts", type=int, default=3,
                        help="bursts a mode at each concurrency level, on/off alternating ABBA "
                             "(the level's figures are their medians)")
    parser.add_argument("--side-by-side", type=int, default=0,
                        help="rounds a level with both modes loaded at once, each to its "
                             "--requests-th completion (0: none); the throughput ratio is "
                             "then free of the machine's drift between bursts")
    parser.add_argument("--budget", type=float, default=0.0,
                        help="seconds for all models; a level gets fewer bursts (>= 1) when "
                             "the model's share would be passed (0: no limit)")
    parser.add_argument("--final", action="store_true",
                        help="the issue's final set in <= 8 min on a quiet 2-core machine: "
                             "--zoo-models cunet,mmdensenet,ynet --repeats 1 --levels 1,4,16 "
                             "--requests 4 (a burst: 4 requests one after another at 1 client, "
                             "one per client above) --engine auto:auto --engine-rounds 1 "
                             "--single 3 --bursts 3 --openunmix 1 --budget 420 "
                             "--out serve_load_final")
    args = parser.parse_args()
    if args.final:
        args.zoo_models, args.repeats, args.levels, args.requests = \
            "cunet,mmdensenet,ynet", 1, "1,4,16", 4
        args.engine, args.engine_rounds, args.single, args.budget, args.out = \
            "auto:auto", 1, 3, 420.0, "serve_load_final"
        args.openunmix, args.bursts = 1, 3
    args.engine = [e.strip() for e in args.engine.split(",") if e.strip()]
    bad = [e for e in args.engine if e not in ENGINE_CHOICES]
    if bad:
        parser.error(f"--engine {bad}: choose among {', '.join(ENGINE_CHOICES)}")
    if args.bursts < 1 or args.single < 1:
        parser.error(f"--bursts ({args.bursts}) and --single ({args.single}) must be >= 1")
    args.deadline = time.perf_counter() + (args.budget or float("inf"))

    import ray
    import torch

    args.threads = args.threads or os.cpu_count() or 1
    args.levels = [int(c) for c in args.levels.split(",")]
    torch.set_num_threads(args.threads)
    audio = make_audio(args.seconds)
    figures: dict[str, object] = {
        "upload": f"{args.seconds:g} s stereo float WAV at {UPLOAD_RATE} Hz",
        "threads": args.threads, "precision": args.precision, "backend": args.backend,
        "max_batch_size": args.max_batch_size}
    figures["loadavg_start"] = loadavg()
    # one open-unmix separator for the whole run: at the start, then beside each model
    umx_run = openunmix_runner(audio) if args.openunmix else None
    umx = [None if umx_run is None else timed(umx_run, args.engine_rounds) / args.seconds
           for _ in range(args.repeats if args.openunmix else 0)]
    figures["openunmix_umxhq_engine_real_time_factor"] = umx
    print(f"open-unmix (UMX-HQ size, 1 Wiener iteration) real-time factor: {umx}", flush=True)
    figures["uptime_start"] = uptime()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    started = time.perf_counter()
    try:
        names = args.zoo_models.split(",")
        for index, name in enumerate(names):
            figures[name] = measure_model(name, args, audio, len(names) - index, umx_run)
            figures["loadavg_end"] = loadavg()
            figures["uptime_end"] = uptime()
            save(args.out, figures)  # after every model: a long run keeps what it measured
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    print(f"\n=== {args.seconds:g} s stereo upload, {args.threads} threads, "
          f"{time.perf_counter() - started:.0f} s of serving measurements ===")
    for name in args.zoo_models.split(","):
        print(summary(name, figures[name], umx))
        print(f"  goals: {figures[name]['goals']}")
    print(f"uptime at start: {figures['uptime_start']}\nuptime at end:   {figures['uptime_end']}")


if __name__ == "__main__":
    main()
