"""A request-size guard inside Ray Serve's HTTP proxy: oversized uploads are refused unread.

Ray Serve's proxy reads every request body into its own memory as it arrives, also while the
request waits in the deployment's queue (``max_queued_requests``); the replica's own checks
(:mod:`avsep.serve.http`) run only when a replica takes the request. This ASGI middleware runs
in the proxy, in front of it: a request whose ``Content-Length`` is above the limit gets ``413``
before a byte of its body is read, and a body sent without a length (chunked) is cut off once
it passes the limit (the proxy sees the client as gone and drops the request). The proxy then
holds at most ``limit`` bytes per request, so at most ``(replicas x max_ongoing_requests +
max_queued_requests) x limit`` in all.

Ray Serve 2.60 installs proxy middlewares only through the environment of the proxy process:
``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` names a function returning Starlette middlewares
(``HTTPOptions.middlewares`` was removed). :func:`install` sets it, and the limit in
``AVSEP_PROXY_MAX_REQUEST_BYTES``, in this process before it starts a local Ray, whose proxy
inherits them; on a cluster they belong in the environment of ``ray start`` (docs/serve.md).
One proxy serves every application of the Ray cluster, so the guard's limit is the cluster's.

This module imports only the standard library and Starlette: it is imported in the proxy.
"""

from __future__ import annotations

import json
import os
from typing import Any

CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
LIMIT_ENV = "AVSEP_PROXY_MAX_REQUEST_BYTES"
CALLBACK = "avsep.serve.proxy_guard:middlewares"


def too_large_message(size: int | str, limit: int) -> str:
    """The message of a 413 for a request body of ``size`` bytes above ``limit``."""
    return (f"the request is {size} bytes; the most this server reads is {limit} bytes (twice "
            f"the upload limit of each file): send a shorter or smaller file")


class RequestSizeGuard:
    """Pure ASGI middleware: 413 for HTTP requests whose body is above ``max_bytes``."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send: Any, size: int | str) -> None:
        body = json.dumps({"error": too_large_message(size, self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # a body without a length, or longer than it said
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


def middlewares() -> list:
    """The proxy callback (``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``): the guard when
    ``AVSEP_PROXY_MAX_REQUEST_BYTES`` is set, else nothing."""
    from starlette.middleware import Middleware

    limit = os.environ.get(LIMIT_ENV)
    return [Middleware(RequestSizeGuard, max_bytes=int(limit))] if limit else []


def install(max_request_bytes: int) -> bool:
    """Set the proxy callback and its limit in this process's environment, for a Ray started
    after it. False (and nothing changed) when another callback is set already."""
    current = os.environ.get(CALLBACK_ENV)
    if current not in (None, "", CALLBACK):
        return False
    os.environ[CALLBACK_ENV] = CALLBACK
    os.environ[LIMIT_ENV] = str(int(max_request_bytes))
    return True
