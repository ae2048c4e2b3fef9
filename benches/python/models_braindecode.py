#!/usr/bin/env python3
"""Speed baseline: braindecode 1.8 models on PyTorch CPU, the same protocol as
``crates/neurodl-models/benches/models_vs_braindecode.rs``.

For each model (default: ShallowFBCSPNet and EEGNet with braindecode's defaults,
22 channels x 1125 samples, 4 classes):

* ``train_step``: forward + cross-entropy + backward + AdamW step on a batch of
  ``--batch`` (64) random trials, train mode;
* ``inference``: eval-mode forward of the same batch under ``torch.inference_mode``;
* ``single_trial``: eval-mode forward of one trial.

Each is warmed up (2 runs, 10 for single trials) then timed ``--repeats`` times
(``time.perf_counter``); medians in milliseconds are printed as one JSON line.
``--threads`` sets ``torch.set_num_threads`` (default: all cores, like the Rust side).

    NEURODL_PYTHON=/work/venv-torch/bin/python cargo bench -p neurodl-models
    /work/venv-torch/bin/python benches/python/models_braindecode.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore")

import braindecode  # noqa: E402
import torch  # noqa: E402
from braindecode.models import ATCNet, Deep4Net, EEGConformer, EEGNet, ShallowFBCSPNet  # noqa: E402

CLASSES = {c.__name__: c for c in (ShallowFBCSPNet, Deep4Net, EEGNet, EEGConformer, ATCNet)}


def timed(fn, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="ShallowFBCSPNet,EEGNet")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--single-repeats", type=int, default=50)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n_chans, n_times, n_outputs = 22, 1125, 4
    results = {}
    for name in args.models.split(","):
        model = CLASSES[name](n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=250.0)
        x = torch.randn(args.batch, n_chans, n_times)
        y = torch.randint(0, n_outputs, (args.batch,))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step():
            model.train()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        train_ms = timed(step, 2, args.repeats)
        model.eval()
        one = x[:1].clone()

        def infer(batch):
            with torch.inference_mode():
                model(batch)

        infer_ms = timed(lambda: infer(x), 2, args.repeats)
        single_ms = timed(lambda: infer(one), 10, args.single_repeats)
        results[name] = {"train_step_ms": train_ms, "inference_ms": infer_ms, "single_trial_ms": single_ms}
    print(
        json.dumps(
            {
                "tool": "braindecode",
                "braindecode": braindecode.__version__,
                "torch": torch.__version__,
                "threads": args.threads,
                "batch": args.batch,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
