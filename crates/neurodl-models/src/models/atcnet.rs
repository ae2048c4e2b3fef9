//! ATCNet (Altaheri et al. 2023).

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv2d};
use burn::nn::{BatchNorm, Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{elu, softmax};
use burn::tensor::{Device, Tensor};

use super::{check_nonzero, check_prob};
use crate::layers::{
    ChannelDropout, Init, batch_norm, causal_conv1d, conv1d, conv2d, conv2d_pairs, linear,
    max_norm_linear_weight, renorm, same_padding,
};
use crate::{EegModel, ModelError, SignalShape, check_input};

const NAME: &str = "ATCNet";

/// Hyper-parameters of [`ATCNet`]; `Default` equals braindecode 1.8's defaults. The TCN
/// activation is braindecode's default ELU. braindecode's `concat=True` is not offered: in
/// braindecode 1.8.1 it only ever uses the first window and fails for more than one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ATCNetConfig {
    /// Temporal filters F1 of the convolutional block (16).
    pub conv_block_n_filters: usize,
    /// Temporal kernel length (64).
    pub conv_block_kernel_length_1: usize,
    /// Kernel length of the block's last convolution (16).
    pub conv_block_kernel_length_2: usize,
    /// First average-pooling size (8).
    pub conv_block_pool_size_1: usize,
    /// Second average-pooling size (7).
    pub conv_block_pool_size_2: usize,
    /// Depth multiplier of the spatial convolution (2).
    pub conv_block_depth_mult: usize,
    /// Channel dropout of the convolutional block (0.3).
    pub conv_block_dropout: f64,
    /// Number of sliding windows (5).
    pub n_windows: usize,
    /// Attention head size (8).
    pub head_dim: usize,
    /// Attention heads (2).
    pub num_heads: usize,
    /// Attention dropout (0.5).
    pub att_drop_prob: f64,
    /// Residual blocks per TCN (2).
    pub tcn_depth: usize,
    /// TCN kernel size (4).
    pub tcn_kernel_size: usize,
    /// TCN dropout (0.3).
    pub tcn_drop_prob: f64,
    /// Max norm of the classifiers' weights (0.25).
    pub max_norm_const: f64,
    /// Optional max norm of every convolution's filters (`None`).
    pub conv_max_norm_const: Option<f64>,
}

impl Default for ATCNetConfig {
    fn default() -> Self {
        Self {
            conv_block_n_filters: 16,
            conv_block_kernel_length_1: 64,
            conv_block_kernel_length_2: 16,
            conv_block_pool_size_1: 8,
            conv_block_pool_size_2: 7,
            conv_block_depth_mult: 2,
            conv_block_dropout: 0.3,
            n_windows: 5,
            head_dim: 8,
            num_heads: 2,
            att_drop_prob: 0.5,
            tcn_depth: 2,
            tcn_kernel_size: 4,
            tcn_drop_prob: 0.3,
            max_norm_const: 0.25,
            conv_max_norm_const: None,
        }
    }
}

fn maybe_renorm<const D: usize>(w: Tensor<D>, max_norm: Option<f64>) -> Tensor<D> {
    match max_norm {
        Some(m) => renorm(w, m),
        None => w,
    }
}

/// EEGNet-like convolutional block: temporal, depthwise spatial and separable convolutions.
#[derive(Module, Debug)]
pub(crate) struct ConvBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    drop2: ChannelDropout,
    conv3: Conv2d,
    bn3: BatchNorm,
    drop3: ChannelDropout,
    #[module(skip)]
    pools: (usize, usize),
    #[module(skip)]
    max_norm: Option<f64>,
}

impl ConvBlock {
    /// `[batch, 1, T, C]` to `[batch, F2, T / (p1 * p2)]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        use burn::tensor::module::avg_pool2d;
        use burn::tensor::ops::AvgPoolOptions;
        let same = |conv: &Conv2d| same_padding(conv.kernel_size[0]);
        let w1 = maybe_renorm(self.conv1.weight.val(), self.max_norm);
        let x = self
            .bn1
            .forward(conv2d_pairs(x, w1, None, [same(&self.conv1), (0, 0)], 1));
        let w2 = maybe_renorm(self.conv2.weight.val(), self.max_norm);
        let x = elu(
            self.bn2
                .forward(conv2d_pairs(x, w2, None, [(0, 0), (0, 0)], self.conv2.groups)),
            1.0,
        );
        let x = self
            .drop2
            .forward(avg_pool2d(x, AvgPoolOptions::new([self.pools.0, 1])));
        let w3 = maybe_renorm(self.conv3.weight.val(), self.max_norm);
        let x = elu(
            self.bn3
                .forward(conv2d_pairs(x, w3, None, [same(&self.conv3), (0, 0)], 1)),
            1.0,
        );
        let x = self
            .drop3
            .forward(avg_pool2d(x, AvgPoolOptions::new([self.pools.1, 1])));
        let [b, f, t, _] = x.dims();
        x.reshape([b, f, t])
    }
}

/// braindecode's `_MHA`: multi-head self-attention whose head size is independent of the input
/// size.
#[derive(Module, Debug)]
pub(crate) struct Mha {
    fc_q: Linear,
    fc_k: Linear,
    fc_v: Linear,
    fc_o: Linear,
    dropout: Dropout,
    #[module(skip)]
    heads: (usize, usize),
}

/// Pre-norm self-attention with a residual connection, over the window's time steps.
#[derive(Module, Debug)]
pub(crate) struct AttentionBlock {
    ln: LayerNorm,
    mha: Mha,
    drop: Dropout,
}

impl AttentionBlock {
    /// `[batch, F, T]` to `[batch, F, T]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.swap_dims(1, 2);
        let [b, s, _] = x.dims();
        let (h, hd) = self.mha.heads;
        let y = self.ln.forward(x.clone());
        let split = |t: Tensor<3>| -> Tensor<4> { t.reshape([b, s, h, hd]).swap_dims(1, 2) };
        let q = split(self.mha.fc_q.forward(y.clone()));
        let k = split(self.mha.fc_k.forward(y.clone()));
        let v = split(self.mha.fc_v.forward(y));
        let w = softmax(q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f64).sqrt()), 3);
        let o: Tensor<3> = w.matmul(v).swap_dims(1, 2).reshape([b, s, h * hd]);
        let o = self.mha.dropout.forward(self.mha.fc_o.forward(o));
        (x + self.drop.forward(o)).swap_dims(1, 2)
    }
}

/// Residual block of dilated causal convolutions.
#[derive(Module, Debug)]
pub(crate) struct TcnBlock {
    conv1: Conv1d,
    bn1: BatchNorm,
    drop1: Dropout,
    conv2: Conv1d,
    bn2: BatchNorm,
    drop2: Dropout,
    reshaping_conv: Option<Conv1d>,
    #[module(skip)]
    dilation: usize,
    #[module(skip)]
    max_norm: Option<f64>,
}

impl TcnBlock {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let bias = |c: &Conv1d| c.bias.as_ref().map(|b| b.val());
        let w1 = maybe_renorm(self.conv1.weight.val(), self.max_norm);
        let out = causal_conv1d(x.clone(), w1, bias(&self.conv1), self.dilation);
        let out = self.drop1.forward(elu(self.bn1.forward(out), 1.0));
        let w2 = maybe_renorm(self.conv2.weight.val(), self.max_norm);
        let out = causal_conv1d(out, w2, bias(&self.conv2), self.dilation);
        let out = self.drop2.forward(elu(self.bn2.forward(out), 1.0));
        let x = match &self.reshaping_conv {
            Some(conv) => {
                let w = maybe_renorm(conv.weight.val(), self.max_norm);
                causal_conv1d(x, w, bias(conv), 1)
            }
            None => x,
        };
        elu(x + out, 1.0)
    }
}

/// ATCNet of Altaheri, Muhammad and Alsulaiman (2023), *Physics-informed attention temporal
/// convolutional network for EEG-based motor imagery classification*, IEEE Transactions on
/// Industrial Informatics 19(2):2249–2258, doi:10.1109/TII.2022.3197419, as braindecode 1.8's
/// `ATCNet`.
///
/// An EEGNet-like convolutional block, then for each of `n_windows` sliding windows over its
/// output a multi-head self-attention block, a temporal convolutional network and a max-norm
/// linear classifier; the windows' predictions are averaged. Like braindecode, when `n_times` is
/// shorter than the default configuration needs, kernels, pools, the number of windows and the
/// TCN kernel are scaled down by `n_times / minimum`.
#[derive(Module, Debug)]
pub struct ATCNet {
    pub(crate) conv_block: ConvBlock,
    pub(crate) attention_blocks: Vec<AttentionBlock>,
    pub(crate) temporal_conv_nets: Vec<Vec<TcnBlock>>,
    pub(crate) final_layer: Vec<Linear>,
    #[module(skip)]
    config: ATCNetConfig,
    #[module(skip)]
    signal: SignalShape,
    /// Window length in time steps of the convolutional block's output.
    #[module(skip)]
    tw: usize,
}

impl ATCNetConfig {
    /// Builds the model for `signal` on `device` with braindecode's initialisation (PyTorch
    /// defaults, Kaiming-uniform TCN kernels).
    pub fn init(&self, signal: &SignalShape, device: &Device) -> Result<ATCNet, ModelError> {
        signal.validate(NAME)?;
        check_nonzero(
            NAME,
            &[
                ("conv_block_n_filters", self.conv_block_n_filters),
                ("conv_block_kernel_length_1", self.conv_block_kernel_length_1),
                ("conv_block_kernel_length_2", self.conv_block_kernel_length_2),
                ("conv_block_pool_size_1", self.conv_block_pool_size_1),
                ("conv_block_pool_size_2", self.conv_block_pool_size_2),
                ("conv_block_depth_mult", self.conv_block_depth_mult),
                ("n_windows", self.n_windows),
                ("head_dim", self.head_dim),
                ("num_heads", self.num_heads),
                ("tcn_depth", self.tcn_depth),
                ("tcn_kernel_size", self.tcn_kernel_size),
            ],
        )?;
        for (what, p) in [
            ("conv_block_dropout", self.conv_block_dropout),
            ("att_drop_prob", self.att_drop_prob),
            ("tcn_drop_prob", self.tcn_drop_prob),
        ] {
            check_prob(NAME, what, p)?;
        }
        for v in std::iter::once(self.max_norm_const).chain(self.conv_max_norm_const) {
            if !(v.is_finite() && v > 0.0) {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!("max norms must be positive, got {v}"),
                });
            }
        }
        if self.tcn_depth > 16 {
            return Err(ModelError::InvalidConfig {
                model: NAME,
                reason: "tcn_depth above 16 is not supported".into(),
            });
        }
        let mut s = self.clone();
        let min_len_tcn = (self.tcn_kernel_size - 1) * (1 << (self.tcn_depth - 1)) + 1;
        let min_n_times =
            (self.n_windows + min_len_tcn - 1) * self.conv_block_pool_size_1 * self.conv_block_pool_size_2;
        if signal.n_times < min_n_times {
            let factor = signal.n_times as f64 / min_n_times as f64;
            let scale = |v: usize, floor: usize| ((v as f64 * factor) as usize).max(floor);
            s.conv_block_kernel_length_1 = scale(self.conv_block_kernel_length_1, 1);
            s.conv_block_kernel_length_2 = scale(self.conv_block_kernel_length_2, 1);
            s.conv_block_pool_size_1 = scale(self.conv_block_pool_size_1, 1);
            s.conv_block_pool_size_2 = scale(self.conv_block_pool_size_2, 1);
            s.n_windows = scale(self.n_windows, 1);
            s.tcn_kernel_size = scale(self.tcn_kernel_size, 2);
        }
        let tc = signal.n_times / (s.conv_block_pool_size_1 * s.conv_block_pool_size_2);
        if tc < s.n_windows {
            return Err(ModelError::InvalidConfig {
                model: NAME,
                reason: format!(
                    "n_times = {} gives {tc} time steps after pooling, fewer than the {} windows",
                    signal.n_times, s.n_windows
                ),
            });
        }
        let f1 = s.conv_block_n_filters;
        let f2 = f1 * s.conv_block_depth_mult;
        let n_tcn = f2; // braindecode: int(depth_mult * n_filters)
        let (k1, k2) = (s.conv_block_kernel_length_1, s.conv_block_kernel_length_2);
        let init = Init::TorchDefault;
        let bn4 = |n| batch_norm(n, 0.1, 1e-4, device);
        let conv_block = ConvBlock {
            conv1: conv2d([1, f1], [k1, 1], 1, [0; 4], false, init, device),
            bn1: bn4(f1),
            conv2: conv2d([f1, f2], [1, signal.n_chans], f1, [0; 4], false, init, device),
            bn2: bn4(f2),
            drop2: ChannelDropout::new(s.conv_block_dropout),
            conv3: conv2d([f2, f2], [k2, 1], 1, [0; 4], false, init, device),
            bn3: bn4(f2),
            drop3: ChannelDropout::new(s.conv_block_dropout),
            pools: (s.conv_block_pool_size_1, s.conv_block_pool_size_2),
            max_norm: s.conv_max_norm_const,
        };
        let hd = s.head_dim * s.num_heads;
        let drop = |p: f64| DropoutConfig::new(p).init();
        let attention_blocks = (0..s.n_windows)
            .map(|_| AttentionBlock {
                ln: LayerNormConfig::new(f2).with_epsilon(1e-6).init(device),
                mha: Mha {
                    fc_q: linear(f2, hd, init, device),
                    fc_k: linear(f2, hd, init, device),
                    fc_v: linear(f2, hd, init, device),
                    fc_o: linear(hd, f2, init, device),
                    dropout: drop(s.att_drop_prob),
                    heads: (s.num_heads, s.head_dim),
                },
                drop: drop(0.3),
            })
            .collect();
        let k = s.tcn_kernel_size;
        let temporal_conv_nets = (0..s.n_windows)
            .map(|_| {
                (0..s.tcn_depth)
                    .map(|i| {
                        let c_in = if i == 0 { f2 } else { n_tcn };
                        let dilation = 1 << i;
                        TcnBlock {
                            conv1: conv1d(
                                [c_in, n_tcn],
                                k,
                                dilation,
                                (0, 0),
                                true,
                                Init::KaimingUniform,
                                device,
                            ),
                            bn1: batch_norm(n_tcn, 0.1, 1e-5, device),
                            drop1: drop(s.tcn_drop_prob),
                            conv2: conv1d(
                                [n_tcn, n_tcn],
                                k,
                                dilation,
                                (0, 0),
                                true,
                                Init::KaimingUniform,
                                device,
                            ),
                            bn2: batch_norm(n_tcn, 0.1, 1e-5, device),
                            drop2: drop(s.tcn_drop_prob),
                            reshaping_conv: (c_in != n_tcn)
                                .then(|| conv1d([c_in, n_tcn], 1, 1, (0, 0), true, init, device)),
                            dilation,
                            max_norm: s.conv_max_norm_const,
                        }
                    })
                    .collect()
            })
            .collect();
        let final_layer = (0..s.n_windows)
            .map(|_| linear(n_tcn, signal.n_outputs, init, device))
            .collect();
        Ok(ATCNet {
            conv_block,
            attention_blocks,
            temporal_conv_nets,
            final_layer,
            config: s.clone(),
            signal: signal.clone(),
            tw: tc - s.n_windows + 1,
        })
    }
}

impl ATCNet {
    /// The hyper-parameters in effect, after braindecode's scaling for short inputs.
    pub fn config(&self) -> &ATCNetConfig {
        &self.config
    }
}

impl EegModel for ATCNet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn signal(&self) -> &SignalShape {
        &self.signal
    }

    fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        check_input(NAME, &self.signal, &x)?;
        let [b, c, t] = x.dims();
        let x: Tensor<4> = x.swap_dims(1, 2).reshape([b, 1, t, c]);
        let feat = self.conv_block.forward(x);
        let n = self.final_layer.len();
        let mut sum: Option<Tensor<2>> = None;
        for (w, ((att, tcn), fin)) in self
            .attention_blocks
            .iter()
            .zip(&self.temporal_conv_nets)
            .zip(&self.final_layer)
            .enumerate()
        {
            let mut y = att.forward(feat.clone().narrow(2, w, self.tw));
            for block in tcn {
                y = block.forward(y);
            }
            let [_, f, len] = y.dims();
            let last: Tensor<2> = y.narrow(2, len - 1, 1).reshape([b, f]);
            let weight = max_norm_linear_weight(fin.weight.val(), self.config.max_norm_const, 1e-5);
            let out = burn::tensor::module::linear(last, weight, fin.bias.as_ref().map(|b| b.val()));
            sum = Some(match sum {
                Some(s) => s + out,
                None => out,
            });
        }
        // init() builds at least one window.
        let sum = sum.expect("ATCNet has at least one window");
        Ok(if n > 1 { sum.div_scalar(n as f64) } else { sum })
    }

    fn braindecode_key(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        let layer = parts.len().checked_sub(2).map(|i| parts[i]).unwrap_or("");
        let is_conv = matches!(layer, "conv1" | "conv2" | "conv3" | "reshaping_conv");
        let parametrized = parts.last() == Some(&"weight")
            && (parts[0] == "final_layer" || (self.config.conv_max_norm_const.is_some() && is_conv));
        if parametrized {
            format!(
                "{}.parametrizations.weight.original",
                path.trim_end_matches(".weight")
            )
        } else {
            path.to_string()
        }
    }
}
