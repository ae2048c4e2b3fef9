//! EEG deep-learning models on [Burn](https://burn.dev), faithful to
//! [braindecode](https://braindecode.org) 1.8: same layers, same defaults, same parameter
//! counts and, given the same weights, the same outputs.
//!
//! Every model is built the same way: a [`SignalShape`] (channels, outputs, samples) plus the
//! model's own `Config`, whose `Default` equals braindecode's defaults, and a Burn [`Device`].
//! Burn 0.22's tensors are backend-agnostic, so a model runs on whatever backend the device
//! names: the default build has the pure-Rust CPU `flex` backend; the `cuda` and `wgpu` cargo
//! features add GPU devices. Training uses an autodiff device (`device.autodiff()`).
//!
//! | model | paper |
//! |---|---|
//! | [`ShallowFBCSPNet`] | Schirrmeister et al. 2017, Hum. Brain Mapp. 38(11) |
//! | [`Deep4Net`] | Schirrmeister et al. 2017, Hum. Brain Mapp. 38(11) |
//! | [`EEGNet`] | Lawhern et al. 2018, J. Neural Eng. 15(5) |
//! | [`EEGConformer`] | Song et al. 2023, IEEE TNSRE 31 |
//! | [`ATCNet`] | Altaheri et al. 2023, IEEE TII 19(2) |
//!
//! For volumes, [`segmentation`] holds nnU-Net's U-Net ([`PlainConvUNet`], 2-D and 3-D, deep
//! supervision, PyTorch `state_dict` import/export), its Dice + cross-entropy loss and its
//! sliding-window inference with Gaussian weighting and mirroring.
//!
//! Weights: [`EegModel::save_safetensors`] / [`EegModel::load_safetensors`] round-trip neurodl's
//! own files; [`EegModel::load_braindecode`] imports a braindecode `state_dict` written with
//! `safetensors.torch.save_file(model.state_dict(), path)`.
//!
//! ```no_run
//! use neurodl_models::{EegModel, ShallowFBCSPNetConfig, SignalShape};
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::default();
//! let shape = SignalShape::new(22, 4, 1125);
//! let model = ShallowFBCSPNetConfig::default().init(&shape, &device)?;
//! let model = model.load_braindecode("shallow.safetensors")?;
//! let logits = model.forward(Tensor::zeros([8, 22, 1125], &device))?;
//! # Ok::<(), neurodl_models::ModelError>(())
//! ```

#![warn(missing_docs)]

mod error;
mod layers;
mod models;
mod registry;
pub mod segmentation;
mod signal;
mod spectral;
mod weights;

pub use burn;
pub use burn::tensor::Device;
pub use error::{ModelError, WeightMismatch};
pub use layers::{trainable_params, without_dropout};
pub use models::atcnet::{ATCNet, ATCNetConfig};
pub use models::conformer::{EEGConformer, EEGConformerConfig};
pub use models::deep4::{Deep4Net, Deep4NetConfig};
pub use models::eegnet::{EEGNet, EEGNetConfig};
pub use models::shallow::{ShallowFBCSPNet, ShallowFBCSPNetConfig};
pub use models::{FinalConvLength, PoolMode};
pub use registry::{AnyModel, ModelInfo, REFERENCE_SHAPE, canonical_name, check_config, models, param_count};
pub use segmentation::{
    DeepSupervisionLoss, DiceCeLoss, DiceCeLossConfig, Importance, PlainConvUNet, PlainConvUNetConfig,
    SegmentationError, SlidingWindowConfig, sliding_window_inference,
};
pub use signal::SignalShape;

use std::path::Path;

use burn::module::Module;
use burn::tensor::Tensor;

/// What every model of the zoo offers beyond Burn's [`Module`].
pub trait EegModel: Module + Sized {
    /// The model's name as braindecode spells it (`"ShallowFBCSPNet"`).
    fn name(&self) -> &'static str;

    /// The signal the model was built for.
    fn signal(&self) -> &SignalShape;

    /// Predictions `[batch, n_outputs]` for a batch `[batch, n_chans, n_times]`.
    ///
    /// Returns [`ModelError::InputShape`] when the batch does not have the channels and samples
    /// the model was built for.
    fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError>;

    /// braindecode's `state_dict` key for the tensor at Burn path `path` (already using PyTorch's
    /// `weight`/`bias` names for normalisation layers).
    fn braindecode_key(&self, path: &str) -> String {
        path.to_string()
    }

    /// Number of trainable parameters, counted as PyTorch does (BatchNorm running statistics are
    /// buffers, not parameters).
    fn num_trainable_params(&self) -> usize {
        trainable_params(self)
    }

    /// Saves all weights and BatchNorm statistics to a safetensors file.
    fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        weights::save(self, path.as_ref())
    }

    /// Loads weights written by [`save_safetensors`](Self::save_safetensors) for a model of the
    /// same architecture and input shape. Fails, listing every missing, unexpected and
    /// mis-shaped tensor, when the file does not fit.
    fn load_safetensors(self, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        weights::load(self, path.as_ref())
    }

    /// Imports a braindecode `state_dict` saved with `safetensors.torch.save_file`, mapping
    /// names (including max-norm parametrised weights) and layouts (linear weights are
    /// transposed). Fails, listing every missing, unexpected and mis-shaped tensor, when the file
    /// was written for a different architecture or input shape.
    fn load_braindecode(self, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        weights::import_braindecode(self, path.as_ref())
    }
}

/// Checks that `x` is `[batch >= 1, n_chans, n_times]` for `model`.
pub(crate) fn check_input(
    model: &'static str,
    signal: &SignalShape,
    x: &Tensor<3>,
) -> Result<(), ModelError> {
    let [b, c, t] = x.dims();
    if b == 0 || c != signal.n_chans || t != signal.n_times {
        return Err(ModelError::InputShape {
            model,
            n_chans: signal.n_chans,
            n_times: signal.n_times,
            got: vec![b, c, t],
        });
    }
    Ok(())
}
