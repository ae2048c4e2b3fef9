#!/usr/bin/env python3
"""Write neurodl-baselines' golden outputs from MNE-Python, scikit-learn and pyRiemann.

Input: real EEG, PhysioNet eegmmidb subject S001, runs 4 and 8 (imagined
opening/closing of the left (T1) or right (T2) fist; T0 is rest), read with
MNE. Sixteen sensorimotor channels (``CHANNELS``) are picked, band-passed
8-30 Hz with MNE's default FIR (``raw.filter(8, 30)``) and cut into epochs
0.5-2.5 s after every T0/T1/T2 onset without baseline correction
(``mne.Epochs(..., baseline=None, preload=True)``): 60 epochs of 16 x 321
samples (30 T0, 16 T1, 14 T2), run 4 then run 8, in time order.

The epochs are stored in the golden folder itself as little-endian float32
(``epochs.f32le.bin``, 1.2 MB; float64 would be 2.5 MB), so the Rust tests
need no shared data. Every reference output below is computed from exactly
these stored values (float32 widened to float64), so the quantisation is part
of the input and not a source of error.

Cases (one JSON each in ``tests/golden/baselines/``):

- ``csp_lda_binary``: T1 vs T2 (30 epochs). ``CSP()`` (MNE defaults) + ``LinearDiscriminantAnalysis()``
  fitted on the first 20, outputs for all 30, plus 5-fold CV.
- ``csp_lda_multiclass``: T0/T1/T2 (60 epochs; CSP's joint-diagonalisation path), fit on the first 40.
- ``csp_reg_binary``: ``CSP(reg=0.1)`` on the binary set (shrinkage covariance).
- ``csp_car_binary``: the binary set re-referenced to the common average (rank 15), exercising
  MNE's rank estimation and the restriction of the decomposition to the data's subspace.
- ``ts_lr_binary`` / ``ts_lr_multiclass``: pyRiemann ``Covariances('scm')`` + ``TangentSpace('riemann')``
  + ``LogisticRegression(tol=1e-10, max_iter=10000)`` (all else default: L2, C=1, lbfgs). The tight
  tolerance brings sklearn near the optimum of the convex objective, which neurodl's Newton solver
  computes; lbfgs still stops on a 64-eps relative change of the objective, so each golden records
  the gradient left at sklearn's solution and also holds ``lr_optimum``: the same objective solved by
  ``solver="newton-cholesky", tol=1e-12`` (gradient ~1e-12, i.e. the optimum to rounding).

Cross-validation: ``StratifiedKFold(5, shuffle=True, random_state=42)`` over the case's epochs;
folds are stored as test-index lists (train = the rest, ascending), with sklearn's per-fold
accuracy (``cross_val_score``) and predictions.

Usage, from the repository root::

    /work/venv-ref/bin/pip install -r tests/reference/requirements-baselines.txt
    /work/venv-ref/bin/python tests/reference/generate_baseline_goldens.py [--data DIR] [--check]

``--check`` regenerates in memory and exits 1 if any committed golden differs.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import mne
import numpy as np
from mne.decoding import CSP
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from scipy.special import expit, softmax
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "baselines"
RUNS = ["eeg/eegmmidb/S001R04.edf", "eeg/eegmmidb/S001R08.edf"]
# EDF labels as MNE reads them (PhysioNet pads names with dots).
CHANNELS = ["Fc3.", "Fc1.", "Fcz.", "Fc2.", "Fc4.", "C5..", "C3..", "C1..", "Cz..", "C2..", "C4..", "C6..",
            "Cp3.", "Cp1.", "Cp2.", "Cp4."]
TMIN, TMAX = 0.5, 2.5
DATA_FILE = "epochs.f32le.bin"
LR_KW = dict(tol=1e-10, max_iter=10000)
# sklearn's lbfgs also stops on a relative objective change of 64 eps, which leaves a gradient
# of ~1e-8..1e-7 on these data; its exact Newton solver reaches the optimum to rounding.
LR_OPT_KW = dict(tol=1e-12, max_iter=10000, solver="newton-cholesky")
CV = dict(n_splits=5, shuffle=True, random_state=42)


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("mne", "numpy", "scipy", "scikit-learn", "pyriemann"):
        out[pkg] = importlib.metadata.version(pkg)
    return out


def load_epochs(data_dir: Path):
    xs, codes, events = [], [], []
    for rel in RUNS:
        raw = mne.io.read_raw_edf(data_dir / rel, preload=True, verbose="error")
        raw.pick(CHANNELS)
        raw.filter(8.0, 30.0, verbose="error")
        ev, event_id = mne.events_from_annotations(raw, verbose="error")
        ep = mne.Epochs(raw, ev, event_id, tmin=TMIN, tmax=TMAX, baseline=None, preload=True, verbose="error")
        assert len(ep.drop_log) == len(ev) and all(len(d) == 0 for d in ep.drop_log)
        inv = {v: k for k, v in event_id.items()}
        xs.append(ep.get_data())
        for s, c in zip(ep.events[:, 0], ep.events[:, 2]):
            codes.append(inv[c])
            events.append({"file": rel, "onset_sample": int(s), "code": inv[c]})
        sfreq = raw.info["sfreq"]
    x = np.concatenate(xs).astype("<f4")
    return x, codes, events, sfreq


def folds_of(y: np.ndarray) -> list[list[int]]:
    return [sorted(int(i) for i in te) for _, te in StratifiedKFold(**CV).split(np.zeros(len(y)), y)]


def cross_validate(make, x: np.ndarray, y: np.ndarray, folds: list[list[int]]) -> dict:
    acc, preds = [], []
    for te in folds:
        tr = np.setdiff1d(np.arange(len(y)), te)
        clf = make().fit(x[tr], y[tr])
        p = clf.predict(x[te])
        acc.append(float(np.mean(p == y[te])))
        preds.append([int(v) for v in p])
    return {"folds_test": folds, "accuracy": acc, "mean_accuracy": float(np.mean(acc)), "predictions": preds}


def csp_block(csp: CSP, x: np.ndarray) -> dict:
    out = {
        "filters": csp.filters_.tolist(),
        "patterns": csp.patterns_.tolist(),
        "features": csp.transform(x).tolist(),
    }
    if csp.evals_ is not None:
        out["evals"] = csp.evals_.tolist()
    return out


def lda_block(lda: LinearDiscriminantAnalysis, f: np.ndarray) -> dict:
    dec = lda.decision_function(f)
    return {
        "priors": lda.priors_.tolist(),
        "coef": lda.coef_.tolist(),
        "intercept": lda.intercept_.tolist(),
        "decision": np.atleast_2d(dec.T).T.tolist() if dec.ndim == 1 else dec.tolist(),
        "proba": lda.predict_proba(f).tolist(),
    }


def lr_block(lr: LogisticRegression, t: np.ndarray, y: np.ndarray, n_train: int) -> dict:
    return {
        "coef": lr.coef_.tolist(),
        "intercept": lr.intercept_.tolist(),
        "n_iter": int(lr.n_iter_[0]),
        "gradient_max_abs": lr_gradient(lr, t[:n_train], y[:n_train]),
        "decision": np.atleast_2d(lr.decision_function(t).T).T.tolist(),
        "proba": lr.predict_proba(t).tolist(),
    }


def lr_gradient(lr: LogisticRegression, t: np.ndarray, y: np.ndarray) -> float:
    """Largest |gradient| of C * sum(log-loss) + ||coef||^2 / 2 at sklearn's solution."""
    z = t @ lr.coef_.T + lr.intercept_
    if len(lr.classes_) == 2:
        r = expit(z[:, 0]) - (y == lr.classes_[1])
        g_w = lr.C * r @ t + lr.coef_[0]
        g_b = lr.C * r.sum()
        return float(max(np.abs(g_w).max(), abs(g_b)))
    r = softmax(z, axis=1) - (y[:, None] == lr.classes_[None, :])
    g_w = lr.C * r.T @ t + lr.coef_
    g_b = lr.C * r.sum(axis=0)
    return float(max(np.abs(g_w).max(), np.abs(g_b).max()))


def csp_lda_case(x, y, n_train, **csp_kw) -> dict:
    csp = CSP(**csp_kw).fit(x[:n_train], y[:n_train])
    out = {"csp_kwargs": csp_kw, "n_train": n_train, "rank": int(csp.filters_.shape[0]), **csp_block(csp, x)}
    f = csp.transform(x)
    lda = LinearDiscriminantAnalysis().fit(f[:n_train], y[:n_train])
    out["lda"] = lda_block(lda, f)
    out["cv"] = cross_validate(lambda: make_pipeline(CSP(**csp_kw), LinearDiscriminantAnalysis()), x, y, folds_of(y))
    return out


def ts_lr_case(x, y, n_train) -> dict:
    covs = Covariances(estimator="scm").fit_transform(x)
    ts = TangentSpace(metric="riemann").fit(covs[:n_train])
    t = ts.transform(covs)
    lr = LogisticRegression(**LR_KW).fit(t[:n_train], y[:n_train])
    lr_opt = LogisticRegression(**LR_OPT_KW).fit(t[:n_train], y[:n_train])
    return {
        "n_train": n_train,
        "lr_kwargs": LR_KW,
        # Three trials' covariances are enough to check the estimator.
        "covariances_first3": covs[:3].tolist(),
        "reference": ts.reference_.tolist(),
        "tangent_vectors": t.tolist(),
        "lr_optimum_kwargs": LR_OPT_KW,
        # LogisticRegression(tol=1e-10, max_iter=10000): the default lbfgs solver
        "lr": lr_block(lr, t, y, n_train),
        # the same objective solved by sklearn's Newton solver to a 1e-12 gradient
        "lr_optimum": lr_block(lr_opt, t, y, n_train),
        "cv": cross_validate(
            lambda: make_pipeline(Covariances(estimator="scm"), TangentSpace(metric="riemann"),
                                  LogisticRegression(**LR_KW)), x, y, folds_of(y)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--check", action="store_true", help="regenerate in memory and report files that differ; write nothing")
    args = ap.parse_args()
    mne.set_log_level("error")
    data_dir = args.data or Path(os.environ.get("NEURODL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

    x32, codes, events, sfreq = load_epochs(data_dir)
    blob = x32.tobytes(order="C")
    x = x32.astype(np.float64)
    codes = np.array(codes)
    three = np.array([{"T0": 0, "T1": 1, "T2": 2}[c] for c in codes])
    binary_idx = np.flatnonzero(codes != "T0")
    xb, yb = x[binary_idx], three[binary_idx] - 1
    x_car = xb - xb.mean(axis=1, keepdims=True)

    files = {}
    files["data.json"] = {
        "file": DATA_FILE,
        "dtype": "<f4",
        "shape": list(x32.shape),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "sources": RUNS,
        "ch_names": CHANNELS,
        "sfreq": sfreq,
        "tmin": TMIN,
        "tmax": TMAX,
        "preprocessing": "raw.pick(ch_names); raw.filter(8.0, 30.0) (MNE default FIR); "
                         "mne.Epochs(raw, events_from_annotations, tmin, tmax, baseline=None, preload=True); "
                         "runs concatenated in order; stored as float32",
        "events": events,
        # labels of all 60 epochs for the multi-class cases: T0 rest=0, T1 left fist=1, T2 right fist=2
        "labels_multiclass": three.tolist(),
        # the binary cases use these epochs (T1, T2) with labels T1=0, T2=1
        "binary_epochs": binary_idx.tolist(),
        "labels_binary": yb.tolist(),
    }
    files["csp_lda_binary.json"] = csp_lda_case(xb, yb, 20, n_components=4)
    files["csp_lda_multiclass.json"] = csp_lda_case(x, three, 40, n_components=4)
    files["csp_reg_binary.json"] = csp_lda_case(xb, yb, 20, n_components=4, reg=0.1)
    car = csp_lda_case(x_car, yb, 20, n_components=4)
    car["input"] = "binary epochs minus their mean over channels (x - x.mean(axis=1, keepdims=True)), rank 15"
    files["csp_car_binary.json"] = car
    files["ts_lr_binary.json"] = ts_lr_case(xb, yb, 20)
    files["ts_lr_multiclass.json"] = ts_lr_case(x, three, 40)

    meta = {"generator": "tests/reference/generate_baseline_goldens.py", "reference": versions()}
    differing = []
    outputs = {DATA_FILE: blob}
    for name, content in files.items():
        outputs[name] = (json.dumps({**meta, **content}, separators=(",", ":")) + "\n").encode()
    if not args.check:
        OUT.mkdir(parents=True, exist_ok=True)
    for name, content in outputs.items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_bytes() != content:
                differing.append(name)
        else:
            path.write_bytes(content)
    if args.check:
        print(f"{len(differing)} of {len(outputs)} goldens differ: {differing}" if differing else f"all {len(outputs)} goldens match")
        sys.exit(1 if differing else 0)
    for name in ("ts_lr_binary.json", "ts_lr_multiclass.json"):
        for k in ("lr", "lr_optimum"):
            print(name, k, "gradient max |g| =", files[name][k]["gradient_max_abs"], "n_iter", files[name][k]["n_iter"])
    for name, c in files.items():
        if "cv" in c:
            print(name, "cv accuracy", c["cv"]["mean_accuracy"])
    print(f"wrote {len(outputs)} files to {OUT}")


if __name__ == "__main__":
    main()
