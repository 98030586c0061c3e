"""`avsep separate FILE [FILE ...]`: the serving inference path, locally, without a server.

Like demucs and open-unmix: several files in one call, stems written to
``<out>/<track stem>/<source>.wav`` with ``<out>`` by default ``separated/<model name>`` (the
registered model's name, else the package's model name), the model's name and version printed
before separating, a progress bar over each file's chunks (stderr), and one line per notice
(:mod:`avsep.serve.engine`: a crop not as trained, the rule above the model's band).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from avsep.serve.backends import BACKEND_CHOICES, BACKEND_HELP
from avsep.serve.precision import PRECISION_CHOICES, PRECISION_HELP

HELP = "separate audio (or video) files locally with a trained model, without a server"
DEFAULT_ROOT = Path("separated")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE",
                        help="wav / flac / ogg / mp3, or mp4 / mkv with sound (several at once)")
    parser.add_argument("--model", default="models:/avsep-av_singing@champion",
                        help="models:/NAME@alias, runs:/RUN_ID/model or a model package folder "
                             "(default: %(default)s)")
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the sqlite "
                             "store in $AVSEP_HOME)")
    parser.add_argument("--video", type=Path, action="append", default=[],
                        help="video for audio-visual models (repeat for several streams; one "
                             "FILE only); default: each FILE's own video track. A boxes sidecar "
                             "<video stem>.boxes.json beside a video gives its crop boxes")
    parser.add_argument("--labels", default=None,
                        help="instrument labels, e.g. violin,flute: a label-conditioned model is "
                             "told which instruments play, and only their stems are written")
    parser.add_argument("--wiener-iterations", type=int, default=None, metavar="N",
                        help="Wiener EM iterations after the masks; overrides the default, the "
                             "count the model was validated at (recorded in its package)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                        help=PRECISION_HELP)
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto",
                        help=BACKEND_HELP)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for <track stem>/<source>.wav (default: "
                             "separated/<model name>)")


def _videos(separator: Any, file: Path, data: bytes, extra: list[Path]) -> list[Any]:
    """The video inputs of ``file`` for an audio-visual model: the --video files, else the
    file's own video track, each with the boxes sidecar beside it; [] when there is none."""
    from avsep.data.preprocess import read_sidecar, sidecar_path
    from avsep.serve.engine import VideoInput
    from avsep.serve.upload import open_upload_video, own_video_track

    if not separator.needs_video:
        return []
    if extra:
        return [VideoInput(open_upload_video(p.read_bytes(), p.name), read_sidecar(
            sidecar_path(p))) for p in extra]
    own = own_video_track(data)
    return [VideoInput(own, read_sidecar(sidecar_path(file)))] if own is not None else []


def _separate_file(separator: Any, file: Path, args: argparse.Namespace) -> tuple[dict, int,
                                                                                   list[str]]:
    """One file -> (stems at its rate, its rate, notices), with a progress bar over chunks."""
    from tqdm import tqdm

    from avsep.serve.engine import Request, parse_labels
    from avsep.serve.errors import BadRequest
    from avsep.serve.limits import Limits
    from avsep.serve.upload import decode_audio

    if not file.is_file():
        raise BadRequest(400, f"{file}: no such file")
    data = file.read_bytes()
    audio, rate = decode_audio(data, Limits().max_duration_s * 100)
    request = Request(audio=audio, rate=rate, videos=_videos(separator, file, data, args.video),
                      labels=parse_labels(args.labels), wiener_iterations=args.wiener_iterations)
    jobs = separator.make_jobs(request)
    outputs: list = []
    step = 8
    with tqdm(total=len(jobs.items), desc=file.name, unit="chunk", file=sys.stderr,
              leave=False) as bar:
        for first in range(0, len(jobs.items), step):
            part = jobs.items[first:first + step]
            outputs += separator.run(part, jobs.wiener_iterations, step)
            bar.update(len(part))
    return separator.assemble(outputs, jobs), rate, jobs.notices


def run(args: argparse.Namespace) -> int:
    from avsep.serve.engine import Separator, write_stems
    from avsep.serve.errors import BadRequest
    from avsep.tracking.store import resolve_tracking_uri

    stems_of = [f.stem for f in args.files]
    if len(set(stems_of)) < len(stems_of):
        print("avsep separate: two FILEs share a name, so their stems would share a folder; "
              "separate them in two calls with different --out", file=sys.stderr)
        return 2
    if args.video and len(args.files) > 1:
        print("avsep separate: --video goes with one FILE; separate the files one at a time",
              file=sys.stderr)
        return 2
    try:
        separator = Separator.from_uri(str(args.model),
                                       tracking_uri=resolve_tracking_uri(args.mlflow_uri),
                                       backend=args.backend, precision=args.precision)
    except (ValueError, FileNotFoundError) as err:
        print(f"avsep separate: {err}", file=sys.stderr)
        return 2
    wiener = separator.wiener_iterations if args.wiener_iterations is None \
        else args.wiener_iterations
    version = separator.payload.get("version")
    print(f"avsep separate: model {separator.name}"
          + (f" version {version}" if version else "")
          + f" ({args.model}), Wiener iterations {wiener}, precision {separator.precision}",
          file=sys.stderr, flush=True)
    out_root = args.out or DEFAULT_ROOT / separator.name
    failed = 0
    for file in args.files:
        try:
            stems, rate, notices = _separate_file(separator, file, args)
        except (BadRequest, ValueError, FileNotFoundError) as err:
            print(f"avsep separate: {file}: {err}", file=sys.stderr)
            failed += 1
            continue
        for notice in notices:
            print(f"avsep separate: {file.name}: notice: {notice}", file=sys.stderr)
        for path in write_stems(stems, rate, out_root / file.stem):
            print(path)
    return 2 if failed else 0
