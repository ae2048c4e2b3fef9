"""Golden fixtures for neurodl-models' segmentation module (issue 6): nnU-Net's PlainConvUNet,
its DC_and_CE loss with deep supervision, one SGD step, and sliding-window inference.

Writes into tests/golden/unet/ (read by crates/neurodl-models/tests/segmentation_parity.rs):

* ``unet3d.safetensors`` / ``unet2d.safetensors``: random weights (nnU-Net's He init, then
  norm affine parameters and biases perturbed so that they matter), PyTorch ``state_dict``
  names with the duplicate aliases (``all_modules.*``, ``decoder.encoder.*``) dropped;
* ``unet3d.io.safetensors`` / ``unet2d.io.safetensors``: a fixed input ``x`` and every
  deep-supervision output ``y0`` (highest resolution), ``y1``, ...;
* ``train.io.safetensors``: a batch, labels and their nearest-exact downsampled versions;
  INDEX.json holds the losses (per output, batch_dice on and off, the deep-supervision sum)
  before and after one SGD step with nnU-Net's optimiser settings;
* ``sw.io.safetensors``: volumes and sliding-window logits from (a) a re-implementation of
  nnU-Net v2's predictor (``compute_steps_for_sliding_window``, ``compute_gaussian``, mirroring)
  and (b) MONAI's ``sliding_window_inference`` where its conventions coincide with nnU-Net's
  (constant blending, a grid where both step rules give the same windows).

The reference network is defined here with torch.nn, with the module names and structure of
``dynamic_network_architectures.architectures.unet.PlainConvUNet`` 0.4.4 (that package's pip
install replaces the pinned torch, so it is not a requirement). ``--dna DIR`` imports the real
package from an unpacked wheel in DIR and checks that it builds the same ``state_dict`` and
outputs (a one-off cross-check, nothing written).

Conventions that differ between nnU-Net v2 and MONAI 1.5 (why MONAI is only compared in
constant mode): MONAI's step is ``int(roi · (1 − overlap))`` with the last window clamped to the
border, nnU-Net spreads ``ceil((size − roi) / (roi · step)) + 1`` windows evenly; MONAI's
Gaussian is built with erf-integrated kernels (``GaussianFilter(approx="erf")``) and clamped
below at max(min non-zero, 1e-3), nnU-Net's is scipy's sampled Gaussian with zeros replaced by
the smallest non-zero value. Both pad symmetrically with zeros and aggregate the raw network
outputs (logits). nnU-Net accumulates in float16; this script and neurodl in float32.

Usage: /work/venv-torch/bin/python tests/reference/generate_unet_goldens.py [--check] [--dna DIR]
"""

import argparse
import itertools
import json
import platform
from pathlib import Path

import numpy as np
import scipy
import scipy.ndimage
import torch
from safetensors.torch import save_file
from torch import nn

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

CONFIG3D = {
    "in_channels": 2,
    "n_classes": 3,
    "n_stages": 4,
    "features_per_stage": [4, 8, 16, 16],
    "kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
    "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
    "n_conv_per_stage": [2, 2, 2, 2],
    "n_conv_per_stage_decoder": [2, 2, 2],
    "deep_supervision": True,
}
CONFIG2D = {
    "in_channels": 1,
    "n_classes": 2,
    "n_stages": 3,
    "features_per_stage": [4, 8, 16],
    "kernel_sizes": [[3, 3], [3, 3], [3, 3]],
    "strides": [[1, 1], [2, 2], [2, 2]],
    "n_conv_per_stage": [2, 2, 2],
    "n_conv_per_stage_decoder": [1, 2],
    "deep_supervision": True,
}
# nnU-Net v2's nnUNetTrainer optimiser.
SGD = {"lr": 1e-2, "momentum": 0.99, "nesterov": True, "weight_decay": 3e-5}
SMOOTH = 1e-5


# ---------------------------------------------------------------- reference network


class ConvDropoutNormReLU(nn.Module):
    def __init__(self, conv_op, norm_op, cin, cout, kernel, stride):
        super().__init__()
        self.conv = conv_op(cin, cout, kernel, stride, padding=[(k - 1) // 2 for k in kernel], bias=True)
        self.norm = norm_op(cout, eps=1e-5, affine=True)
        self.nonlin = nn.LeakyReLU(negative_slope=1e-2, inplace=True)
        # dynamic-network-architectures registers the same layers a second time here.
        self.all_modules = nn.Sequential(self.conv, self.norm, self.nonlin)

    def forward(self, x):
        return self.all_modules(x)


class StackedConvBlocks(nn.Module):
    def __init__(self, n, conv_op, norm_op, cin, cout, kernel, first_stride):
        super().__init__()
        ones = [1] * len(kernel)
        self.convs = nn.Sequential(
            *[
                ConvDropoutNormReLU(conv_op, norm_op, cin if j == 0 else cout, cout, kernel, first_stride if j == 0 else ones)
                for j in range(n)
            ]
        )

    def forward(self, x):
        return self.convs(x)


class Encoder(nn.Module):
    def __init__(self, c, conv_op, norm_op):
        super().__init__()
        stages, cin = [], c["in_channels"]
        for s in range(c["n_stages"]):
            f = c["features_per_stage"][s]
            stages.append(
                nn.Sequential(StackedConvBlocks(c["n_conv_per_stage"][s], conv_op, norm_op, cin, f, c["kernel_sizes"][s], c["strides"][s]))
            )
            cin = f
        self.stages = nn.Sequential(*stages)

    def forward(self, x):
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class Decoder(nn.Module):
    def __init__(self, encoder, c, conv_op, tconv_op, norm_op):
        super().__init__()
        self.encoder = encoder  # as in dynamic-network-architectures (hence decoder.encoder.* keys)
        self.deep_supervision = c["deep_supervision"]
        n, feats = c["n_stages"], c["features_per_stage"]
        stages, tconvs, segs = [], [], []
        for s in range(1, n):
            below, skip, stride = feats[-s], feats[-(s + 1)], c["strides"][-s]
            tconvs.append(tconv_op(below, skip, stride, stride, bias=True))
            ones = [1] * len(stride)
            stages.append(StackedConvBlocks(c["n_conv_per_stage_decoder"][s - 1], conv_op, norm_op, 2 * skip, skip, c["kernel_sizes"][-(s + 1)], ones))
            segs.append(conv_op(skip, c["n_classes"], 1, 1, 0, bias=True))
        self.stages = nn.ModuleList(stages)
        self.transpconvs = nn.ModuleList(tconvs)
        self.seg_layers = nn.ModuleList(segs)

    def forward(self, skips):
        x, outs = skips[-1], []
        for s in range(len(self.stages)):
            x = self.stages[s](torch.cat((self.transpconvs[s](x), skips[-(s + 2)]), 1))
            if self.deep_supervision or s == len(self.stages) - 1:
                outs.append(self.seg_layers[s](x))
        outs = outs[::-1]
        return outs if self.deep_supervision else outs[0]


class PlainConvUNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        dims = len(c["kernel_sizes"][0])
        conv_op, tconv_op, norm_op = {
            2: (nn.Conv2d, nn.ConvTranspose2d, nn.InstanceNorm2d),
            3: (nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d),
        }[dims]
        self.encoder = Encoder(c, conv_op, norm_op)
        self.decoder = Decoder(self.encoder, c, conv_op, tconv_op, norm_op)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def init_weights(model, seed):
    """nnU-Net's InitWeights_He(1e-2), then biases and norm affines drawn away from 0/1 so a
    mis-mapped parameter shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            w = m.weight
            fan_in = w.shape[1] * int(np.prod(w.shape[2:]))
            std = np.sqrt(2.0 / (1 + 1e-4)) / np.sqrt(fan_in)
            with torch.no_grad():
                w.copy_(torch.randn(w.shape, generator=g) * std)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, (nn.InstanceNorm2d, nn.InstanceNorm3d)):
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))


def canonical_state_dict(model):
    return {
        k: v.detach().clone().contiguous()
        for k, v in model.state_dict().items()
        if ".all_modules." not in k and not k.startswith("decoder.encoder.")
    }


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- loss (nnU-Net formulas)


def dc_and_ce(logits, target, batch_dice):
    """DC_and_CE_loss(soft_dice_kwargs={batch_dice, smooth 1e-5, do_bg False}, weights 1:1,
    dice_class=MemoryEfficientSoftDiceLoss)."""
    ce = nn.functional.cross_entropy(logits, target.long())
    p = torch.softmax(logits, 1)[:, 1:]
    y = nn.functional.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).float()[:, 1:]
    axes = tuple(range(2, logits.ndim))
    inter, sp, sg = (p * y).sum(axes), p.sum(axes), y.sum(axes)
    if batch_dice:
        inter, sp, sg = inter.sum(0), sp.sum(0), sg.sum(0)
    dc = (2 * inter + SMOOTH) / torch.clip(sg + sp + SMOOTH, 1e-8)
    return ce - dc.mean()


def ds_weights(n):
    w = np.array([1 / 2**i for i in range(n)])
    w[-1] = 0
    return w / w.sum()


def ds_loss(outputs, targets, batch_dice):
    w = ds_weights(len(outputs))
    return sum(float(wi) * dc_and_ce(o, t, batch_dice) for wi, o, t in zip(w, outputs, targets) if wi != 0)


# ---------------------------------------------------------------- nnU-Net predictor


def compute_steps(image, tile, step):
    out = []
    for i, k in zip(image, tile):
        n = int(np.ceil((i - k) / (k * step))) + 1
        actual = (i - k) / (n - 1) if n > 1 else 0
        out.append([int(np.round(actual * j)) for j in range(n)])
    return out


def compute_gaussian(tile, sigma_scale=1 / 8):
    tmp = np.zeros(tile)
    tmp[tuple(k // 2 for k in tile)] = 1
    g = scipy.ndimage.gaussian_filter(tmp, [k * sigma_scale for k in tile], 0, mode="constant", cval=0)
    g = torch.from_numpy(g / g.max()).float()  # nnU-Net: float16
    g[g == 0] = g[g != 0].min()
    return g


def nnunet_sliding_window(net, volume, patch, mirror_axes, gaussian=True):
    c, *size = volume.shape
    padded = [max(s, p) for s, p in zip(size, patch)]
    before = [(p - s) // 2 for s, p in zip(size, padded)]
    pad = []
    for s, p, b in reversed(list(zip(size, padded, before))):
        pad += [b, p - s - b]
    vol = nn.functional.pad(volume, pad)
    g = compute_gaussian(patch) if gaussian else torch.ones(patch)
    steps = compute_steps(padded, patch, 0.5)
    acc, weight = None, torch.zeros(padded)
    combos = [()] + [cmb for i in range(len(mirror_axes)) for cmb in itertools.combinations([m + 2 for m in mirror_axes], i + 1)]
    for sx, sy, sz in itertools.product(*steps):
        sl = (slice(sx, sx + patch[0]), slice(sy, sy + patch[1]), slice(sz, sz + patch[2]))
        x = vol[(slice(None),) + sl][None]
        pred = sum(torch.flip(net(torch.flip(x, a)), a) if a else net(x) for a in combos) / len(combos)
        if acc is None:
            acc = torch.zeros([pred.shape[1]] + padded)
        acc[(slice(None),) + sl] += pred[0] * g
        weight[sl] += g
    out = acc / weight
    return out[:, before[0] : before[0] + size[0], before[1] : before[1] + size[1], before[2] : before[2] + size[2]]


# ---------------------------------------------------------------- generation


def build(config, seed):
    torch.manual_seed(seed)
    model = PlainConvUNet(config)
    init_weights(model, seed)
    return model.eval()


def write_net(out, name, config, x, seed):
    model = build(config, seed)
    save_file(canonical_state_dict(model), str(out / f"{name}.safetensors"))
    with torch.no_grad():
        ys = model(x)
    io = {"x": x.contiguous()} | {f"y{i}": y.contiguous() for i, y in enumerate(ys)}
    save_file(io, str(out / f"{name}.io.safetensors"))
    return model, {"case": name, "config": config, "num_params": n_params(model), "outputs": [list(y.shape) for y in ys]}


def train_case(out, model3d):
    g = torch.Generator().manual_seed(7)
    x = torch.randn((2, 2, 16, 16, 16), generator=g)
    # Blocky labels (4^3 cubes) so the Dice terms are not all noise.
    coarse = torch.randint(0, 3, (2, 4, 4, 4), generator=g)
    labels = coarse.repeat_interleave(4, 1).repeat_interleave(4, 2).repeat_interleave(4, 3)
    labels = (labels + (torch.rand(labels.shape, generator=g) < 0.1).long()) % 3
    model = build(CONFIG3D, 0).train()
    model.load_state_dict(model3d.state_dict())
    with torch.no_grad():
        sizes = [list(y.shape[2:]) for y in model(x)]
    targets = [nn.functional.interpolate(labels[:, None].float(), size=s, mode="nearest-exact")[:, 0].long() for s in sizes]
    result = {"sizes": sizes, "ds_weights": ds_weights(len(sizes)).tolist(), "sgd": SGD}
    for bd in (False, True):
        with torch.no_grad():
            outs = model(x)
            result[f"per_output_batch_dice_{bd}"] = [dc_and_ce(o, t, bd).item() for o, t in zip(outs, targets)]
    opt = torch.optim.SGD(model.parameters(), **SGD)
    loss = ds_loss(model(x), targets, batch_dice=False)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        after = ds_loss(model(x), targets, batch_dice=False)
    result |= {"loss_before": loss.item(), "loss_after": after.item()}
    io = {"x": x, "labels": labels.to(torch.uint8)} | {f"labels_ds{i}": t.to(torch.uint8).contiguous() for i, t in enumerate(targets)}
    save_file(io, str(out / "train.io.safetensors"))
    return result


def sliding_window_cases(out, model3d):
    from monai.inferers import sliding_window_inference

    net = build(CONFIG3D, 0)
    net.load_state_dict(model3d.state_dict())
    net.decoder.deep_supervision = False
    g = torch.Generator().manual_seed(11)
    patch = [16, 8, 8]
    cases, io = [], {}

    def add(name, volume, reference, logits, **kw):
        io[f"{name}_volume"] = volume.contiguous()
        io[f"{name}_logits"] = logits.contiguous()
        cases.append({"case": name, "reference": reference, "patch_size": patch, "shape": list(volume.shape)} | kw)

    with torch.no_grad():
        a = torch.randn((2, 24, 18, 16), generator=g)
        steps = compute_steps([24, 18, 16], patch, 0.5)
        add("nnunet_mirror", a, "nnunet", nnunet_sliding_window(net, a, patch, [0, 1, 2]), importance="gaussian", mirror_axes=[0, 1, 2], steps=steps)
        b = torch.randn((2, 12, 18, 16), generator=g)
        add("nnunet_pad", b, "nnunet", nnunet_sliding_window(net, b, patch, []), importance="gaussian", mirror_axes=[])
        c = torch.randn((2, 24, 16, 16), generator=g)
        ref = sliding_window_inference(c[None], patch, 2, net, overlap=0.5, mode="constant")[0]
        mine = nnunet_sliding_window(net, c, patch, [], gaussian=False)
        add("monai_constant", c, "monai", ref, importance="constant", mirror_axes=[], nnunet_style_max_abs_diff=float((ref - mine).abs().max()))
        gauss = sliding_window_inference(c[None], patch, 2, net, overlap=0.5, mode="gaussian", sigma_scale=0.125)[0]
        nn_gauss = nnunet_sliding_window(net, c, patch, [])
        gauss_diff = float((gauss - nn_gauss).abs().max())
        d = torch.randn((2, 12, 8, 8), generator=g)
        add("monai_constant_pad", d, "monai", sliding_window_inference(d[None], patch, 2, net, overlap=0.5, mode="constant")[0], importance="constant", mirror_axes=[])
    save_file(io, str(out / "sw.io.safetensors"))
    gmap = compute_gaussian(patch)
    return {
        "cases": cases,
        "gaussian_16_8_8": {"center": gmap[8, 4, 4].item(), "corner": gmap[0, 0, 0].item(), "edge": gmap[0, 4, 4].item(), "min": gmap.min().item()},
        "steps_examples": [
            {"image": im, "tile": t, "steps": compute_steps(im, t, 0.5)}
            for im, t in [([24, 18, 16], patch), ([64, 80, 64], [40, 56, 40]), ([142, 178, 142], [40, 56, 40]), ([16, 8, 8], patch), ([100, 7, 9], [30, 7, 4])]
        ],
        "monai_gaussian_vs_nnunet_gaussian_max_abs_diff": gauss_diff,
    }


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(3)
    x3 = torch.randn((1, 2, 16, 16, 16), generator=g)
    x2 = torch.randn((2, 1, 16, 16), generator=g)
    model3d, case3 = write_net(out, "unet3d", CONFIG3D, x3, seed=0)
    _, case2 = write_net(out, "unet2d", CONFIG2D, x2, seed=1)
    train = train_case(out, model3d)
    sw = sliding_window_cases(out, model3d)
    import monai
    import safetensors

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "safetensors": safetensors.__version__,
    }
    index = {"reference": versions, "nets": [case3, case2], "train": train, "sliding_window": sw}
    (out / "INDEX.json").write_text(json.dumps(index, indent=1) + "\n")


def cross_check_dna(path: str) -> None:
    import sys

    sys.path.insert(0, path)
    from dynamic_network_architectures.architectures.unet import PlainConvUNet as DNA

    for cfg, x in [(CONFIG3D, torch.randn(1, 2, 16, 16, 16)), (CONFIG2D, torch.randn(2, 1, 16, 16))]:
        dims = len(cfg["kernel_sizes"][0])
        ops = {2: (nn.Conv2d, nn.InstanceNorm2d), 3: (nn.Conv3d, nn.InstanceNorm3d)}[dims]
        ref = DNA(
            cfg["in_channels"], cfg["n_stages"], cfg["features_per_stage"], ops[0], cfg["kernel_sizes"], cfg["strides"],
            cfg["n_conv_per_stage"], cfg["n_classes"], cfg["n_conv_per_stage_decoder"], conv_bias=True, norm_op=ops[1],
            norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=nn.LeakyReLU, nonlin_kwargs={"inplace": True},
            deep_supervision=True,
        ).eval()
        mine = build(cfg, 0)
        assert sorted(ref.state_dict()) == sorted(mine.state_dict()), "state_dict keys differ"
        ref.load_state_dict(mine.state_dict())
        with torch.no_grad():
            diffs = [float((a - b).abs().max()) for a, b in zip(ref(x), mine(x))]
        print(f"{dims}-D: state_dict keys identical ({len(ref.state_dict())}), params {n_params(ref)} = {n_params(mine)}, output max abs diffs {diffs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parents[2]
    parser.add_argument("--out", type=Path, default=root / "tests" / "golden" / "unet")
    parser.add_argument("--check", action="store_true", help="regenerate in a temporary folder, write nothing, exit 1 if anything differs from --out")
    parser.add_argument("--dna", help="folder holding an unpacked dynamic-network-architectures wheel to cross-check against")
    args = parser.parse_args()
    if args.dna:
        cross_check_dna(args.dna)
        return
    if args.check:
        import filecmp
        import sys
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            names = sorted(p.name for p in Path(tmp).iterdir())
            committed = sorted(p.name for p in args.out.iterdir()) if args.out.exists() else []
            differ = [n for n in names if not (args.out / n).exists() or not filecmp.cmp(Path(tmp) / n, args.out / n, shallow=False)]
            extra = sorted(set(committed) - set(names))
        for n in differ:
            print(f"differs or missing: {n}")
        for n in extra:
            print(f"not produced by the generator: {n}")
        print("OK" if not differ and not extra else "MISMATCH")
        sys.exit(1 if differ or extra else 0)
    generate(args.out)


if __name__ == "__main__":
    main()
