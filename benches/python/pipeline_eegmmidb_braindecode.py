#!/usr/bin/env python3
"""End-to-end baseline: braindecode 1.8 + MNE, from EDF files to cross-validated accuracy.

The same protocol as the Rust pipeline benchmark, written with braindecode's and
MNE's public APIs the way braindecode's trial-wise decoding tutorial does:

1. ``mne.io.read_raw_edf(preload=True)`` on PhysioNet eegmmidb ``S001R04.edf`` and
   ``S001R08.edf`` (imagined left/right fist), each wrapped in a braindecode
   ``RawDataset`` (``description={"subject": 1, "run": r}``) inside one
   ``BaseConcatDataset``.
2. ``preprocess`` with ``Preprocessor("pick_types", eeg=True)``,
   ``Preprocessor(lambda data: np.multiply(data, 1e6))`` (volts to microvolts, as
   braindecode's tutorials do: without it the standardisation's ``eps=1e-4`` floor
   exceeds every running standard deviation of EEG in volts),
   ``Preprocessor("filter", l_freq=4.0, h_freq=38.0)`` and
   ``Preprocessor(exponential_moving_standardize, factor_new=1e-3, init_block_size=1000)``;
   no resampling (160 Hz), no volt-to-microvolt scaling. The filtered data are
   about 1e-5 V, below the standardisation's ``eps=1e-4``, so its divisor is
   ``eps`` throughout: in effect a running-mean removal and a scaling by 1e4.
3. ``create_windows_from_events`` with 640-sample windows and stride, no trial
   offsets, ``on_last_window="drop"`` (1.8's name for the deprecated
   ``drop_last_window=True``), ``mapping={"T1": 0, "T2": 1}``. Every trial lasts
   656 samples (4.1 s), so each yields one window: 15 per run, 30 in all.
4. ``StratifiedKFold(5, shuffle=True, random_state=42)`` over the windows; per
   fold ``torch.manual_seed(fold)``, a default ``ShallowFBCSPNet(n_chans=64,
   n_outputs=2, n_times=640)`` and an ``EEGClassifier`` (AdamW, lr 0.0625 * 0.01,
   weight decay 0, batch 16, cosine annealing over the epochs, CPU) fitted on the
   training windows and scored on the test windows.

Prints ONE JSON document on stdout: stage times (``time.perf_counter``; imports
timed separately as ``seconds_import``), per-fold accuracies, versions and the
peak RSS. Everything else (MNE, skorch, warnings) goes to stderr.

    NEURODL_PYTHON=/work/venv-torch/bin/python cargo bench ...
    /work/venv-torch/bin/python benches/python/pipeline_eegmmidb_braindecode.py --threads 2 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
RUNS = (4, 8)
SUBJECT = 1
N_CHANS = 64
N_TIMES = 640
N_FOLDS = 5
CV_SEED = 42
MAPPING = {"T1": 0, "T2": 1}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch / OpenMP / MKL threads")
    p.add_argument("--epochs", type=int, default=30, help="training epochs per fold")
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding S001R04.edf and S001R08.edf "
        "(default: $NEURODL_SHARED_DATA/eeg/eegmmidb, else <repo>/../shared/data/eeg/eegmmidb)",
    )
    args = p.parse_args()
    if args.threads < 1:
        p.error("--threads must be at least 1")
    if args.epochs < 2:
        # CosineAnnealingLR gets T_max = epochs - 1, which must be positive.
        p.error("--epochs must be at least 2")
    return args


def main() -> int:
    args = parse_args()
    data_dir = Path(
        args.data_dir
        or Path(os.environ.get("NEURODL_SHARED_DATA") or REPO_ROOT / ".." / "shared" / "data") / "eeg" / "eegmmidb"
    )
    files = [data_dir / f"S{SUBJECT:03d}R{r:02d}.edf" for r in RUNS]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"error: missing input file(s): {', '.join(missing)}", file=sys.stderr)
        return 2

    # The Rust side reads exactly one JSON document from stdout, and MNE logs to
    # stdout by default: point file descriptor 1 at stderr for the whole run and
    # keep a private copy of the real stdout for the result.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # Thread pools are sized when the libraries load, so these must precede the imports.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    t_import = time.perf_counter()
    import warnings

    import mne
    import numpy as np
    import sklearn
    import torch
    from sklearn.model_selection import StratifiedKFold
    from skorch.callbacks import LRScheduler
    from torch.utils.data import Subset

    import braindecode
    from braindecode import EEGClassifier
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.models import ShallowFBCSPNet
    from braindecode.preprocessing import (
        Preprocessor,
        create_windows_from_events,
        exponential_moving_standardize,
        preprocess,
    )

    seconds_import = time.perf_counter() - t_import

    warnings.filterwarnings("ignore")
    mne.set_log_level("ERROR")
    torch.set_num_threads(args.threads)
    seconds = {}

    t0 = time.perf_counter()
    ds = BaseConcatDataset(
        [
            RawDataset(mne.io.read_raw_edf(f, preload=True), description={"subject": SUBJECT, "run": r})
            for f, r in zip(files, RUNS)
        ]
    )
    seconds["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    preprocess(
        ds,
        [
            Preprocessor("pick_types", eeg=True),
            Preprocessor(lambda data: np.multiply(data, 1e6)),
            Preprocessor("filter", l_freq=4.0, h_freq=38.0),
            Preprocessor(exponential_moving_standardize, factor_new=1e-3, init_block_size=1000),
        ],
        n_jobs=1,
    )
    seconds["preprocess"] = time.perf_counter() - t0
    sfreq = float(ds.datasets[0].raw.info["sfreq"])
    n_chans = len(ds.datasets[0].raw.ch_names)
    if n_chans != N_CHANS:
        raise RuntimeError(f"expected {N_CHANS} EEG channels after pick_types, found {n_chans}")

    t0 = time.perf_counter()
    windows = create_windows_from_events(
        ds,
        trial_start_offset_samples=0,
        trial_stop_offset_samples=0,
        window_size_samples=N_TIMES,
        window_stride_samples=N_TIMES,
        on_last_window="drop",  # braindecode 1.8 spelling of drop_last_window=True (deprecated)
        mapping=MAPPING,
        preload=True,
    )
    seconds["windows"] = time.perf_counter() - t0

    metadata = windows.get_metadata()
    y = metadata["target"].to_numpy()
    per_run = {str(int(r)): int(n) for r, n in metadata.groupby("run").size().items()}
    # One window per trial is what makes the CV below trial-level; say so if it ever is not.
    if metadata.groupby(["run", "i_window_in_trial"]).size().index.get_level_values(1).max() != 0:
        print("warning: some trial yielded more than one window", file=sys.stderr)

    t0 = time.perf_counter()
    cv = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=CV_SEED)
    fold_accuracies = []
    fold_seeds = []
    for fold, (train_idx, test_idx) in enumerate(cv.split(np.zeros(len(y)), y)):
        torch.manual_seed(fold)
        fold_seeds.append(fold)
        model = ShallowFBCSPNet(n_chans=N_CHANS, n_outputs=len(MAPPING), n_times=N_TIMES)
        clf = EEGClassifier(
            model,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.AdamW,
            optimizer__lr=0.0625 * 0.01,
            optimizer__weight_decay=0,
            batch_size=16,
            train_split=None,
            max_epochs=args.epochs,
            callbacks=[("lr_scheduler", LRScheduler("CosineAnnealingLR", T_max=args.epochs - 1))],
            iterator_train__shuffle=True,
            device="cpu",
            verbose=0,
        )
        clf.fit(Subset(windows, train_idx), y=None)
        pred = clf.predict(Subset(windows, test_idx))
        fold_accuracies.append(float(np.mean(pred == y[test_idx])))
    seconds["train_eval"] = time.perf_counter() - t0

    result = {
        "tool": "braindecode",
        "versions": {
            "torch": torch.__version__,
            "braindecode": braindecode.__version__,
            "mne": mne.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "threads": args.threads,
        "epochs": args.epochs,
        "sfreq": sfreq,
        "n_windows": int(len(windows)),
        "n_windows_per_run": per_run,
        "class_counts": {k: int(np.sum(y == v)) for k, v in MAPPING.items()},
        "n_chans": N_CHANS,
        "n_times": N_TIMES,
        "fold_seeds": fold_seeds,
        "seconds_import": seconds_import,
        "seconds_total": sum(seconds.values()),
        "seconds": seconds,
        "fold_accuracies": fold_accuracies,
        "mean_accuracy": float(np.mean(fold_accuracies)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    result_out.write(json.dumps(result) + "\n")
    result_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
