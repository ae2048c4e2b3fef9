#!/usr/bin/env python3
"""Write neurodl-eval's golden outputs from scikit-learn.

``tests/golden/eval/metrics.json`` holds, for a set of hand-made and random
label vectors (binary and 4-class, tied scores, perfect, all wrong, a single
predicted class, classes absent from predictions, from the truth, or from
both), what scikit-learn returns for ``accuracy_score``,
``balanced_accuracy_score``, ``cohen_kappa_score``,
``f1_score(average="macro", zero_division=0)`` with ``labels=range(n)`` and
with ``labels=None``, ``precision_recall_fscore_support``, ``roc_auc_score``
and ``confusion_matrix``. Undefined values (scikit-learn's NaN) are ``null``.

``tests/golden/eval/splits.json`` holds ``StratifiedKFold`` test-fold
assignments without shuffling (exact), the per-fold per-class test counts with
shuffling (which must not depend on the random state; checked here over
several), and, for ``train_test_split(stratify=y)``'s ``StratifiedShuffleSplit``,
the set of per-class test counts seen over 50 random states (scikit-learn
breaks ties in its allocation at random), plus the cases scikit-learn refuses.

Output is deterministic (fixed NumPy seeds). Usage, from the repository root::

    /work/venv-ref/bin/python tests/reference/generate_eval_goldens.py [--check]

Needs scikit-learn 1.9.1 and numpy 2.4.6 (the versions are recorded in every
golden's ``reference``). ``--check`` regenerates in memory and exits 1 if a
committed golden differs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "eval"
PINS = {"scikit-learn": "1.9.1", "numpy": "2.4.6"}


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg, want in PINS.items():
        got = importlib.metadata.version(pkg)
        if got != want:
            sys.exit(f"{pkg} {got} is installed; these goldens are pinned to {want}")
        out[pkg] = got
    return out


def num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def metric_case(name: str, n_labels: int, y_true, y_pred=None, proba=None, score=None, note: str = "") -> dict:
    y_true = np.asarray(y_true)
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        y_pred = proba.argmax(axis=1)
        if n_labels == 2:
            score = proba[:, 1]
    y_pred = np.asarray(y_pred)
    labels = list(range(n_labels))
    with warnings.catch_warnings():
        # Undefined values (absent classes, 0/0 kappa, one-class ROC) warn; the
        # goldens record what is returned.
        warnings.simplefilter("ignore")
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        case = {
            "name": name,
            "note": note,
            "n_labels": n_labels,
            "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(),
            "proba": None if proba is None else proba.tolist(),
            "score": None if score is None else np.asarray(score, dtype=float).tolist(),
            "accuracy": num(accuracy_score(y_true, y_pred)),
            "balanced_accuracy": num(balanced_accuracy_score(y_true, y_pred)),
            "cohen_kappa": num(cohen_kappa_score(y_true, y_pred, labels=labels)),
            "f1_macro": num(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "f1_macro_present": num(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f1": f.tolist(),
            "support": [int(v) for v in s],  # float when no true positives at all
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
            "roc_auc": None if score is None else num(roc_auc_score(y_true, score)),
        }
    return case


def metric_cases() -> list[dict]:
    rng = np.random.default_rng(20240601)
    cases = []
    # Random binary problem with informative probabilities.
    y = rng.integers(0, 2, 50)
    p1 = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, 50), 0.0, 1.0)
    cases.append(metric_case("binary_random", 2, y, proba=np.c_[1 - p1, p1]))
    # Scores on a 0.1 grid: many ties across classes, and p = 0.5 rows whose
    # argmax tie goes to class 0.
    y = rng.integers(0, 2, 60)
    p1 = np.clip(np.round(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.25, 60), 1), 0.0, 1.0)
    cases.append(metric_case("binary_tied_scores", 2, y, proba=np.c_[1 - p1, p1],
                             note="scores on a 0.1 grid; argmax ties at 0.5 go to class 0"))
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    p1 = np.array([0.1, 0.9, 0.8, 0.3, 0.7, 0.2, 0.45, 0.55])
    cases.append(metric_case("binary_perfect", 2, y, proba=np.c_[1 - p1, p1]))
    cases.append(metric_case("binary_all_wrong", 2, y, proba=np.c_[p1, 1 - p1]))
    p1 = np.array([0.1, 0.4, 0.3, 0.2, 0.45, 0.05, 0.3, 0.49])
    cases.append(metric_case("binary_single_predicted_class", 2, y, proba=np.c_[1 - p1, p1],
                             note="everything predicted 0: kappa 0, F1 of class 1 is 0"))
    cases.append(metric_case("binary_constant_scores", 2, y, proba=np.full((8, 2), 0.5),
                             note="one threshold: ROC-AUC 0.5"))
    cases.append(metric_case("binary_one_true_class", 2, [0] * 6, y_pred=[0, 0, 0, 0, 0, 0],
                             score=[0.1, 0.2, 0.3, 0.1, 0.2, 0.3],
                             note="kappa 0/0 and ROC-AUC undefined: scikit-learn returns NaN for both"))
    y = rng.integers(0, 4, 80)
    logits = rng.normal(0, 1, (80, 4)) + 1.2 * np.eye(4)[y]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    cases.append(metric_case("four_class_random", 4, y, proba=e / e.sum(axis=1, keepdims=True)))
    cases.append(metric_case("four_class_perfect", 4, [0, 1, 2, 3, 3, 2, 1, 0, 2], y_pred=[0, 1, 2, 3, 3, 2, 1, 0, 2]))
    cases.append(metric_case("four_class_all_wrong", 4, [0, 1, 2, 3, 3, 2, 1, 0], y_pred=[1, 2, 3, 0, 0, 3, 2, 1]))
    cases.append(metric_case("four_class_single_predicted_class", 4, [0, 1, 2, 3, 3, 2, 1, 0, 1], y_pred=[2] * 9))
    cases.append(metric_case("four_class_absent_from_pred", 4, [0, 1, 2, 3, 3, 2, 1, 0, 3, 1],
                             y_pred=[0, 1, 2, 2, 0, 2, 1, 0, 1, 1], note="class 3 never predicted"))
    cases.append(metric_case("four_class_absent_from_true", 4, [0, 1, 1, 3, 3, 0, 1, 0, 3],
                             y_pred=[0, 2, 1, 3, 2, 0, 1, 2, 3],
                             note="class 2 predicted but never true: balanced accuracy leaves it out"))
    cases.append(metric_case("four_class_absent_everywhere", 4, [0, 1, 1, 0, 2, 2, 1, 0],
                             y_pred=[0, 1, 2, 0, 2, 1, 1, 1],
                             note="class 3 absent from both: counts 0 in f1_macro, not in f1_macro_present"))
    return cases


def kfold_cases() -> list[dict]:
    rng = np.random.default_rng(7)

    def shuffled(counts):
        y = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
        return rng.permutation(y)

    vectors = [
        ("binary_balanced_interleaved", np.tile([0, 1], 10), 5),
        ("binary_unbalanced", shuffled([13, 7]), 5),
        ("four_class_uneven", shuffled([10, 7, 5, 12]), 5),
        ("first_appearance_not_sorted", np.array([3, 3, 1, 0, 2, 1, 3, 0, 2, 2, 1, 0, 3, 1, 0, 2, 3, 1]), 3),
        ("ten_folds", shuffled([10, 11, 12, 13]), 10),
        ("indivisible_sizes", shuffled([9, 8, 6]), 4),
        ("sorted_blocks", np.array([0] * 7 + [1] * 6 + [2] * 5), 2),
    ]
    out = []
    for name, y, k in vectors:
        n_classes = int(y.max()) + 1
        plain = StratifiedKFold(n_splits=k)._make_test_folds(None, y)
        alloc = None
        for state in range(5):
            folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=state)._make_test_folds(None, y)
            a = [[int(np.sum((folds == f) & (y == c))) for c in range(n_classes)] for f in range(k)]
            assert alloc is None or a == alloc, f"{name}: allocation depends on the random state"
            alloc = a
        plain_alloc = [[int(np.sum((plain == f) & (y == c))) for c in range(n_classes)] for f in range(k)]
        assert plain_alloc == alloc, f"{name}: shuffling changed the allocation"
        out.append({
            "name": name,
            "y": y.tolist(),
            "n_splits": k,
            "test_folds_no_shuffle": plain.tolist(),
            "fold_sizes": [int(np.sum(plain == f)) for f in range(k)],
            "allocation": alloc,
        })
    return out


def validation_cases() -> list[dict]:
    rng = np.random.default_rng(11)
    specs = [
        ("two_balanced", [10, 10], 0.2),
        ("two_unbalanced", [13, 7], 0.25),
        ("four_uneven", [10, 7, 5, 12], 0.2),
        ("tied_remainders", [5, 5, 5, 5], 0.3),
        ("ceil_of_rounded_product", [12, 13], 0.28),  # 0.28 * 25 = 7.000000000000001 -> 8
        ("too_few_for_classes", [5, 5, 5], 0.1),
        ("class_of_one", [6, 1], 0.3),
    ]
    out = []
    for name, counts, frac in specs:
        y = rng.permutation(np.concatenate([np.full(c, k) for k, c in enumerate(counts)]))
        X = np.zeros((len(y), 1))
        seen = set()
        error = None
        n_val = None
        for state in range(50):
            sss = StratifiedShuffleSplit(n_splits=1, test_size=frac, random_state=state)
            try:
                _, test = next(sss.split(X, y))
            except ValueError as e:
                error = str(e)
                break
            n_val = len(test)
            seen.add(tuple(int(np.sum(y[test] == c)) for c in range(len(counts))))
        out.append({
            "name": name,
            "y": y.tolist(),
            "fraction": frac,
            "n_val": n_val,
            "val_counts_seen": sorted(list(s) for s in seen),
            "error": error,
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate in memory and report files that differ; write nothing")
    args = ap.parse_args()
    meta = {"reference": versions(), "generator": "tests/reference/generate_eval_goldens.py"}
    goldens = {
        "metrics": {**meta, "cases": metric_cases()},
        "splits": {**meta, "stratified_kfold": kfold_cases(), "validation": validation_cases()},
    }
    differing = []
    if not args.check:
        OUT.mkdir(parents=True, exist_ok=True)
    for name, content in goldens.items():
        text = json.dumps(content, indent=1, allow_nan=False) + "\n"
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
