#!/usr/bin/env python3
"""Write neurodl's golden reference summaries of real EEG files.

For every source file listed in ``SOURCES`` this reads the recording with
MNE-Python (and, for EDF/BDF, with pyedflib) and writes one JSON summary to
``tests/golden/<sanitised relative path>.json`` plus ``tests/golden/INDEX.json``.
The Rust readers' tests compare what neurodl reads against these files.

Output is deterministic: same data + same pinned packages (see
``requirements.txt``) give byte-identical files. ``--check`` regenerates in
memory and reports any difference from the files on disk without writing.

``--roundtrip NEURODL_BINARY`` additionally runs ``NEURODL_BINARY convert``
on every source file (to EDF+ and BDF+), reads the results back with MNE and
pyedflib, and writes ``tests/golden/roundtrip/*.json``.

Usage (from the repository root)::

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install -r tests/reference/requirements.txt
    .venv-ref/bin/python tests/reference/generate_goldens.py [--data DIR] [--check]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

SCRIPT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPT_DIR.parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "golden"
GENERATOR = "tests/reference/generate_goldens.py"
SCHEMA_VERSION = 1

# Samples per segment, and the positions of the three segments.
SEGMENT_LEN = 8

# (path relative to the shared data folder, how to read it)
#   edf / bdf        -> mne.io.read_raw_edf / read_raw_bdf (+ pyedflib)
#   brainvision      -> mne.io.read_raw_brainvision
#   eeglab           -> mne.io.read_raw_eeglab (continuous)
#   eeglab_epochs    -> mne.read_epochs_eeglab, trials concatenated along time
SOURCES: list[tuple[str, str]] = [
    *[(f"eeg/eegmmidb/S001R{run:02d}.edf", "edf") for run in range(3, 11)],
    ("eeg/eeglab/test_data/test.edf", "edf"),
    ("eeg/eeglab/test_data/test.bdf", "bdf"),
    (
        "eeg/eeglab/test_data/BIDS_test/sub-S1/ses-01/eeg/"
        "sub-S1_ses-01_task-Experiment_run-01_eeg.edf",
        "edf",
    ),
    ("eeg/eeglab/test_data/testbva.vhdr", "brainvision"),
    ("eeg/eeglab/eeglab_data.set", "eeglab"),
    ("eeg/eeglab/test_data/eeglab_data_numerical_events.set", "eeglab"),
    (
        "eeg/eeglab/test_data/BIDS_test/derivatives/eeglab/sub-S1/ses-01/eeg/"
        "sub-S1_ses-01_task-Experiment_run-01_eeg.set",
        "eeglab",
    ),
    ("eeg/eeglab/eeglab_data_epochs_ica.set", "eeglab_epochs"),
]

READER_NAMES = {
    "edf": "read_raw_edf",
    "bdf": "read_raw_bdf",
    "brainvision": "read_raw_brainvision",
    "eeglab": "read_raw_eeglab",
    "eeglab_epochs": "read_epochs_eeglab",
}

# Packages whose versions are recorded in every golden.
VERSION_PACKAGES = [
    ("mne", "mne"),
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("pyedflib", "pyEDFlib"),
    ("pymatreader", "pymatreader"),
]


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


class Sanitiser:
    """Replaces machine-specific paths in messages so output is portable."""

    def __init__(self) -> None:
        self._pairs: list[tuple[str, str]] = []

    def add(self, path: Path | str, label: str) -> None:
        p = str(path)
        variants = {p, os.path.realpath(p), os.path.abspath(p)}
        for v in sorted(variants, key=len, reverse=True):
            if v and (v, label) not in self._pairs:
                self._pairs.append((v, label))
        self._pairs.sort(key=lambda pair: len(pair[0]), reverse=True)

    def __call__(self, text: str) -> str:
        for old, new in self._pairs:
            text = text.replace(old, new)
        return text


def versions() -> dict[str, str]:
    out = {}
    for key, dist in VERSION_PACKAGES:
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    return out


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def golden_name(rel: str) -> str:
    """``eeg/eegmmidb/S001R03.edf`` -> ``eeg__eegmmidb__S001R03.edf``."""
    parts = [re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in rel.split("/")]
    return "__".join(parts)


def detect_format(path: Path, kind: str) -> str:
    """neurodl's Format name (EDF, EDF+, BDF, BDF+, BrainVision, EEGLAB)."""
    if kind in ("edf", "bdf"):
        with open(path, "rb") as fh:
            head = fh.read(256)
        reserved = head[192:236].decode("latin-1").strip()
        is_bdf = head[:1] == b"\xff"
        base = "BDF" if is_bdf else "EDF"
        if reserved.startswith(("EDF+C", "EDF+D", "BDF+C", "BDF+D")):
            return base + "+"
        return base
    if kind == "brainvision":
        return "BrainVision"
    return "EEGLAB"


def companion_files(path: Path, kind: str) -> list[Path]:
    """Files besides ``path`` that hold part of the recording."""
    out: list[Path] = []
    if kind == "brainvision":
        text = path.read_text(encoding="latin-1")
        for key in ("DataFile", "MarkerFile"):
            m = re.search(rf"^\s*{key}\s*=\s*(.+?)\s*$", text, re.MULTILINE)
            if m:
                p = path.parent / m.group(1)
                if p.is_file():
                    out.append(p)
    elif kind in ("eeglab", "eeglab_epochs"):
        p = path.with_suffix(".fdt")
        if p.is_file():
            out.append(p)
    return out


def fnum(x) -> float:
    return float(x)


def finite_or_none(x: float):
    x = float(x)
    return x if math.isfinite(x) else None


def segment_starts(n: int) -> list[int]:
    """Starts of the first, middle and last ``SEGMENT_LEN`` samples."""
    if n <= SEGMENT_LEN:
        return [0]
    return [0, (n - SEGMENT_LEN) // 2, n - SEGMENT_LEN]


def warning_notes(caught, where: str, sanitise: Sanitiser) -> list[str]:
    notes = []
    for w in caught:
        msg = sanitise(str(w.message)).replace("\r\n", "\n")
        notes.append(f"{where} {w.category.__name__}: {msg}")
    return notes


# --------------------------------------------------------------------------
# Deterministic JSON writer: stable key order (insertion order, which this
# script fixes), floats as Python repr (shortest round-trip form), lists of
# scalars on one line.
# --------------------------------------------------------------------------


def _is_scalar(x) -> bool:
    return x is None or isinstance(
        x, (bool, int, float, str, np.integer, np.floating, np.bool_)
    )


def _scalar(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if not math.isfinite(v):
            # JSON has no NaN/Infinity; callers note non-finite data.
            return "null"
        return repr(v)
    if isinstance(x, str):
        return json.dumps(x, ensure_ascii=False)
    raise TypeError(f"cannot serialise {type(x)!r}")


def to_json(obj, level: int = 0) -> str:
    pad = "  " * level
    pad1 = "  " * (level + 1)
    if _is_scalar(obj):
        return _scalar(obj)
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(_is_scalar(x) for x in obj):
            return "[" + ", ".join(_scalar(x) for x in obj) + "]"
        items = ",\n".join(pad1 + to_json(x, level + 1) for x in obj)
        return "[\n" + items + "\n" + pad + "]"
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        for k in obj:
            if not isinstance(k, str):
                raise TypeError("JSON keys must be strings")
        if level > 0 and all(_is_scalar(v) for v in obj.values()):
            return (
                "{"
                + ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in obj.items())
                + "}"
            )
        items = ",\n".join(
            f"{pad1}{_scalar(k)}: {to_json(v, level + 1)}" for k, v in obj.items()
        )
        return "{\n" + items + "\n" + pad + "}"
    raise TypeError(f"cannot serialise {type(obj)!r}")


# --------------------------------------------------------------------------
# MNE
# --------------------------------------------------------------------------


def unit_name(ch: dict) -> str:
    """'V' for FIFF_UNIT_V, 'NA' for FIFF_UNIT_NONE, else the FIFF unit name."""
    from mne.io.constants import FIFF

    unit = ch["unit"]
    if unit == FIFF.FIFF_UNIT_V:
        name = "V"
    elif unit == FIFF.FIFF_UNIT_NONE:
        name = "NA"
    else:
        raw_name = getattr(unit, "_name", None) or str(unit)
        name = raw_name.replace("FIFF_UNIT_", "")
    return name


def position_of(ch: dict):
    loc = np.asarray(ch["loc"][:3], dtype=float)
    if np.all(np.isnan(loc)) or np.all(loc == 0):
        return None
    return [finite_or_none(v) for v in loc]


def segments_of(data: np.ndarray) -> list[dict]:
    n = data.shape[1]
    out = []
    for s in segment_starts(n):
        e = min(s + SEGMENT_LEN, n)
        out.append(
            {
                "start": s,
                "stop": e,
                "data": [[fnum(v) for v in row] for row in data[:, s:e]],
            }
        )
    return out


def relative_annotations(annotations, meas_date, first_time: float, notes: list):
    """Annotations as onsets in seconds from the first sample.

    MNE stores ``onset`` relative to ``annotations.orig_time`` when that is set
    (it then equals ``meas_date`` and the first sample sits at
    ``raw.first_time``); when ``orig_time`` is None onsets are already
    relative to the first sample.
    """
    onsets = np.asarray(annotations.onset, dtype=float)
    shift = 0.0
    if annotations.orig_time is not None:
        if meas_date is not None and annotations.orig_time != meas_date:
            shift += (annotations.orig_time - meas_date).total_seconds()
        shift -= float(first_time)
    if shift != 0.0:
        onsets = onsets + shift
        notes.append(
            f"annotation onsets shifted by {shift!r} s to be relative to the first sample"
        )
    out = []
    ch_names = getattr(annotations, "ch_names", None)
    for i, (onset, dur, desc) in enumerate(
        zip(onsets, annotations.duration, annotations.description)
    ):
        item = {
            "onset": finite_or_none(onset),
            "duration": finite_or_none(dur),
            "description": str(desc),
        }
        if ch_names is not None and len(ch_names[i]):
            item["ch_names"] = [str(c) for c in ch_names[i]]
        out.append(item)
    return out


def read_with_mne(path: Path, kind: str, sanitise: Sanitiser):
    """Return (mne summary dict, data array or None, notes)."""
    import mne

    notes: list[str] = []
    reader = READER_NAMES[kind]
    summary: dict = {"reader": reader}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == "eeglab_epochs":
                inst = mne.read_epochs_eeglab(path)
            else:
                func = getattr(mne.io, reader)
                inst = func(path, preload=True)
        except Exception as exc:  # record, don't hide
            notes.extend(warning_notes(caught, reader, sanitise))
            summary["error"] = sanitise(f"{type(exc).__name__}: {exc}")
            return summary, None, notes
    notes.extend(warning_notes(caught, reader, sanitise))

    info = inst.info
    if kind == "eeglab_epochs":
        epochs_data = inst.get_data()  # (n_epochs, n_ch, n_times)
        n_epochs, n_ch, n_times = epochs_data.shape
        data = np.ascontiguousarray(
            epochs_data.transpose(1, 0, 2).reshape(n_ch, n_epochs * n_times)
        )
        first_time = 0.0
        # Epochs carry events, not annotations: read EEGLAB's event table as
        # annotations (EEGLAB stores epoched latencies in concatenated samples,
        # which is exactly neurodl's continuous view of an epoched set).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            annotations = mne.read_annotations(path)
        notes.extend(warning_notes(caught, "read_annotations", sanitise))
        annotations_source = "mne.read_annotations(file)"
    else:
        data = inst.get_data()
        first_time = float(inst.first_time)
        annotations = inst.annotations
        annotations_source = "raw.annotations"

    if not np.all(np.isfinite(data)):
        notes.append("data contains non-finite values (written as null)")

    meas_date = info["meas_date"]
    summary["sfreq"] = fnum(info["sfreq"])
    summary["n_channels"] = int(data.shape[0])
    summary["n_samples"] = int(data.shape[1])
    summary["ch_names"] = list(inst.ch_names)
    summary["ch_types"] = list(inst.get_channel_types())
    summary["units"] = [unit_name(ch) for ch in info["chs"]]
    muls = [int(ch["unit_mul"]) for ch in info["chs"]]
    if any(muls):
        summary["unit_mul"] = muls
    orig_units = getattr(inst, "_orig_units", None)
    if orig_units:
        summary["orig_units"] = [orig_units.get(name) for name in inst.ch_names]
    summary["meas_date"] = (
        None if meas_date is None else meas_date.replace(tzinfo=None).isoformat()
    )
    if kind != "eeglab_epochs":
        summary["first_samp"] = int(inst.first_samp)
    summary["annotations_source"] = annotations_source
    summary["annotations"] = relative_annotations(
        annotations, meas_date, first_time, notes
    )
    summary["positions"] = [position_of(ch) for ch in info["chs"]]
    if kind == "eeglab_epochs":
        summary["epochs"] = {
            "n_epochs": int(n_epochs),
            "n_times_per_epoch": int(n_times),
            "tmin": fnum(inst.tmin),
            "event_id": {str(k): int(v) for k, v in inst.event_id.items()},
            "events": [[int(v) for v in row] for row in inst.events],
            "layout": "data = get_data() (n_epochs, n_ch, n_times) -> "
            "(n_ch, n_epochs * n_times), trials concatenated along time",
        }
    summary["segments"] = segments_of(data)
    summary["channel_sum"] = [fnum(v) for v in np.sum(data, axis=1)]
    summary["channel_sum_sq"] = [fnum(v) for v in np.sum(np.square(data), axis=1)]
    return summary, data, notes


# --------------------------------------------------------------------------
# pyedflib
# --------------------------------------------------------------------------

_DIM_SCALE = {"uv": 1e-6, "\u00b5v": 1e-6, "\u03bcv": 1e-6, "mv": 1e-3, "v": 1.0}


def read_with_pyedflib(path: Path, sanitise: Sanitiser, mne_summary, mne_data):
    import pyedflib

    out: dict = {}
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reader = pyedflib.EdfReader(str(path))
        except Exception as exc:
            notes.extend(warning_notes(caught, "pyedflib.EdfReader", sanitise))
            return {"error": sanitise(f"{type(exc).__name__}: {exc}")}, notes
        try:
            n = reader.signals_in_file
            n_samp = [int(v) for v in reader.getNSamples()]
            out["filetype"] = int(reader.filetype)
            out["labels"] = [str(s) for s in reader.getSignalLabels()]
            out["sample_frequencies"] = [fnum(v) for v in reader.getSampleFrequencies()]
            out["physical_dimensions"] = [
                str(reader.getPhysicalDimension(i)) for i in range(n)
            ]
            out["physical_min"] = [fnum(reader.getPhysicalMinimum(i)) for i in range(n)]
            out["physical_max"] = [fnum(reader.getPhysicalMaximum(i)) for i in range(n)]
            out["digital_min"] = [int(reader.getDigitalMinimum(i)) for i in range(n)]
            out["digital_max"] = [int(reader.getDigitalMaximum(i)) for i in range(n)]
            out["n_samples_per_channel"] = n_samp
            onsets, durations, descs = reader.readAnnotations()
            out["annotations"] = [
                [fnum(o), fnum(d), str(t)] for o, d, t in zip(onsets, durations, descs)
            ]
            out["file_duration"] = fnum(reader.getFileDuration())
            out["datarecord_duration"] = fnum(reader.datarecord_duration)
            out["datarecords_in_file"] = int(reader.datarecords_in_file)
            out["startdate"] = reader.getStartdatetime().isoformat()

            # Segments per signal at its own rate: segment k has start[i],
            # stop[i] and data[i] for signal i (rates may differ per signal).
            starts_per_signal = [segment_starts(ns) for ns in n_samp]
            n_seg = max(len(s) for s in starts_per_signal) if n else 0
            segments = []
            for k in range(n_seg):
                seg = {"start": [], "stop": [], "data": []}
                for i in range(n):
                    starts = starts_per_signal[i]
                    s = starts[min(k, len(starts) - 1)]
                    e = min(s + SEGMENT_LEN, n_samp[i])
                    vals = reader.readSignal(i, s, e - s) if e > s else []
                    seg["start"].append(s)
                    seg["stop"].append(e)
                    seg["data"].append([fnum(v) for v in vals])
                segments.append(seg)
            out["segments"] = segments

            # Cross-check: pyedflib physical values scaled to volts vs MNE.
            if mne_data is not None and mne_summary is not None:
                names = mne_summary["ch_names"]
                worst = 0.0
                compared = []
                for i, label in enumerate(out["labels"]):
                    scale = _DIM_SCALE.get(out["physical_dimensions"][i].lower())
                    if scale is None or label not in names:
                        continue
                    j = names.index(label)
                    if mne_summary["units"][j] != "V" or n_samp[i] != mne_data.shape[1]:
                        continue
                    sig = reader.readSignal(i) * scale
                    worst = max(worst, float(np.max(np.abs(sig - mne_data[j]))))
                    compared.append(label)
                out["vs_mne"] = {
                    "channels_compared": len(compared),
                    "max_abs_diff_volts": worst,
                    "method": "max |pyedflib readSignal * unit scale - MNE get_data()| "
                    "over channels with matching name, unit V and sample count",
                }
        finally:
            reader.close()
    notes.extend(warning_notes(caught, "pyedflib", sanitise))
    return out, notes


# --------------------------------------------------------------------------
# One golden
# --------------------------------------------------------------------------


def build_golden(data_dir: Path, rel: str, kind: str, refs: dict, sanitise):
    path = data_dir / rel
    notes: list[str] = []
    doc: dict = {
        "schema": SCHEMA_VERSION,
        "file": rel,
        "format": detect_format(path, kind),
        "sha256": sha256_of(path),
    }
    comps = companion_files(path, kind)
    if comps:
        doc["companions"] = {
            p.relative_to(data_dir).as_posix(): sha256_of(p) for p in comps
        }
    doc["reference"] = refs
    mne_summary, data, mne_notes = read_with_mne(path, kind, sanitise)
    notes.extend(mne_notes)
    doc["mne"] = mne_summary
    if kind in ("edf", "bdf"):
        pyedf, pyedf_notes = read_with_pyedflib(
            path, sanitise, None if data is None else mne_summary, data
        )
        notes.extend(pyedf_notes)
        if "error" in pyedf:
            notes.append(f"pyedflib could not open the file: {pyedf['error']}")
        doc["pyedflib"] = pyedf
    doc["notes"] = notes
    return doc, data


# --------------------------------------------------------------------------
# Round trip through `neurodl convert`
# --------------------------------------------------------------------------


def _tail(text: str, limit: int = 4000) -> str:
    text = text.replace("\r\n", "\n")
    return text if len(text) <= limit else "..." + text[-limit:]


def compare_to_original(orig: dict, orig_data, rt: dict, rt_data) -> dict:
    o_names, r_names = orig["ch_names"], rt["ch_names"]
    pairs: list[tuple[int, int]] = []
    if o_names == r_names:
        matched_by = "name"
        pairs = [(i, i) for i in range(len(o_names))]
    elif all(name in r_names for name in o_names):
        matched_by = "name"
        pairs = [(i, r_names.index(name)) for i, name in enumerate(o_names)]
    elif len(o_names) == len(r_names):
        matched_by = "index"
        pairs = [(i, i) for i in range(len(o_names))]
    else:
        matched_by = "partial-name"
        pairs = [(i, r_names.index(n)) for i, n in enumerate(o_names) if n in r_names]
    n = min(orig_data.shape[1], rt_data.shape[1])
    per_channel = []
    overall = 0.0
    for i, j in pairs:
        diff = float(np.max(np.abs(orig_data[i, :n] - rt_data[j, :n]))) if n else 0.0
        overall = max(overall, diff)
        per_channel.append({"original": o_names[i], "roundtrip": r_names[j], "max_abs_diff": diff})
    return {
        "channels_matched_by": matched_by,
        "n_channels_original": len(o_names),
        "n_channels_roundtrip": len(r_names),
        "missing_channels": [n for n in o_names if n not in r_names]
        if matched_by != "index"
        else [],
        "sfreq_equal": orig["sfreq"] == rt["sfreq"],
        "n_samples_equal": orig["n_samples"] == rt["n_samples"],
        "n_samples_compared": int(n),
        "max_abs_diff": overall,
        "per_channel": per_channel,
        "note": "max |MNE(roundtrip file) - MNE(original)| in MNE's units (V for "
        "voltage channels), over the first n_samples_compared samples",
    }


def roundtrip_one(binary: str, data_dir: Path, rel: str, orig: dict, orig_data,
                  refs: dict, sanitise: Sanitiser) -> dict[str, str]:
    """Return {relative output path: JSON text} for the EDF and BDF round trips."""
    src = data_dir / rel
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="neurodl-rt-") as tmp:
        tmp_path = Path(tmp)
        local = Sanitiser()
        local._pairs = list(sanitise._pairs)
        local.add(tmp_path, "<tmp>")
        for ext, kind in (("edf", "edf"), ("bdf", "bdf")):
            target = tmp_path / f"x.{ext}"
            doc: dict = {
                "schema": SCHEMA_VERSION,
                "source": rel,
                "source_sha256": orig.get("_sha256"),
                "output_format": ext.upper() + "+",
                "command": f"neurodl convert <data>/{rel} <tmp>/x.{ext}",
                "reference": refs,
            }
            notes: list[str] = []
            try:
                proc = subprocess.run(
                    [binary, "convert", str(src), str(target)],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=900,
                )
                rc = proc.returncode
                stderr = local(_tail(proc.stderr))
                stdout = local(_tail(proc.stdout))
            except Exception as exc:
                rc, stdout, stderr = None, "", local(f"{type(exc).__name__}: {exc}")
            doc["convert"] = {"returncode": rc, "stdout": stdout, "stderr": stderr}
            if rc != 0 or not target.is_file():
                doc["error"] = (
                    "convert failed" if rc != 0 else "convert produced no output file"
                )
                doc["opened"] = {"mne": False, "pyedflib": False}
                doc["notes"] = notes
                outputs[f"roundtrip/{golden_name(rel)}.{ext}.json"] = to_json(doc) + "\n"
                continue
            doc["sha256"] = sha256_of(target)
            doc["size_bytes"] = target.stat().st_size
            doc["format"] = detect_format(target, kind)
            mne_sum, rt_data, mne_notes = read_with_mne(target, kind, local)
            notes.extend(mne_notes)
            pyedf, pyedf_notes = read_with_pyedflib(
                target, local, None if rt_data is None else mne_sum, rt_data
            )
            notes.extend(pyedf_notes)
            doc["opened"] = {"mne": rt_data is not None, "pyedflib": "error" not in pyedf}
            if rt_data is not None and orig_data is not None:
                doc["vs_original"] = compare_to_original(orig, orig_data, mne_sum, rt_data)
            doc["mne"] = mne_sum
            doc["pyedflib"] = pyedf
            doc["notes"] = notes
            outputs[f"roundtrip/{golden_name(rel)}.{ext}.json"] = to_json(doc) + "\n"
            del rt_data
    return outputs


def binary_version(binary: str, sanitise: Sanitiser):
    try:
        proc = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=60
        )
        if proc.returncode == 0:
            return sanitise(proc.stdout.strip())
        return None
    except Exception:
        return None


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def resolve_data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("NEURODL_SHARED_DATA")
    if env:
        return Path(env)
    return REPO_ROOT / ".." / "shared" / "data"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        help="shared data folder holding eeg/... (default: $NEURODL_SHARED_DATA, "
        "else <repo root>/../shared/data)",
    )
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="golden folder (default: tests/golden)")
    ap.add_argument(
        "--roundtrip",
        metavar="NEURODL_BINARY",
        help="also convert every source with `NEURODL_BINARY convert` to EDF+/BDF+ "
        "and write tests/golden/roundtrip/*.json",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any output differs from the files on disk",
    )
    ap.add_argument(
        "--only",
        action="append",
        metavar="SUBSTRING",
        help="process only sources whose relative path contains SUBSTRING "
        "(repeatable; INDEX.json is not rewritten)",
    )
    args = ap.parse_args(argv)

    import mne

    mne.set_log_level("WARNING")  # keep warnings (recorded in notes), drop info

    data_dir = resolve_data_dir(args.data)
    if not data_dir.is_dir():
        print(f"error: data folder {data_dir} not found (use --data or NEURODL_SHARED_DATA)",
              file=sys.stderr)
        return 2
    missing = [rel for rel, _ in SOURCES if not (data_dir / rel).is_file()]
    if missing:
        print("error: missing source files:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2

    sanitise = Sanitiser()
    sanitise.add(data_dir, "<data>")
    refs = versions()
    out_dir = Path(args.out)

    sources = SOURCES
    if args.only:
        sources = [s for s in SOURCES if any(sub in s[0] for sub in args.only)]

    rt_version = None
    if args.roundtrip:
        rt_version = binary_version(args.roundtrip, sanitise)

    outputs: dict[str, str] = {}
    index_entries = []
    rt_index = []
    for rel, kind in sources:
        print(f"reading {rel} ...", file=sys.stderr, flush=True)
        doc, data = build_golden(data_dir, rel, kind, refs, sanitise)
        name = golden_name(rel) + ".json"
        outputs[name] = to_json(doc) + "\n"
        index_entries.append(
            {
                "golden": name,
                "file": rel,
                "format": doc["format"],
                "reader": doc["mne"]["reader"],
                "sha256": doc["sha256"],
                "mne_ok": "error" not in doc["mne"],
                "pyedflib": (
                    None
                    if "pyedflib" not in doc
                    else ("error" if "error" in doc["pyedflib"] else "ok")
                ),
                "n_notes": len(doc["notes"]),
            }
        )
        if args.roundtrip:
            orig = dict(doc["mne"])
            orig["_sha256"] = doc["sha256"]
            print(f"  round trip {rel} ...", file=sys.stderr, flush=True)
            rt = roundtrip_one(args.roundtrip, data_dir, rel, orig, data, refs, sanitise)
            outputs.update(rt)
            rt_index.extend(sorted(rt))
        del data

    if not args.only:
        outputs["INDEX.json"] = (
            to_json(
                {
                    "schema": SCHEMA_VERSION,
                    "generator": GENERATOR,
                    "reference": refs,
                    "segment_length": SEGMENT_LEN,
                    "goldens": index_entries,
                }
            )
            + "\n"
        )
        if args.roundtrip:
            outputs["roundtrip/INDEX.json"] = (
                to_json(
                    {
                        "schema": SCHEMA_VERSION,
                        "generator": GENERATOR,
                        "reference": refs,
                        "neurodl_version": rt_version,
                        "goldens": [p[len("roundtrip/"):] for p in rt_index],
                    }
                )
                + "\n"
            )

    if args.check:
        bad = 0
        for rel_out, text in sorted(outputs.items()):
            p = out_dir / rel_out
            if not p.is_file() or p.read_text(encoding="utf-8") != text:
                print(f"differs: {p}", file=sys.stderr)
                bad += 1
        print(f"checked {len(outputs)} files, {bad} differ", file=sys.stderr)
        return 1 if bad else 0

    for rel_out, text in sorted(outputs.items()):
        p = out_dir / rel_out
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    print(f"wrote {len(outputs)} files to {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
