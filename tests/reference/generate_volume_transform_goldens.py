#!/usr/bin/env python3
"""Write neurodl-volume's golden outputs from SciPy, nibabel and TorchIO.

Input data: a 12 x 14 x 11 crop of the real MSD hippocampus case
``mri/msd_hippocampus/{images,labels}/hippocampus_001.nii.gz`` (shared data), stored in
the goldens so the Rust tests need no shared data. For the TorchIO cases the crop is
given a synthetic oblique, anisotropic affine (``CROP_AFFINE``) so that direction and
spacing handling are exercised.

Files (``tests/golden/volume_transforms/``):

- ``interp_scipy.json``: ``scipy.ndimage`` ``affine_transform`` / ``map_coordinates``
  (order 0, 1, 3; modes constant, mirror, nearest), ``zoom`` (mode mirror),
  ``spline_filter`` (order 3) and ``gaussian_filter`` (mode reflect, truncate 4).
- ``spatial_torchio.json``: TorchIO ``Flip``, nibabel ``as_closest_canonical`` (data and
  affine), TorchIO ``Resample`` (affine, shape, linear image, nearest label), TorchIO
  ``Affine`` with fixed scales / degrees / translation (the SimpleITK output-to-input
  matrix, plus linear and nearest outputs), TorchIO ``ElasticDeformation`` with fixed
  control points, TorchIO ``BiasField`` with fixed coefficients.
- ``intensity_numpy.json``: nnU-Net's z-score (non-zero mask) and CT normalisation,
  transcribed from nnunetv2 (not installed: it pulls a training stack) in NumPy.

Usage, from the repository root::

    /work/venv-torch/bin/python tests/reference/generate_volume_transform_goldens.py [--data DIR] [--check]

``--check`` regenerates in memory and exits 1 if a committed golden differs (integers and
strings exactly; floats by more than ``CHECK_REL`` of the largest magnitude in their
list, since SimpleITK's multithreaded resampling and BLAS may differ in the last bits).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi
import torch
import torchio as tio

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "volume_transforms"
CASE = "hippocampus_001.nii.gz"
CROP = (slice(10, 22), slice(20, 34), slice(10, 21))
CROP_AFFINE = np.array(
    [
        [0.98, -0.12, 0.05, -10.0],
        [0.14, 1.17, 0.0, 4.0],
        [-0.04, 0.02, 0.9, 7.5],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
CHECK_REL = 1e-6


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("numpy", "scipy", "nibabel", "torchio", "simpleitk", "torch"):
        out[pkg] = importlib.metadata.version(pkg)
    return out


def flat(a) -> list:
    """C-order flattening; float32 values printed with 9 significant digits (exact)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return [float(f"{v:.9g}") for v in a.astype(np.float64).ravel()]
    return [int(v) for v in a.ravel()]


def load_crop(data_dir: Path):
    img = np.asarray(nib.load(data_dir / "mri/msd_hippocampus/images" / CASE).dataobj)[CROP]
    lab = np.asarray(nib.load(data_dir / "mri/msd_hippocampus/labels" / CASE).dataobj)[CROP]
    return img.astype(np.float32), lab.astype(np.int64)


def interp_goldens(img: np.ndarray) -> dict:
    rng = np.random.default_rng(6)
    cases = []
    theta = np.radians(17.0)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0.0], [np.sin(theta), np.cos(theta), 0.0], [0.0, 0.0, 1.0]])
    matrix = rot @ np.diag([0.9, 1.1, 1.05]) + np.array([[0, 0.05, 0], [0, 0, -0.08], [0.03, 0, 0]])
    offset = np.array([1.3, -1.7, 0.6])
    out_shape = (11, 13, 10)
    for order, mode, cval in [(0, "constant", -3.0), (1, "constant", -3.0), (3, "constant", -3.0), (1, "mirror", 0.0), (3, "mirror", 0.0), (1, "nearest", 0.0)]:
        out = ndi.affine_transform(img.astype(np.float64), matrix, offset=offset, output_shape=out_shape, order=order, mode=mode, cval=cval)
        cases.append({"kind": "affine_transform", "matrix": np.hstack([matrix, offset[:, None]]).tolist(), "output_shape": list(out_shape), "order": order, "mode": mode, "cval": cval, "output": flat(out)})
    n = 150
    coords = np.stack([rng.uniform(-1.5, s + 0.5, n) for s in img.shape])
    for order, mode, cval in [(0, "constant", 2.0), (1, "constant", 2.0), (3, "constant", 2.0), (0, "mirror", 0.0), (3, "mirror", 0.0), (0, "nearest", 0.0), (1, "nearest", 0.0)]:
        out = ndi.map_coordinates(img.astype(np.float64), coords, order=order, mode=mode, cval=cval)
        cases.append({"kind": "map_coordinates", "order": order, "mode": mode, "cval": cval, "output": flat(out)})
    for order in (0, 1, 3):
        out = ndi.zoom(img.astype(np.float64), (1.4, 0.7, 1.25), order=order, mode="mirror")
        cases.append({"kind": "zoom", "zoom": [1.4, 0.7, 1.25], "output_shape": list(out.shape), "order": order, "mode": "mirror", "output": flat(out)})
    cases.append({"kind": "spline_filter", "order": 3, "mode": "mirror", "output": flat(ndi.spline_filter(img.astype(np.float64), order=3, mode="mirror"))})
    sigma = (0.8, 1.3, 0.6)
    cases.append({"kind": "gaussian_filter", "sigma": list(sigma), "mode": "reflect", "truncate": 4.0, "output": flat(ndi.gaussian_filter(img.astype(np.float64), sigma, mode="reflect", truncate=4.0))})
    return {"source": f"crop {CROP} of {CASE}", "versions": versions(), "shape": list(img.shape), "input": flat(img), "coordinates": coords.T.tolist(), "cases": cases}


def sitk_matrix_ras(transform) -> list:
    """The 4 x 4 RAS matrix of a SimpleITK (LPS) transform, from 4 transformed points."""
    p = np.diag([-1.0, -1.0, 1.0])
    pts = [np.zeros(3), np.eye(3)[0], np.eye(3)[1], np.eye(3)[2]]
    mapped = [p @ np.array(transform.TransformPoint((p @ x).tolist())) for x in pts]
    m = np.eye(4)
    m[:3, 3] = mapped[0]
    for j in range(3):
        m[:3, j] = mapped[j + 1] - mapped[0]
    return m.tolist()


def subject(img, lab, affine):
    return tio.Subject(
        image=tio.ScalarImage(tensor=torch.from_numpy(img[None].copy()), affine=affine),
        label=tio.LabelMap(tensor=torch.from_numpy(lab[None].copy()), affine=affine),
    )


def spatial_goldens(img: np.ndarray, lab: np.ndarray) -> dict:
    out: dict = {"source": f"crop {CROP} of {CASE} with affine CROP_AFFINE", "versions": versions(), "shape": list(img.shape), "affine": CROP_AFFINE.tolist(), "image": flat(img), "label": flat(lab)}
    s = subject(img, lab, CROP_AFFINE)
    flipped = tio.Flip(axes=(0, 2))(s)
    out["flip"] = {"axes": [0, 2], "image": flat(flipped["image"].data[0].numpy()), "label": flat(flipped["label"].data[0].numpy())}

    reorients = []
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    for affine in (
        [[-1.0, 0, 0, 90.0], [0, -1.0, 0, 126.0], [0, 0, 1.0, -72.0], [0, 0, 0, 1]],
        [[0.0, -2.0, 0.1, 5.0], [0.05, 0.0, 3.0, -2.0], [1.0, 0.02, 0.0, 1.0], [0, 0, 0, 1]],
        [[0.0, 0.0, -1.5, 3.0], [-1.2, 0.0, 0.0, 4.0], [0.0, 0.9, 0.0, -6.0], [0, 0, 0, 1]],
    ):
        can = nib.as_closest_canonical(nib.Nifti1Image(data, np.array(affine)))
        reorients.append({"affine": affine, "shape": list(data.shape), "data": flat(data), "out_affine": can.affine.tolist(), "out_shape": list(can.shape), "out_data": flat(np.asarray(can.dataobj))})
    out["reorient"] = reorients

    # Spacings chosen so no output voxel maps exactly half-way between two input voxels: at
    # such ties nearest-neighbour depends on the last bit of each implementation's arithmetic.
    target = (1.4, 0.8, 1.3)
    res = tio.Resample(target)(s)
    out["resample"] = {"spacing": list(target), "out_shape": list(res["image"].spatial_shape), "out_affine": res["image"].affine.tolist(), "image": flat(res["image"].data[0].numpy()), "label": flat(res["label"].data[0].numpy())}

    affines = []
    for scales, degrees, translation in (((1.1, 0.9, 1.05), (12.0, -7.0, 20.0), (1.5, -2.0, 0.5)), ((0.8, 0.8, 0.8), (0.0, 0.0, 35.0), (0.0, 0.0, 0.0))):
        entry = {"scales": list(scales), "degrees": list(degrees), "translation": list(translation), "default_pad_value": -1.0}
        t = tio.Affine(scales, degrees, translation, default_pad_value=-1.0, image_interpolation="linear")
        entry["output_to_input_ras"] = sitk_matrix_ras(t.get_affine_transform(s["image"]))
        r = t(s)
        entry["linear"] = flat(r["image"].data[0].numpy())
        entry["label_nearest"] = flat(r["label"].data[0].numpy())
        rn = tio.Affine(scales, degrees, translation, default_pad_value=-1.0, image_interpolation="nearest")(s)
        entry["nearest"] = flat(rn["image"].data[0].numpy())
        affines.append(entry)
    out["affine_fixed"] = affines

    rng = np.random.default_rng(7)
    n_ctrl = (5, 6, 5)
    cp_lps = rng.uniform(-1.0, 1.0, (*n_ctrl, 3)) * np.array([1.5, 2.0, 1.0])
    e = tio.transforms.augmentation.spatial.random_elastic_deformation.ElasticDeformation(control_points=cp_lps.astype(np.float64), max_displacement=(1.5, 2.0, 1.0))
    r = e(s)
    out["elastic_fixed"] = {"control_points_ras": flat(cp_lps * np.array([-1.0, -1.0, 1.0])), "num_control_points": list(n_ctrl), "pad": float(img.min()), "linear": flat(r["image"].data[0].numpy()), "label_nearest": flat(r["label"].data[0].numpy())}

    coefs = rng.uniform(-0.5, 0.5, 20).round(6)
    bf = tio.transforms.augmentation.intensity.random_bias_field.BiasField(coefficients=coefs.tolist(), order=3)(s)
    out["bias_field"] = {"order": 3, "coefficients": coefs.tolist(), "image": flat(bf["image"].data[0].numpy())}
    return out


def intensity_goldens(img: np.ndarray, lab: np.ndarray) -> dict:
    x = img.astype(np.float64).copy()
    x[:, :3, :] = 0.0  # a zero region, so the non-zero mask matters
    mask = x != 0
    z = x.copy()
    z[mask] = (z[mask] - z[mask].mean()) / max(z[mask].std(), 1e-8)
    fg = img[lab > 0].astype(np.float64)
    stats = {"mean": fg.mean(), "std": fg.std(), "lower": np.percentile(fg, 0.5), "upper": np.percentile(fg, 99.5)}
    ct = (np.clip(img.astype(np.float64), stats["lower"], stats["upper"]) - stats["mean"]) / max(stats["std"], 1e-8)
    return {"versions": versions(), "shape": list(img.shape), "zeroed_input": flat(x.astype(np.float32)), "zscore_nonzero": flat(z), "image": flat(img), "label": flat(lab), "ct_stats": stats, "ct": flat(ct)}


def compare(old, new, path="") -> list:
    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            return [f"{path}: keys differ"]
        return [d for k in old for d in compare(old[k], new[k], f"{path}.{k}")]
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: length {len(old)} vs {len(new)}"]
        if old and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in old + new):
            a, b = np.array(old, float), np.array(new, float)
            scale = max(np.abs(a).max(), 1e-300)
            return [f"{path}: max diff {np.abs(a - b).max():.3g}"] if np.abs(a - b).max() > CHECK_REL * scale else []
        return [d for i, (o, n) in enumerate(zip(old, new)) for d in compare(o, n, f"{path}[{i}]")]
    if isinstance(old, float) or isinstance(new, float):
        return [] if abs(old - new) <= CHECK_REL * max(abs(old), 1e-300) else [f"{path}: {old} vs {new}"]
    return [] if old == new or path.endswith("python") else [f"{path}: {old!r} vs {new!r}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    ap.add_argument("--check", action="store_true", help="regenerate in memory and report files that differ; write nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    img, lab = load_crop(args.data)
    goldens = {
        "interp_scipy.json": interp_goldens(img),
        "spatial_torchio.json": spatial_goldens(img, lab),
        "intensity_numpy.json": intensity_goldens(img, lab),
    }
    failures = []
    for name, doc in goldens.items():
        path = OUT / name
        if args.check:
            if not path.exists():
                failures.append(f"{name}: missing")
                continue
            diffs = compare(json.loads(path.read_text()), json.loads(json.dumps(doc)))
            failures += [f"{name}{d}" for d in diffs]
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
            print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size // 1024} KiB)")
    if args.check:
        print("\n".join(failures) if failures else "all volume-transform goldens match")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
