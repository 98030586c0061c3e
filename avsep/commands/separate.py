"""`avsep separate FILE`: the serving inference path, locally, without a server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "separate an audio (or video) file locally with a trained model, without a server"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="wav / flac / ogg / mp3, or mp4 / mkv with sound")
    parser.add_argument("--model", default="models:/avsep-av_singing@champion",
                        help="models:/NAME@alias, runs:/RUN_ID/model or a model package folder")
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the sqlite "
                             "store in $AVSEP_HOME)")
    parser.add_argument("--video", type=Path, action="append", default=[],
                        help="video for audio-visual models (repeat for several streams); "
                             "default: the input file's own video track")
    parser.add_argument("--labels", default=None,
                        help="instrument labels, e.g. violin,flute: a label-conditioned model is "
                             "told which instruments play, and only their stems are written")
    parser.add_argument("--wiener-iterations", type=int, default=0)
    parser.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                        help="auto: on CPU, the model's convolutional blocks run in ONNX Runtime "
                             "where they can (MMDenseNet's bands), the rest in torch")
    parser.add_argument("--out", type=Path, required=True, help="folder for <source>.wav stems")


def run(args: argparse.Namespace) -> int:
    from avsep.platform.mlflow_utils import resolve_tracking_uri
    from avsep.serve.engine import Request, Separator, parse_labels, write_stems
    from avsep.serve.errors import BadRequest
    from avsep.serve.limits import Limits
    from avsep.serve.upload import decode_audio, decode_video

    try:
        if not args.file.is_file():
            raise BadRequest(400, f"{args.file}: no such file")
        separator = Separator.from_uri(str(args.model),
                                       tracking_uri=resolve_tracking_uri(args.mlflow_uri),
                                       backend=args.backend)
        data = args.file.read_bytes()
        audio, rate = decode_audio(data, Limits().max_duration_s * 100)
        videos = []
        if separator.needs_video:
            sources = [p.read_bytes() for p in args.video] or [data]
            videos = [decode_video(v, separator.spec.fps) for v in sources]
        request = Request(audio=audio, rate=rate, videos=videos,
                          labels=parse_labels(args.labels),
                          wiener_iterations=args.wiener_iterations)
        stems = separator.separate(request)
    except (BadRequest, ValueError, FileNotFoundError) as err:
        print(f"avsep separate: {err}", file=sys.stderr)
        return 2
    for path in write_stems(stems, rate, args.out):
        print(path)
    return 0
