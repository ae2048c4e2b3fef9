//! EEGNet v4 (Lawhern et al. 2018).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Dropout, DropoutConfig, Linear};
use burn::tensor::activation::elu;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{FinalConvLength, PoolMode, check_momentum, check_nonzero, check_prob};
use crate::layers::{
    Init, batch_norm, batch_norm_affine, conv1d_grouped, conv1d_raw, conv2d, elu_inference, fold_affine,
    linear, pool2d_time, renorm, window_out,
};
use crate::{EegModel, ModelError, SignalShape, check_input};

const NAME: &str = "EEGNet";

/// Hyper-parameters of [`EEGNet`]; `Default` equals braindecode 1.8's `EEGNet` (= `EEGNetv4`)
/// defaults. The activation is braindecode's default ELU; BatchNorm layers are affine.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EEGNetConfig {
    /// Classifier length (`Auto`).
    pub final_conv_length: FinalConvLength,
    /// Pooling operation (`Mean`).
    pub pool_mode: PoolMode,
    /// Number of temporal filters F1 (8).
    #[serde(alias = "F1")]
    pub f1: usize,
    /// Depth multiplier D of the depthwise spatial convolution (2).
    #[serde(alias = "D")]
    pub d: usize,
    /// Number of pointwise filters F2; `None` means F1 * D.
    #[serde(alias = "F2")]
    pub f2: Option<usize>,
    /// Temporal kernel length (64).
    pub kernel_length: usize,
    /// Depthwise (separable) kernel length (16).
    pub depthwise_kernel_length: usize,
    /// First pooling size (4).
    pub pool1_kernel_size: usize,
    /// Second pooling size (8).
    pub pool2_kernel_size: usize,
    /// Max L2 norm of each spatial filter, enforced at every forward (1).
    pub conv_spatial_max_norm: f64,
    /// BatchNorm momentum, PyTorch convention (0.01).
    pub batch_norm_momentum: f64,
    /// BatchNorm epsilon (1e-3).
    pub batch_norm_eps: f64,
    /// Dropout probability (0.25).
    pub drop_prob: f64,
    /// Use a flatten + max-norm linear classifier instead of the convolutional one (false).
    pub final_layer_with_constraint: bool,
    /// Max norm of the linear classifier's rows when `final_layer_with_constraint` (0.25).
    pub norm_rate: f64,
}

impl Default for EEGNetConfig {
    fn default() -> Self {
        Self {
            final_conv_length: FinalConvLength::Auto,
            pool_mode: PoolMode::Mean,
            f1: 8,
            d: 2,
            f2: None,
            kernel_length: 64,
            depthwise_kernel_length: 16,
            pool1_kernel_size: 4,
            pool2_kernel_size: 8,
            conv_spatial_max_norm: 1.0,
            batch_norm_momentum: 0.01,
            batch_norm_eps: 1e-3,
            drop_prob: 0.25,
            final_layer_with_constraint: false,
            norm_rate: 0.25,
        }
    }
}

/// The classifier, named as braindecode's `final_layer` sequential: one of the two is present.
#[derive(Module, Debug)]
pub(crate) struct EEGNetClassifier {
    pub conv_classifier: Option<Conv2d>,
    pub linearconstraint: Option<Linear>,
}

/// EEGNet v4 of Lawhern et al. (2018), *EEGNet: a compact convolutional neural network for
/// EEG-based brain–computer interfaces*, Journal of Neural Engineering 15(5):056013,
/// doi:10.1088/1741-2552/aace8c, as braindecode 1.8's `EEGNet`.
///
/// Temporal convolution, depthwise spatial convolution with a max-norm constraint (re-applied at
/// every forward, as braindecode's weight parametrisation does), depthwise-separable convolution,
/// and a convolutional classifier.
#[derive(Module, Debug)]
pub struct EEGNet {
    pub(crate) conv_temporal: Conv2d,
    pub(crate) bnorm_temporal: BatchNorm,
    pub(crate) conv_spatial: Conv2d,
    pub(crate) bnorm_1: BatchNorm,
    pub(crate) drop_1: Dropout,
    pub(crate) conv_separable_depth: Conv2d,
    pub(crate) conv_separable_point: Conv2d,
    pub(crate) bnorm_2: BatchNorm,
    pub(crate) drop_2: Dropout,
    pub(crate) final_layer: EEGNetClassifier,
    #[module(skip)]
    config: EEGNetConfig,
    #[module(skip)]
    signal: SignalShape,
    #[module(skip)]
    n_preds: usize,
}

impl EEGNetConfig {
    /// Builds the model for `signal` on `device`, initialised as braindecode does (Xavier
    /// uniform weights, zero biases).
    pub fn init(&self, signal: &SignalShape, device: &Device) -> Result<EEGNet, ModelError> {
        signal.validate(NAME)?;
        let f1 = self.f1;
        let f1d = self.f1 * self.d;
        let f2 = self.f2.unwrap_or(f1d);
        check_nonzero(
            NAME,
            &[
                ("F1", f1),
                ("D", self.d),
                ("F2", f2),
                ("kernel_length", self.kernel_length),
                ("depthwise_kernel_length", self.depthwise_kernel_length),
                ("pool1_kernel_size", self.pool1_kernel_size),
                ("pool2_kernel_size", self.pool2_kernel_size),
            ],
        )?;
        check_prob(NAME, "drop_prob", self.drop_prob)?;
        check_momentum(NAME, self.batch_norm_momentum)?;
        for (what, v) in [
            ("conv_spatial_max_norm", self.conv_spatial_max_norm),
            ("norm_rate", self.norm_rate),
            ("batch_norm_eps", self.batch_norm_eps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!("{what} must be positive, got {v}"),
                });
            }
        }
        let too_short = |what: &str| ModelError::InvalidConfig {
            model: NAME,
            reason: format!("n_times = {} is too short for the {what}", signal.n_times),
        };
        // 'same'-style padding of k // 2 on both sides: an even kernel adds one sample.
        let pad1 = self.kernel_length / 2;
        let t1 = signal.n_times + 2 * pad1 - self.kernel_length + 1;
        let p1 = window_out(t1, self.pool1_kernel_size, self.pool1_kernel_size, 1)
            .ok_or_else(|| too_short("first pooling"))?;
        let pad2 = self.depthwise_kernel_length / 2;
        // pad = k // 2 on both sides never shrinks the axis: t >= input length.
        let t2 = p1 + 2 * pad2 + 1 - self.depthwise_kernel_length;
        let p2 = window_out(t2, self.pool2_kernel_size, self.pool2_kernel_size, 1)
            .ok_or_else(|| too_short("second pooling"))?;
        let final_len = match self.final_conv_length {
            FinalConvLength::Auto => p2,
            FinalConvLength::Fixed(l) if self.final_layer_with_constraint && l != p2 => {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!(
                        "final_layer_with_constraint needs final_conv_length = {p2} (or Auto), got {l}"
                    ),
                });
            }
            FinalConvLength::Fixed(l) if l >= 1 && l <= p2 => l,
            FinalConvLength::Fixed(l) => {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!(
                        "final_conv_length {l} must be in 1..={p2} for n_times = {}",
                        signal.n_times
                    ),
                });
            }
        };
        let bn = |n| batch_norm(n, self.batch_norm_momentum, self.batch_norm_eps, device);
        let init = Init::XavierZeroBias;
        let final_layer = if self.final_layer_with_constraint {
            EEGNetClassifier {
                conv_classifier: None,
                linearconstraint: Some(linear(f2 * p2, signal.n_outputs, init, device)),
            }
        } else {
            EEGNetClassifier {
                conv_classifier: Some(conv2d(
                    [f2, signal.n_outputs],
                    [1, final_len],
                    1,
                    [0; 4],
                    true,
                    init,
                    device,
                )),
                linearconstraint: None,
            }
        };
        Ok(EEGNet {
            conv_temporal: conv2d(
                [1, f1],
                [1, self.kernel_length],
                1,
                [0, pad1, 0, pad1],
                false,
                init,
                device,
            ),
            bnorm_temporal: bn(f1),
            conv_spatial: conv2d([f1, f1d], [signal.n_chans, 1], f1, [0; 4], false, init, device),
            bnorm_1: bn(f1d),
            drop_1: DropoutConfig::new(self.drop_prob).init(),
            conv_separable_depth: conv2d(
                [f1d, f1d],
                [1, self.depthwise_kernel_length],
                f1d,
                [0, pad2, 0, pad2],
                false,
                init,
                device,
            ),
            conv_separable_point: conv2d([f1d, f2], [1, 1], 1, [0; 4], false, init, device),
            bnorm_2: bn(f2),
            drop_2: DropoutConfig::new(self.drop_prob).init(),
            final_layer,
            config: self.clone(),
            signal: signal.clone(),
            n_preds: p2 - final_len + 1,
        })
    }
}

/// The `(1, K)` temporal convolution of a one-map input `[B, 1, C, T]` by `F` filters
/// `[F, 1, 1, K]`, with `pad` zeros on both sides, as one matrix product over blocks of `S`
/// output samples: each block reads a window of `S + K - 1` inputs and multiplies it by a
/// `[S + K - 1, F * S]` banded (Toeplitz) matrix built from the filters. Burn's im2col route
/// materialises a `[B * C * T, K]` matrix (about 400 MB for a batch of 64 x 22 x 1125) and
/// computes the weight gradient in a direct loop; this route needs twice the multiply-adds but
/// only a window copy about twice the input's size, in one well-shaped product.
fn temporal_filters(x: Tensor<4>, w: Tensor<4>, pad: usize) -> Tensor<4> {
    use burn::tensor::{Int, TensorData};
    let [b, _, c, t] = x.dims();
    let [f, _, _, k] = w.dims();
    let block = k.max(32);
    let t_out = t + 2 * pad + 1 - k;
    let n_blocks = t_out.div_ceil(block);
    let span = block + k - 1;
    let needed = n_blocks * block + k - 1;
    let device = x.device();
    let rows: Tensor<2> = x.reshape([b * c, t]);
    let right = needed - (t + pad);
    let padded = Tensor::cat(
        vec![
            Tensor::zeros([b * c, pad], &device),
            rows,
            Tensor::zeros([b * c, right], &device),
        ],
        1,
    );
    let windows: Vec<Tensor<2>> = (0..n_blocks)
        .map(|i| padded.clone().narrow(1, i * block, span))
        .collect();
    let windows: Tensor<3> = Tensor::stack(windows, 1);
    let windows: Tensor<2> = windows.reshape([b * c * n_blocks, span]);
    // band[i, f, j] = w[f, i - j] inside the band, 0 outside (index k points at a zero column).
    let w_ext = Tensor::cat(vec![w.reshape([f, k]), Tensor::zeros([f, 1], &device)], 1);
    let idx: Vec<i64> = (0..span)
        .flat_map(|i| {
            (0..block).map(move |j| {
                if i >= j && i - j < k {
                    (i - j) as i64
                } else {
                    k as i64
                }
            })
        })
        .collect();
    let idx: Tensor<1, Int> = Tensor::from_data(TensorData::new(idx, [span * block]), &device);
    let band: Tensor<3> = w_ext.select(1, idx).reshape([f, span, block]);
    let band: Tensor<2> = band.swap_dims(0, 1).reshape([span, f * block]);
    let y: Tensor<5> = windows.matmul(band).reshape([b, c, n_blocks, f, block]);
    let y: Tensor<4> = y.permute([0, 3, 1, 2, 4]).reshape([b, f, c, n_blocks * block]);
    y.narrow(3, 0, t_out)
}

/// The grouped `(C, 1)` spatial convolution as one batched matrix product: group `g` maps its
/// input map `[C, T]` through its `D` filters `[D, C]`. Burn's CPU backend runs grouped
/// convolutions (and their gradients) as direct loops, several times slower than this product.
fn spatial_filters(x: Tensor<4>, w: Tensor<4>, groups: usize) -> Tensor<4> {
    let [b, _, c, t] = x.dims();
    let [out, _, _, _] = w.dims();
    let d = out / groups;
    let w: Tensor<4> = w.reshape([1, groups, d, c]).expand([b, groups, d, c]);
    w.matmul(x).reshape([b, out, 1, t])
}

/// The depthwise `(1, k)` convolution with `k / 2` zero padding on both sides, as a sum of `k`
/// shifted, per-channel scaled copies of the input: `k` cheap element-wise passes instead of
/// Burn's direct grouped-convolution loops, whose backward pass dominated EEGNet's training step.
fn depthwise_time(x: Tensor<4>, w: Tensor<4>) -> Tensor<4> {
    let [b, ch, h, t] = x.dims();
    let [_, _, _, k] = w.dims();
    let pad = k / 2;
    let out_len = t + 2 * pad + 1 - k;
    let device = x.device();
    let padded = Tensor::cat(
        vec![
            Tensor::zeros([b, ch, h, pad], &device),
            x,
            Tensor::zeros([b, ch, h, pad], &device),
        ],
        3,
    );
    let mut acc = Tensor::zeros([b, ch, h, out_len], &device);
    for tap in 0..k {
        let wk: Tensor<4> = w.clone().narrow(3, tap, 1).reshape([1, ch, 1, 1]);
        acc = acc + padded.clone().narrow(3, tap, out_len) * wk;
    }
    acc
}

impl EEGNet {
    /// Inference (no backward pass, BatchNorms at their running statistics): the temporal
    /// convolution, its BatchNorm, the depthwise spatial convolution and its BatchNorm are one
    /// linear map, computed spatial filters first. Each output map `o` of the block is temporal
    /// filter `f = o / D` applied to the spatially filtered input `Σ_c S[o, c] x[c, ·]`, so the
    /// `F1 · D` spatial projections are one `[F1·D, C] × [C, T]` product and the temporal filters
    /// one depthwise convolution over `F1·D` maps instead of `F1 · C` (22 channels: ~8x fewer
    /// multiply-adds), with both BatchNorms folded into its kernel and bias. The same values as
    /// the training route up to float rounding (the braindecode parity tests run this route).
    fn first_block_inference(&self, x: Tensor<3>) -> Tensor<4> {
        let cfg = &self.config;
        let device = x.device();
        let [b, c, _] = x.dims();
        let k = cfg.kernel_length;
        let [f1d, ..] = self.conv_spatial.weight.dims();
        let d = f1d / cfg.f1;
        let owner: Vec<i64> = (0..f1d).map(|o| (o / d) as i64).collect();
        let owner: Tensor<1, Int> = Tensor::from_data(TensorData::new(owner, [f1d]), &device);
        let s: Tensor<2> =
            renorm(self.conv_spatial.weight.val(), cfg.conv_spatial_max_norm).reshape([f1d, c]);
        let s_sum: Tensor<1> = s.clone().sum_dim(1).reshape([f1d]);
        let (a1, b1) = batch_norm_affine(&self.bnorm_temporal, &device);
        let (a2, b2) = batch_norm_affine(&self.bnorm_1, &device);
        let a1 = a1.select(0, owner.clone());
        // What reaches BatchNorm 2 besides the filtered signal: BatchNorm 1's shift (and a
        // temporal bias, scaled by BatchNorm 1) through the spatial weights, the spatial bias.
        let mut offset = b1.select(0, owner.clone()) * s_sum.clone();
        if let Some(bias) = &self.conv_temporal.bias {
            offset = offset + bias.val().select(0, owner.clone()) * a1.clone() * s_sum;
        }
        if let Some(bias) = &self.conv_spatial.bias {
            offset = offset + bias.val();
        }
        let scale = a2.clone() * a1;
        let shift = a2 * offset + b2;
        let temporal: Tensor<2> = self
            .conv_temporal
            .weight
            .val()
            .reshape([cfg.f1, k])
            .select(0, owner);
        let kernel: Tensor<3> = (temporal * scale.unsqueeze_dim(1)).reshape([f1d, 1, k]);
        let projected = s.unsqueeze::<3>().expand([b, f1d, c]).matmul(x);
        let y = conv1d_grouped(projected, kernel, Some(shift), k / 2, f1d);
        let [_, _, t1] = y.dims();
        y.reshape([b, f1d, 1, t1])
    }

    /// Inference: the separable convolution (depthwise in time, then pointwise) with BatchNorm 2
    /// folded into the pointwise weights; the depthwise part as one grouped convolution.
    fn separable_inference(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let [b, ch, _, t] = x.dims();
        let k = self.config.depthwise_kernel_length;
        let depth: Tensor<3> = self.conv_separable_depth.weight.val().reshape([ch, 1, k]);
        let y = conv1d_grouped(
            x.reshape([b, ch, t]),
            depth,
            self.conv_separable_depth.bias.as_ref().map(|b| b.val()),
            k / 2,
            ch,
        );
        let [f2, ..] = self.conv_separable_point.weight.dims();
        let point: Tensor<2> = self.conv_separable_point.weight.val().reshape([f2, ch]);
        let (point, bias) = fold_affine(
            point,
            self.conv_separable_point.bias.as_ref().map(|b| b.val()),
            batch_norm_affine(&self.bnorm_2, &device),
        );
        let y = conv1d_raw(y, point.reshape([f2, ch, 1]), Some(bias), 1);
        let [_, _, t2] = y.dims();
        y.reshape([b, f2, 1, t2])
    }

    /// The hyper-parameters the model was built with.
    pub fn config(&self) -> &EEGNetConfig {
        &self.config
    }

    /// Dense predictions `[batch, n_outputs, n_preds]`; `n_preds` is 1 unless
    /// `final_conv_length` is `Fixed`.
    pub fn forward_dense(&self, x: Tensor<3>) -> Result<Tensor<3>, ModelError> {
        check_input(NAME, &self.signal, &x)?;
        let cfg = &self.config;
        let [b, c, t] = x.dims();
        let training = x.device().is_autodiff();
        let x = if training {
            let x: Tensor<4> = x.reshape([b, 1, c, t]);
            let x = temporal_filters(x, self.conv_temporal.weight.val(), cfg.kernel_length / 2);
            let x = self.bnorm_temporal.forward(x);
            let w = renorm(self.conv_spatial.weight.val(), cfg.conv_spatial_max_norm);
            self.bnorm_1.forward(spatial_filters(x, w, cfg.f1))
        } else {
            self.first_block_inference(x)
        };
        let activate = |x: Tensor<4>| {
            if training {
                elu(x, 1.0)
            } else {
                elu_inference(x, 1.0)
            }
        };
        let x = activate(x);
        let x = self
            .drop_1
            .forward(pool2d_time(x, cfg.pool_mode, cfg.pool1_kernel_size));
        let x = if training {
            let x = depthwise_time(x, self.conv_separable_depth.weight.val());
            self.bnorm_2.forward(self.conv_separable_point.forward(x))
        } else {
            self.separable_inference(x)
        };
        let x = activate(x);
        let x = self
            .drop_2
            .forward(pool2d_time(x, cfg.pool_mode, cfg.pool2_kernel_size));
        let n_out = self.signal.n_outputs;
        if let Some(conv) = &self.final_layer.conv_classifier {
            let y = conv.forward(x);
            let [_, _, _, n_preds] = y.dims();
            return Ok(y.reshape([b, n_out, n_preds]));
        }
        let Some(lin) = &self.final_layer.linearconstraint else {
            unreachable!("init() always builds exactly one EEGNet classifier");
        };
        let flat: Tensor<2> = x.flatten(1, 3);
        let w = renorm(lin.weight.val().transpose(), cfg.norm_rate).transpose();
        let y = burn::tensor::module::linear(flat, w, lin.bias.as_ref().map(|b| b.val()));
        Ok(y.reshape([b, n_out, 1]))
    }
}

impl EegModel for EEGNet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn signal(&self) -> &SignalShape {
        &self.signal
    }

    /// Per-trial predictions; in dense mode the mean over the prediction positions.
    fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        Ok(self.forward_dense(x)?.mean_dim(2).squeeze_dim(2))
    }

    fn braindecode_key(&self, path: &str) -> String {
        match path {
            // Max-norm weights are registered as parametrisations in braindecode.
            "conv_spatial.weight" | "final_layer.linearconstraint.weight" => {
                path.replace(".weight", ".parametrizations.weight.original")
            }
            _ => path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn banded_temporal_filters_equal_the_convolution() {
        let device = Device::default();
        for (t, k) in [(300, 64), (37, 8), (5, 16), (64, 1)] {
            let conv = conv2d(
                [1, 3],
                [1, k],
                1,
                [0, k / 2, 0, k / 2],
                false,
                Init::XavierZeroBias,
                &device,
            );
            let x = Tensor::<4>::random([2, 1, 4, t], Distribution::Normal(0.0, 1.0), &device);
            let want = conv.forward(x.clone());
            let got = temporal_filters(x, conv.weight.val(), k / 2);
            assert_eq!(got.dims(), want.dims(), "t={t} k={k}");
            let err = (got - want).abs().max().into_scalar::<f32>();
            assert!(err < 1e-5, "t={t} k={k}: {err}");
        }
    }
}
