#!/usr/bin/env python3
"""Write neurodl-signal's golden outputs from MNE-Python, SciPy and braindecode.

Every golden is computed by the reference tools themselves on a crop of the real
PhysioNet recording ``eeg/eegmmidb/S001R03.edf`` (64 channels, 160 Hz): three
channels (``PICKS``) and the first ``N_TIMES`` samples, read with MNE. The Rust
tests read the same crop with neurodl-io and compare.

braindecode 1.8.1 needs PyTorch (a ~2.6 GB install) only for its dataset
classes; its numerical preprocessing functions (``exponential_moving_*``,
``_compute_window_inds``, the index arithmetic of ``create_fixed_length_windows``)
are plain NumPy. So this script installs nothing heavy: it loads those functions'
*own source* from the installed braindecode package (``pip install --no-deps
braindecode==1.8.1``) and runs them, rather than importing the package (whose
``__init__`` imports torch); ``braindecode_fixed_length_windower`` says which
containers it stands in for.

Flat-channel rejection is MNE's ``Epochs(flat=...)`` on the whole run, once with
channel segments edited (``FLAT_EDITS``) and once on the real data.

Output is deterministic. Usage, from the repository root::

    .venv-ref/bin/pip install -r tests/reference/requirements.txt
    .venv-ref/bin/pip install --no-deps -r tests/reference/requirements-nodeps.txt
    .venv-ref/bin/python tests/reference/generate_signal_goldens.py [--data DIR] [--check]

``--check`` regenerates in memory and exits 1 if any committed golden differs
(integers and strings exactly; floats by more than ``CHECK_REL`` of their scale,
since a few SciPy outputs differ in the last bits between CPUs).
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import sys
import types
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
# --check accepts floats this close (relative to the largest magnitude in their list): the
# Rust tests assert 1e-12, and other CPUs reproduce some outputs to ~1e-15 only.
CHECK_REL = 1e-13


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
    """Load one top-level function (or constant) from the installed braindecode's own source."""
    path = Path(importlib.metadata.distribution("braindecode").locate_file(f"braindecode/{module_rel}"))
    tree = ast.parse(path.read_text())

    def defines(n) -> bool:
        if isinstance(n, ast.FunctionDef):
            return n.name == name
        return isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)

    node = next(n for n in tree.body if defines(n))
    code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec")
    exec(code, namespace)
    return namespace[name]


class _ConcatDataset:
    """Stand-in for braindecode's ``BaseConcatDataset`` (a torch ``ConcatDataset``): a list of datasets."""

    def __init__(self, datasets):
        self.datasets = list(datasets)


class _WindowsDataset:
    """Stand-in for braindecode's ``EEGWindowsDataset``: keeps the window metadata braindecode computed."""

    def __init__(self, raw, metadata, description, targets_from, last_target_only):
        self.metadata = metadata


def braindecode_fixed_length_windower():
    """braindecode's public ``create_fixed_length_windows``, run from its own source.

    Every line that checks arguments and computes window starts is braindecode's
    (``create_fixed_length_windows``, ``_create_fixed_length_windows`` and the
    argument checks they call). Only the containers are replaced, because the real
    ones are torch datasets: the dataset classes by the two stand-ins above, the
    metadata ``pandas.DataFrame`` by a dict of the same columns, and joblib's
    ``Parallel`` by a plain loop (``n_jobs=1``).
    """
    ns = {
        "np": np,
        "mne": mne,
        "warnings": __import__("warnings"),
        "pd": types.SimpleNamespace(DataFrame=dict, Series=type("Series", (), {})),
        "Parallel": lambda n_jobs: list,
        "delayed": lambda f: f,
        "BaseConcatDataset": _ConcatDataset,
        "EEGWindowsDataset": _WindowsDataset,
    }
    for name in (
        "_VALID_LAST_WINDOW_STRATEGIES", "_resolve_on_last_window", "_check_windowing_arguments",
        "_check_and_set_fixed_length_window_arguments", "_get_use_mne_epochs", "_get_windowing_kwargs",
        "_create_fixed_length_windows", "create_fixed_length_windows",
    ):
        braindecode_function("preprocessing/windowers.py", name, ns)
    return ns["create_fixed_length_windows"]


def fixed_length_window_cases(raw) -> list[dict]:
    """braindecode's fixed-length windows over the whole recording, or the error it raises.

    Cases: (name, start_offset_samples, stop_offset_samples, window_size_samples,
    window_stride_samples, drop_last_window); ``None`` as in braindecode.
    ``drop_last_window`` is given as braindecode's non-deprecated ``on_last_window``
    (``True`` -> ``"drop"``, ``False`` -> ``"overlap"``).
    """
    import warnings

    windower = braindecode_fixed_length_windower()
    n = int(raw.n_times)
    cases = [
        ("overlapping_320_80", 0, None, 320, 80, False),
        ("overlapping_320_80_drop", 0, None, 320, 80, True),
        ("overlapping_500_160", 0, None, 500, 160, False),
        ("overlapping_500_160_drop", 0, None, 500, 160, True),
        ("adjacent_480", 0, None, 480, 480, False),
        ("adjacent_480_drop", 0, None, 480, 480, True),
        ("stride_defaults_to_size_640", 0, None, 640, None, False),
        ("stride_defaults_to_size_640_drop", 0, None, 640, None, True),
        ("tiling_exactly_1000", 0, None, 1000, 1000, False),
        ("whole_recording_inferred", 0, None, None, None, False),
        ("whole_recording_inferred_drop", 0, None, None, None, True),
        ("window_equals_recording", 0, None, n, n, False),
        ("window_equals_recording_stride_1", 0, None, n, 1, True),
        ("stride_larger_than_window", 0, None, 200, 700, False),
        ("stride_larger_than_window_drop", 0, None, 200, 700, True),
        ("stride_as_long_as_recording", 0, None, 160, n, False),
        ("stride_as_long_as_recording_drop", 0, None, 160, n, True),
        ("start_offset", 160, None, 480, 320, False),
        ("start_offset_drop", 160, None, 480, 320, True),
        ("stop", 0, 19000, 480, 320, False),
        ("stop_drop", 0, 19000, 480, 320, True),
        ("stop_at_recording_end", 0, n, 480, 320, False),
        ("start_offset_and_stop", 160, 19000, 500, 250, False),
        ("start_offset_and_stop_drop", 160, 19000, 500, 250, True),
        ("start_offset_and_stop_inferred_size", 160, 19000, None, None, False),
        ("span_one_longer_than_window", n - 481, None, 480, 480, False),
        ("span_one_longer_than_window_drop", n - 481, None, 480, 480, True),
        ("window_equals_span", 1000, 1480, 480, 10, False),
        # braindecode refuses these (or returns nothing / windows past the data):
        ("window_longer_than_recording", 0, None, n + 1, n + 1, False),
        ("zero_stride", 0, None, 320, 0, False),
        ("zero_window_size", 0, None, 0, 1, False),
        ("stride_without_window_size", 0, None, None, 80, False),
        ("window_longer_than_span", n - 400, None, 480, 480, False),
        ("window_longer_than_span_drop", n - 400, None, 480, 480, True),
        ("start_offset_at_recording_end", n, None, None, None, False),
        ("stop_before_start_offset", 500, 400, None, None, False),
        ("stop_past_recording_end", 0, n + 100, 500, 500, False),
        ("stop_zero", 0, 0, 320, 80, False),
    ]
    ds = _ConcatDataset([types.SimpleNamespace(raw=raw, target_name=None, description={})])
    out = []
    for name, start, stop, size, stride, drop in cases:
        case = {
            "name": name, "start_offset_samples": start, "stop_offset_samples": stop,
            "window_size_samples": size, "window_stride_samples": stride, "drop_last_window": drop,
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                got = windower(ds, start, stop, size, stride, on_last_window="drop" if drop else "overlap")
            except Exception as e:  # the error braindecode raises is the reference
                case["error"] = {"type": type(e).__name__, "message": str(e)}
            else:
                m = got.datasets[0].metadata
                case["i_window_in_trial"] = [int(v) for v in m["i_window_in_trial"]]
                case["starts"] = [int(v) for v in m["i_start_in_trial"]]
                case["stops"] = [int(v) for v in m["i_stop_in_trial"]]
        case["warnings"] = [str(w.message) for w in caught]
        out.append(case)
    return out


# Flat-channel rejection (MNE ``Epochs(flat=...)``) on the T1/T2 epochs of the whole run.
# Edits made to the recording before epoching, in volts: a segment of a channel set to a
# constant, or one sample set to a value. Epoch k spans event k's sample - 80 to + 320.
# Zeroed over an epoch's whole span, C3 and Cz make epoch 1 (event at 2000) flat and Cz
# epoch 2 (3328, which peak-to-peak rejection drops too); C4 is zero over epoch 5 (7312)
# except one sample of exactly 1 uV after the baseline interval, so its peak-to-peak equals
# the 1 uV threshold and MNE's strict ``<`` keeps the epoch; Pz is zeroed over part of
# epoch 3 (4656) only, which stays too.
FLAT_EDITS = [
    {"channel": "C3..", "start": 1900, "stop": 2400, "value": 0.0},
    {"channel": "Cz..", "start": 1900, "stop": 3700, "value": 0.0},
    {"channel": "C4..", "start": 7200, "stop": 7700, "value": 0.0},
    {"channel": "C4..", "start": 7412, "stop": 7413, "value": 1e-6},
    {"channel": "Pz..", "start": 4600, "stop": 4800, "value": 0.0},
]
# A threshold between real peak-to-peak values (the recording is quantised to 1 uV steps),
# so that ten of the fifteen unedited epochs have channels below it.
FLAT_REAL_EEG = 150.5e-6


def flat_epoch_cases(raw, events) -> list[dict]:
    """MNE's kept epochs and drop log with ``flat`` (and ``reject``) thresholds."""
    specs = [
        ("zeroed_segments", FLAT_EDITS, {"eeg": 500e-6}, {"eeg": 1e-6}),
        ("real_threshold", [], None, {"eeg": FLAT_REAL_EEG}),
    ]
    out = []
    for name, edits, reject, flat in specs:
        data = raw.get_data()
        for e in edits:
            data[raw.ch_names.index(e["channel"]), e["start"]:e["stop"]] = e["value"]
        r = mne.io.RawArray(data, raw.info, first_samp=raw.first_samp, verbose="error")
        kw = dict(event_id={"left": 1, "right": 2}, tmin=-0.5, tmax=2.0, baseline=(None, 0), preload=True, verbose="error")
        epochs = mne.Epochs(r, events, reject=reject, flat=flat, **kw)
        # How close any other channel's peak-to-peak comes to a threshold, relative to it
        # (the comparisons are safe from rounding when this is far above 1e-15), and how
        # many equal one exactly (the deliberate tie).
        x = mne.Epochs(r, events, **kw).get_data()
        ptp = x.max(axis=-1) - x.min(axis=-1)
        thresholds = [*(reject or {}).values(), *flat.values()]
        gaps = np.concatenate([np.abs(ptp - t).ravel() / t for t in thresholds])
        margin = float(gaps[gaps > 0].min())
        ties = int(np.sum(gaps == 0))
        out.append({
            "name": name, "edits": edits, "reject": reject, "flat": flat,
            "kept_event_samples": epochs.events[:, 0].tolist(),
            "drop_log": [list(d) for d in epochs.drop_log],
            "closest_relative_margin": margin,
            "exact_ties": ties,
        })
    return out


def same_numbers(a, b, rel: float) -> bool:
    """Equal structure, strings, ints and bools; floats within rel of the largest magnitude in their list."""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        floats = [abs(v) for v in a + b if isinstance(v, float)]
        if floats and len(floats) == 2 * len(a):
            scale = max(floats)
            return all(abs(x - y) <= rel * scale for x, y in zip(a, b))
        return all(same_numbers(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], rel) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b))
    return type(a) is type(b) and a == b


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
    put("fixed_length_windows", recording_n_times=int(raw.n_times), cases=fixed_length_window_cases(raw))
    put("epochs_flat", mapping=mapping, tmin=-0.5, tmax=2.0, baseline=[None, 0.0], cases=flat_epoch_cases(raw, events))

    meta = {"source": SOURCE, "picks": PICKS, "n_times": N_TIMES, "sfreq": sfreq, "reference": versions(),
            "generator": "tests/reference/generate_signal_goldens.py"}
    differing, rounding = [], []
    for name, content in goldens.items():
        text = json.dumps({**meta, **content}, separators=(",", ":")) + "\n"
        path = OUT / f"{name}.json"
        if not path.exists():
            differing.append(path.name)
        elif path.read_text() != text:
            # LAPACK/SIMD kernels picked at run time for this CPU (sosfiltfilt's initial
            # conditions) move the last bits of a few floats from machine to machine.
            close = same_numbers(json.loads(path.read_text()), json.loads(text), CHECK_REL)
            (rounding if close else differing).append(path.name)
        else:
            continue
        # Writing leaves a golden that differs only by this CPU's rounding as it is.
        if not args.check and path.name in differing:
            path.write_text(text)
    if args.check:
        if rounding:
            print(f"{len(rounding)} goldens differ only within {CHECK_REL:g} of their scale (this CPU's rounding): {rounding}")
        print(f"{len(differing)} of {len(goldens)} goldens differ: {differing}" if differing else f"all {len(goldens)} goldens match")
        sys.exit(1 if differing else 0)
    print(f"wrote {len(differing)} of {len(goldens)} goldens to {OUT} (the others were up to date): {differing}")


if __name__ == "__main__":
    main()
