"""avsep: distributed hyperparameter search for audio-visual music source separation."""

__version__ = "0.1.0"
