//! Deep4Net (Schirrmeister et al. 2017).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Dropout, DropoutConfig};
use burn::tensor::activation::elu;
use burn::tensor::{Device, Tensor};

use super::shallow::{CombinedConv, ConvClassifier};
use super::{FinalConvLength, PoolMode, check_momentum, check_nonzero, check_prob};
use crate::layers::{
    Init, batch_norm, batch_norm_affine, conv1d_raw, conv2d, elu_inference, fold_affine, pool1d, window_out,
};
use crate::{EegModel, ModelError, SignalShape, check_input};

const NAME: &str = "Deep4Net";

/// Hyper-parameters of [`Deep4Net`]; `Default` equals braindecode 1.8's defaults. Activations
/// are braindecode's defaults (ELU after every convolution, identity after pooling).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deep4NetConfig {
    /// Classifier length (`Auto`); `Fixed` gives dense predictions.
    pub final_conv_length: FinalConvLength,
    /// Temporal filters of the first block (25).
    pub n_filters_time: usize,
    /// Spatial filters of the first block (25).
    pub n_filters_spat: usize,
    /// Temporal filter length of the first block (10).
    pub filter_time_length: usize,
    /// Pooling window (3).
    pub pool_time_length: usize,
    /// Pooling stride (3).
    pub pool_time_stride: usize,
    /// Filters of block 2 (50).
    pub n_filters_2: usize,
    /// Filter length of block 2 (10).
    pub filter_length_2: usize,
    /// Filters of block 3 (100).
    pub n_filters_3: usize,
    /// Filter length of block 3 (10).
    pub filter_length_3: usize,
    /// Filters of block 4 (200).
    pub n_filters_4: usize,
    /// Filter length of block 4 (10).
    pub filter_length_4: usize,
    /// Pooling of the first block (`Max`).
    pub first_pool_mode: PoolMode,
    /// Pooling of blocks 2 to 4 (`Max`).
    pub later_pool_mode: PoolMode,
    /// Dropout before blocks 2 to 4 (0.5).
    pub drop_prob: f64,
    /// BatchNorm after every convolution (true).
    pub batch_norm: bool,
    /// BatchNorm momentum, PyTorch convention (0.1).
    pub batch_norm_alpha: f64,
    /// Stride the convolutions of blocks 2 to 4 instead of the pooling (false).
    pub stride_before_pool: bool,
}

impl Default for Deep4NetConfig {
    fn default() -> Self {
        Self {
            final_conv_length: FinalConvLength::Auto,
            n_filters_time: 25,
            n_filters_spat: 25,
            filter_time_length: 10,
            pool_time_length: 3,
            pool_time_stride: 3,
            n_filters_2: 50,
            filter_length_2: 10,
            n_filters_3: 100,
            filter_length_3: 10,
            n_filters_4: 200,
            filter_length_4: 10,
            first_pool_mode: PoolMode::Max,
            later_pool_mode: PoolMode::Max,
            drop_prob: 0.5,
            batch_norm: true,
            batch_norm_alpha: 0.1,
            stride_before_pool: false,
        }
    }
}

/// Deep ConvNet of Schirrmeister et al. (2017), *Deep learning with convolutional neural
/// networks for EEG decoding and visualization*, Human Brain Mapping 38(11):5391–5420,
/// doi:10.1002/hbm.23730, as braindecode 1.8's `Deep4Net`.
///
/// Four convolution–pooling blocks (the first factorised into temporal and spatial
/// convolutions) and a convolutional classifier. Like braindecode, when `n_times` is shorter than
/// the default receptive field, the temporal kernels, pooling sizes and strides of blocks 1–4
/// (except the first temporal kernel, which braindecode leaves unscaled) are scaled down by
/// `n_times / minimum`.
#[derive(Module, Debug)]
pub struct Deep4Net {
    pub(crate) conv_time_spat: CombinedConv,
    pub(crate) bnorm: Option<BatchNorm>,
    pub(crate) drop_2: Dropout,
    pub(crate) conv_2: Conv2d,
    pub(crate) bnorm_2: Option<BatchNorm>,
    pub(crate) drop_3: Dropout,
    pub(crate) conv_3: Conv2d,
    pub(crate) bnorm_3: Option<BatchNorm>,
    pub(crate) drop_4: Dropout,
    pub(crate) conv_4: Conv2d,
    pub(crate) bnorm_4: Option<BatchNorm>,
    pub(crate) final_layer: ConvClassifier,
    #[module(skip)]
    config: Deep4NetConfig,
    #[module(skip)]
    signal: SignalShape,
    /// Pooling (kernel, stride) and convolution stride after braindecode's scaling.
    #[module(skip)]
    pool: (usize, usize),
    #[module(skip)]
    conv_stride: usize,
    #[module(skip)]
    n_preds: usize,
}

impl Deep4NetConfig {
    /// braindecode's minimum input length for these kernels and pools.
    fn min_n_times(&self) -> usize {
        let mut len = 1;
        for k in [
            self.filter_length_4,
            self.filter_length_3,
            self.filter_length_2,
            self.filter_time_length,
        ] {
            len = self.pool_time_stride * (len - 1) + self.pool_time_length;
            len += k - 1;
        }
        len
    }

    /// Builds the model for `signal` on `device`, initialised as braindecode does (Xavier
    /// uniform weights, zero biases).
    pub fn init(&self, signal: &SignalShape, device: &Device) -> Result<Deep4Net, ModelError> {
        signal.validate(NAME)?;
        check_nonzero(
            NAME,
            &[
                ("n_filters_time", self.n_filters_time),
                ("n_filters_spat", self.n_filters_spat),
                ("filter_time_length", self.filter_time_length),
                ("pool_time_length", self.pool_time_length),
                ("pool_time_stride", self.pool_time_stride),
                ("n_filters_2", self.n_filters_2),
                ("filter_length_2", self.filter_length_2),
                ("n_filters_3", self.n_filters_3),
                ("filter_length_3", self.filter_length_3),
                ("n_filters_4", self.n_filters_4),
                ("filter_length_4", self.filter_length_4),
            ],
        )?;
        check_prob(NAME, "drop_prob", self.drop_prob)?;
        check_momentum(NAME, self.batch_norm_alpha)?;
        let mut scaled = self.clone();
        let min = self.min_n_times();
        if signal.n_times < min {
            let factor = signal.n_times as f64 / min as f64;
            let scale = |v: usize| ((v as f64 * factor) as usize).max(1);
            scaled.pool_time_length = scale(self.pool_time_length);
            scaled.pool_time_stride = scale(self.pool_time_stride);
            scaled.filter_length_2 = scale(self.filter_length_2);
            scaled.filter_length_3 = scale(self.filter_length_3);
            scaled.filter_length_4 = scale(self.filter_length_4);
        }
        let (conv_stride, pool_stride) = if self.stride_before_pool {
            (scaled.pool_time_stride, 1)
        } else {
            (1, scaled.pool_time_stride)
        };
        let pool_len = scaled.pool_time_length;
        let too_short = |what: &str| ModelError::InvalidConfig {
            model: NAME,
            reason: format!("n_times = {} is too short for the {what}", signal.n_times),
        };
        // The first (merged) convolution always has stride 1 and the unscaled kernel.
        let mut t =
            window_out(signal.n_times, self.filter_time_length, 1, 1).ok_or_else(|| too_short("block 1"))?;
        t = window_out(t, pool_len, pool_stride, 1).ok_or_else(|| too_short("block 1 pooling"))?;
        for (block, k) in [
            (2, scaled.filter_length_2),
            (3, scaled.filter_length_3),
            (4, scaled.filter_length_4),
        ] {
            t = window_out(t, k, conv_stride, 1).ok_or_else(|| too_short(&format!("block {block}")))?;
            t = window_out(t, pool_len, pool_stride, 1)
                .ok_or_else(|| too_short(&format!("block {block} pooling")))?;
        }
        let final_len = match self.final_conv_length {
            FinalConvLength::Auto => t,
            FinalConvLength::Fixed(l) if l >= 1 && l <= t => l,
            FinalConvLength::Fixed(l) => {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!(
                        "final_conv_length {l} must be in 1..={t} for n_times = {}",
                        signal.n_times
                    ),
                });
            }
        };
        let bn = |n| {
            self.batch_norm
                .then(|| batch_norm(n, self.batch_norm_alpha, 1e-5, device))
        };
        let conv = |i, o, k| {
            conv2d(
                [i, o],
                [k, 1],
                1,
                [0; 4],
                !self.batch_norm,
                Init::XavierZeroBias,
                device,
            )
        };
        let drop = || DropoutConfig::new(self.drop_prob).init();
        Ok(Deep4Net {
            conv_time_spat: CombinedConv::new(
                signal.n_chans,
                self.n_filters_time,
                self.n_filters_spat,
                self.filter_time_length,
                !self.batch_norm,
                device,
            ),
            bnorm: bn(self.n_filters_spat),
            drop_2: drop(),
            conv_2: conv(self.n_filters_spat, self.n_filters_2, scaled.filter_length_2),
            bnorm_2: bn(self.n_filters_2),
            drop_3: drop(),
            conv_3: conv(self.n_filters_2, self.n_filters_3, scaled.filter_length_3),
            bnorm_3: bn(self.n_filters_3),
            drop_4: drop(),
            conv_4: conv(self.n_filters_3, self.n_filters_4, scaled.filter_length_4),
            bnorm_4: bn(self.n_filters_4),
            final_layer: ConvClassifier {
                conv_classifier: conv2d(
                    [self.n_filters_4, signal.n_outputs],
                    [final_len, 1],
                    1,
                    [0; 4],
                    true,
                    Init::XavierZeroBias,
                    device,
                ),
            },
            config: self.clone(),
            signal: signal.clone(),
            pool: (pool_len, pool_stride),
            conv_stride,
            n_preds: t - final_len + 1,
        })
    }
}

fn maybe_bn(bn: &Option<BatchNorm>, x: Tensor<3>) -> Tensor<3> {
    match bn {
        Some(bn) => bn.forward(x),
        None => x,
    }
}

impl Deep4Net {
    /// The hyper-parameters the model was built with (before braindecode's length scaling).
    pub fn config(&self) -> &Deep4NetConfig {
        &self.config
    }

    /// Number of predictions per trial along time: 1 unless `final_conv_length` is `Fixed`.
    pub fn n_preds(&self) -> usize {
        self.n_preds
    }

    fn conv_block(&self, x: Tensor<3>, drop: &Dropout, conv: &Conv2d, bn: &Option<BatchNorm>) -> Tensor<3> {
        let x = drop.forward(x);
        let [o, i, k, _] = conv.weight.dims();
        let w: Tensor<3> = conv.weight.val().reshape([o, i, k]);
        let bias = conv.bias.as_ref().map(|b| b.val());
        let x = match bn {
            // Without a backward pass the BatchNorm is a fixed affine map: folded into the
            // convolution's kernel and bias.
            Some(bn) if !x.device().is_autodiff() => {
                let (w, bias) = fold_affine(w, bias, batch_norm_affine(bn, &x.device()));
                elu_inference(conv1d_raw(x, w, Some(bias), self.conv_stride), 1.0)
            }
            _ => elu(maybe_bn(bn, conv1d_raw(x, w, bias, self.conv_stride)), 1.0),
        };
        pool1d(x, self.config.later_pool_mode, self.pool.0, self.pool.1)
    }

    /// Dense predictions `[batch, n_outputs, n_preds]`, braindecode's output before it squeezes
    /// a singleton time axis.
    pub fn forward_dense(&self, x: Tensor<3>) -> Result<Tensor<3>, ModelError> {
        check_input(NAME, &self.signal, &x)?;
        let x = match &self.bnorm {
            Some(bn) if !x.device().is_autodiff() => {
                let affine = batch_norm_affine(bn, &x.device());
                elu_inference(self.conv_time_spat.forward_then(x, Some(affine)), 1.0)
            }
            bn => elu(maybe_bn(bn, self.conv_time_spat.forward(x)), 1.0),
        };
        let x = pool1d(x, self.config.first_pool_mode, self.pool.0, self.pool.1);
        let x = self.conv_block(x, &self.drop_2, &self.conv_2, &self.bnorm_2);
        let x = self.conv_block(x, &self.drop_3, &self.conv_3, &self.bnorm_3);
        let x = self.conv_block(x, &self.drop_4, &self.conv_4, &self.bnorm_4);
        Ok(self.final_layer.forward(x))
    }
}

impl EegModel for Deep4Net {
    fn name(&self) -> &'static str {
        NAME
    }

    fn signal(&self) -> &SignalShape {
        &self.signal
    }

    /// Per-trial predictions; in dense mode the mean over the `n_preds` positions.
    fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        Ok(self.forward_dense(x)?.mean_dim(2).squeeze_dim(2))
    }
}
