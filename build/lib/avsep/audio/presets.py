"""Each source paper's STFT settings, and the 80-band mel front ends, by name.

STFT presets (``STFT_PRESETS`` / :func:`get_stft_preset`):

========== ========= ====== ===== ====== =====================================================
name       rate (Hz) n_fft  hop   window source
========== ========= ====== ===== ====== =====================================================
li2021     32000     1024   640   1024   Li, Wang, Duan: 32 kHz, frame 1024, hop 640 (20 ms)
cunet      11025     1022   256   1022   Slizovskaia et al.: Hann 1022, hop 256 (512 x 256)
sop        11025     1022   256   1022   Solos paper / Sound of Pixels: Hann 1022, hop 256
attr       16000     1024   320   640    Swaminathan & Lerch: 1024-point FFT, frame 640, hop 320
vocalist   16000     800    200   800    VocaLiST: 80 mels, window 800, hop 200 at 16 kHz
ynet       16384     1022   256   1022   Y-Net (Acappella): 2^14 Hz, n_fft 1022, hop 256
========== ========= ====== ===== ====== =====================================================

``ynet``: the VocaLiST paper trains Y-Net-mr "with the same pipeline as [10]" (the Acappella
paper) without restating its STFT; the Acappella reference implementation resamples to
16384 Hz (2^14, "16 kHz" in the papers' rounding) and uses n_fft 1022, hop 256, so 4 s clips
give 512 x 256 spectrograms. Its bounded complex mask uses K = 10
(:data:`YNET_MASK_BOUND`).

Mel presets (``MEL_PRESETS`` / :func:`get_mel_preset`), used by :func:`avsep.audio.mel.
log_mel_spectrogram`:

* ``vocalist``: the lip-sync expert (Wav2Lip) front end VocaLiST adopts: pre-emphasis 0.97,
  STFT 800/200 at 16 kHz, 80 Slaney mel bands 55..7600 Hz on the magnitude, decibels
  ``20 log10(max(mel, 1e-5)) - 20`` clipped to [-100, 0] dB and mapped to [-4, 4].
* ``vad_cnn``: Swaminathan & Lerch's VAD CNN input, 80-band log-mel. The paper gives only
  the band count; the frames follow the separation STFT (``attr``: 20 ms hop, which is the
  MIR-1K label rate) and the band range and log follow the detector it modifies (Schlüter &
  Grill: 27.5 Hz .. 8 kHz, ``log(max(mel, 1e-7))``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from avsep.audio.stft import STFTConfig

YNET_MASK_BOUND = 10.0
"""K of Y-Net's bounded complex ratio mask ``K * tanh(.)`` (Acappella reference code)."""

STFT_PRESETS: dict[str, STFTConfig] = {
    "li2021": STFTConfig(sample_rate=32000, n_fft=1024, hop_length=640),
    "cunet": STFTConfig(sample_rate=11025, n_fft=1022, hop_length=256),
    "sop": STFTConfig(sample_rate=11025, n_fft=1022, hop_length=256),
    "attr": STFTConfig(sample_rate=16000, n_fft=1024, hop_length=320, win_length=640),
    "vocalist": STFTConfig(sample_rate=16000, n_fft=800, hop_length=200, win_length=800),
    "ynet": STFTConfig(sample_rate=16384, n_fft=1022, hop_length=256),
}


@dataclass(frozen=True)
class MelConfig:
    """A log-mel front end: STFT, mel filterbank and the log/dB scaling applied after it.

    ``log``: ``"wav2lip_db"`` (decibels, ``- ref_db``, clipped to [``min_db``, 0] and mapped
    linearly to [-``max_abs``, ``max_abs``]) or ``"log"`` (natural log of
    ``max(mel, floor)``). ``norm`` / ``mel_scale`` are torchaudio's ``melscale_fbanks``
    arguments (``"slaney"``/``"slaney"`` equals librosa's default filterbank).
    """

    stft: STFTConfig
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    power: float = 1.0
    norm: Literal["slaney"] | None = "slaney"
    mel_scale: Literal["slaney", "htk"] = "slaney"
    preemphasis: float = 0.0
    log: Literal["wav2lip_db", "log"] = "log"
    floor: float = 1e-7
    ref_db: float = 20.0
    min_db: float = -100.0
    max_abs: float = 4.0

    def __post_init__(self) -> None:
        nyquist = self.stft.sample_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= nyquist:
            raise ValueError(
                f"MelConfig: need 0 <= f_min < f_max <= sample_rate / 2 ({nyquist}), "
                f"got f_min={self.f_min}, f_max={self.f_max}"
            )
        if self.n_mels < 1 or self.power <= 0 or self.floor <= 0:
            raise ValueError(
                f"MelConfig: n_mels, power and floor must be positive, got n_mels="
                f"{self.n_mels}, power={self.power}, floor={self.floor}"
            )
        if self.log not in ("wav2lip_db", "log"):
            raise ValueError(f"MelConfig: log must be 'wav2lip_db' or 'log', got {self.log!r}")
        if not 0 <= self.preemphasis < 1:
            raise ValueError(f"MelConfig: preemphasis must be in [0, 1), got {self.preemphasis}")

    @property
    def upper_frequency(self) -> float:
        """``f_max``, or the Nyquist frequency when unset."""
        return self.stft.sample_rate / 2 if self.f_max is None else self.f_max


MEL_PRESETS: dict[str, MelConfig] = {
    "vocalist": MelConfig(
        stft=STFT_PRESETS["vocalist"],
        n_mels=80,
        f_min=55.0,
        f_max=7600.0,
        preemphasis=0.97,
        log="wav2lip_db",
        floor=1e-5,
    ),
    "vad_cnn": MelConfig(
        stft=STFT_PRESETS["attr"],
        n_mels=80,
        f_min=27.5,
        f_max=8000.0,
        log="log",
        floor=1e-7,
    ),
}


def _lookup(kind: str, table: dict, name: str):
    if not isinstance(name, str) or name not in table:
        raise KeyError(f"unknown {kind} preset {name!r}; expected one of: {', '.join(table)}")
    return table[name]


def get_stft_preset(name: str) -> STFTConfig:
    """The STFT settings of paper preset ``name`` (see the table above)."""
    return _lookup("STFT", STFT_PRESETS, name)


def get_mel_preset(name: str) -> MelConfig:
    """The log-mel front end ``name`` (``vocalist`` or ``vad_cnn``)."""
    return _lookup("mel", MEL_PRESETS, name)
