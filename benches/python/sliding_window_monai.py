"""Python half of crates/neurodl-models/benches/sliding_window_monai.rs: MONAI 1.5's
``sliding_window_inference`` (Gaussian blending, sigma_scale 0.125, overlap 0.5, one window per
call) with nnU-Net's PlainConvUNet (the torch.nn definition of
tests/reference/generate_unet_goldens.py, identical to dynamic-network-architectures 0.4.4) on a
random volume, eval mode, no gradients. Weights: the safetensors file the Rust side wrote
(``--weights``), so both sides run the same network.

Prints one JSON document: per-run milliseconds, their median, peak RSS (MiB), import seconds.

    /work/venv-torch/bin/python benches/python/sliding_window_monai.py --threads 2 --weights w.safetensors
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

t0 = time.perf_counter()
import torch
from monai.inferers import sliding_window_inference
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "reference"))
from generate_unet_goldens import PlainConvUNet  # noqa: E402

t_import = time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--config", required=True, help="PlainConvUNetConfig as JSON")
    p.add_argument("--weights", required=True)
    p.add_argument("--shape", type=int, nargs=3, required=True)
    p.add_argument("--patch", type=int, nargs=3, required=True)
    args = p.parse_args()
    # The generator module pins one thread and deterministic kernels for its fixtures; undo both.
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(False)
    config = json.loads(args.config)
    net = PlainConvUNet(config).eval()
    # Our file holds the canonical names only; the aliases PyTorch lists are the same tensors.
    result = net.load_state_dict(load_file(args.weights), strict=False)
    missing = [k for k in result.missing_keys if ".all_modules." not in k and not k.startswith("decoder.encoder.")]
    if missing or result.unexpected_keys:
        sys.exit(f"weights do not fit: missing {missing}, unexpected {result.unexpected_keys}")
    net.decoder.deep_supervision = False
    g = torch.Generator().manual_seed(0)
    x = torch.randn([1, config["in_channels"], *args.shape], generator=g)
    times = []
    with torch.inference_mode():
        sliding_window_inference(x, args.patch, 1, net, overlap=0.5, mode="gaussian", sigma_scale=0.125)  # warm-up
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = sliding_window_inference(x, args.patch, 1, net, overlap=0.5, mode="gaussian", sigma_scale=0.125)
            times.append((time.perf_counter() - t) * 1e3)
    times_sorted = sorted(times)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": args.threads,
                "times_ms": times,
                "median_ms": times_sorted[len(times) // 2],
                "output_shape": list(out.shape),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "seconds_import": t_import,
            }
        )
    )


if __name__ == "__main__":
    main()
