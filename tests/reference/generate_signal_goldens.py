#!/usr/bin/env python3
"""Write neurodl-signal's golden outputs from MNE-Python, SciPy and braindecode.

Every golden is computed by the reference tools themselves on a crop of the real
PhysioNet recording ``eeg/eegmmidb/S001R03.edf`` (64 channels, 160 Hz): three
channels (``PICKS``) and the first ``N_TIMES`` samples, read with MNE. The Rust
tests read the same crop with neurodl-io and compare.

braindecode 1.8.1 needs PyTorch (a ~2.6 GB install) only for its dataset
classes; its numerical preprocessing functions (``exponential_moving_*``,
``_compute_window_inds``) are plain NumPy. So this script installs nothing
heavy: it loads those functions' *own source* from the installed braindecode
package (``pip install --no-deps braindecode==1.8.1``) and runs them, rather
than importing the package (whose ``__init__`` imports torch).

Output is deterministic. Usage, from the repository root::

    .venv-ref/bin/pip install -r tests/reference/requirements.txt
    .venv-ref/bin/pip install --no-deps -r tests/reference/requirements-nodeps.txt
    .venv-ref/bin/python tests/reference/generate_signal_goldens.py [--data DIR] [--check]

``--check`` regenerates in memory and exits 1 if any committed golden differs.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import mne
import numpy as np
import scipy
import scipy.signal as ss

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "signal"
SOURCE = "eeg/eegmmidb/S001R03.edf"
PICKS = [0, 10, 40]
N_TIMES = 4000
# Outputs are stored every STRIDE-th sample (plus the last 40 samples in
# full, where edge handling shows) to keep the goldens small.
STRIDE = 7
EDGE = 40


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("mne", "scipy", "numpy", "braindecode"):
        out[pkg] = importlib.metadata.version(pkg)
    return out


def sampled(y: np.ndarray) -> dict:
    """Rows of y at the stored positions."""
    n = y.shape[-1]
    idx = sorted(set(range(0, n, STRIDE)) | set(range(max(n - EDGE, 0), n)) | set(range(min(EDGE, n))))
    return {"indices": idx, "values": np.atleast_2d(y)[:, idx].tolist()}


def braindecode_function(module_rel: str, name: str, namespace: dict):
    """Load one top-level function from the installed braindecode's own source."""
    path = Path(importlib.metadata.distribution("braindecode").locate_file(f"braindecode/{module_rel}"))
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec")
    exec(code, namespace)
    return namespace[name]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--check", action="store_true", help="regenerate in memory and report files that differ; write nothing")
    args = ap.parse_args()
    data_dir = args.data or Path(os.environ.get("NEURODL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    raw = mne.io.read_raw_edf(data_dir / SOURCE, preload=True, verbose="error")
    sfreq = raw.info["sfreq"]
    x = raw.get_data()[PICKS, :N_TIMES]
    if not args.check:
        OUT.mkdir(parents=True, exist_ok=True)
    goldens: dict[str, dict] = {}

    def put(name: str, **content) -> None:
        goldens[name] = content

    # ---- FIR (MNE filter_data / notch_filter defaults) ----
    fir_cases = [
        ("fir_bandpass_4_38", 4.0, 38.0, "auto", "auto"),
        ("fir_highpass_1", 1.0, None, "auto", "auto"),
        ("fir_lowpass_30", None, 30.0, "auto", "auto"),
        # The automatic transitions (11.25 and 13.75 Hz) would swallow a 10 Hz stop band.
        ("fir_bandstop_45_55", 55.0, 45.0, 2.0, 1.5),
    ]
    for name, lf, hf, ltb, htb in fir_cases:
        kw = dict(l_trans_bandwidth=ltb, h_trans_bandwidth=htb, verbose="error")
        taps = mne.filter.create_filter(x, sfreq, lf, hf, **kw)
        y = mne.filter.filter_data(x, sfreq, lf, hf, **kw)
        trans = {"l_trans_bandwidth": None if ltb == "auto" else ltb, "h_trans_bandwidth": None if htb == "auto" else htb}
        put(name, l_freq=lf, h_freq=hf, **trans, taps=taps.tolist(), output=sampled(y))
    y = mne.filter.notch_filter(x, sfreq, [50.0, 60.0], verbose="error")
    put("fir_notch_50_60", freqs=[50.0, 60.0], output=sampled(y))
    # Shorter than the filter (265 taps) and a single channel.
    short = x[:1, :100]
    y = mne.filter.filter_data(short, sfreq, 4.0, 38.0, verbose="error")
    put("fir_short_single_channel", l_freq=4.0, h_freq=38.0, n_times=100, output=sampled(y))

    # ---- Butterworth SOS (SciPy) ----
    designs = []
    for order in (1, 2, 3, 4, 5, 8):
        for btype, wn in (("lowpass", 30.0), ("highpass", 1.0), ("bandpass", [4.0, 38.0]), ("bandstop", [45.0, 55.0])):
            sos = ss.butter(order, wn, btype=btype, output="sos", fs=sfreq)
            designs.append({"order": order, "btype": btype, "wn": wn, "sos": sos.tolist()})
    put("butter_sos_designs", sfreq=sfreq, designs=designs)
    for order, btype, wn in ((4, "bandpass", [4.0, 38.0]), (5, "highpass", 1.0)):
        sos = ss.butter(order, wn, btype=btype, output="sos", fs=sfreq)
        put(
            f"iir_{btype}_order{order}",
            order=order,
            btype=btype,
            wn=wn,
            sosfiltfilt=sampled(ss.sosfiltfilt(sos, x, axis=-1)),
            sosfilt=sampled(ss.sosfilt(sos, x, axis=-1)),
        )

    # ---- Resampling ----
    for new_sfreq in (100.0, 128.0, 250.0, 99.5):
        # npad="auto" is what Raw.resample uses (mne.filter.resample alone defaults to 100).
        y = mne.filter.resample(x, new_sfreq, sfreq, npad="auto", verbose="error")
        put(f"resample_fft_{str(new_sfreq).replace('.', 'p')}", new_sfreq=new_sfreq, n_out=y.shape[-1], output=sampled(y))
    for up, down in ((5, 8), (3, 2), (7, 11)):
        y = ss.resample_poly(x, up, down, axis=-1)
        put(f"resample_poly_{up}_{down}", up=up, down=down, n_out=y.shape[-1], output=sampled(y))

    # ---- braindecode standardisation ----
    ns = {"np": np, "lfilter": ss.lfilter, "NDArray": np.ndarray}
    ems = braindecode_function("preprocessing/preprocess.py", "exponential_moving_standardize", ns)
    emd = braindecode_function("preprocessing/preprocess.py", "exponential_moving_demean", ns)
    # Microvolt scale, as braindecode's tutorials apply it after scaling by 1e6.
    xu = x * 1e6
    put("ems_default", factor_new=1e-3, init_block_size=None, output=sampled(ems(xu.copy())))
    put("ems_init_block", factor_new=1e-3, init_block_size=1000, output=sampled(ems(xu.copy(), 1e-3, 1000)))
    put("emd_init_block", factor_new=1e-2, init_block_size=500, output=sampled(emd(xu.copy(), 1e-2, 500)))

    # ---- Events, epochs (MNE) and windows (braindecode) on the whole recording ----
    mapping = {"T1": 1, "T2": 2}
    events, _ = mne.events_from_annotations(raw, event_id=mapping, verbose="error")
    put("events_t1_t2", mapping=mapping, events=events.tolist())
    epochs = mne.Epochs(
        raw, events, event_id={"left": 1, "right": 2}, tmin=-0.5, tmax=2.0, baseline=(None, 0),
        reject={"eeg": 500e-6}, preload=True, verbose="error",
    )
    put(
        "epochs_t1_t2",
        tmin=-0.5,
        tmax=2.0,
        reject_eeg=500e-6,
        kept_event_samples=epochs.events[:, 0].tolist(),
        drop_log=[list(d) for d in epochs.drop_log],
        first_epoch_picks=epochs.get_data()[0][PICKS].tolist(),
    )
    compute_inds = braindecode_function("preprocessing/windowers.py", "_compute_window_inds", {"np": np, "warnings": __import__("warnings")})
    onsets = events[:, 0]
    durations = np.array([a["duration"] for a in raw.annotations if a["description"] in mapping])
    stops = onsets + (durations * sfreq).astype(int)
    cases = []
    for start_off, stop_off, size, stride, drop_last in ((0, 0, 320, 80, False), (-80, 0, 500, 100, True), (0, 0, 200, 200, False)):
        tr, iw, st, sp = compute_inds(onsets.copy(), stops.copy(), start_off, stop_off, size, stride, drop_last, 0.0)
        cases.append({
            "trial_start_offset_samples": start_off, "trial_stop_offset_samples": stop_off,
            "window_size_samples": size, "window_stride_samples": stride, "drop_last_window": drop_last,
            "i_trial": [int(v) for v in tr], "i_window_in_trial": [int(v) for v in iw],
            "starts": [int(v) for v in st], "stops": [int(v) for v in sp],
        })
    put("windows_from_events", mapping=mapping, trial_stops=stops.tolist(), cases=cases)

    meta = {"source": SOURCE, "picks": PICKS, "n_times": N_TIMES, "sfreq": sfreq, "reference": versions(),
            "generator": "tests/reference/generate_signal_goldens.py"}
    differing = []
    for name, content in goldens.items():
        text = json.dumps({**meta, **content}, separators=(",", ":")) + "\n"
        path = OUT / f"{name}.json"
        if args.check:
            if not path.exists() or path.read_text() != text:
                differing.append(path.name)
        else:
            path.write_text(text)
    if args.check:
        print(f"{len(differing)} of {len(goldens)} goldens differ: {differing}" if differing else f"all {len(goldens)} goldens match")
        sys.exit(1 if differing else 0)
    print(f"wrote {len(goldens)} goldens to {OUT}")


if __name__ == "__main__":
    main()
