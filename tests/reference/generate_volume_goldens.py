#!/usr/bin/env python3
"""Write neurodl-io's volume goldens (NIfTI via nibabel, NRRD via SimpleITK).

For each real file this records what the reference reader reports: the shape in
neurodl's ``channels x X x Y x Z`` convention, the stored dtype, the voxel-to-world affine
(RAS+, nibabel's ``img.affine``; for NRRD, SimpleITK's LPS geometry with the first two
rows negated), the NIfTI scaling and xform codes, nibabel's axis codes, a few voxels
and the sum / sum of squares of the stored (unscaled) values in float64.

Files:

* shared data (``../shared/data`` or ``--data``): three MSD hippocampus cases (image and
  label), ``mri/single_subject/bet.nii.gz``, and the four NRRD tumour files;
* tiny NIfTI-1 fixtures written here field by field (``tests/golden/volume_io/fixtures``,
  a few hundred bytes each): qform-only oblique with qfac -1, neither form (nibabel's
  fallback affine), qfac 0, scl_slope/scl_inter, big-endian sform (code 4) beside a
  different qform, big-endian 4-D;
* nibabel's own test images from the installed wheel (``nibabel/tests/data``): big-endian
  NIfTI-1 (``anatomical.nii``, ``reoriented_anat_moved.nii``), 4-D (``example4d.nii.gz``,
  ``functional.nii``), NIfTI-2 (``example_nifti2.nii.gz``) and sform-only
  (``standard.nii.gz``). Their goldens name them ``nibabel:<file>``; the Rust test
  finds them with ``NEURODL_NIBABEL_DATA`` or the venv path and skips when absent.

Writing is checked the other way round, without committing written files: the ignored
Rust test ``volume_golden::write_files_for_reference`` (run it with
``NEURODL_VOLUME_WRITTEN=DIR cargo test -p neurodl-io --test volume_golden -- --ignored``)
writes NIfTI-1 ``.nii.gz``, NIfTI-2, big-endian, oblique and NRRD files into DIR with a
``<file>.expect.json`` next to each (neurodl's affine, shape, sum), and
``--verify-written DIR`` reads every file with nibabel / SimpleITK and exits 1 unless the
affine agrees to 1e-6 relative (NIfTI-1 stores f32) and shape and sum agree.

Usage, from the repository root::

    /work/venv-torch/bin/pip install -r tests/reference/requirements-seg.txt
    /work/venv-torch/bin/python tests/reference/generate_volume_goldens.py [--data DIR] [--check]
    /work/venv-torch/bin/python tests/reference/generate_volume_goldens.py --verify-written DIR

``--check`` regenerates in memory and exits 1 if the committed golden differs (integers
and strings exactly, floats by more than 1e-12 relative).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
OUT = REPO_ROOT / "tests" / "golden" / "volume_io" / "volumes.json"
SHARED_NIFTI = [
    "mri/msd_hippocampus/images/hippocampus_001.nii.gz",
    "mri/msd_hippocampus/labels/hippocampus_001.nii.gz",
    "mri/msd_hippocampus/images/hippocampus_003.nii.gz",
    "mri/msd_hippocampus/labels/hippocampus_003.nii.gz",
    "mri/msd_hippocampus/images/hippocampus_004.nii.gz",
    "mri/msd_hippocampus/labels/hippocampus_004.nii.gz",
    "mri/single_subject/bet.nii.gz",
]
SHARED_NRRD = [
    "mri/nrrd_tumour/brain1_image.nrrd",
    "mri/nrrd_tumour/brain1_label.nrrd",
    "mri/nrrd_tumour/brain2_image.nrrd",
    "mri/nrrd_tumour/brain2_label.nrrd",
]
NIBABEL_FILES = [
    "anatomical.nii",
    "reoriented_anat_moved.nii",
    "example4d.nii.gz",
    "functional.nii",
    "example_nifti2.nii.gz",
    "standard.nii.gz",
]
N_RANDOM_VOXELS = 12
CHECK_REL = 1e-12
WRITTEN_AFFINE_REL = 1e-6
DTYPES = {
    "uint8": "u8", "int8": "i8", "uint16": "u16", "int16": "i16",
    "uint32": "u32", "int32": "i32", "float32": "f32", "float64": "f64",
}


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("nibabel", "numpy", "SimpleITK"):
        out[pkg] = importlib.metadata.version(pkg)
    return out


def nibabel_data_dir() -> Path:
    return Path(nib.__file__).parent / "tests" / "data"


def summary(data: np.ndarray, seed_name: str) -> dict:
    """data: channels x X x Y x Z, stored dtype."""
    c, x, y, z = data.shape
    rng = np.random.default_rng(sum(seed_name.encode()))
    idx = [(0, 0, 0, 0), (c - 1, x - 1, y - 1, z - 1), (0, x // 2, y // 2, z // 2)]
    idx += [tuple(int(rng.integers(0, n)) for n in data.shape) for _ in range(N_RANDOM_VOXELS)]
    as64 = data.astype(np.float64)
    return {
        "shape": list(data.shape),
        "dtype": DTYPES[data.dtype.newbyteorder("=").name],
        "sum": float(as64.sum()),
        "sum_sq": float((as64 * as64).sum()),
        "voxels": [[*i, float(data[i])] for i in idx],
    }


def nifti_record(path: Path, name: str) -> dict:
    img = nib.load(str(path))
    hdr = img.header
    raw = np.asanyarray(img.dataobj.get_unscaled())
    data = raw.reshape(raw.shape[:3] + (-1,)) if raw.ndim > 3 else raw[..., None]
    data = np.moveaxis(data, 3, 0)
    # The loaded image's header has its scaling moved to the array proxy; nibabel's
    # get_slope_inter on the header as stored is what a reader must report.
    with nib.openers.ImageOpener(str(path)) as f:
        slope, inter = type(hdr).from_fileobj(f).get_slope_inter()
    rec = {
        "name": name,
        "format": "nifti" + ("2" if isinstance(img, nib.Nifti2Image) else "1"),
        "affine": img.affine.tolist(),
        "axis_codes": "".join(nib.aff2axcodes(img.affine)),
        "scaling": None if slope is None else [float(slope), float(inter if inter is not None else 0.0)],
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "big_endian": hdr.endianness == ">",
    }
    rec.update(summary(data, name))
    return rec


def sitk_affine_ras(image) -> np.ndarray:
    d = np.array(image.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = d @ np.diag(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def nrrd_record(path: Path, name: str) -> dict:
    image = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(image)  # z, y, x[, components]
    if arr.ndim == 3:
        data = arr.transpose(2, 1, 0)[None]
    else:
        data = arr.transpose(3, 2, 1, 0)
    affine = sitk_affine_ras(image)
    rec = {
        "name": name,
        "format": "nrrd",
        "affine": affine.tolist(),
        "axis_codes": "".join(nib.aff2axcodes(affine)),
        "scaling": None,
    }
    rec.update(summary(data, name))
    return rec


FIXTURES = REPO_ROOT / "tests" / "golden" / "volume_io" / "fixtures"


def fixture_bytes() -> dict[str, bytes]:
    """Tiny NIfTI-1 files with the header cases real files lack, written field by field
    with nibabel's header class (``write_to``) so every field is exactly as set here."""
    rng_data = np.arange(4 * 5 * 6, dtype=np.float64).reshape(4, 5, 6, order="F") - 40.0
    c, s = np.cos(0.35), np.sin(0.35)
    oblique = np.array([[c * 2, -s * 3, 0, 10.0], [s * 2, c * 3, 0, -20.0], [0, 0, -4.0, 30.0], [0, 0, 0, 1]])
    out = {}

    def make(name, dtype, edit, endian="<", data=rng_data):
        hdr = nib.Nifti1Header(endianness=endian)
        hdr.set_data_shape(data.shape)
        hdr.set_data_dtype(dtype)
        edit(hdr)
        hdr["vox_offset"] = 352
        raw = hdr.binaryblock + b"\0" * 4 + np.asarray(data, dtype=np.dtype(dtype).newbyteorder(endian)).tobytes(order="F")
        out[name] = raw

    def qform_only(h):
        h.set_qform(oblique, code=1)  # z flipped: qfac -1
        h.set_sform(None, code=0)

    def neither(h):
        h.set_zooms((2.0, 3.0, 4.0))
        h["qform_code"] = 0
        h["sform_code"] = 0

    def qfac0(h):
        h.set_qform(np.diag([2.0, 3.0, 4.0, 1.0]), code=1)
        h.set_sform(None, code=0)
        h["pixdim"][0] = 0  # nibabel reads qfac 0 as 1

    def scaled(h):
        h.set_sform(np.diag([1.0, 1.0, 1.0, 1.0]), code=2)
        h["scl_slope"] = 0.5
        h["scl_inter"] = 10.0

    def sform_wins(h):
        h.set_qform(np.diag([5.0, 5.0, 5.0, 1.0]), code=1)
        h.set_sform(oblique, code=4)

    make("qform_only_oblique.nii", np.int16, qform_only)
    make("neither.nii", np.uint8, neither, data=rng_data + 40)
    make("qfac0.nii", np.int16, qfac0)
    make("scaled_slope.nii", np.int16, scaled)
    make("big_endian_sform_mni.nii", np.float32, sform_wins, endian=">")
    make("big_endian_4d_u16.nii", np.uint16, scaled, endian=">", data=np.arange(3 * 4 * 2 * 5).reshape(3, 4, 2, 5))
    return out


def generate(data_dir: Path, write_fixtures: bool = True) -> dict:
    records = []
    fixtures = fixture_bytes()
    if write_fixtures:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for name, raw in fixtures.items():
            (FIXTURES / name).write_bytes(raw)
    for name in sorted(fixtures):
        records.append(nifti_record(FIXTURES / name, "fixture:" + name))
    for rel in SHARED_NIFTI:
        records.append(nifti_record(data_dir / rel, "shared:" + rel))
    for rel in SHARED_NRRD:
        records.append(nrrd_record(data_dir / rel, "shared:" + rel))
    nib_dir = nibabel_data_dir()
    for f in NIBABEL_FILES:
        records.append(nifti_record(nib_dir / f, "nibabel:" + f))
    return {
        "generator": "tests/reference/generate_volume_goldens.py",
        "versions": versions(),
        "records": records,
    }


def differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k == "versions":
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in one")
            else:
                out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        if abs(a - b) > CHECK_REL * max(abs(a), abs(b), 1e-300):
            return [f"{path}: {a!r} vs {b!r}"]
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def verify_written(directory: Path) -> int:
    failures = 0
    expects = sorted(directory.glob("*.expect.json"))
    if not expects:
        print(f"no *.expect.json in {directory}", file=sys.stderr)
        return 1
    for expect_path in expects:
        expect = json.loads(expect_path.read_text())
        path = directory / expect["file"]
        if path.suffix in (".nrrd", ".nhdr"):
            image = sitk.ReadImage(str(path))
            arr = sitk.GetArrayFromImage(image)
            data = arr.transpose(2, 1, 0)[None] if arr.ndim == 3 else arr.transpose(3, 2, 1, 0)
            affine = sitk_affine_ras(image)
            extra = ""
        else:
            img = nib.load(str(path))
            raw = np.asanyarray(img.dataobj.get_unscaled())
            data = raw.reshape(raw.shape[:3] + (-1,)) if raw.ndim > 3 else raw[..., None]
            data = np.moveaxis(data, 3, 0)
            affine = img.affine
            hdr = img.header
            extra = f" {type(img).__name__} qform_code={int(hdr['qform_code'])} sform_code={int(hdr['sform_code'])}"
            # neurodl fills the qform fields from the affine even when qform_code is 0 (as
            # nibabel does); nibabel's reading of them must give the same rigid part.
            qerr = float(np.abs(hdr.get_qform() - np.array(expect["affine"])).max())
            if qerr > WRITTEN_AFFINE_REL * max(np.abs(affine).max(), 1.0) and expect.get("rigid", True):
                extra += f" QFORM differs by {qerr:.3g}"
                failures += 1
            with nib.openers.ImageOpener(str(path)) as f:
                slope, inter = type(hdr).from_fileobj(f).get_slope_inter()
            got = None if slope is None else [float(slope), float(inter)]
            if got != expect.get("scaling"):
                extra += f" SCALING {got} vs {expect.get('scaling')}"
                failures += 1
        want = np.array(expect["affine"])
        scale = max(np.abs(want).max(), 1.0)
        err = float(np.abs(affine - want).max() / scale)
        problems = []
        if err > WRITTEN_AFFINE_REL:
            problems.append(f"affine differs by {err:.3g} relative:\n{affine}\nvs\n{want}")
        if list(data.shape) != expect["shape"]:
            problems.append(f"shape {list(data.shape)} vs {expect['shape']}")
        total = float(data.astype(np.float64).sum())
        if abs(total - expect["sum"]) > 1e-9 * max(abs(total), 1.0):
            problems.append(f"sum {total} vs {expect['sum']}")
        status = "FAIL" if problems else "ok"
        print(f"{status} {expect['file']}: affine max rel err {err:.2e}{extra}")
        for p in problems:
            print("   ", p)
        failures += bool(problems)
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO_ROOT / ".." / "shared" / "data")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--verify-written", type=Path, metavar="DIR")
    args = ap.parse_args()
    if args.verify_written:
        return verify_written(args.verify_written)
    golden = generate(args.data.resolve(), write_fixtures=not args.check)
    text = json.dumps(golden, indent=1) + "\n"
    if args.check:
        committed = json.loads(OUT.read_text())
        diffs = differences(committed, golden)
        for name, raw in fixture_bytes().items():
            if (FIXTURES / name).read_bytes() != raw:
                diffs.append(f"fixture {name}: committed bytes differ")
        for d in diffs[:50]:
            print(d)
        print(f"{len(diffs)} differences" if diffs else "goldens match")
        return 1 if diffs else 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(golden['records'])} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
