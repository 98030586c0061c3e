"""The synthetic audio-visual corpus written by ``avsep synth`` (see docs/contracts.md).

Modules, one job each: :mod:`dsp` (seeded generators, additive tones, envelopes),
:mod:`score` (tempo, harmony, parts), :mod:`voices` (singers), :mod:`instruments` (the 13
URMP timbres), :mod:`accompaniment` (drums, bass, chords), :mod:`raster` (anti-aliased
drawing), :mod:`faces` (singer videos), :mod:`players` (player videos), :mod:`video_writer`
(H.264 MP4 + boxes sidecar), :mod:`naming` (file names of both layouts),
:mod:`identities` (performers, pieces, splits), :mod:`singing` / :mod:`ensembles` (one
track / piece), :mod:`corpus` (orchestration), :mod:`soundfont` (optional SF2 rendering).

Audio is mono 16-bit WAV at 22.05 kHz: everything synthesised lies below 10 kHz, the files
stay small, and the models' rates (11.025 kHz for the conditioned U-Net and Sound of Pixels,
16 kHz for VocaLiST/Y-Net, 32 kHz for the AV MMDenseNet) are reached by ``avsep prepare``.
Video is 25 fps, 112 × 112 per face or player.

This package file imports nothing heavy, so the command line can read the defaults.
"""

SAMPLE_RATE = 22050
FPS = 25
DEFAULT_MINUTES = 3.5
DEFAULT_TRACK_SECONDS = 10.0
