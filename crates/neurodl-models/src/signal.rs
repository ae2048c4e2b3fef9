//! The constructor contract shared by every model.

use crate::ModelError;

/// The signal a model is built for, as braindecode's `EEGModuleMixin` takes it: channels, outputs
/// and either the number of samples or a window length in seconds plus the sampling rate.
///
/// Every model's `init` takes a `SignalShape` plus its own `Config`, so swapping architectures
/// never changes how the signal is described.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalShape {
    /// Number of EEG channels.
    pub n_chans: usize,
    /// Number of outputs (classes, or regression targets).
    pub n_outputs: usize,
    /// Number of time samples per input window.
    pub n_times: usize,
    /// Sampling rate in Hz, when known. Only ATCNet reads it (braindecode defaults it to 250).
    pub sfreq: Option<f64>,
}

impl SignalShape {
    /// A signal of `n_chans` channels and `n_times` samples, predicting `n_outputs` values.
    pub fn new(n_chans: usize, n_outputs: usize, n_times: usize) -> Self {
        Self {
            n_chans,
            n_outputs,
            n_times,
            sfreq: None,
        }
    }

    /// The same signal with its sampling rate recorded.
    pub fn with_sfreq(mut self, sfreq: f64) -> Self {
        self.sfreq = Some(sfreq);
        self
    }

    /// A signal described by window length and sampling rate; `n_times` is
    /// `round(window_seconds * sfreq)`, as braindecode computes it.
    pub fn from_window(
        n_chans: usize,
        n_outputs: usize,
        window_seconds: f64,
        sfreq: f64,
    ) -> Result<Self, ModelError> {
        if !(window_seconds.is_finite() && window_seconds > 0.0 && sfreq.is_finite() && sfreq > 0.0) {
            return Err(ModelError::InvalidConfig {
                model: "model",
                reason: format!(
                    "window length ({window_seconds} s) and sampling rate ({sfreq} Hz) must be positive"
                ),
            });
        }
        let n_times = (window_seconds * sfreq).round();
        if n_times > usize::MAX as f64 / 2.0 {
            return Err(ModelError::InvalidConfig {
                model: "model",
                reason: format!("window of {window_seconds} s at {sfreq} Hz is too long"),
            });
        }
        Ok(Self {
            n_chans,
            n_outputs,
            n_times: n_times as usize,
            sfreq: Some(sfreq),
        })
    }

    pub(crate) fn validate(&self, model: &'static str) -> Result<(), ModelError> {
        let bad = |reason: String| Err(ModelError::InvalidConfig { model, reason });
        if self.n_chans == 0 {
            return bad("n_chans must be at least 1".into());
        }
        if self.n_outputs == 0 {
            return bad("n_outputs must be at least 1".into());
        }
        if self.n_times == 0 {
            return bad("n_times must be at least 1".into());
        }
        if let Some(f) = self.sfreq
            && !(f.is_finite() && f > 0.0)
        {
            return bad(format!("sfreq must be positive, got {f}"));
        }
        Ok(())
    }
}
