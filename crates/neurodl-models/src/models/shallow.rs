//! ShallowFBCSPNet (Schirrmeister et al. 2017).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor};

use super::{FinalConvLength, PoolMode, check_momentum, check_nonzero, check_prob};
use crate::layers::{
    Init, batch_norm, batch_norm_affine, conv1d_raw, conv1d_valid, conv2d, fold_affine, pool1d, safe_log,
    window_out,
};
use crate::{EegModel, ModelError, SignalShape, check_input};

const NAME: &str = "ShallowFBCSPNet";

/// Hyper-parameters of [`ShallowFBCSPNet`]; `Default` equals braindecode 1.8's defaults.
///
/// The non-linearities are braindecode's defaults and fixed: squaring after the convolution and
/// `log(max(x, 1e-6))` after pooling, the filter-bank power features the architecture is named
/// after. The first layer is always split into temporal and spatial convolutions: braindecode
/// 1.8.1 cannot build `split_first_layer=False`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShallowFBCSPNetConfig {
    /// Number of temporal filters (40).
    pub n_filters_time: usize,
    /// Length of the temporal filters in samples (25).
    pub filter_time_length: usize,
    /// Number of spatial filters (40).
    pub n_filters_spat: usize,
    /// Pooling window in samples (75).
    pub pool_time_length: usize,
    /// Pooling stride in samples (15).
    pub pool_time_stride: usize,
    /// Classifier length: `Auto` for one prediction per trial, `Fixed` for dense predictions.
    pub final_conv_length: FinalConvLength,
    /// Pooling operation (`Mean`).
    pub pool_mode: PoolMode,
    /// Batch normalisation after the first layer (true).
    pub batch_norm: bool,
    /// BatchNorm momentum, PyTorch convention (0.1).
    pub batch_norm_alpha: f64,
    /// Dropout before the classifier (0.5).
    pub drop_prob: f64,
}

impl Default for ShallowFBCSPNetConfig {
    fn default() -> Self {
        Self {
            n_filters_time: 40,
            filter_time_length: 25,
            n_filters_spat: 40,
            pool_time_length: 75,
            pool_time_stride: 15,
            final_conv_length: FinalConvLength::Auto,
            pool_mode: PoolMode::Mean,
            batch_norm: true,
            batch_norm_alpha: 0.1,
            drop_prob: 0.5,
        }
    }
}

/// braindecode's `CombinedConv`: a temporal convolution (`[F_t, 1, K, 1]`) followed, with no
/// non-linearity between, by a spatial one (`[F_s, F_t, 1, C]`). Both are kept as separate
/// parameters, as in the paper and in braindecode's `state_dict`, but merged into one
/// `[F_s, C, K]` kernel at every forward: one pass over the input instead of two.
#[derive(Module, Debug)]
pub(crate) struct CombinedConv {
    pub conv_time: Conv2d,
    pub conv_spat: Conv2d,
}

impl CombinedConv {
    pub fn new(
        in_chans: usize,
        n_time: usize,
        n_spat: usize,
        k: usize,
        bias_spat: bool,
        device: &Device,
    ) -> Self {
        Self {
            conv_time: conv2d([1, n_time], [k, 1], 1, [0; 4], true, Init::XavierZeroBias, device),
            conv_spat: conv2d(
                [n_time, n_spat],
                [1, in_chans],
                1,
                [0; 4],
                bias_spat,
                Init::XavierZeroBias,
                device,
            ),
        }
    }

    /// `[batch, C, T]` to `[batch, F_s, T - K + 1]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_then(x, None)
    }

    /// [`forward`](Self::forward) followed by the per-filter affine map `scale · y + shift`
    /// (an inference-mode BatchNorm), folded into the merged kernel and bias: no extra pass.
    pub fn forward_then(&self, x: Tensor<3>, affine: Option<(Tensor<1>, Tensor<1>)>) -> Tensor<3> {
        let [n_time, _, k, _] = self.conv_time.weight.dims();
        let [n_spat, _, _, n_chans] = self.conv_spat.weight.dims();
        let wt: Tensor<3> = self.conv_time.weight.val().reshape([1, n_time, k]);
        let ws: Tensor<3> = self.conv_spat.weight.val().reshape([n_spat, n_time, n_chans]);
        let time_bias = self.conv_time.bias.as_ref().map(|b| {
            let summed: Tensor<2> = ws.clone().sum_dim(2).reshape([n_spat, n_time]);
            summed.matmul(b.val().reshape([n_time, 1])).reshape([n_spat])
        });
        let spat_bias = self.conv_spat.bias.as_ref().map(|b| b.val());
        let bias = match (time_bias, spat_bias) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let (ws, bias) = match affine {
            None => (ws, bias),
            Some(affine) => {
                let (ws, bias) = fold_affine(ws, bias, affine);
                (ws, Some(bias))
            }
        };
        // combined[s, c, k] = sum_t ws[s, t, c] * wt[t, k]: per spatial filter, the transposed
        // view of its [F_t, C] slice times the temporal filters, written straight in
        // conv1d's [F_s, C, K] layout (no permutation of the result).
        let combined = ws.swap_dims(1, 2).matmul(wt);
        conv1d_valid(x, combined, bias)
    }
}

/// The classifier, named as braindecode's `final_layer` sequential.
#[derive(Module, Debug)]
pub(crate) struct ConvClassifier {
    pub conv_classifier: Conv2d,
}

impl ConvClassifier {
    /// `[batch, F, T]` to `[batch, n_outputs, n_preds]`: the `(L, 1)` kernel read as 1-D.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [o, i, l, _] = self.conv_classifier.weight.dims();
        let w: Tensor<3> = self.conv_classifier.weight.val().reshape([o, i, l]);
        conv1d_raw(x, w, self.conv_classifier.bias.as_ref().map(|b| b.val()), 1)
    }
}

/// Shallow ConvNet of Schirrmeister et al. (2017), *Deep learning with convolutional neural
/// networks for EEG decoding and visualization*, Human Brain Mapping 38(11):5391–5420,
/// doi:10.1002/hbm.23730, as braindecode 1.8's `ShallowFBCSPNet`.
///
/// A learned filter bank common spatial patterns (FBCSP) pipeline: temporal convolution, spatial
/// convolution, BatchNorm, squaring, mean pooling, log, dropout and a convolutional classifier.
/// With `FinalConvLength::Fixed` the classifier slides along time and
/// [`forward_dense`](Self::forward_dense) gives one prediction per position (cropped decoding).
#[derive(Module, Debug)]
pub struct ShallowFBCSPNet {
    pub(crate) conv_time_spat: CombinedConv,
    pub(crate) bnorm: Option<BatchNorm>,
    pub(crate) drop: Dropout,
    pub(crate) final_layer: ConvClassifier,
    #[module(skip)]
    config: ShallowFBCSPNetConfig,
    #[module(skip)]
    signal: SignalShape,
    #[module(skip)]
    n_preds: usize,
}

impl ShallowFBCSPNetConfig {
    /// Builds the model for `signal` on `device`, initialised as braindecode does (Xavier
    /// uniform weights, zero biases).
    pub fn init(&self, signal: &SignalShape, device: &Device) -> Result<ShallowFBCSPNet, ModelError> {
        signal.validate(NAME)?;
        check_nonzero(
            NAME,
            &[
                ("n_filters_time", self.n_filters_time),
                ("filter_time_length", self.filter_time_length),
                ("n_filters_spat", self.n_filters_spat),
                ("pool_time_length", self.pool_time_length),
                ("pool_time_stride", self.pool_time_stride),
            ],
        )?;
        check_prob(NAME, "drop_prob", self.drop_prob)?;
        check_momentum(NAME, self.batch_norm_alpha)?;
        let too_short = |what: &str| ModelError::InvalidConfig {
            model: NAME,
            reason: format!("n_times = {} is too short for the {what}", signal.n_times),
        };
        let t_conv = window_out(signal.n_times, self.filter_time_length, 1, 1)
            .ok_or_else(|| too_short("temporal filter"))?;
        let t_pool = window_out(t_conv, self.pool_time_length, self.pool_time_stride, 1)
            .ok_or_else(|| too_short("pooling window"))?;
        let final_len = match self.final_conv_length {
            FinalConvLength::Auto => t_pool,
            FinalConvLength::Fixed(l) if l >= 1 && l <= t_pool => l,
            FinalConvLength::Fixed(l) => {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!(
                        "final_conv_length {l} must be in 1..={t_pool} for n_times = {}",
                        signal.n_times
                    ),
                });
            }
        };
        let n_filters = self.n_filters_spat;
        let conv_time_spat = CombinedConv::new(
            signal.n_chans,
            self.n_filters_time,
            self.n_filters_spat,
            self.filter_time_length,
            !self.batch_norm,
            device,
        );
        Ok(ShallowFBCSPNet {
            conv_time_spat,
            bnorm: self
                .batch_norm
                .then(|| batch_norm(n_filters, self.batch_norm_alpha, 1e-5, device)),
            drop: DropoutConfig::new(self.drop_prob).init(),
            final_layer: ConvClassifier {
                conv_classifier: conv2d(
                    [n_filters, signal.n_outputs],
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
            n_preds: t_pool - final_len + 1,
        })
    }
}

impl ShallowFBCSPNet {
    /// The hyper-parameters the model was built with.
    pub fn config(&self) -> &ShallowFBCSPNetConfig {
        &self.config
    }

    /// Number of predictions per trial along time: 1 unless `final_conv_length` is `Fixed`.
    pub fn n_preds(&self) -> usize {
        self.n_preds
    }

    /// Dense predictions `[batch, n_outputs, n_preds]`, braindecode's output before it squeezes
    /// a singleton time axis.
    pub fn forward_dense(&self, x: Tensor<3>) -> Result<Tensor<3>, ModelError> {
        check_input(NAME, &self.signal, &x)?;
        // Without a backward pass the BatchNorm is a fixed affine map: folded into the kernel.
        let x = match &self.bnorm {
            Some(bn) if !x.device().is_autodiff() => {
                let affine = batch_norm_affine(bn, &x.device());
                self.conv_time_spat.forward_then(x, Some(affine))
            }
            Some(bn) => bn.forward(self.conv_time_spat.forward(x)),
            None => self.conv_time_spat.forward(x),
        };
        let x = pool1d(
            x.square(),
            self.config.pool_mode,
            self.config.pool_time_length,
            self.config.pool_time_stride,
        );
        let x = self.drop.forward(safe_log(x, 1e-6));
        Ok(self.final_layer.forward(x))
    }
}

impl EegModel for ShallowFBCSPNet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn signal(&self) -> &SignalShape {
        &self.signal
    }

    /// Per-trial predictions; in dense mode the mean over the `n_preds` positions, which is how
    /// braindecode turns cropped predictions into trial predictions.
    fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        let dense = self.forward_dense(x)?;
        Ok(dense.mean_dim(2).squeeze_dim(2))
    }
}
