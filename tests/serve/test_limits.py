"""The service's limits without a server: the overload defaults' rule, errors that name the flag,
the deployment options they become, and the proxy's request-size guard on a real Starlette app
(``tests/serve/test_overload.py`` runs them in a real Serve app)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from avsep.serve.app import overload_options
from avsep.serve.launch import app_args
from avsep.serve.limits import Limits, overload_defaults
from avsep.serve.proxy_guard import RequestSizeGuard


def test_overload_defaults_follow_replicas_and_cpus():
    assert overload_defaults(1, 1.0) == {"max_ongoing_requests": 8, "max_queued_requests": 32,
                                         "retry_after_s": 5.0}
    assert overload_defaults(1, 0.0)["max_ongoing_requests"] == 8  # a fractional-CPU replica
    assert overload_defaults(2, 3.0) == {"max_ongoing_requests": 12, "max_queued_requests": 96,
                                         "retry_after_s": 5.0}
    given = Limits.resolve({"max_queued_requests": 5, "max_upload_bytes": 10}, 3, 4.0)
    assert (given.max_ongoing_requests, given.max_queued_requests, given.max_upload_bytes,
            given.max_request_bytes) == (16, 5, 10, 20)


@pytest.mark.parametrize(("limits", "flag"), [
    ({"max_ongoing_requests": 0}, "--max-ongoing-requests"),
    ({"max_queued_requests": -1}, "--max-queued-requests"),
    ({"max_queued_requests": 2.5}, "--max-queued-requests"),
    ({"retry_after_s": -1.0}, "--retry-after-s"),
    ({"retry_after_s": float("inf")}, "--retry-after-s"),
])
def test_bad_overload_limits_name_their_flag_before_anything_starts(limits, flag):
    with pytest.raises(ValueError, match=flag):
        app_args("models:/x@champion", None, "1", 0.0, limits, True, 8)


def test_unknown_limits_are_refused_by_name():
    with pytest.raises(ValueError, match="max_ongoing"):
        Limits.resolve({"max_ongoing": 3}, 1, 1.0)


def test_the_limits_become_ray_serves_own_options():
    options = overload_options(Limits(max_ongoing_requests=2, max_queued_requests=7,
                                      retry_after_s=1.5))
    assert options == {"max_ongoing_requests": 2, "max_queued_requests": 7,
                       "backpressure_config": {"status_code": 503, "retry_after_s": 1.5}}


def _guarded(limit: int) -> RequestSizeGuard:
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"read": len(body)})

    return RequestSizeGuard(Starlette(routes=[Route("/", echo, methods=["POST"])]), limit)


def _post(app, content) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://guard") as client:
            return await client.post("/", content=content)

    return asyncio.run(call())


def test_the_guard_passes_bodies_up_to_its_limit_and_refuses_larger_ones_unread():
    app = _guarded(1000)
    assert _post(app, bytes(1000)).json() == {"read": 1000}
    refused = _post(app, bytes(1001))
    assert refused.status_code == 413
    assert "the request is 1001 bytes; the most this server reads is 1000" in \
        refused.json()["error"]


def test_the_guard_cuts_off_a_body_without_a_length_at_its_limit():
    async def chunks():
        for _ in range(10):
            yield bytes(400)

    seen = []

    async def reader(scope, receive, send):  # the proxy's side: it reads until a disconnect
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    response = _post(RequestSizeGuard(reader, 1000), chunks())
    assert response.status_code == 204
    # 400 + 400 pass, the third chunk crosses 1000 bytes: the reader sees the client gone
    assert seen == ["http.request", "http.request", "http.disconnect"]
