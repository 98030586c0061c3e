"""The command line: every planned subcommand is listed, doctor reports a working install."""

from __future__ import annotations

import json
import subprocess
import sys

from avsep.cli import COMMANDS, build_parser, main

PLANNED = {"doctor", "synth", "data", "prepare", "models", "spaces", "train", "tune", "eval",
           "report", "reproduce", "serve", "separate", "cluster"}


def test_help_lists_every_planned_command(capsys):
    assert set(COMMANDS) == PLANNED
    parser = build_parser()
    help_text = parser.format_help()
    for name in PLANNED:
        assert name in help_text


def test_console_script_runs_doctor_without_ray():
    out = subprocess.run(
        [sys.executable, "-m", "avsep.cli", "doctor", "--no-ray", "--json"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(out.stdout)
    assert report["versions"]["torch"].startswith("2.11.0")
    assert report["mlflow_tracking_uri"].startswith("sqlite:////")
    assert "cuda" in report["devices"]


def test_every_command_answers_help(capsys):
    for name in PLANNED:
        try:
            main([name, "--help"])
        except SystemExit as done:
            assert done.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: avsep {name}"), name
    assert main(["doctor", "--no-ray"]) == 0
