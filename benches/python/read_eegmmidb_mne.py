#!/usr/bin/env python3
"""Read-speed baseline: MNE-Python reading the PhysioNet eegmmidb EDF+ files.

Reads every ``S*.edf`` in ``<data>/eeg/eegmmidb`` with
``mne.io.read_raw_edf(path, preload=True, verbose='error')``, ``--repeats``
times (one pass = all files), and prints one JSON line, e.g.::

    {"tool": "mne", "version": "1.13.2", "files": 8, "total_samples": ..., ...}

* ``total_samples``: channel samples decoded per pass (sum of n_channels *
  n_times over the files); ``total_time_points`` is the sum of n_times.
* ``seconds_per_pass_*``: wall-clock (``time.perf_counter``) per pass. The
  ``import mne`` time is excluded from these (reported as ``import_seconds``).
* ``peak_rss_mb``: ``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB at the end: it
  includes the interpreter and the imported modules, not just the data.

Data folder: ``--data DIR``, else ``$NEURODL_SHARED_DATA``, else
``<repo root>/../shared/data``. Depends on mne only (and the standard library).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("NEURODL_SHARED_DATA")
    if env:
        return Path(env)
    return REPO_ROOT / ".." / "shared" / "data"


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="passes over all files (default 5)")
    ap.add_argument("--data", help="shared data folder holding eeg/eegmmidb")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")

    folder = data_dir(args.data) / "eeg" / "eegmmidb"
    files = sorted(folder.glob("S*.edf"))
    if not files:
        print(f"error: no S*.edf files in {folder}", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    import mne  # noqa: E402  (timed separately on purpose)

    import_seconds = time.perf_counter() - t0

    pass_seconds = []
    total_samples = total_time_points = 0
    for rep in range(args.repeats):
        samples = time_points = 0
        start = time.perf_counter()
        for path in files:
            raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
            n_ch, n_t = len(raw.ch_names), int(raw.n_times)
            samples += n_ch * n_t
            time_points += n_t
            del raw
        pass_seconds.append(time.perf_counter() - start)
        if rep == 0:
            total_samples, total_time_points = samples, time_points
        elif (samples, time_points) != (total_samples, total_time_points):
            print("error: passes read different amounts of data", file=sys.stderr)
            return 1

    result = {
        "tool": "mne",
        "version": mne.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
        "files": len(files),
        "repeats": args.repeats,
        "total_samples": total_samples,
        "total_time_points": total_time_points,
        "seconds_per_pass_median": statistics.median(pass_seconds),
        "seconds_per_pass_min": min(pass_seconds),
        "seconds_per_pass": pass_seconds,
        "msamples_per_second_median": total_samples / statistics.median(pass_seconds) / 1e6,
        "import_seconds": import_seconds,
        "peak_rss_mb": peak_rss_mib(),
        "timing_note": "import time excluded from per-pass timing; peak RSS "
        "(ru_maxrss, MiB) includes the interpreter and the mne import",
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
