//! # neurodl-signal
//!
//! Preprocessing of continuous EEG recordings with the same numbers as the
//! tools published pipelines use: MNE-Python's FIR filters and FFT resampling,
//! SciPy's Butterworth second-order sections and polyphase resampling, and
//! braindecode's exponential moving standardisation and windowing.
//!
//! Operations work on [`neurodl_io::Recording`] and keep its channel list and
//! annotations (in seconds) correct; the array-level functions underneath are
//! public too, for data that is not a recording.
//!
//! # Non-finite samples
//! Filters, resamplers and standardisation refuse NaN and infinite samples
//! with [`Error::NonFinite`] naming the channel and the first bad sample:
//! a NaN spreads over the whole filter length and would silently corrupt every
//! window near it. Interpolate or drop such channels first.

pub mod error;
mod fft_conv;
pub mod fir;
pub mod iir;
pub mod resample;
pub mod window;

pub use error::{Error, Result};
pub mod events;
pub mod ops;
pub mod pipeline;
pub mod standardize;
