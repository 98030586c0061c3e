"""Who performs what: singers, off-screen voices, players and piece titles, split so that
train / val / test share no performer and no piece."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avsep.data.records import URMP_INSTRUMENTS

SPLITS = ("train", "val", "test")
_WORDS_A = ("Amber", "Blue", "Silver", "Golden", "Quiet", "Northern", "Velvet", "Crimson",
            "Hidden", "Distant", "Morning", "Winter", "Summer", "Wild", "Paper", "Glass",
            "Iron", "Little", "Lonely", "Bright")
_WORDS_B = ("River", "Garden", "Harbor", "Lantern", "Meadow", "Voyage", "Canyon", "Echo",
            "Letter", "Mirror", "Rondo", "Aria", "March", "Waltz", "Tide", "Ember", "Valley",
            "Journey", "Sonata", "Prelude")


def split_counts(total: int) -> dict[str, int]:
    """Tracks per split: ~70/15/15 with at least one in each (``total`` ≥ 3)."""
    if total < 3:
        raise ValueError(f"need at least 3 tracks to fill train/val/test, got {total}")
    held_out = max(1, int(round(0.15 * total)))
    return {"train": total - 2 * held_out, "val": held_out, "test": held_out}


def piece_titles(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct CamelCase titles (letters only, as URMP folder names need)."""
    pairs = [a + b for a in _WORDS_A for b in _WORDS_B]
    if count > len(pairs):
        pairs += [f"{p}{n}" for n in range(2, 2 + count // len(pairs) + 1) for p in pairs]
    order = rng.permutation(len(pairs))[:count]
    return [pairs[i] for i in order]


@dataclass
class Assignment:
    """One track or piece: its split, title and performers."""

    split: str
    piece: str
    performers: list[str]
    instruments: list[str] = field(default_factory=list)
    extra_singer: str | None = None


def assign_songs(rng: np.random.Generator, titles: list[str]) -> list[Assignment]:
    """Singers per split (about two tracks each) and one off-screen voice pool per split."""
    counts = split_counts(len(titles))
    out: list[Assignment] = []
    singer_index, extra_index, title_index = 1, 1, 0
    for split in SPLITS:
        n = counts[split]
        singers = [f"S{singer_index + i:02d}" for i in range(max(1, (n + 1) // 2))]
        extras = [f"X{extra_index + i:02d}" for i in range(max(1, (n + 3) // 4))]
        singer_index += len(singers)
        extra_index += len(extras)
        for i in range(n):
            out.append(Assignment(split, titles[title_index], [singers[i % len(singers)]],
                                  extra_singer=extras[int(rng.integers(len(extras)))]))
            title_index += 1
    return out


def assign_pieces(rng: np.random.Generator, titles: list[str]) -> list[Assignment]:
    """Ensembles of 2–4 different instruments per piece; each split has its own players
    (player ids ``P<nn>``), and the instruments cycle so all 13 appear as evenly as the
    corpus size allows."""
    counts = split_counts(len(titles))
    out: list[Assignment] = []
    next_player, title_index = 1, 0
    for split in SPLITS:
        players: dict[str, str] = {}
        cycle: list[str] = []
        for _ in range(counts[split]):
            size = int(rng.integers(2, 5))
            chosen: list[str] = []
            while len(chosen) < size:
                if not cycle:
                    cycle = [URMP_INSTRUMENTS[i] for i in rng.permutation(len(URMP_INSTRUMENTS))]
                candidate = cycle.pop(0)
                if candidate not in chosen:
                    chosen.append(candidate)
            for instrument in chosen:
                if instrument not in players:
                    players[instrument] = f"P{next_player:02d}"
                    next_player += 1
            out.append(Assignment(split, titles[title_index], [players[i] for i in chosen],
                                  instruments=chosen))
            title_index += 1
    return out
