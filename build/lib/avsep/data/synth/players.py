"""Player videos: a drawn musician with an instrument whose look identifies it and whose
motion follows the note onsets.

Every instrument has a fixed drawing (:data:`LOOKS`: shape family, colours, size — a small
orange violin at the chin, a big dark double bass standing in front, a silver flute held
sideways, a gold tuba...). Each player has their own look (:class:`PlayerLook`: skin,
hair, clothes, backdrop, build). At every note onset the instrument and the playing arms
jump (a 1-frame rise that decays over ~0.15 s); bowed strings also move the bow back and
forth, one stroke per note; the trombone slide follows the pitch. The frame-to-frame motion
therefore peaks at the onsets of that player's own part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from avsep.data.synth import dsp
from avsep.data.synth.faces import DARK_SKIN, LIGHT_SKIN, SIZE
from avsep.data.synth.instruments import TIMBRES
from avsep.data.synth.raster import Canvas, render_in_chunks
from avsep.data.synth.score import Note

GOLD = (0.85, 0.68, 0.2)
SILVER = (0.78, 0.8, 0.84)
BLACK = (0.08, 0.08, 0.09)


@dataclass(frozen=True)
class InstrumentLook:
    """How an instrument is drawn: ``shape`` picks the drawing, ``size`` scales it."""

    shape: str  # "chin_string" | "standing_string" | "side_pipe" | "pipe" | "sax" |
    #            "trumpet" | "horn" | "trombone" | "tuba"
    color: tuple[float, float, float]
    size: float
    accent: tuple[float, float, float] = BLACK
    width: float = 3.0  # tube width of pipes, pixels
    bell: float = 3.0  # bell radius of pipes, pixels
    top: float = 10.0  # where a pipe starts, pixels below the head centre


LOOKS: dict[str, InstrumentLook] = {
    "violin": InstrumentLook("chin_string", (0.8, 0.42, 0.12), 1.0),
    "viola": InstrumentLook("chin_string", (0.55, 0.2, 0.12), 1.25),
    "cello": InstrumentLook("standing_string", (0.45, 0.24, 0.08), 1.0),
    "double_bass": InstrumentLook("standing_string", (0.22, 0.12, 0.06), 1.45),
    "flute": InstrumentLook("side_pipe", SILVER, 1.0),
    "oboe": InstrumentLook("pipe", (0.2, 0.1, 0.06), 0.85, accent=SILVER, width=2.5, bell=2.5),
    "clarinet": InstrumentLook("pipe", BLACK, 1.1, accent=(0.95, 0.95, 0.95), width=5.0,
                               bell=7.0),
    "bassoon": InstrumentLook("pipe", (0.62, 0.25, 0.08), 2.1, accent=SILVER, width=8.0,
                              bell=5.0, top=-24.0),
    "saxophone": InstrumentLook("sax", GOLD, 1.0),
    "trumpet": InstrumentLook("trumpet", GOLD, 1.0),
    "horn": InstrumentLook("horn", (0.8, 0.55, 0.2), 1.0),
    "trombone": InstrumentLook("trombone", SILVER, 1.0, accent=GOLD),
    "tuba": InstrumentLook("tuba", GOLD, 1.0, accent=SILVER),
}


@dataclass(frozen=True)
class PlayerLook:
    """What a player looks like; colours RGB 0..1."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[float, float, float]
    background: tuple[float, float, float]
    build: float  # shoulder width factor
    head: float  # head radius, pixels

    def to_json(self) -> dict:
        return asdict(self)


def random_player(rng: np.random.Generator) -> PlayerLook:
    """A random musician (the instrument is chosen separately)."""
    skin = LIGHT_SKIN + rng.uniform(0, 1) * (DARK_SKIN - LIGHT_SKIN)
    hair = np.array([0.1, 0.07, 0.05]) + rng.uniform(0, 0.6) * np.array([1.0, 0.8, 0.4])
    return PlayerLook(
        skin=tuple(float(v) for v in skin),
        hair=tuple(float(v) for v in np.clip(hair, 0, 1)),
        shirt=tuple(float(v) for v in rng.uniform(0.05, 0.6, 3)),
        background=tuple(float(v) for v in rng.uniform(0.55, 0.95, 3)),
        build=float(rng.uniform(0.85, 1.15)),
        head=float(rng.uniform(10, 13)),
    )


def onset_kick(notes: list[Note], frames: int, fps: float, decay: float = 0.15) -> np.ndarray:
    """Per-frame motion impulse ``(frames,)``: jumps by the note velocity at each onset frame
    and decays exponentially (time constant ``decay`` s)."""
    t = np.arange(frames) / fps
    onsets = np.array([n.onset for n in notes])
    velocity = np.array([n.velocity for n in notes])
    if onsets.size == 0:
        return np.zeros(frames, dtype=np.float32)
    tau = t[:, None] - np.ceil(onsets * fps - 1e-6)[None, :] / fps
    kicks = np.where(tau >= 0, np.exp(-np.maximum(tau, 0) / decay), 0.0) * velocity
    return kicks.max(axis=1).astype(np.float32)


def bow_position(notes: list[Note], frames: int, fps: float) -> np.ndarray:
    """Bow offset in -1..1 per frame ``(frames,)``: one stroke per note, alternating."""
    t = np.arange(frames) / fps
    position = np.zeros(frames, dtype=np.float32)
    for i, note in enumerate(notes):
        inside = (t >= note.onset) & (t < note.end)
        progress = (t[inside] - note.onset) / max(note.duration, 1e-3)
        position[inside] = (2 * progress - 1) * (1 if i % 2 == 0 else -1)
    return position


def pitch_curve(notes: list[Note], frames: int, fps: float, low: int, high: int) -> np.ndarray:
    """The sounding pitch mapped to 0..1 over ``[low, high]`` per frame (held in rests)."""
    t = np.arange(frames) / fps
    curve = np.full(frames, np.nan)
    for note in notes:
        curve[(t >= note.onset) & (t < note.end)] = (note.pitch - low) / max(high - low, 1)
    valid = ~np.isnan(curve)
    if not valid.any():
        return np.full(frames, 0.5, dtype=np.float32)
    index = np.maximum.accumulate(np.where(valid, np.arange(frames), 0))
    index[: int(np.argmax(valid))] = int(np.argmax(valid))
    return np.clip(curve[index], 0, 1).astype(np.float32)


def _draw_instrument(c: Canvas, look: InstrumentLook, p: PlayerLook, hx, hy, kick, bow, pitch):
    """Draw ``look`` for a player whose head is at ``(hx, hy)`` ``(T,)``; ``kick``, ``bow``
    and ``pitch`` ``(T,)`` drive the motion. Arms are drawn with the instrument."""
    z = look.size
    lift = -5.0 * kick  # the instrument jumps up at each onset
    arm = p.shirt
    if look.shape == "chin_string":
        bx, by = hx + 16 * z, hy + 14 + lift
        c.segment(hx - 16, hy + 26, bx - 6 * z, by + 2, 5, arm)  # left arm to the neck
        c.ellipse(bx, by, 9 * z, 7 * z, look.color)
        c.ellipse(bx + 9 * z, by, 7 * z, 6 * z, look.color)
        c.segment(bx - 4 * z, by, bx - 22 * z, by - 2, 3, BLACK)  # fingerboard
        bow_x = bx + 6 * z + 10 * bow
        c.segment(bow_x - 14, by - 14 + lift * 0.3, bow_x + 12, by + 14, 2, (0.9, 0.88, 0.8))
        c.segment(hx + 18, hy + 34, bow_x + 12, by + 14, 5, arm)  # bow arm
    elif look.shape == "standing_string":
        bx, by = hx + 2, hy + 46 * z ** 0.5 + lift
        c.ellipse(bx, by - 12 * z, 12 * z, 11 * z, look.color)
        c.ellipse(bx, by + 8 * z, 15 * z, 14 * z, look.color)
        c.segment(bx, by - 20 * z, bx, by - 52 * z, 3.5, BLACK)
        bow_x = bx + 12 * bow
        c.segment(bow_x - 20, by + 4 * z, bow_x + 14, by - 2 * z, 2, (0.9, 0.88, 0.8))
        c.segment(hx + 20, hy + 30, bow_x + 14, by - 2 * z, 5, arm)
        c.segment(hx - 18, hy + 28, bx - 2, by - 40 * z, 5, arm)
    elif look.shape == "side_pipe":
        y = hy + 8 + lift
        c.segment(hx - 4, y, hx + 44, y + 2, 3.5, look.color)
        for k in range(4):
            c.ellipse(hx + 16 + 7 * k, y + 1, 1.5, 1.5, BLACK)
        c.segment(hx - 16, hy + 30, hx + 14, y + 2, 5, arm)
        c.segment(hx + 18, hy + 32, hx + 36, y + 3, 5, arm)
    elif look.shape == "pipe":
        top, bottom = hy + look.top + lift, hy + look.top + 40 * z + lift
        if look.top < 0:  # a bocal from the mouth to the top of a tall pipe
            c.segment(hx, hy + 6 + lift, hx + 8, top + 4, 1.5, look.accent)
            c.segment(hx + 8, top, hx + 8, bottom, look.width, look.color)
            hx = hx + 8
        else:
            c.segment(hx, top, hx + 3, bottom, look.width, look.color)
        c.ellipse(hx + 3, bottom, look.bell, 0.6 * look.bell, look.accent)
        for k in range(4):
            c.ellipse(hx + 1 + 0.5 * k, top + 10 + 7 * k, 1.5, 1.5, look.accent)
        c.segment(hx - 16, hy + 30, hx, top + 14, 5, arm)
        c.segment(hx + 16, hy + 32, hx + 2, top + 28, 5, arm)
    elif look.shape == "sax":
        top = hy + 10 + lift
        c.segment(hx + 2, top, hx + 6, top + 38, 5, look.color)
        c.ellipse(hx + 12, top + 44, 8, 6, look.color)
        c.ellipse(hx + 15, top + 40, 4, 3, BLACK)
        c.segment(hx - 16, hy + 30, hx + 3, top + 14, 5, arm)
        c.segment(hx + 18, hy + 32, hx + 6, top + 30, 5, arm)
    elif look.shape == "trumpet":
        y = hy + 4 + lift
        c.segment(hx + 4, y, hx + 36, y, 3, look.color)
        c.ellipse(hx + 40, y, 4, 8, look.color)
        c.rect(hx + 14, y - 6, hx + 24, y, look.color)
        c.segment(hx - 14, hy + 30, hx + 18, y + 2, 5, arm)
    elif look.shape == "horn":
        y = hy + 26 + lift
        c.ellipse(hx + 10, y, 14, 12, look.color)
        c.ellipse(hx + 10, y, 9, 7, p.shirt)
        c.ellipse(hx + 24, y + 8, 7, 7, look.color)
        c.segment(hx + 2, hy + 6, hx + 4, y - 10, 2.5, look.color)
        c.segment(hx + 20, hy + 34, hx + 24, y + 8, 5, arm)
    elif look.shape == "trombone":
        y = hy + 6 + lift
        reach = 20 + 26 * (1 - pitch)  # low notes need the slide far out
        c.segment(hx + 2, y, hx + 26, y, 3, look.color)
        c.ellipse(hx + 28, y - 6, 4, 7, look.accent)
        c.segment(hx + 8, y + 6, hx + 8 + reach, y + 6, 2.5, look.color)
        c.segment(hx + 8 + reach, y, hx + 8 + reach, y + 6, 2.5, look.color)
        c.segment(hx + 18, hy + 32, hx + 8 + reach, y + 6, 5, arm)
    elif look.shape == "tuba":
        y = hy + 34 + lift
        c.ellipse(hx + 4, y, 16, 20, look.color)
        c.ellipse(hx + 10, y - 24, 12, 5, look.color)
        c.ellipse(hx + 10, y - 24, 8, 3, BLACK)
        c.rect(hx - 4, y - 6, hx + 8, y + 2, look.accent)
        c.segment(hx - 18, hy + 30, hx - 6, y, 5, arm)
        c.segment(hx + 20, hy + 30, hx + 6, y - 4, 5, arm)
    else:  # pragma: no cover - the table above is closed
        raise ValueError(f"unknown instrument shape {look.shape!r}")


def render_player(
    player: PlayerLook, instrument: str, notes: list[Note], frames: int,
    rng: np.random.Generator, fps: float = 25.0,
) -> np.ndarray:
    """Draw ``player`` playing ``instrument`` (a URMP name) for ``notes``.

    Returns uint8 frames ``(frames, SIZE, SIZE, 3)``.
    """
    look = LOOKS[instrument]
    timbre = TIMBRES[instrument]
    sway_x = 1.2 * dsp.smooth_noise(rng, frames, fps, 0.3)
    sway_y = 0.8 * dsp.smooth_noise(rng, frames, fps, 0.3)
    hx = SIZE * 0.4 + sway_x
    hy = SIZE * 0.2 + sway_y
    kick = onset_kick(notes, frames, fps)
    bow = bow_position(notes, frames, fps)
    pitch = pitch_curve(notes, frames, fps, timbre.low, timbre.high)
    gain = np.clip(1.0 + 0.06 * dsp.smooth_noise(rng, frames, fps, 0.1), 0.85, 1.15)
    slope = 0.15 * dsp.smooth_noise(rng, frames, fps, 0.05)

    def draw(part: slice) -> Canvas:
        x, y = hx[part], hy[part]
        c = Canvas(len(x), SIZE, SIZE, player.background)
        c.ellipse(x, y + 50, 26 * player.build, 34, player.shirt)  # torso
        c.ellipse(x, y - 2, player.head * 1.05, player.head * 0.9, player.hair)
        c.ellipse(x, y + 2, player.head, player.head, player.skin)
        _draw_instrument(c, look, player, x, y, kick[part], bow[part], pitch[part])
        c.light(gain[part], slope[part], np.zeros(len(x)))
        return c

    return render_in_chunks(frames, draw)


def grid(videos: list[np.ndarray]) -> tuple[np.ndarray, list[list[int]]]:
    """Tile player videos ``(T, S, S, 3)`` side by side (2 or 3 players) or 2 × 2 (4).

    Returns frames ``(T, rows·S, cols·S, 3)`` and each player's box ``[x0, y0, x1, y1]``.
    """
    count = len(videos)
    cols = 2 if count == 4 else count
    rows = int(np.ceil(count / cols))
    t, s = videos[0].shape[0], videos[0].shape[1]
    canvas = np.zeros((t, rows * s, cols * s, 3), dtype=np.uint8)
    boxes = []
    for i, video in enumerate(videos):
        r, col = divmod(i, cols)
        canvas[:, r * s : (r + 1) * s, col * s : (col + 1) * s] = video
        boxes.append([col * s, r * s, (col + 1) * s, (r + 1) * s])
    return canvas, boxes
