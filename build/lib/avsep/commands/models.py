"""`avsep models`: the model zoo table, one row per registered model.

Columns: name, parameters at paper size (counted on PyTorch's meta device, no weights
allocated), the paper's own figure, batch inputs, sample rate / STFT (n_fft, hop) / clip,
supported conditioning and mask types.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list the model zoo: parameters at paper size, inputs, audio settings, options"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object per model")
    parser.add_argument("names", nargs="*", help="only these models (default: all)")


def _millions(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def model_rows(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One dict per model: name, parameters, paper_parameters, inputs, audio, conditioning,
    masks, front-ends, summary (strings/numbers, JSON-ready)."""
    import torch

    from avsep.models import registry

    rows = []
    for name in names or registry.available():
        info = registry.info(name)
        with torch.device("meta"):
            model = registry.build({"name": name, "preset": "paper"})
        spec = info.spec() if info is not None and info.spec is not None else model.spec
        audio = (f"{spec.stft.sample_rate} Hz, STFT {spec.stft.n_fft}/{spec.stft.hop_length}, "
                 f"{spec.clip_seconds:.2f} s")
        rows.append({
            "name": name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "paper_parameters": info.paper_parameters if info else None,
            "inputs": list(info.inputs if info else model.inputs),
            "audio": audio,
            "conditioning": list(info.conditioning) if info else [],
            "masks": list(info.masks) if info else [],
            "frontends": list(info.frontends) if info else [],
            "task": model.task,
            "summary": info.summary if info else "",
            "paper": info.paper if info else "",
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Aligned plain-text table of :func:`model_rows`."""
    header = ("model", "params", "paper", "inputs", "audio (sr, n_fft/hop, clip)",
              "conditioning", "masks")
    lines = [header]
    for r in rows:
        lines.append((r["name"], _millions(r["parameters"]), _millions(r["paper_parameters"]),
                      ",".join(r["inputs"]), r["audio"], ",".join(r["conditioning"]) or "-",
                      ",".join(r["masks"]) or "-"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from avsep.models import registry

    names = args.names or None
    if names:
        unknown = [n for n in names if n not in registry.available()]
        if unknown:
            print(f"avsep models: unknown model(s) {unknown}; valid choices: "
                  f"{', '.join(registry.available())}")
            return 2
    rows = model_rows(names)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(format_table(rows))
    return 0
