"""The FastAPI app: ``POST /separate``, ``GET /info``, ``GET /healthz``.

The app only parses and checks requests and encodes answers; the model work goes through a
``run_items`` coroutine the caller supplies (the replica's batcher, or a plain model call), and
the per-request work (decode, chunk, cross-fade, encode) runs in the helper threads of
:class:`avsep.serve.lanes.Lanes`, one torch thread each.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import soundfile as sf
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from avsep.serve.engine import Request as SeparationRequest
from avsep.serve.engine import Separator, VideoInput, parse_labels
from avsep.serve.errors import BadRequest
from avsep.serve.lanes import Lanes
from avsep.serve.limits import Limits
from avsep.serve.upload import boxes_sidecar, decode_audio, open_upload_video, own_video_track

FIELDS = ("audio", "video", "boxes", "labels", "wiener_iterations", "format")
NOTICE_HEADER = "X-Avsep-Notice"  # one line: what the answer did not do as the model was trained
RunItems = Callable[[list[dict], int], Awaitable[list]]


def _int_field(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError as err:
        raise BadRequest(400, f"`{name}` must be an integer, got {value!r}") from err
    if not low <= number <= high:
        raise BadRequest(400 if number < low else 413,
                         f"`{name}` must be between {low} and {high}, got {number}")
    return number


async def _read_upload(form_value: Any, name: str, limits: Limits) -> bytes:
    if isinstance(form_value, str) or not hasattr(form_value, "read"):
        raise BadRequest(400, f"`{name}` must be a file upload (multipart/form-data)")
    data = await form_value.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise BadRequest(413, f"`{name}` is larger than the upload limit of "
                              f"{limits.max_upload_bytes} bytes")
    return data


def _text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(400, f"`{name}` must be a text field, not a file")
    return value


def _videos(separator: Separator, limits: Limits, audio_bytes: bytes, video_bytes: list[bytes],
            boxes_bytes: list[bytes]) -> list[VideoInput]:
    """The request's videos (the `video` fields, else the audio upload's own video track), each
    with the `boxes` sidecar of the same position; none for audio-only models."""
    if not separator.needs_video:
        return []
    if len(boxes_bytes) > max(1, len(video_bytes)):
        raise BadRequest(400, f"{len(boxes_bytes)} `boxes` fields for {len(video_bytes)} "
                              "`video` field(s): send one boxes sidecar per video, in order")
    sidecars = [boxes_sidecar(data) for data in boxes_bytes]
    if video_bytes:
        opened = [open_upload_video(data, "video", limits.max_duration_s) for data in video_bytes]
    else:
        own = own_video_track(audio_bytes, limits.max_duration_s)
        opened = [own] if own is not None else []
    sidecars += [None] * (len(opened) - len(sidecars))
    return [VideoInput(video, sidecar) for video, sidecar in zip(opened, sidecars, strict=False)]


def _prepare(separator: Separator, limits: Limits, audio_bytes: bytes,
             video_bytes: list[bytes], boxes_bytes: list[bytes], fields: dict[str, str | None]):
    """Decode and check one request -> (chunk jobs, answer format)."""
    audio, rate = decode_audio(audio_bytes, limits.max_duration_s)
    labels = parse_labels(fields["labels"])
    names = separator.stem_names(labels)
    fmt = fields["format"] or "zip"
    if fmt != "zip" and fmt not in names:
        raise BadRequest(400, f"`format` must be 'zip' or a stem name {list(names)}, "
                              f"got {fmt!r}")
    given = fields["wiener_iterations"]
    wiener = min(separator.wiener_iterations, limits.max_wiener_iterations) if given in (
        None, "") else _int_field(given, "wiener_iterations", 0, limits.max_wiener_iterations)
    videos = _videos(separator, limits, audio_bytes, video_bytes, boxes_bytes)
    request = SeparationRequest(audio=audio, rate=rate, videos=videos, labels=labels,
                                wiener_iterations=wiener)
    return separator.make_jobs(request), fmt


def _answer(separator: Separator, outputs: list, jobs: Any, fmt: str) -> Response:
    response = encode_answer(separator.assemble(outputs, jobs), jobs.rate, fmt)
    if jobs.notices:
        response.headers[NOTICE_HEADER] = "; ".join(jobs.notices)
    return response


def encode_answer(stems: dict[str, np.ndarray], rate: int, fmt: str) -> Response:
    """Stems -> a zip of float WAVs, or the one WAV that ``fmt`` names."""
    if fmt == "zip":
        buffer = io.BytesIO()
        # stored, not deflated: float WAVs hardly compress and deflating them cost more than
        # the model on short uploads
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, audio in stems.items():
                wav = io.BytesIO()
                sf.write(wav, audio.T, rate, format="WAV", subtype="FLOAT")
                archive.writestr(f"{name}.wav", wav.getvalue())
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="stems.zip"'})
    wav = io.BytesIO()
    sf.write(wav, stems[fmt].T, rate, format="WAV", subtype="FLOAT")
    return Response(wav.getvalue(), media_type="audio/wav",
                    headers={"Content-Disposition": f'attachment; filename="{fmt}.wav"'})


def build_http_app(separator: Separator, limits: Limits, run_items: RunItems, lanes: Lanes,
                   batcher: Any = None, batch_info: dict[str, Any] | None = None) -> FastAPI:
    """A FastAPI app serving ``separator`` under ``limits``; ``run_items`` does the model
    compute, ``lanes`` the per-request work; ``batcher`` (a :class:`avsep.serve.batcher.Batcher`
    or None) and ``batch_info`` (the replica's batch calibration) are reported by ``/info``."""
    app = FastAPI(title="avsep separation service",
                  description="Separate music sources with a model from the avsep zoo.")

    @app.exception_handler(BadRequest)
    async def _bad_request(_: Request, err: BadRequest) -> JSONResponse:
        return JSONResponse({"error": err.message}, status_code=err.status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        import os

        runtime = {"torch_threads": lanes.threads, "precision": separator.precision,
                   "device": str(separator.device), "backend": separator.backend,
                   "compiled_blocks": separator.compiled_blocks, "pid": os.getpid(),
                   "batching": batcher is not None, **(batch_info or {})}
        if batcher is not None:
            calls = batcher.calls
            runtime["batcher_calls"] = {"recent": len(calls), "mean_chunks":
                                      sum(calls) / len(calls) if calls else None,
                                      "direct_requests": batcher.direct_requests}
        return {**separator.info(), "limits": limits.as_dict(), "runtime": runtime}

    @app.post("/separate")
    async def separate(request: Request) -> Response:
        declared = int(request.headers.get("content-length") or 0)
        if declared > limits.max_request_bytes:  # the proxy's guard refuses them earlier
            raise BadRequest(413, f"the request is {declared} bytes; the upload limit is "
                                  f"{limits.max_upload_bytes}")
        try:
            form = await request.form(max_files=8, max_fields=8)
        except Exception as err:  # noqa: BLE001 - malformed multipart bodies
            raise BadRequest(400, f"expected a multipart/form-data body: {err}") from err
        unknown = sorted(set(form.keys()) - set(FIELDS))
        if unknown:
            raise BadRequest(400, f"unknown form field(s) {unknown}; expected {list(FIELDS)}")
        if "audio" not in form:
            raise BadRequest(400, "missing the `audio` file field")
        audio_bytes = await _read_upload(form["audio"], "audio", limits)
        video_bytes = [await _read_upload(v, "video", limits) for v in form.getlist("video")]
        boxes_bytes = [await _read_upload(v, "boxes", limits) for v in form.getlist("boxes")]
        fields = {name: _text_field(form, name) for name in ("labels", "format",
                                                              "wiener_iterations")}
        # decoding, resampling and encoding are CPU work: in helper threads (one torch thread
        # each), so the event loop keeps answering and the model lane keeps all its threads
        jobs, fmt = await lanes.helper(
            _prepare, separator, limits, audio_bytes, video_bytes, boxes_bytes, fields)
        outputs = await run_items(jobs.items, jobs.wiener_iterations)
        return await lanes.helper(_answer, separator, outputs, jobs, fmt)

    return app
