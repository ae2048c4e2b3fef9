#!/usr/bin/env python3
"""Write neurodl-eval's segmentation-metric goldens from MONAI, scipy and pymia.

``tests/golden/seg_metrics/metrics.json`` holds label-map pairs (run-length encoded,
C order) with their spacing and, per label:

* ``recipe``: the metrics recomputed in float64 from MONAI 1.5.1's own recipe with
  scipy 1.17.1 -- border = ``binary_erosion(mask) ^ mask`` (default structure,
  ``border_value=0``), directed distances from
  ``distance_transform_edt(~border, sampling=spacing)``, Hausdorff = max, HD95 = max of
  the two directed ``numpy.quantile(d, 0.95)`` (linear), ASSD = mean of both directed
  lists pooled, NSD = fraction of border voxels within the tolerance. The Rust tests
  hold these to 1e-9.
* ``monai``: what ``monai.metrics`` returns (float32 inside):
  ``compute_hausdorff_distance`` (percentile None and 95), ``compute_average_surface_distance(
  symmetric=True)``, ``compute_surface_dice``, ``compute_dice`` (``ignore_empty`` True and
  False), ``compute_iou``. For every non-empty case this script asserts that the recipe
  agrees with MONAI to float32 precision (rtol 1e-5) -- so the recipe *is* MONAI's
  convention -- and NSD exactly. Empty cases record MONAI's NaN/inf for documentation.
* ``pymia``: pymia 0.3.4's ``DiceCoefficient``, ``JaccardCoefficient``, ``Sensitivity``,
  ``Specificity``, ``Precision``, ``VolumeSimilarity`` (and its confusion counts).

Non-finite numbers are written as the strings "inf", "-inf", "NaN".

``tests/golden/seg_metrics/edt.json`` holds small feature masks with anisotropic
sampling and scipy's ``distance_transform_edt(~features, sampling=...)``.

Cases: synthetic spheres/cubes (overlapping, offset, nested, anisotropic 0.78x0.78x6.5 mm),
every empty combination, and real MSD hippocampus label maps (case 001 vs 003 cropped to a
common shape, 004 vs its eroded copy, 006 vs a shifted copy, anisotropic spacing on one).

Usage, from the repository root::

    /work/venv-torch/bin/python tests/reference/generate_segmentation_metric_goldens.py [--check] [--data DIR]

``--check`` regenerates in memory and exits 1 if a committed golden differs.
Data folder: ``--data``, else ``$NEURODL_SHARED_DATA``, else ``<repo>/../shared/data``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "seg_metrics"
PINS = {"monai": "1.5.1", "scipy": "1.17.1", "numpy": "2.4.6", "pymia": "0.3.4", "torch": "2.11.0", "nibabel": "5.3.2"}
HD_PERCENTILE = 95.0


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg, want in PINS.items():
        got = importlib.metadata.version(pkg)
        if got.split("+")[0] != want:
            sys.exit(f"{pkg} {got} is installed; these goldens are pinned to {want}")
        out[pkg] = want
    return out


def num(x) -> float | str:
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def rle(a: np.ndarray) -> list[int]:
    """[value, run, value, run, ...] over the C-order flattening."""
    flat = a.ravel(order="C").astype(np.int64)
    out: list[int] = []
    if flat.size == 0:
        return out
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [flat.size]])
    for s, e in zip(starts, ends):
        out += [int(flat[s]), int(e - s)]
    return out


# --------------------------------------------------------------------------- recipe
def recipe(pred: np.ndarray, ref: np.ndarray, spacing, tol: float) -> dict:
    import scipy.ndimage as ndi

    def border(m):
        return ndi.binary_erosion(m) ^ m

    pb, rb = border(pred), border(ref)
    out = {"prediction_border_voxels": int(pb.sum()), "reference_border_voxels": int(rb.sum())}
    if pb.any() and rb.any():
        d_pr = ndi.distance_transform_edt(~rb, sampling=spacing)[pb]
        d_rp = ndi.distance_transform_edt(~pb, sampling=spacing)[rb]
        pooled = np.concatenate([d_pr, d_rp])
        out.update(
            hausdorff_mm=float(pooled.max()),
            hd95_mm=float(max(np.quantile(d_pr, HD_PERCENTILE / 100), np.quantile(d_rp, HD_PERCENTILE / 100))),
            assd_mm=float(pooled.mean()),
            surface_dice=float((pooled <= tol).sum() / pooled.size),
            # Distances this close to the tolerance would make NSD depend on rounding.
            nearest_distance_to_tolerance=float(np.abs(pooled - tol).min()),
        )
    return out


# --------------------------------------------------------------------------- MONAI
def monai_values(pred: np.ndarray, ref: np.ndarray, spacing, tol: float) -> dict:
    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
        compute_surface_dice,
    )

    yp = torch.from_numpy(pred[None, None].astype(np.float32))
    y = torch.from_numpy(ref[None, None].astype(np.float32))
    sp = [float(s) for s in spacing]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "hausdorff_mm": num(compute_hausdorff_distance(yp, y, include_background=True, spacing=sp)[0, 0]),
            "hd95_mm": num(
                compute_hausdorff_distance(yp, y, include_background=True, percentile=HD_PERCENTILE, spacing=sp)[0, 0]
            ),
            "assd_mm": num(
                compute_average_surface_distance(yp, y, include_background=True, symmetric=True, spacing=sp)[0, 0]
            ),
            "surface_dice": num(compute_surface_dice(yp, y, [tol], include_background=True, spacing=sp)[0, 0]),
            "dice_ignore_empty": num(compute_dice(yp, y, include_background=True, ignore_empty=True)[0, 0]),
            "dice_keep_empty": num(compute_dice(yp, y, include_background=True, ignore_empty=False)[0, 0]),
            "iou_ignore_empty": num(compute_iou(yp, y, include_background=True, ignore_empty=True)[0, 0]),
        }


# --------------------------------------------------------------------------- pymia
def pymia_values(pred: np.ndarray, ref: np.ndarray) -> dict:
    from pymia.evaluation.metric import base, categorical as cat

    cm = base.ConfusionMatrix(pred.astype(np.uint8), ref.astype(np.uint8))
    out = {"tp": int(cm.tp), "fp": int(cm.fp), "fn": int(cm.fn), "tn": int(cm.tn)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in [
            ("dice", cat.DiceCoefficient),
            ("jaccard", cat.JaccardCoefficient),
            ("sensitivity", cat.Sensitivity),
            ("specificity", cat.Specificity),
            ("precision", cat.Precision),
            ("volume_similarity", cat.VolumeSimilarity),
        ]:
            m = cls()
            m.confusion_matrix = cm
            out[name] = num(m.calculate())
    return out


def label_case(pred_map, ref_map, label, spacing, tol) -> dict:
    pred, ref = pred_map == label, ref_map == label
    rec = recipe(pred, ref, spacing, tol)
    mon = monai_values(pred, ref, spacing, tol)
    pym = pymia_values(pred, ref)
    if pred.any() and ref.any():
        for k in ("hausdorff_mm", "hd95_mm", "assd_mm"):
            if not math.isclose(rec[k], mon[k], rel_tol=1e-5, abs_tol=1e-5):
                sys.exit(f"label {label}: recipe {k} {rec[k]} differs from MONAI's {mon[k]}")
        if rec["nearest_distance_to_tolerance"] < 1e-4:
            sys.exit(f"label {label}: a distance lies within 1e-4 mm of the tolerance {tol}; pick another")
        if rec["surface_dice"] != mon["surface_dice"] and not math.isclose(rec["surface_dice"], mon["surface_dice"], rel_tol=1e-6):
            sys.exit(f"label {label}: recipe NSD {rec['surface_dice']} differs from MONAI's {mon['surface_dice']}")
    return {"label": int(label), "recipe": {k: num(v) if isinstance(v, float) else v for k, v in rec.items()}, "monai": mon, "pymia": pym}


def case(name, pred_map, ref_map, spacing, labels, tol, note="") -> dict:
    assert pred_map.shape == ref_map.shape
    return {
        "name": name,
        "note": note,
        "shape": list(pred_map.shape),
        "spacing": [float(s) for s in spacing],
        "surface_dice_tolerance_mm": tol,
        "prediction_rle": rle(pred_map),
        "reference_rle": rle(ref_map),
        "labels": [label_case(pred_map, ref_map, l, spacing, tol) for l in labels],
    }


def ball(shape, centre, radius_mm, spacing):
    idx = np.indices(shape).astype(float)
    d2 = sum(((idx[a] - centre[a]) * spacing[a]) ** 2 for a in range(3))
    return d2 <= radius_mm**2


def synthetic_cases() -> list[dict]:
    out = []
    iso = (1.0, 1.0, 1.0)
    an = (0.78, 0.78, 6.5)
    sh = (24, 26, 22)

    a = ball(sh, (11, 12, 10), 7.0, iso)
    b = ball(sh, (13, 12, 11), 6.0, iso)
    out.append(case("spheres_overlap_iso", a.astype(np.uint16), b.astype(np.uint16), iso, [1], 1.5))

    cube_p = np.zeros(sh, np.uint16)
    cube_p[4:14, 5:15, 3:13] = 1
    cube_r = np.zeros(sh, np.uint16)
    cube_r[6:18, 5:17, 5:13] = 1
    out.append(case("cubes_offset_aniso", cube_p, cube_r, (0.9, 1.3, 2.1), [1], 2.0))

    # Two labels, anisotropic MRI-like spacing; label 2 touches the volume faces.
    sh2 = (40, 44, 9)
    p = np.zeros(sh2, np.uint16)
    r = np.zeros(sh2, np.uint16)
    p[ball(sh2, (18, 20, 4), 9.0, an)] = 1
    r[ball(sh2, (20, 21, 4), 10.0, an)] = 1
    p[0:8, 30:44, 0:9] = 2
    r[0:10, 32:44, 2:9] = 2
    out.append(case("two_labels_aniso_078_65", p, r, an, [1, 2], 2.0, "label 2 touches the volume faces"))

    # Disjoint (far apart) and nested shapes.
    p = np.zeros(sh, np.uint16)
    r = np.zeros(sh, np.uint16)
    p[2:6, 2:6, 2:6] = 1
    r[16:22, 18:24, 14:20] = 1
    out.append(case("disjoint_cubes", p, r, iso, [1], 1.0))
    big = ball(sh, (12, 13, 11), 9.0, iso)
    small = ball(sh, (12, 13, 11), 4.0, iso)
    out.append(case("nested_spheres", small.astype(np.uint16), big.astype(np.uint16), (1.0, 0.5, 2.0), [1], 2.7))

    # Single voxels, identical masks, and the mask filling the whole volume.
    p = np.zeros((5, 6, 7), np.uint16)
    r = np.zeros((5, 6, 7), np.uint16)
    p[2, 3, 4] = 1
    r[2, 3, 1] = 1
    out.append(case("single_voxels", p, r, (1.0, 1.0, 1.5), [1], 0.5))
    out.append(case("identical", a.astype(np.uint16), a.astype(np.uint16), an, [1], 0.5))
    full = np.ones((6, 5, 4), np.uint16)
    part = full.copy()
    part[0, :, :] = 0
    out.append(case("full_volume", part, full, (1.0, 2.0, 3.0), [1], 0.5))

    # Every empty combination, in one case: label 1 in both, 2 missed, 3 spurious, 4 in neither.
    p = np.zeros(sh, np.uint16)
    r = np.zeros(sh, np.uint16)
    p[3:9, 3:9, 3:9] = 1
    r[4:10, 3:9, 3:9] = 1
    r[14:20, 14:20, 12:18] = 2
    p[2:5, 18:22, 15:20] = 3
    out.append(case("empty_combinations", p, r, an, [1, 2, 3, 4], 1.0, "1 both, 2 missed, 3 spurious, 4 neither"))
    z = np.zeros((4, 4, 4), np.uint16)
    out.append(case("all_background", z, z, iso, [1], 1.0))
    return out


def real_cases(data: Path) -> list[dict]:
    import nibabel as nib
    import scipy.ndimage as ndi

    lab = data / "mri" / "msd_hippocampus" / "labels"
    if not lab.is_dir():
        sys.exit(f"{lab} not found (pass --data)")

    def load(i):
        return np.asarray(nib.load(lab / f"hippocampus_{i:03d}.nii.gz").dataobj).astype(np.uint16)

    out = []
    a, b = load(1), load(3)
    common = tuple(min(x, y) for x, y in zip(a.shape, b.shape))
    a, b = a[: common[0], : common[1], : common[2]], b[: common[0], : common[1], : common[2]]
    out.append(case("hippocampus_001_vs_003", a, b, (1.0, 1.0, 1.0), [1, 2], 2.5, "two subjects cropped to a common shape"))

    c = load(4)
    eroded = np.zeros_like(c)
    for l in (1, 2):
        eroded[ndi.binary_erosion(c == l)] = l
    out.append(case("hippocampus_004_vs_eroded", eroded, c, (1.0, 1.0, 1.0), [1, 2], 1.2, "per-label 6-connected erosion"))

    d = load(6)
    shifted = np.zeros_like(d)
    shifted[2:, 1:, :] = d[:-2, :-1, :]
    out.append(
        case("hippocampus_006_vs_shifted_aniso", shifted, d, (0.8, 1.1, 1.7), [1, 2], 1.5, "shift (2, 1, 0) voxels, anisotropic spacing")
    )
    return out


def edt_cases() -> list[dict]:
    import scipy.ndimage as ndi

    rng = np.random.default_rng(6)
    out = []
    for shape, density, sampling in [
        ((9, 11, 7), 0.03, (1.0, 1.0, 1.0)),
        ((10, 12, 6), 0.02, (0.78, 0.78, 6.5)),
        ((7, 8, 13), 0.05, (2.0, 0.5, 1.25)),
        ((1, 15, 9), 0.04, (1.0, 0.3, 0.7)),
    ]:
        f = rng.random(shape) < density
        f.flat[0] = True  # at least one feature
        dist = ndi.distance_transform_edt(~f, sampling=sampling)
        out.append(
            {
                "shape": list(shape),
                "sampling": list(sampling),
                "features_rle": rle(f.astype(np.uint8)),
                "distances": [float(x) for x in dist.ravel()],
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    data = args.data or Path(os.environ.get("NEURODL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    ref = versions()
    docs = {
        "metrics.json": {
            "reference": ref,
            "hd_percentile": HD_PERCENTILE,
            "cases": synthetic_cases() + real_cases(data),
        },
        "edt.json": {"reference": ref, "cases": edt_cases()},
    }
    differ = False
    for name, doc in docs.items():
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                print(f"DIFFERS: {path.relative_to(REPO_ROOT)}")
                differ = True
            else:
                print(f"same: {path.relative_to(REPO_ROOT)}")
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)} ({len(text)} bytes)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
