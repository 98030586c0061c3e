"""The error a request's bad input raises: an HTTP status and a message for the client."""

from __future__ import annotations


class BadRequest(ValueError):
    """Bad input in a request. ``status`` is the HTTP code (400, 413, 415 or 422)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
