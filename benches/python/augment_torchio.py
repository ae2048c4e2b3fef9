#!/usr/bin/env python3
"""Python half of crates/neurodl-volume/benches/augment_torchio.rs.

TorchIO 0.20.17 ``Compose([RandomAffine(), RandomElasticDeformation()])`` (defaults:
scales 0.9-1.1, degrees +-10, 7 control points, 7.5 mm, 2 locked borders; image linear,
label nearest) on ``mri/single_subject/bet.nii.gz`` with a label map ``image > 0``, the
same case the Rust side augments. Prints one JSON document: per-run seconds, median,
import time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

t0 = time.perf_counter()
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402
import torchio as tio  # noqa: E402

seconds_import = time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--volume", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    img = nib.load(args.volume)
    data = np.asarray(img.dataobj, dtype=np.float32)
    subject = tio.Subject(
        image=tio.ScalarImage(tensor=torch.from_numpy(data[None].copy()), affine=img.affine),
        label=tio.LabelMap(tensor=torch.from_numpy((data > 0).astype(np.int16)[None]), affine=img.affine),
    )
    transform = tio.Compose([tio.RandomAffine(), tio.RandomElasticDeformation()])
    torch.manual_seed(0)
    transform(subject)  # warm-up, as the Rust side
    runs = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = transform(subject)
        runs.append(time.perf_counter() - t)
    assert out["image"].spatial_shape == subject["image"].spatial_shape
    print(json.dumps({
        "seconds_runs": runs,
        "seconds_median": statistics.median(runs),
        "seconds_import": seconds_import,
        "threads": args.threads,
        "shape": list(data.shape),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
