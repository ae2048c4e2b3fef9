//! The architectures.

pub mod atcnet;
pub mod conformer;
pub mod deep4;
pub mod eegnet;
pub mod shallow;

/// Length of the final (classifier) convolution along time, as braindecode's
/// `final_conv_length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalConvLength {
    /// Span the whole remaining time axis: one prediction per trial (braindecode's `"auto"`).
    #[default]
    Auto,
    /// A fixed length shorter than the remaining time axis gives one prediction per position:
    /// the dense ("cropped") output of Schirrmeister et al. 2017.
    Fixed(usize),
}

// In configuration files, as braindecode writes it: `"auto"` or a number of samples.
impl serde::Serialize for FinalConvLength {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FinalConvLength::Auto => s.serialize_str("auto"),
            FinalConvLength::Fixed(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> serde::Deserialize<'de> for FinalConvLength {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Samples(u64),
        }
        match Repr::deserialize(d).map_err(|_| {
            serde::de::Error::custom("final_conv_length must be \"auto\" or a number of samples")
        })? {
            Repr::Text(t) if t == "auto" => Ok(FinalConvLength::Auto),
            Repr::Text(t) => Err(serde::de::Error::custom(format!(
                "final_conv_length must be \"auto\" or a number of samples, not \"{t}\""
            ))),
            Repr::Samples(n) => Ok(FinalConvLength::Fixed(n as usize)),
        }
    }
}

/// Pooling operation, as braindecode's `pool_mode` (`"mean"` or `"max"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// Average pooling.
    Mean,
    /// Max pooling.
    Max,
}

/// Rejects a probability outside `[0, 1)`.
pub(crate) fn check_prob(model: &'static str, what: &str, p: f64) -> Result<(), crate::ModelError> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(crate::ModelError::InvalidConfig {
            model,
            reason: format!("{what} must be in [0, 1), got {p}"),
        })
    }
}

/// Rejects a zero size.
pub(crate) fn check_nonzero(model: &'static str, pairs: &[(&str, usize)]) -> Result<(), crate::ModelError> {
    for (what, v) in pairs {
        if *v == 0 {
            return Err(crate::ModelError::InvalidConfig {
                model,
                reason: format!("{what} must be at least 1"),
            });
        }
    }
    Ok(())
}

/// Rejects a BatchNorm momentum outside `[0, 1]` (Burn asserts on it).
pub(crate) fn check_momentum(model: &'static str, m: f64) -> Result<(), crate::ModelError> {
    if (0.0..=1.0).contains(&m) {
        Ok(())
    } else {
        Err(crate::ModelError::InvalidConfig {
            model,
            reason: format!("batch norm momentum must be in [0, 1], got {m}"),
        })
    }
}
