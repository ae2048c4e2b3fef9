//! The model registry: names, paper metadata and construction by name.

use std::path::Path;

use burn::tensor::{Device, Tensor};

use crate::{
    ATCNet, ATCNetConfig, Deep4Net, Deep4NetConfig, EEGConformer, EEGConformerConfig, EEGNet, EEGNetConfig,
    EegModel, ModelError, ShallowFBCSPNet, ShallowFBCSPNetConfig, SignalShape,
};

/// Metadata of a model of the zoo.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Name as braindecode spells it.
    pub name: &'static str,
    /// The paper that introduced the architecture.
    pub paper: &'static str,
    /// Publication year.
    pub year: u16,
    /// What it was designed for.
    pub application: &'static str,
    /// Trainable parameters at [`REFERENCE_SHAPE`] with default hyper-parameters (equal to
    /// braindecode's count; checked by the tests).
    pub reference_params: usize,
}

/// The input shape of `ModelInfo::reference_params`: BCI Competition IV 2a trials, 22 channels
/// × 1125 samples (4.5 s at 250 Hz), 4 classes.
pub const REFERENCE_SHAPE: SignalShape = SignalShape {
    n_chans: 22,
    n_outputs: 4,
    n_times: 1125,
    sfreq: Some(250.0),
};

const MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "ShallowFBCSPNet",
        paper: "Schirrmeister et al., Deep learning with convolutional neural networks for EEG decoding and visualization, Hum. Brain Mapp. 38(11), doi:10.1002/hbm.23730",
        year: 2017,
        application: "General (motor imagery, oscillatory activity)",
        reference_params: 47_364,
    },
    ModelInfo {
        name: "Deep4Net",
        paper: "Schirrmeister et al., Deep learning with convolutional neural networks for EEG decoding and visualization, Hum. Brain Mapp. 38(11), doi:10.1002/hbm.23730",
        year: 2017,
        application: "General (motor imagery)",
        reference_params: 284_479,
    },
    ModelInfo {
        name: "EEGNet",
        paper: "Lawhern et al., EEGNet: a compact convolutional neural network for EEG-based brain-computer interfaces, J. Neural Eng. 15(5), doi:10.1088/1741-2552/aace8c",
        year: 2018,
        application: "General BCI (ERP, motor imagery, SSVEP)",
        reference_params: 3_700,
    },
    ModelInfo {
        name: "EEGConformer",
        paper: "Song et al., EEG Conformer: convolutional transformer for EEG decoding and visualization, IEEE TNSRE 31, doi:10.1109/TNSRE.2022.3230250",
        year: 2023,
        application: "General (motor imagery, emotion)",
        reference_params: 871_492,
    },
    ModelInfo {
        name: "ATCNet",
        paper: "Altaheri et al., Physics-informed attention temporal convolutional network for EEG-based motor imagery classification, IEEE TII 19(2), doi:10.1109/TII.2022.3197419",
        year: 2023,
        application: "Motor imagery",
        reference_params: 113_732,
    },
];

/// Every model of the zoo, in a stable order.
pub fn models() -> &'static [ModelInfo] {
    MODELS
}

/// Any model of the zoo, for code that picks the architecture at run time.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    /// [`ShallowFBCSPNet`].
    ShallowFBCSPNet(ShallowFBCSPNet),
    /// [`Deep4Net`].
    Deep4Net(Deep4Net),
    /// [`EEGNet`].
    EEGNet(EEGNet),
    /// [`EEGConformer`].
    EEGConformer(EEGConformer),
    /// [`ATCNet`].
    ATCNet(ATCNet),
}

macro_rules! each {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnyModel::ShallowFBCSPNet($m) => $body,
            AnyModel::Deep4Net($m) => $body,
            AnyModel::EEGNet($m) => $body,
            AnyModel::EEGConformer($m) => $body,
            AnyModel::ATCNet($m) => $body,
        }
    };
}

macro_rules! each_owned {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnyModel::ShallowFBCSPNet($m) => AnyModel::ShallowFBCSPNet($body),
            AnyModel::Deep4Net($m) => AnyModel::Deep4Net($body),
            AnyModel::EEGNet($m) => AnyModel::EEGNet($body),
            AnyModel::EEGConformer($m) => AnyModel::EEGConformer($body),
            AnyModel::ATCNet($m) => AnyModel::ATCNet($body),
        }
    };
}

impl AnyModel {
    /// Builds the model named `name` (braindecode's spelling, case-insensitive) with its default
    /// hyper-parameters.
    pub fn new(name: &str, signal: &SignalShape, device: &Device) -> Result<Self, ModelError> {
        Self::with_config(
            name,
            signal,
            device,
            &serde_json::Value::Object(Default::default()),
        )
    }

    /// Builds the model named `name` with the hyper-parameters in `config` (a JSON object with
    /// braindecode's parameter names; absent keys keep braindecode's defaults, unknown keys are
    /// an error).
    pub fn with_config(
        name: &str,
        signal: &SignalShape,
        device: &Device,
        config: &serde_json::Value,
    ) -> Result<Self, ModelError> {
        Ok(match canonical_name(name)? {
            "ShallowFBCSPNet" => Self::ShallowFBCSPNet(
                parse_config::<ShallowFBCSPNetConfig>("ShallowFBCSPNet", config)?.init(signal, device)?,
            ),
            "Deep4Net" => {
                Self::Deep4Net(parse_config::<Deep4NetConfig>("Deep4Net", config)?.init(signal, device)?)
            }
            "EEGNet" => Self::EEGNet(parse_config::<EEGNetConfig>("EEGNet", config)?.init(signal, device)?),
            "EEGConformer" => Self::EEGConformer(
                parse_config::<EEGConformerConfig>("EEGConformer", config)?.init(signal, device)?,
            ),
            _ => Self::ATCNet(parse_config::<ATCNetConfig>("ATCNet", config)?.init(signal, device)?),
        })
    }

    /// The model's name as braindecode spells it.
    pub fn name(&self) -> &'static str {
        each!(self, m => m.name())
    }

    /// Trainable parameters, counted as PyTorch does.
    pub fn num_trainable_params(&self) -> usize {
        each!(self, m => m.num_trainable_params())
    }

    /// See [`EegModel::forward`].
    pub fn forward(&self, x: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        each!(self, m => m.forward(x))
    }

    /// See [`EegModel::save_safetensors`].
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        each!(self, m => m.save_safetensors(path))
    }

    /// See [`EegModel::load_safetensors`].
    pub fn load_safetensors(self, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        Ok(each_owned!(self, m => m.load_safetensors(path)?))
    }

    /// See [`EegModel::load_braindecode`].
    pub fn load_braindecode(self, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        Ok(each_owned!(self, m => m.load_braindecode(path)?))
    }
}

/// braindecode's spelling of a model name given in any case (`eegnetv4` → `EEGNet`).
pub fn canonical_name(name: &str) -> Result<&'static str, ModelError> {
    let lower = name.to_ascii_lowercase();
    let lower = if lower == "eegnetv4" {
        "eegnet".to_string()
    } else {
        lower
    };
    MODELS
        .iter()
        .find(|m| m.name.to_ascii_lowercase() == lower)
        .map(|m| m.name)
        .ok_or_else(|| ModelError::UnknownModel {
            name: name.to_string(),
            known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        })
}

/// A model's `Config` from a JSON object of braindecode-named hyper-parameters.
fn parse_config<T: serde::de::DeserializeOwned>(
    model: &'static str,
    config: &serde_json::Value,
) -> Result<T, ModelError> {
    serde_json::from_value(config.clone()).map_err(|e| ModelError::InvalidConfig {
        model,
        reason: e.to_string(),
    })
}

/// Checks that `config` is a valid hyper-parameter object for model `name` (the keys and types
/// [`AnyModel::with_config`] accepts) without building the model.
pub fn check_config(name: &str, config: &serde_json::Value) -> Result<(), ModelError> {
    match canonical_name(name)? {
        "ShallowFBCSPNet" => parse_config::<ShallowFBCSPNetConfig>("ShallowFBCSPNet", config).map(drop),
        "Deep4Net" => parse_config::<Deep4NetConfig>("Deep4Net", config).map(drop),
        "EEGNet" => parse_config::<EEGNetConfig>("EEGNet", config).map(drop),
        "EEGConformer" => parse_config::<EEGConformerConfig>("EEGConformer", config).map(drop),
        _ => parse_config::<ATCNetConfig>("ATCNet", config).map(drop),
    }
}

/// Trainable parameter count of model `name` with default hyper-parameters for `signal`.
pub fn param_count(name: &str, signal: &SignalShape) -> Result<usize, ModelError> {
    Ok(AnyModel::new(name, signal, &Device::default())?.num_trainable_params())
}
