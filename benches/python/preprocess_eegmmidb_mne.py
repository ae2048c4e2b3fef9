#!/usr/bin/env python3
"""Preprocessing baseline: MNE-Python + braindecode on the PhysioNet eegmmidb runs.

One pass = for every ``S*.edf`` in ``<data>/eeg/eegmmidb`` (results of all files
kept in memory until the pass ends, as a preloaded braindecode dataset would):

1. ``mne.io.read_raw_edf(path, preload=True)``
2. ``raw.filter(4.0, 38.0)`` (MNE's default zero-phase FIR)
3. ``raw.resample(100.0)`` (MNE's default FFT method)
4. ×1e6 (volts → µV) and braindecode's ``exponential_moving_standardize``
   (``factor_new=1e-3, init_block_size=1000``), through ``raw.apply_function``
   as braindecode's ``Preprocessor`` does
5. ``mne.events_from_annotations(raw, {"T1": 1, "T2": 2})`` and braindecode's
   ``_compute_window_inds`` (trial start offset −0.5 s, 2 s windows, 1 s stride):
   the index computation of ``create_windows_from_events`` without its
   PyTorch dataset wrapper.

braindecode's functions are loaded from the installed package's own source
(``pip install --no-deps braindecode==1.8.1``) because importing the package
needs PyTorch; leaving out PyTorch and the dataset objects only makes this
baseline faster and smaller than a real braindecode run.

Prints one JSON line: ``seconds_per_pass_median``, ``peak_rss_mb`` (whole
process: interpreter, modules and data), versions, and ``n_windows``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import mne
import numpy as np
from scipy.signal import lfilter

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def braindecode_function(module_rel: str, name: str, namespace: dict):
    path = Path(importlib.metadata.distribution("braindecode").locate_file(f"braindecode/{module_rel}"))
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = Path(args.data or os.environ.get("NEURODL_SHARED_DATA") or REPO_ROOT / ".." / "shared" / "data")
    files = sorted((data / "eeg" / "eegmmidb").glob("S*.edf"))
    ems = braindecode_function(
        "preprocessing/preprocess.py", "exponential_moving_standardize", {"np": np, "lfilter": lfilter, "NDArray": np.ndarray}
    )
    window_inds = braindecode_function("preprocessing/windowers.py", "_compute_window_inds", {"np": np, "warnings": warnings})

    def one_pass():
        kept = []
        n_windows = 0
        for path in files:
            raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
            raw.filter(4.0, 38.0, verbose="error")
            raw.resample(100.0, verbose="error")
            raw.apply_function(lambda x: ems(x * 1e6, factor_new=1e-3, init_block_size=1000), channel_wise=False, picks="eeg", verbose="error")
            sfreq = raw.info["sfreq"]
            mapping = {"T1": 1, "T2": 2}
            events, _ = mne.events_from_annotations(raw, event_id=mapping, verbose="error")
            durations = np.array([a["duration"] for a in raw.annotations if a["description"] in mapping])
            stops = events[:, 0] + (durations * sfreq).astype(int)
            trials, _, starts, _ = window_inds(events[:, 0].copy(), stops, -50, 0, 200, 100, False, 0.0)
            n_windows += len(starts)
            kept.append((raw, trials, starts))
        return n_windows

    seconds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        n_windows = one_pass()
        seconds.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "tool": "mne+braindecode",
        "mne": mne.__version__,
        "braindecode": importlib.metadata.version("braindecode"),
        "files": len(files),
        "n_windows": int(n_windows),
        "seconds_per_pass": seconds,
        "seconds_per_pass_median": statistics.median(seconds),
        "peak_rss_mb": rss,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
