//! Building blocks shared by the models: PyTorch-equivalent initialisation, convolution
//! constructors with explicit (possibly asymmetric) padding, braindecode's max-norm constraints
//! and activations.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor};

/// How a weight is initialised. The models start from the same distributions as braindecode so
/// that training from scratch behaves alike; parity tests load explicit weights instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// PyTorch's default for `Conv*d`/`Linear`: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight
    /// and bias alike.
    TorchDefault,
    /// `xavier_uniform_(gain=1)` on the weight, zero bias (braindecode's Schirrmeister models
    /// and EEGNet's `glorot_weight_zero_bias`).
    XavierZeroBias,
    /// `kaiming_uniform_()` (a=0) on the weight, PyTorch default bias (ATCNet's TCN convs).
    KaimingUniform,
}

/// Fans as PyTorch computes them from a weight in PyTorch layout `[out, in/groups, k...]`.
fn torch_fans(torch_shape: &[usize]) -> (usize, usize) {
    let receptive: usize = torch_shape[2..].iter().product();
    (torch_shape[1] * receptive, torch_shape[0] * receptive)
}

fn uniform<const D: usize>(shape: [usize; D], bound: f64, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Uniform(-bound, bound),
        device,
    ))
}

/// Weight and optional bias initialised per `init`, with fans taken from `torch_shape`.
fn weight_and_bias<const D: usize>(
    shape: [usize; D],
    torch_shape: &[usize],
    n_bias: Option<usize>,
    init: Init,
    device: &Device,
) -> (Param<Tensor<D>>, Option<Param<Tensor<1>>>) {
    let (fan_in, fan_out) = torch_fans(torch_shape);
    let default_bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    let weight_bound = match init {
        Init::TorchDefault => default_bound,
        Init::XavierZeroBias => (6.0 / (fan_in + fan_out).max(1) as f64).sqrt(),
        Init::KaimingUniform => (6.0 / fan_in.max(1) as f64).sqrt(),
    };
    let weight = uniform(shape, weight_bound, device);
    let bias = n_bias.map(|n| match init {
        Init::XavierZeroBias => Param::from_tensor(Tensor::zeros([n], device)),
        _ => uniform([n], default_bound, device),
    });
    (weight, bias)
}

/// A 2-D convolution laid out as PyTorch's `nn.Conv2d`, with explicit padding
/// `[top, left, bottom, right]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d(
    channels: [usize; 2],
    kernel: [usize; 2],
    groups: usize,
    padding: [usize; 4],
    bias: bool,
    init: Init,
    device: &Device,
) -> Conv2d {
    let [top, left, bottom, right] = padding;
    let mut conv = Conv2dConfig::new(channels, kernel)
        .with_groups(groups)
        .with_bias(bias)
        .with_padding(PaddingConfig2d::Explicit(top, left, bottom, right))
        .init(device);
    let shape = [channels[1], channels[0] / groups, kernel[0], kernel[1]];
    let (w, b) = weight_and_bias(shape, &shape, bias.then_some(channels[1]), init, device);
    conv.weight = w;
    conv.bias = b;
    conv
}

/// A 1-D convolution laid out as PyTorch's `nn.Conv1d`, with explicit `(left, right)` padding.
pub(crate) fn conv1d(
    channels: [usize; 2],
    kernel: usize,
    dilation: usize,
    padding: (usize, usize),
    bias: bool,
    init: Init,
    device: &Device,
) -> Conv1d {
    let mut conv = Conv1dConfig::new(channels[0], channels[1], kernel)
        .with_dilation(dilation)
        .with_bias(bias)
        .with_padding(PaddingConfig1d::Explicit(padding.0, padding.1))
        .init(device);
    let shape = [channels[1], channels[0], kernel];
    let (w, b) = weight_and_bias(shape, &shape, bias.then_some(channels[1]), init, device);
    conv.weight = w;
    conv.bias = b;
    conv
}

/// A linear layer. Burn stores the weight as `[in, out]` (PyTorch: `[out, in]`); weight import
/// transposes.
pub(crate) fn linear(d_in: usize, d_out: usize, init: Init, device: &Device) -> Linear {
    let mut lin = LinearConfig::new(d_in, d_out).init(device);
    let (w, b) = weight_and_bias([d_in, d_out], &[d_out, d_in], Some(d_out), init, device);
    lin.weight = w;
    lin.bias = b;
    lin
}

/// `torch.renorm(w, p=2, dim=0, maxnorm)`: every slice along the first axis whose L2 norm exceeds
/// `max_norm` is scaled to `max_norm / (norm + 1e-7)` times itself (the 1e-7 is PyTorch's), the
/// others are left alone. braindecode applies it as a weight parametrisation, so it runs at every
/// forward and gradients flow through it.
pub(crate) fn renorm<const D: usize>(w: Tensor<D>, max_norm: f64) -> Tensor<D> {
    let dims = w.dims();
    let rows = dims[0];
    let flat: Tensor<2> = w.reshape([rows as i64, -1]);
    let norm = flat.clone().square().sum_dim(1).sqrt();
    let scale = norm.clone().add_scalar(1e-7).recip().mul_scalar(max_norm);
    let scale = scale.mask_fill(norm.lower_equal_elem(max_norm), 1.0);
    (flat * scale).reshape(dims)
}

/// braindecode's `MaxNorm` parametrisation (used by `MaxNormLinear`): the L2 norm is taken over
/// PyTorch's dim 0 of the `[out, in]` weight, i.e. one norm per input feature, and the weight is
/// always rescaled by `clamp(n, m/2, m) / (max(n, m/2) + eps)`. In Burn's `[in, out]` layout that
/// norm runs along dim 1.
pub(crate) fn max_norm_linear_weight(w: Tensor<2>, max_norm: f64, eps: f64) -> Tensor<2> {
    let norm = w.clone().square().sum_dim(1).sqrt();
    let denom = norm.clamp_min(max_norm / 2.0);
    let number = denom.clone().clamp_max(max_norm);
    w * (number / denom.add_scalar(eps))
}

/// braindecode's `safe_log`: `log(max(x, eps))`.
pub(crate) fn safe_log<const D: usize>(x: Tensor<D>, eps: f64) -> Tensor<D> {
    x.clamp_min(eps).log()
}

fn dropout_channels(x: Tensor<4>, prob: f64, training: bool) -> Tensor<4> {
    if !training || prob == 0.0 || !x.device().is_autodiff() {
        return x;
    }
    let [b, c, _, _] = x.dims();
    let keep = 1.0 - prob;
    let mask: Tensor<4> = Tensor::random([b, c, 1, 1], Distribution::Bernoulli(keep), &x.device());
    x * mask.mul_scalar(1.0 / keep)
}

/// Output length of a convolution or pooling window sliding over `len` samples.
pub(crate) fn window_out(len: usize, kernel: usize, stride: usize, dilation: usize) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    (len >= span).then(|| (len - span) / stride + 1)
}

/// Number of trainable parameters: every float parameter except BatchNorm running statistics,
/// which PyTorch keeps as buffers (Burn's `num_params()` counts them).
pub fn trainable_params<M: Module>(module: &M) -> usize {
    crate::weights::list_params(module)
        .iter()
        .filter(|p| !p.is_running_stat())
        .map(|p| p.shape.iter().product::<usize>())
        .sum()
}

/// 1-D pooling along the last axis of `[batch, channels, time]`, without padding and in floor
/// mode, as `nn.AvgPool2d`/`nn.MaxPool2d` with a `(k, 1)` kernel in braindecode.
///
/// Without autodiff, a window that is a whole number of strides (ShallowFBCSPNet's 75 / 15,
/// Deep4Net's 3 / 3) is pooled as the non-overlapping stride-long blocks (one reshape and one
/// reduction) combined over `kernel / stride` neighbours: Burn's CPU pooling kernel took a
/// seventh of ShallowFBCSPNet's single-trial latency.
pub(crate) fn pool1d(x: Tensor<3>, mode: crate::PoolMode, kernel: usize, stride: usize) -> Tensor<3> {
    use burn::tensor::module::{avg_pool1d, max_pool1d};
    use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
    let [batch, chans, t] = x.dims();
    if kernel.is_multiple_of(stride) && t >= kernel && !x.device().is_autodiff() {
        let n_blocks = t / stride;
        let span = kernel / stride;
        let blocks: Tensor<4> = x
            .narrow(2, 0, n_blocks * stride)
            .reshape([batch, chans, n_blocks, stride]);
        let blocks: Tensor<3> = match mode {
            crate::PoolMode::Mean => blocks.sum_dim(3),
            crate::PoolMode::Max => blocks.max_dim(3),
        }
        .reshape([batch, chans, n_blocks]);
        let n_out = n_blocks - span + 1;
        let neighbours = (1..span).map(|m| blocks.clone().narrow(2, m, n_out));
        let first = blocks.clone().narrow(2, 0, n_out);
        return match mode {
            crate::PoolMode::Mean => neighbours.fold(first, |acc, b| acc + b).div_scalar(kernel as f64),
            crate::PoolMode::Max => neighbours.fold(first, |acc, b| acc.max_pair(b)),
        };
    }
    match mode {
        crate::PoolMode::Mean => avg_pool1d(x, AvgPoolOptions::new([kernel]).with_stride([stride])),
        crate::PoolMode::Max => max_pool1d(x, MaxPoolOptions::new([kernel]).with_stride([stride])),
    }
}

/// A 1-D convolution without padding from a raw weight `[out, in, k]`.
pub(crate) fn conv1d_raw(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    stride: usize,
) -> Tensor<3> {
    use burn::tensor::ops::ConvOptions;
    burn::tensor::module::conv1d(x, weight, bias, ConvOptions::new([stride], [0], [1], 1))
}

/// A valid 1-D cross-correlation (PyTorch's `conv1d`, stride 1, no padding) from a raw weight
/// `[out, in, k]`, in the frequency domain when that needs well under half the multiply-adds
/// of the direct sum, as for ShallowFBCSPNet's merged first layer (25 taps): with real FFTs on
/// the host for Burn's CPU backend ([`crate::spectral::host`]), with DFT matrices on other
/// devices ([`crate::spectral::conv1d_overlap_save`]). For inference only: the autodiff path
/// keeps [`conv1d_raw`], whose gradients are Burn's.
pub(crate) fn conv1d_valid(x: Tensor<3>, weight: Tensor<3>, bias: Option<Tensor<1>>) -> Tensor<3> {
    let [_, in_chans, t] = x.dims();
    let [out_chans, _, k] = weight.dims();
    if x.device().is_autodiff() {
        return conv1d_raw(x, weight, bias, 1);
    }
    if x.device() == Device::flex() {
        if let Some(y) = crate::spectral::host::cheaper_block(in_chans, out_chans, k, t)
            .and_then(|block| crate::spectral::host::conv1d_overlap_save(&x, &weight, bias.as_ref(), block))
        {
            return y;
        }
    } else if let Some(block) = crate::spectral::cheaper_block(in_chans, out_chans, k, t) {
        return crate::spectral::conv1d_overlap_save(x, weight, bias, block);
    }
    conv1d_raw(x, weight, bias, 1)
}

/// A BatchNorm with PyTorch's parameters (`momentum` is PyTorch's, not Keras').
pub(crate) fn batch_norm(n: usize, momentum: f64, eps: f64, device: &Device) -> burn::nn::BatchNorm {
    burn::nn::BatchNormConfig::new(n)
        .with_momentum(momentum)
        .with_epsilon(eps)
        .init(device)
}

/// ELU for inference, `max(x, 0) + α · (exp(min(x, 0)) − 1)`: the same function as Burn's
/// `elu` (which selects between `x` and `α · (exp(x) − 1)` with a mask) in clamps and in-place
/// element-wise passes; Burn's CPU mask selection was a third of EEGNet's single-trial time in
/// ELU. Training keeps Burn's `elu`, whose gradient at 0 is PyTorch's (the sum of two clamps'
/// gradients here need not be).
pub(crate) fn elu_inference<const D: usize>(x: Tensor<D>, alpha: f64) -> Tensor<D> {
    x.clone().clamp_min(0.0) + x.clamp_max(0.0).exp().sub_scalar(1.0).mul_scalar(alpha)
}

/// A BatchNorm in inference mode as the per-channel affine map it is, `y = scale · x + shift`
/// with `scale = γ / sqrt(running_var + ε)` and `shift = β − running_mean · scale`, so that it can
/// be folded into the linear layer before it.
pub(crate) fn batch_norm_affine(bn: &burn::nn::BatchNorm, device: &Device) -> (Tensor<1>, Tensor<1>) {
    let mean = bn.running_mean.value().to_device(device);
    let var = bn.running_var.value().to_device(device);
    let scale = bn.gamma.val() / var.add_scalar(bn.epsilon).sqrt();
    let shift = bn.beta.val() - mean * scale.clone();
    (scale, shift)
}

/// Folds the per-output-channel affine map `scale · y + shift` (an inference-mode BatchNorm,
/// [`batch_norm_affine`]) into the linear layer before it: the weight, whose first axis is the
/// output channel, is scaled, and the bias becomes `scale · bias + shift`.
pub(crate) fn fold_affine<const D: usize>(
    weight: Tensor<D>,
    bias: Option<Tensor<1>>,
    (scale, shift): (Tensor<1>, Tensor<1>),
) -> (Tensor<D>, Tensor<1>) {
    let mut shape = [1; D];
    shape[0] = scale.dims()[0];
    let weight = weight * scale.clone().reshape(shape);
    let bias = match bias {
        Some(b) => b * scale + shift,
        None => shift,
    };
    (weight, bias)
}

/// A 1-D convolution with zero padding, dilation 1 and `groups` (depthwise when `groups` equals
/// the channels: Burn's CPU backend runs that as one vectorised loop per channel).
pub(crate) fn conv1d_grouped(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    padding: usize,
    groups: usize,
) -> Tensor<3> {
    use burn::tensor::ops::ConvOptions;
    burn::tensor::module::conv1d(x, weight, bias, ConvOptions::new([1], [padding], [1], groups))
}

/// Pooling along the last axis of `[batch, channels, height, time]` with a `(1, k)` window and
/// stride, as EEGNet's `nn.AvgPool2d(kernel_size=(1, k))`.
pub(crate) fn pool2d_time(x: Tensor<4>, mode: crate::PoolMode, kernel: usize) -> Tensor<4> {
    // Non-overlapping windows (stride = kernel, no padding) are a reshape and one reduction:
    // Burn's CPU pooling kernel cost ~10 % of EEGNet's single-trial latency for this.
    let [b, c, h, t] = x.dims();
    let n = t / kernel;
    let windows: Tensor<5> = x.narrow(3, 0, n * kernel).reshape([b, c, h, n, kernel]);
    let pooled = match mode {
        crate::PoolMode::Mean => windows.mean_dim(4),
        crate::PoolMode::Max => windows.max_dim(4),
    };
    pooled.reshape([b, c, h, n])
}

/// Channel-wise dropout (`nn.Dropout2d`): whole feature maps are zeroed during training. Burn has
/// no such layer; this one follows Burn's `Dropout` in being active only on an autodiff device
/// with its training flag set.
#[derive(Module, Debug)]
pub(crate) struct ChannelDropout {
    pub prob: f64,
    pub training: Param<burn::module::Flag>,
}

impl ChannelDropout {
    pub fn new(prob: f64) -> Self {
        Self {
            prob,
            training: Param::from_bool(true),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        dropout_channels(x, self.prob, self.training.is_enabled())
    }
}

struct DropoutSwitch {
    stack: Vec<String>,
}

impl burn::module::ModuleMapper for DropoutSwitch {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        self.stack.push(container_type.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn map_flag(&mut self, flag: Param<burn::module::Flag>) -> Param<burn::module::Flag> {
        match self.stack.last().map(String::as_str) {
            Some("Struct:Dropout" | "Struct:ChannelDropout") => flag.with_value(false),
            _ => flag,
        }
    }
}

/// Switches every dropout layer of `model` off, leaving BatchNorm in training mode: for
/// deterministic fine-tuning, and for comparing a training step with PyTorch, whose dropout
/// masks cannot be reproduced. Survives [`Module::train`].
pub fn without_dropout<M: Module>(model: M) -> M {
    model.map(&mut DropoutSwitch { stack: Vec::new() })
}

/// A 2-D convolution from a raw weight with `[(top, bottom), (left, right)]` padding.
pub(crate) fn conv2d_pairs(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    padding: [(usize, usize); 2],
    groups: usize,
) -> Tensor<4> {
    use burn::tensor::ops::ConvOptions;
    burn::tensor::module::conv2d(
        x,
        weight,
        bias,
        ConvOptions::new_with_padding([1, 1], padding, [1, 1], groups),
    )
}

/// A causal 1-D convolution (left padding only) from a raw weight `[out, in, k]`.
pub(crate) fn causal_conv1d(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    dilation: usize,
) -> Tensor<3> {
    use burn::tensor::ops::ConvOptions;
    let [_, _, k] = weight.dims();
    let options = ConvOptions::new_with_padding([1], [((k - 1) * dilation, 0)], [dilation], 1);
    burn::tensor::module::conv1d(x, weight, bias, options)
}

/// PyTorch's `padding="same"` for stride 1: the extra sample of an even kernel goes at the end.
pub(crate) fn same_padding(kernel: usize) -> (usize, usize) {
    let total = kernel - 1;
    (total / 2, total - total / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn window_pooling_equals_burns_pooling_kernels() {
        use burn::tensor::module::{avg_pool2d, max_pool2d};
        use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
        let device = Device::default();
        // 1126 is not a multiple of 4: the last two samples are dropped, as by the kernels.
        let x = Tensor::<4>::random([2, 3, 1, 1126], Distribution::Normal(0.0, 1.0), &device);
        let mean = pool2d_time(x.clone(), crate::PoolMode::Mean, 4);
        assert_eq!(mean.dims(), [2, 3, 1, 281]);
        assert!(max_diff(mean, avg_pool2d(x.clone(), AvgPoolOptions::new([1, 4]))) < 1e-6);
        let max = pool2d_time(x.clone(), crate::PoolMode::Max, 8);
        assert_eq!(max_diff(max, max_pool2d(x, MaxPoolOptions::new([1, 8]))), 0.0);
    }

    #[test]
    fn block_pooling_equals_burns_pooling_kernels() {
        use burn::tensor::module::{avg_pool1d, max_pool1d};
        use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
        let device = Device::default();
        // ShallowFBCSPNet's 75 / 15 over 1101 samples (the tail past the last window is
        // dropped), Deep4Net's 3 / 3, and a window exactly as long as the signal.
        for (t, kernel, stride) in [(1101, 75, 15), (1101, 3, 3), (30, 30, 10)] {
            let x = Tensor::<3>::random([2, 3, t], Distribution::Normal(0.0, 1.0), &device);
            let mean = pool1d(x.clone(), crate::PoolMode::Mean, kernel, stride);
            let reference = avg_pool1d(x.clone(), AvgPoolOptions::new([kernel]).with_stride([stride]));
            assert_eq!(mean.dims(), reference.dims());
            assert!(max_diff(mean, reference) < 1e-6);
            let max = pool1d(x.clone(), crate::PoolMode::Max, kernel, stride);
            let reference = max_pool1d(x, MaxPoolOptions::new([kernel]).with_stride([stride]));
            assert_eq!(max_diff(max, reference), 0.0);
        }
    }

    #[test]
    fn inference_elu_equals_burns_elu() {
        let device = Device::default();
        let x = Tensor::<3>::random([2, 4, 300], Distribution::Normal(0.0, 3.0), &device);
        let got = elu_inference(x.clone(), 1.0);
        assert!(max_diff(got, burn::tensor::activation::elu(x.clone(), 1.0)) < 1e-6);
        let zeros = Tensor::<3>::zeros([1, 1, 4], &device);
        assert_eq!(elu_inference(zeros, 0.5).abs().max().into_scalar::<f32>(), 0.0);
    }
}
