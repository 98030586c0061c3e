"""Anti-aliased shape drawing on a batch of frames, vectorised over time.

A :class:`Canvas` holds float32 frames ``(T, H, W, 3)`` in 0..1. Every shape takes per-frame
positions ``(T,)`` (or scalars), builds a soft coverage mask with a one-pixel linear edge (so
sub-pixel motion changes pixel values smoothly) and blends a colour in. Work is limited to
the shape's bounding window over all frames, so small shapes (eyes, mouth) are cheap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Color = tuple[float, float, float]
CHUNK_FRAMES = 250  # frames drawn at once: bounds memory to ~40 MB per 112 × 112 stream


def _col(value: np.ndarray | float, frames: int) -> np.ndarray:
    """A per-frame value as ``(T, 1, 1)`` float32."""
    return np.broadcast_to(np.asarray(value, dtype=np.float32), (frames,)).reshape(frames, 1, 1)


class Canvas:
    """``frames`` frames of ``height`` × ``width`` filled with ``background``."""

    def __init__(self, frames: int, height: int, width: int, background: Color):
        self.frames = frames
        self.height, self.width = height, width
        self.pixels = np.empty((frames, height, width, 3), dtype=np.float32)
        self.pixels[:] = np.asarray(background, dtype=np.float32)

    def _window(self, x_low, x_high, y_low, y_high) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Pixel window covering ``[x_low, x_high] × [y_low, y_high]`` over all frames, with
        the pixel-centre coordinates ``xs (1, 1, w)`` and ``ys (1, h, 1)`` inside it."""
        x0 = int(np.clip(np.floor(np.min(x_low)) - 2, 0, self.width))
        x1 = int(np.clip(np.ceil(np.max(x_high)) + 2, 0, self.width))
        y0 = int(np.clip(np.floor(np.min(y_low)) - 2, 0, self.height))
        y1 = int(np.clip(np.ceil(np.max(y_high)) + 2, 0, self.height))
        xs = np.arange(x0, x1, dtype=np.float32).reshape(1, 1, -1) + 0.5
        ys = np.arange(y0, y1, dtype=np.float32).reshape(1, -1, 1) + 0.5
        return slice(y0, y1), slice(x0, x1), xs, ys

    def _blend(self, rows: slice, cols: slice, coverage: np.ndarray, color) -> None:
        color = np.asarray(color, dtype=np.float32)
        if color.ndim == 2:  # per-frame colour (T, 3)
            color = color[:, None, None, :]
        view = self.pixels[:, rows, cols]
        view += coverage[..., None] * (color - view)

    def ellipse(self, cx, cy, rx, ry, color) -> None:
        """Fill an axis-aligned ellipse centred ``(cx, cy)`` with radii ``(rx, ry)``."""
        t = self.frames
        cx, cy, rx, ry = (_col(v, t) for v in (cx, cy, rx, ry))
        rx, ry = np.maximum(rx, 1e-3), np.maximum(ry, 1e-3)
        rows, cols, xs, ys = self._window(cx - rx, cx + rx, cy - ry, cy + ry)
        if xs.size == 0 or ys.size == 0:
            return
        d = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
        coverage = np.clip(0.5 - (d - 1.0) * np.minimum(rx, ry), 0.0, 1.0)
        self._blend(rows, cols, coverage, color)

    def segment(self, x0, y0, x1, y1, thickness, color) -> None:
        """Fill a thick line (capsule) from ``(x0, y0)`` to ``(x1, y1)``."""
        t = self.frames
        x0, y0, x1, y1, thickness = (_col(v, t) for v in (x0, y0, x1, y1, thickness))
        pad = thickness / 2
        rows, cols, xs, ys = self._window(np.minimum(x0, x1) - pad, np.maximum(x0, x1) + pad,
                                          np.minimum(y0, y1) - pad, np.maximum(y0, y1) + pad)
        if xs.size == 0 or ys.size == 0:
            return
        px, py = xs - x0, ys - y0
        vx, vy = x1 - x0, y1 - y0
        length2 = np.maximum(vx * vx + vy * vy, 1e-6)
        h = np.clip((px * vx + py * vy) / length2, 0.0, 1.0)
        dist = np.sqrt((px - h * vx) ** 2 + (py - h * vy) ** 2)
        self._blend(rows, cols, np.clip(0.5 - (dist - pad), 0.0, 1.0), color)

    def rect(self, x0, y0, x1, y1, color) -> None:
        """Fill an axis-aligned rectangle."""
        t = self.frames
        x0, y0, x1, y1 = (_col(v, t) for v in (x0, y0, x1, y1))
        rows, cols, xs, ys = self._window(x0, x1, y0, y1)
        if xs.size == 0 or ys.size == 0:
            return
        cover_x = np.clip(np.minimum(xs - x0, x1 - xs) + 0.5, 0.0, 1.0)
        cover_y = np.clip(np.minimum(ys - y0, y1 - ys) + 0.5, 0.0, 1.0)
        self._blend(rows, cols, cover_x * cover_y, color)

    def light(self, gain: np.ndarray, slope_x: np.ndarray, slope_y: np.ndarray) -> None:
        """Lighting: multiply by ``gain`` ``(T,)`` and a linear gradient ``(T,)`` per axis
        (fraction of brightness change across the frame)."""
        t = self.frames
        _, _, xs, ys = self._window(0, self.width, 0, self.height)
        field = _col(gain, t) * (1 + _col(slope_x, t) * (xs / self.width - 0.5)
                                 + _col(slope_y, t) * (ys / self.height - 0.5))
        self.pixels *= field[..., None]

    def to_uint8(self) -> np.ndarray:
        """Frames as uint8 ``(T, H, W, 3)``."""
        return (np.clip(self.pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_in_chunks(frames: int, draw: Callable[[slice], Canvas],
                     chunk: int = CHUNK_FRAMES) -> np.ndarray:
    """Call ``draw(frame_slice)`` for consecutive chunks of frames and stack the results:
    uint8 ``(frames, H, W, 3)``. ``draw`` slices its per-frame parameters itself."""
    parts = [draw(slice(start, min(start + chunk, frames))).to_uint8()
             for start in range(0, frames, chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 1, 1, 3), dtype=np.uint8)
