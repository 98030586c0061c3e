"""Singer videos: a drawn face whose mouth opening follows the singer's syllable envelope.

The face moves (smooth head translation and scale), the lighting changes (gain and
gradient), and the eyes blink at random, so a model has to find the mouth and read its
shape instead of a fixed pixel. Each singer has their own look (:class:`FaceLook`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from avsep.data.synth import dsp
from avsep.data.synth.raster import Canvas, render_in_chunks

SIZE = 112  # frames are SIZE × SIZE RGB
MOUTH_BOX = 40.0  # side of the (square) mouth box at scale 1, pixels
LIGHT_SKIN = np.array([0.96, 0.80, 0.69])
DARK_SKIN = np.array([0.45, 0.29, 0.20])


@dataclass(frozen=True)
class FaceLook:
    """What a singer looks like; colours are RGB in 0..1, sizes in pixels at scale 1."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    shirt: tuple[float, float, float]
    background: tuple[float, float, float]
    face_rx: float
    face_ry: float
    eye_dx: float
    mouth_w: float
    hair_long: bool

    def to_json(self) -> dict:
        return asdict(self)


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.clip(values, 0, 1))


def random_face(rng: np.random.Generator) -> FaceLook:
    """A random face: skin tone from light to dark, face shape, hair, clothes, backdrop."""
    skin = LIGHT_SKIN + rng.uniform(0, 1) * (DARK_SKIN - LIGHT_SKIN) + rng.normal(0, 0.02, 3)
    hair = rng.choice([[0.1, 0.07, 0.05], [0.35, 0.2, 0.1], [0.75, 0.6, 0.3], [0.5, 0.5, 0.5],
                       [0.6, 0.25, 0.1]]) + rng.normal(0, 0.03, 3)
    lips = skin * np.array([0.85, 0.55, 0.55]) + np.array([0.08, 0.0, 0.02])
    return FaceLook(
        skin=_rgb(skin),
        hair=_rgb(hair),
        lips=_rgb(lips),
        shirt=_rgb(rng.uniform(0.1, 0.9, 3)),
        background=_rgb(rng.uniform(0.25, 0.85, 3)),
        face_rx=float(rng.uniform(24, 30)),
        face_ry=float(rng.uniform(31, 37)),
        eye_dx=float(rng.uniform(9, 12)),
        mouth_w=float(rng.uniform(8.5, 11.5)),
        hair_long=bool(rng.random() < 0.5),
    )


@dataclass
class HeadMotion:
    """Per-frame head centre ``(T,)``, scale ``(T,)`` and lighting (gain, x/y slopes)."""

    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    gain: np.ndarray
    slope_x: np.ndarray
    slope_y: np.ndarray


def random_motion(rng: np.random.Generator, frames: int, fps: float) -> HeadMotion:
    """Smooth random head motion (±~4 px, ±7 % scale) and lighting drift (±~12 %)."""
    def curve(cutoff: float) -> np.ndarray:
        return dsp.smooth_noise(rng, frames, fps, cutoff)

    return HeadMotion(
        cx=SIZE / 2 + 3.5 * curve(0.4),
        cy=SIZE / 2 - 4 + 2.5 * curve(0.5),
        scale=np.clip(1.0 + 0.06 * curve(0.2), 0.88, 1.12),
        gain=np.clip(1.0 + 0.12 * curve(0.15), 0.75, 1.25),
        slope_x=0.3 * curve(0.1),
        slope_y=0.2 * curve(0.1),
    )


def mouth_boxes(motion: HeadMotion) -> np.ndarray:
    """The square mouth box per frame, ``(T, 4)`` as ``[x0, y0, x1, y1]`` pixels."""
    mx, my = motion.cx, motion.cy + 17 * motion.scale
    half = MOUTH_BOX / 2 * motion.scale
    return np.stack([mx - half, my - half, mx + half, my + half], axis=1)


def render_singer(
    look: FaceLook, openness: np.ndarray, rng: np.random.Generator, fps: float = 25.0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a singer whose mouth opens by ``openness`` ``(T,)`` (0..1) in each frame.

    Returns uint8 frames ``(T, SIZE, SIZE, 3)`` and the mouth boxes ``(T, 4)``.
    """
    frames = len(openness)
    motion = random_motion(rng, frames, fps)
    blink = np.ones(frames, dtype=np.float32)
    for start in np.cumsum(rng.uniform(2.0, 5.0, int(frames / fps / 2) + 2) * fps).astype(int):
        blink[start : start + 3] = 0.15
    hair_ry = look.face_ry * (1.35 if look.hair_long else 1.05)
    nose = tuple(0.85 * np.asarray(look.skin))

    def draw(part: slice) -> Canvas:
        cx, cy, s = motion.cx[part], motion.cy[part], motion.scale[part]
        opening, eyes = openness[part], blink[part]
        c = Canvas(len(cx), SIZE, SIZE, look.background)
        c.ellipse(cx, cy + 62 * s, 50 * s, 24 * s, look.shirt)  # shoulders
        c.rect(cx - 9 * s, cy + 20 * s, cx + 9 * s, cy + 45 * s, look.skin)  # neck
        c.ellipse(cx, cy - 4 * s + (hair_ry - look.face_ry) * 0.6 * s, look.face_rx * 1.15 * s,
                  hair_ry * s, look.hair)
        c.ellipse(cx, cy, look.face_rx * s, look.face_ry * s, look.skin)
        c.ellipse(cx, cy - look.face_ry * 0.78 * s, look.face_rx * 0.95 * s, 9 * s, look.hair)
        for side in (-1, 1):
            ex = cx + side * look.eye_dx * s
            c.ellipse(ex, cy - 6 * s, 4.8 * s, 3.2 * s * eyes, (0.95, 0.95, 0.95))
            c.ellipse(ex, cy - 6 * s, 2.2 * s, 2.4 * s * eyes, (0.12, 0.08, 0.05))
            c.segment(ex - 5 * s, cy - 12 * s, ex + 5 * s, cy - 13 * s + side * 0.5, 1.8 * s,
                      look.hair)
        c.ellipse(cx, cy + 5 * s, 3.0 * s, 4.5 * s, nose)
        my = cy + 17 * s
        c.ellipse(cx, my, look.mouth_w * s, (2.4 + 6.5 * opening) * s, look.lips)
        c.ellipse(cx, my, look.mouth_w * 0.78 * s, (0.2 + 5.8 * opening) * s, (0.07, 0.02, 0.03))
        c.light(motion.gain[part], motion.slope_x[part], motion.slope_y[part])
        return c

    return render_in_chunks(frames, draw), mouth_boxes(motion)
