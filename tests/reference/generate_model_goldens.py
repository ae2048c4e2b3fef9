#!/usr/bin/env python3
"""Golden fixtures for neurodl-models, from braindecode on PyTorch (CPU, float32).

Writes to ``tests/golden/models/``:

* ``param_counts.json``: trainable parameter counts (``sum(p.numel() for p in
  model.parameters() if p.requires_grad)``) of the five models with braindecode's
  defaults at the two reference shapes of issue 4 (22 ch x 1125 samples at 250 Hz,
  64 ch x 480 samples at 160 Hz, 4 outputs), plus a few non-default configurations.
* for each case in ``CASES``: ``<case>.safetensors`` with the model's
  ``state_dict`` (random weights, BatchNorm statistics included) exactly as
  ``safetensors.torch.save_file(model.state_dict(), path)`` writes it, and
  ``<case>.io.safetensors`` with a fixed input batch ``x`` and braindecode's
  eval-mode output ``y``.
* ``train_<case>.io.safetensors`` for the training-step check: inputs, integer
  targets, the cross-entropy loss of the train-mode forward before and after one
  AdamW step (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01), with
  dropout disabled (``drop_prob=0``) because dropout masks cannot be matched
  across frameworks. The starting weights are the case's ``.safetensors`` file.
* ``INDEX.json``: every case with its braindecode class, keyword arguments,
  shapes, and the versions used.

Shapes and widths are kept small so that the committed files stay well under
2 MB in total; the reference shapes are only needed for parameter counts, which
need no weights. Deterministic: a fixed seed per case, single-threaded torch.

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install -r tests/reference/requirements-models.txt
    /work/venv-torch/bin/python tests/reference/generate_model_goldens.py
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
from pathlib import Path

import braindecode
import safetensors
import torch
from braindecode.models import ATCNet, Deep4Net, EEGConformer, EEGNet, ShallowFBCSPNet
from safetensors.torch import save_file

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

CLASSES = {
    "ShallowFBCSPNet": ShallowFBCSPNet,
    "Deep4Net": Deep4Net,
    "EEGNet": EEGNet,
    "EEGConformer": EEGConformer,
    "ATCNet": ATCNet,
}

REFERENCE_SHAPES = [
    {"n_chans": 22, "n_times": 1125, "sfreq": 250.0, "n_outputs": 4},
    {"n_chans": 64, "n_times": 480, "sfreq": 160.0, "n_outputs": 4},
]

# braindecode 1.8.1 cannot build split_first_layer=False (its initialisation reads
# conv_time_spat unconditionally), so that option is neither tested nor offered.
# ATCNet's concat=True is broken in 1.8.1 (its forward zips the windows with the single
# final layer, so only the first window is used and the shapes then disagree), so it is
# neither tested nor offered either.
# Extra parameter-count checks of non-default options (at 22 x 1125, 4 outputs).
EXTRA_COUNTS = [
    ("ShallowFBCSPNet", {"final_conv_length": 30}),
    ("ShallowFBCSPNet", {"batch_norm": False}),
    ("Deep4Net", {"final_conv_length": 2}),
    ("Deep4Net", {"batch_norm": False, "stride_before_pool": True}),
    ("EEGNet", {"F1": 16, "D": 4, "F2": 32}),
    ("EEGNet", {"final_layer_with_constraint": True}),
    ("EEGConformer", {"num_layers": 2, "num_heads": 4}),
    ("ATCNet", {"n_windows": 3, "tcn_depth": 3}),
]

# Parity cases: (name, class, signal kwargs, model kwargs, batch size).
CASES = [
    ("shallow", "ShallowFBCSPNet", {"n_chans": 8, "n_times": 300, "n_outputs": 3}, {}, 4),
    ("shallow_dense", "ShallowFBCSPNet", {"n_chans": 8, "n_times": 300, "n_outputs": 3},
     {"final_conv_length": 5}, 2),
    ("shallow_nobn_max", "ShallowFBCSPNet", {"n_chans": 8, "n_times": 300, "n_outputs": 3},
     {"batch_norm": False, "pool_mode": "max"}, 2),
    ("deep4", "Deep4Net", {"n_chans": 8, "n_times": 500, "n_outputs": 3},
     {"n_filters_time": 8, "n_filters_spat": 8, "n_filters_2": 12, "n_filters_3": 16, "n_filters_4": 20}, 4),
    ("deep4_dense", "Deep4Net", {"n_chans": 8, "n_times": 700, "n_outputs": 3},
     {"n_filters_time": 8, "n_filters_spat": 8, "n_filters_2": 12, "n_filters_3": 16, "n_filters_4": 20,
      "final_conv_length": 2}, 2),
    ("eegnet", "EEGNet", {"n_chans": 8, "n_times": 256, "n_outputs": 3}, {}, 4),
    ("eegnet_constraint", "EEGNet", {"n_chans": 8, "n_times": 256, "n_outputs": 3},
     {"final_layer_with_constraint": True, "pool_mode": "max"}, 2),
    ("conformer", "EEGConformer", {"n_chans": 8, "n_times": 200, "n_outputs": 3},
     {"n_filters_time": 16, "num_layers": 2, "num_heads": 4}, 4),
    ("atcnet", "ATCNet", {"n_chans": 8, "n_times": 640, "n_outputs": 3}, {}, 4),
    ("atcnet_scaled", "ATCNet", {"n_chans": 8, "n_times": 300, "n_outputs": 3}, {}, 2),
]

# Training-step cases: dropout off (kwargs where braindecode exposes it, every
# dropout module's p otherwise), same starting weights as the parity case.
TRAIN_CASES = ["shallow", "eegnet", "deep4", "conformer", "atcnet"]
DROPOUT_OFF = {
    "ShallowFBCSPNet": {"drop_prob": 0.0},
    "Deep4Net": {"drop_prob": 0.0},
    "EEGNet": {"drop_prob": 0.0},
    "EEGConformer": {"drop_prob": 0.0, "att_drop_prob": 0.0},
    "ATCNet": {"conv_block_dropout": 0.0, "att_drop_prob": 0.0, "tcn_drop_prob": 0.0},
}


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(cls_name: str, signal: dict, kwargs: dict) -> torch.nn.Module:
    return CLASSES[cls_name](**signal, **kwargs)


def randomize(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Every float tensor of the state_dict gets fresh random values, so that no
    parameter or statistic can be silently ignored by the importer; variances stay
    positive and weights moderate so activations stay in a useful range."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) * 1.5 + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.dim() == 1:
                # BatchNorm/LayerNorm weight or any bias.
                base = 1.0 if name.endswith("weight") else 0.0
                t.copy_(base + torch.randn(t.shape, generator=gen) * 0.1)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=gen) / fan_in**0.5)


def write_case(out: Path, name: str, cls_name: str, signal: dict, kwargs: dict, batch: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    model = build(cls_name, signal, kwargs)
    randomize(model, gen)
    model.eval()
    x = torch.randn((batch, signal["n_chans"], signal["n_times"]), generator=gen)
    with torch.no_grad():
        y = model(x)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, out / f"{name}.safetensors")
    save_file({"x": x.contiguous(), "y": y.contiguous()}, out / f"{name}.io.safetensors")
    return {
        "case": name,
        "model": cls_name,
        "signal": signal,
        "kwargs": kwargs,
        "input_shape": list(x.shape),
        "output_shape": list(y.shape),
        "trainable_params": count(model),
    }


def write_train_case(out: Path, name: str, cls_name: str, signal: dict, kwargs: dict, batch: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed + 1000)
    model = build(cls_name, signal, {**kwargs, **DROPOUT_OFF[cls_name]})
    # Same starting weights as the parity case.
    from safetensors.torch import load_file

    model.load_state_dict(load_file(out / f"{name}.safetensors"))
    # Some dropouts are hard-coded (EEGConformer's classifier head, ATCNet's attention
    # block), so switch every dropout module off, as neurodl_models::without_dropout does.
    for m in model.modules():
        if isinstance(m, (torch.nn.Dropout, torch.nn.Dropout2d)):
            m.p = 0.0
    model.train()
    x = torch.randn((batch, signal["n_chans"], signal["n_times"]), generator=gen)
    target = torch.randint(0, signal["n_outputs"], (batch,), generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    loss_before = torch.nn.functional.cross_entropy(model(x), target)
    opt.zero_grad()
    loss_before.backward()
    opt.step()
    with torch.no_grad():
        loss_after = torch.nn.functional.cross_entropy(model(x), target)
    save_file(
        {
            "x": x.contiguous(),
            "target": target.to(torch.int64).contiguous(),
            "loss_before": loss_before.detach().reshape(1),
            "loss_after": loss_after.reshape(1),
        },
        out / f"train_{name}.io.safetensors",
    )
    return {
        "case": f"train_{name}",
        "weights": f"{name}.safetensors",
        "model": cls_name,
        "signal": signal,
        "kwargs": {**kwargs, **DROPOUT_OFF[cls_name]},
        "loss_before": loss_before.item(),
        "loss_after": loss_after.item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parents[2]
    parser.add_argument("--out", type=Path, default=root / "tests" / "golden" / "models")
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary folder, write nothing, exit 1 if any file differs from --out",
    )
    args = parser.parse_args()
    if args.check:
        import filecmp
        import sys
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            names = sorted(p.name for p in Path(tmp).iterdir())
            committed = sorted(p.name for p in args.out.iterdir())
            differ = [n for n in names if not (args.out / n).exists() or not filecmp.cmp(Path(tmp) / n, args.out / n, shallow=False)]
            extra = sorted(set(committed) - set(names))
        for n in differ:
            print(f"differs or missing: {n}")
        for n in extra:
            print(f"not produced by the generator: {n}")
        sys.exit(1 if differ or extra else 0)
    generate(args.out)


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)

    counts = []
    for shape in REFERENCE_SHAPES:
        for cls_name in CLASSES:
            model = build(cls_name, shape, {})
            counts.append({"model": cls_name, "signal": shape, "kwargs": {}, "trainable_params": count(model)})
    for cls_name, kwargs in EXTRA_COUNTS:
        shape = REFERENCE_SHAPES[0]
        counts.append(
            {"model": cls_name, "signal": shape, "kwargs": kwargs, "trainable_params": count(build(cls_name, shape, kwargs))}
        )

    cases = []
    for i, (name, cls_name, signal, kwargs, batch) in enumerate(CASES):
        cases.append(write_case(out, name, cls_name, signal, kwargs, batch, seed=i))
    train = []
    for name in TRAIN_CASES:
        i = next(j for j, c in enumerate(CASES) if c[0] == name)
        _, cls_name, signal, kwargs, _ = CASES[i]
        train.append(write_train_case(out, name, cls_name, signal, kwargs, batch=8, seed=i))

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "braindecode": braindecode.__version__,
        "safetensors": safetensors.__version__,
    }
    (out / "param_counts.json").write_text(json.dumps({"reference": versions, "counts": counts}, indent=1) + "\n")
    (out / "INDEX.json").write_text(
        json.dumps({"reference": versions, "cases": cases, "train": train}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
