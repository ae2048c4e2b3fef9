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

/// Pooling operation, as braindecode's `pool_mode` (`"mean"` or `"max"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
