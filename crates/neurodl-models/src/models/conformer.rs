//! EEG Conformer (Song et al. 2023).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{elu, gelu, softmax};
use burn::tensor::{Device, Tensor};

use super::{check_nonzero, check_prob};
use crate::layers::{Init, batch_norm, conv2d, linear, window_out};
use crate::{EegModel, ModelError, SignalShape, check_input};

const NAME: &str = "EEGConformer";

/// Hyper-parameters of [`EEGConformer`]; `Default` equals braindecode 1.8's defaults.
/// Activations are braindecode's defaults (ELU in the convolutional and classifier parts, exact
/// GELU in the transformer).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EEGConformerConfig {
    /// Temporal filters, also the transformer's embedding size (40).
    pub n_filters_time: usize,
    /// Temporal filter length (25).
    pub filter_time_length: usize,
    /// Average-pooling window (75).
    pub pool_time_length: usize,
    /// Average-pooling stride (15).
    pub pool_time_stride: usize,
    /// Dropout of the convolutional patch embedding (0.5).
    pub drop_prob: f64,
    /// Transformer encoder blocks (6).
    pub num_layers: usize,
    /// Attention heads; must divide `n_filters_time` (10).
    pub num_heads: usize,
    /// Dropout inside the transformer (0.5).
    pub att_drop_prob: f64,
    /// Input size of the classifier's first linear layer; `None` computes it from the signal
    /// (braindecode's `"auto"`).
    pub final_fc_length: Option<usize>,
}

impl Default for EEGConformerConfig {
    fn default() -> Self {
        Self {
            n_filters_time: 40,
            filter_time_length: 25,
            pool_time_length: 75,
            pool_time_stride: 15,
            drop_prob: 0.5,
            num_layers: 6,
            num_heads: 10,
            att_drop_prob: 0.5,
            final_fc_length: None,
        }
    }
}

/// The convolutional "patch embedding": a shallow ConvNet whose pooled time steps become tokens.
#[derive(Module, Debug)]
pub(crate) struct PatchEmbedding {
    conv_temporal: Conv2d,
    conv_spatial: Conv2d,
    bnorm: BatchNorm,
    drop: Dropout,
    projection: Conv2d,
    #[module(skip)]
    pool: (usize, usize),
}

impl PatchEmbedding {
    /// `[batch, C, T]` to tokens `[batch, seq, emb]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        use burn::tensor::module::avg_pool2d;
        use burn::tensor::ops::AvgPoolOptions;
        let [b, c, t] = x.dims();
        let x: Tensor<4> = x.reshape([b, 1, c, t]);
        let x = self.conv_spatial.forward(self.conv_temporal.forward(x));
        let x = elu(self.bnorm.forward(x), 1.0);
        let x = avg_pool2d(
            x,
            AvgPoolOptions::new([1, self.pool.0]).with_stride([1, self.pool.1]),
        );
        let x = self.projection.forward(self.drop.forward(x));
        let [_, emb, _, seq] = x.dims();
        x.reshape([b, emb, seq]).swap_dims(1, 2)
    }
}

/// braindecode's `MultiHeadAttention` (scaled dot-product attention over `num_heads` heads).
#[derive(Module, Debug)]
pub(crate) struct Attention {
    keys: Linear,
    queries: Linear,
    values: Linear,
    projection: Linear,
    att_drop: Dropout,
    #[module(skip)]
    num_heads: usize,
}

impl Attention {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, s, e] = x.dims();
        let h = self.num_heads;
        let split = |t: Tensor<3>| -> Tensor<4> { t.reshape([b, s, h, e / h]).swap_dims(1, 2) };
        let q = split(self.queries.forward(x.clone()));
        let k = split(self.keys.forward(x.clone()));
        let v = split(self.values.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar(((e / h) as f64).sqrt());
        let weights = self.att_drop.forward(softmax(scores, 3));
        let out: Tensor<3> = weights.matmul(v).swap_dims(1, 2).reshape([b, s, e]);
        self.projection.forward(out)
    }
}

/// One pre-norm transformer block: attention and feed-forward sub-layers with residuals.
#[derive(Module, Debug)]
pub(crate) struct EncoderBlock {
    norm1: LayerNorm,
    attention: Attention,
    drop1: Dropout,
    norm2: LayerNorm,
    ff1: Linear,
    ff_drop: Dropout,
    ff2: Linear,
    drop2: Dropout,
}

impl EncoderBlock {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.drop1.forward(self.attention.forward(self.norm1.forward(x)));
        let y = self
            .ff_drop
            .forward(gelu(self.ff1.forward(self.norm2.forward(x.clone()))));
        x + self.drop2.forward(self.ff2.forward(y))
    }
}

/// The classifier's hidden layers (braindecode's `_FullyConnected`).
#[derive(Module, Debug)]
pub(crate) struct FullyConnected {
    fc1: Linear,
    drop1: Dropout,
    fc2: Linear,
    drop2: Dropout,
}

/// EEG Conformer of Song et al. (2023), *EEG Conformer: convolutional transformer for EEG
/// decoding and visualization*, IEEE Transactions on Neural Systems and Rehabilitation
/// Engineering 31:710–719, doi:10.1109/TNSRE.2022.3230250, as braindecode 1.8's
/// `EEGConformer`.
///
/// A shallow ConvNet turns the signal into a sequence of tokens, a transformer encoder relates
/// them, and fully connected layers classify the flattened sequence.
#[derive(Module, Debug)]
pub struct EEGConformer {
    pub(crate) patch_embedding: PatchEmbedding,
    pub(crate) transformer: Vec<EncoderBlock>,
    pub(crate) fc: FullyConnected,
    pub(crate) final_layer: Linear,
    #[module(skip)]
    config: EEGConformerConfig,
    #[module(skip)]
    signal: SignalShape,
}

impl EEGConformerConfig {
    /// Builds the model for `signal` on `device` with PyTorch's default initialisation, as
    /// braindecode does.
    pub fn init(&self, signal: &SignalShape, device: &Device) -> Result<EEGConformer, ModelError> {
        signal.validate(NAME)?;
        let emb = self.n_filters_time;
        check_nonzero(
            NAME,
            &[
                ("n_filters_time", emb),
                ("filter_time_length", self.filter_time_length),
                ("pool_time_length", self.pool_time_length),
                ("pool_time_stride", self.pool_time_stride),
                ("num_heads", self.num_heads),
            ],
        )?;
        check_prob(NAME, "drop_prob", self.drop_prob)?;
        check_prob(NAME, "att_drop_prob", self.att_drop_prob)?;
        if !emb.is_multiple_of(self.num_heads) {
            return Err(ModelError::InvalidConfig {
                model: NAME,
                reason: format!(
                    "num_heads ({}) must divide n_filters_time ({emb})",
                    self.num_heads
                ),
            });
        }
        let too_short = |what: &str| ModelError::InvalidConfig {
            model: NAME,
            reason: format!("n_times = {} is too short for the {what}", signal.n_times),
        };
        let t = window_out(signal.n_times, self.filter_time_length, 1, 1)
            .ok_or_else(|| too_short("temporal filter"))?;
        let seq = window_out(t, self.pool_time_length, self.pool_time_stride, 1)
            .ok_or_else(|| too_short("pooling window"))?;
        let fc_len = match self.final_fc_length {
            None => seq * emb,
            Some(l) if l == seq * emb => l,
            Some(l) => {
                return Err(ModelError::InvalidConfig {
                    model: NAME,
                    reason: format!(
                        "final_fc_length {l} does not match the {} features of this signal",
                        seq * emb
                    ),
                });
            }
        };
        let init = Init::TorchDefault;
        let drop = |p: f64| DropoutConfig::new(p).init();
        let ln = || LayerNormConfig::new(emb).init(device);
        let transformer = (0..self.num_layers)
            .map(|_| EncoderBlock {
                norm1: ln(),
                attention: Attention {
                    keys: linear(emb, emb, init, device),
                    queries: linear(emb, emb, init, device),
                    values: linear(emb, emb, init, device),
                    projection: linear(emb, emb, init, device),
                    att_drop: drop(self.att_drop_prob),
                    num_heads: self.num_heads,
                },
                drop1: drop(self.att_drop_prob),
                norm2: ln(),
                ff1: linear(emb, 4 * emb, init, device),
                ff_drop: drop(self.att_drop_prob),
                ff2: linear(4 * emb, emb, init, device),
                drop2: drop(self.att_drop_prob),
            })
            .collect();
        Ok(EEGConformer {
            patch_embedding: PatchEmbedding {
                conv_temporal: conv2d(
                    [1, emb],
                    [1, self.filter_time_length],
                    1,
                    [0; 4],
                    true,
                    init,
                    device,
                ),
                conv_spatial: conv2d([emb, emb], [signal.n_chans, 1], 1, [0; 4], true, init, device),
                bnorm: batch_norm(emb, 0.1, 1e-5, device),
                drop: drop(self.drop_prob),
                projection: conv2d([emb, emb], [1, 1], 1, [0; 4], true, init, device),
                pool: (self.pool_time_length, self.pool_time_stride),
            },
            transformer,
            // braindecode's classifier head has fixed sizes and dropouts.
            fc: FullyConnected {
                fc1: linear(fc_len, 256, init, device),
                drop1: drop(0.5),
                fc2: linear(256, 32, init, device),
                drop2: drop(0.3),
            },
            final_layer: linear(32, signal.n_outputs, init, device),
            config: self.clone(),
            signal: signal.clone(),
        })
    }
}

impl EEGConformer {
    /// The hyper-parameters the model was built with.
    pub fn config(&self) -> &EEGConformerConfig {
        &self.config
    }

    /// The transformer's output tokens `[batch, seq, n_filters_time]` (braindecode's
    /// `return_features=True`).
    pub fn features(&self, x: Tensor<3>) -> Result<Tensor<3>, ModelError> {
        check_input(NAME, &self.signal, &x)?;
        let mut x = self.patch_embedding.forward(x);
        for block in &self.transformer {
            x = block.forward(x);
        }
        Ok(x)
    }
}

impl EegModel for EEGConformer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn signal(&self) -> &SignalShape {
        &self.signal
    }

    fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        let x: Tensor<2> = self.features(x)?.flatten(1, 2);
        let x = self.fc.drop1.forward(elu(self.fc.fc1.forward(x), 1.0));
        let x = self.fc.drop2.forward(elu(self.fc.fc2.forward(x), 1.0));
        Ok(self.final_layer.forward(x))
    }

    fn braindecode_key(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        let mapped: Vec<String> = match parts.as_slice() {
            ["patch_embedding", layer, rest @ ..] => {
                let torch = match *layer {
                    "conv_temporal" => "shallownet.0",
                    "conv_spatial" => "shallownet.1",
                    "bnorm" => "shallownet.2",
                    "projection" => "projection.0",
                    other => other,
                };
                std::iter::once(format!("patch_embedding.{torch}"))
                    .chain(rest.iter().map(|s| s.to_string()))
                    .collect()
            }
            ["transformer", i, layer, rest @ ..] => {
                let torch = match *layer {
                    "norm1" => "0.fn.0".to_string(),
                    "attention" => format!("0.fn.1.{}", rest.join(".")),
                    "norm2" => "1.fn.0".to_string(),
                    "ff1" => "1.fn.1.0".to_string(),
                    "ff2" => "1.fn.1.3".to_string(),
                    other => other.to_string(),
                };
                let tail = if *layer == "attention" {
                    vec![]
                } else {
                    rest.iter().map(|s| s.to_string()).collect()
                };
                std::iter::once(format!("transformer.{i}.{torch}"))
                    .chain(tail)
                    .collect()
            }
            ["fc", "fc1", rest @ ..] => std::iter::once("fc.fc.0".to_string())
                .chain(rest.iter().map(|s| s.to_string()))
                .collect(),
            ["fc", "fc2", rest @ ..] => std::iter::once("fc.fc.3".to_string())
                .chain(rest.iter().map(|s| s.to_string()))
                .collect(),
            _ => vec![path.to_string()],
        };
        mapped.join(".")
    }
}
