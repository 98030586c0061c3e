"""Request limits of the separation service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds on one request; beyond them the service answers 413."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_duration_s: float = 600.0
    max_wiener_iterations: int = 3

    def as_dict(self) -> dict[str, float]:
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_duration_s": self.max_duration_s,
            "max_wiener_iterations": self.max_wiener_iterations,
        }
