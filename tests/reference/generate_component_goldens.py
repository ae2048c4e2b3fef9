#!/usr/bin/env python3
"""Write neurodl-volume's connected-component goldens from SciPy.

``tests/golden/volume_transforms/components.json`` holds

* ``label_cases``: random masks (C-order run-length encoded) and
  ``scipy.ndimage.label(mask, structure=generate_binary_structure(3, r))`` for r = 1
  (``faces``) and r = 3 (``full``): the label map (same encoding) and the count. The Rust
  tests require the label maps to be identical -- numbering included.
* ``largest_cases``: a real MSD hippocampus label map (case 001) with seeded spurious islands
  of both classes added, and the label map after nnU-Net v2's post-processing rule -- keep
  the largest connected component of the chosen classes (``np.argmax`` of the component
  sizes: the first among equals), set the rest to background -- for class 1, class 2 and
  the whole foreground, with both connectivities. Compared exactly.

Usage, from the repository root::

    /work/venv-torch/bin/python tests/reference/generate_component_goldens.py [--check] [--data DIR]

Data folder: ``--data``, else ``$NEURODL_SHARED_DATA``, else ``<repo>/../shared/data``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "volume_transforms" / "components.json"
PINS = {"scipy": "1.17.1", "numpy": "2.4.6", "nibabel": "5.3.2"}
RANK = {"faces": 1, "full": 3}


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg, want in PINS.items():
        got = importlib.metadata.version(pkg)
        if got != want:
            sys.exit(f"{pkg} {got} is installed; these goldens are pinned to {want}")
        out[pkg] = want
    return out


def rle(a: np.ndarray) -> list[int]:
    """[value, run, value, run, ...] over the C-order flattening."""
    flat = a.ravel(order="C").astype(np.int64)
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [flat.size]])
    out: list[int] = []
    for s, e in zip(starts, ends):
        out += [int(flat[s]), int(e - s)]
    return out


def label(mask: np.ndarray, connectivity: str):
    import scipy.ndimage as ndi

    structure = ndi.generate_binary_structure(3, RANK[connectivity])
    return ndi.label(mask, structure=structure)


def label_cases() -> list[dict]:
    rng = np.random.default_rng(11)
    out = []
    for shape, density in [((12, 9, 7), 0.3), ((1, 20, 15), 0.45), ((6, 6, 6), 0.5), ((4, 1, 30), 0.6)]:
        mask = rng.random(shape) < density
        case = {"shape": list(shape), "mask_rle": rle(mask.astype(np.uint8))}
        for conn in RANK:
            labels, n = label(mask, conn)
            case[conn] = {"n": int(n), "labels_rle": rle(labels)}
        out.append(case)
    return out


def keep_largest(labels: np.ndarray, classes: list[int], connectivity: str) -> np.ndarray:
    mask = np.isin(labels, classes) & (labels != 0)
    comp, n = label(mask, connectivity)
    out = labels.copy()
    if n > 1:
        sizes = np.bincount(comp.ravel())[1:]
        keep = int(np.argmax(sizes)) + 1
        out[(comp != 0) & (comp != keep)] = 0
    return out


def largest_cases(data: Path) -> list[dict]:
    import nibabel as nib

    path = data / "mri" / "msd_hippocampus" / "labels" / "hippocampus_001.nii.gz"
    if not path.exists():
        sys.exit(f"{path} not found (pass --data)")
    labels = np.asarray(nib.load(path).dataobj).astype(np.uint16)
    rng = np.random.default_rng(3)
    noisy = labels.copy()
    # Islands away from the structure and single voxels next to it.
    for _ in range(12):
        c = [int(rng.integers(0, s - 2)) for s in noisy.shape]
        noisy[c[0] : c[0] + int(rng.integers(1, 3)), c[1] : c[1] + 2, c[2] : c[2] + 2] = int(rng.integers(1, 3))
    out = {"source": "hippocampus_001 labels + 12 seeded islands", "shape": list(noisy.shape), "labels_rle": rle(noisy), "expected": []}
    for conn in RANK:
        for classes in ([1], [2], [1, 2]):
            out["expected"].append(
                {"connectivity": conn, "classes": classes, "labels_rle": rle(keep_largest(noisy, classes, conn))}
            )
    return [out]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    data = args.data or Path(os.environ.get("NEURODL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    doc = {"reference": versions(), "label_cases": label_cases(), "largest_cases": largest_cases(data)}
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"DIFFERS: {OUT.relative_to(REPO_ROOT)}")
            return 1
        print("goldens match")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
