//! # neurodl-signal
//!
//! Preprocessing of continuous EEG recordings with the same numbers as the
//! tools published pipelines use: MNE-Python's FIR filters and FFT resampling,
//! SciPy's Butterworth second-order sections and polyphase resampling, and
//! braindecode's exponential moving standardisation and windowing.
//!
//! Operations work on [`neurodl_io::Recording`] and keep its channel list and
//! annotations (in seconds) correct ([`ops`]); the array-level functions
//! underneath ([`fir`], [`iir`], [`resample`], [`standardize`]) are public too.
//! [`events`] turns annotations into events, epochs and deep-learning windows;
//! [`pipeline`] declares a sequence of steps in TOML. [`simulate`] generates
//! realistic two-class motor-imagery recordings (and BIDS datasets) from a seed.
//!
//! ```no_run
//! use neurodl_signal::events::{EventMapping, EventWindowParams, create_windows_from_events, events_from_annotations};
//! use neurodl_signal::pipeline::Pipeline;
//!
//! let mut rec = neurodl_io::open_recording("S001R03.edf".as_ref())?.read_all()?;
//! let pipeline = Pipeline::from_toml_str(
//!     r#"
//!     [[step]]
//!     op = "filter"
//!     l_freq = 4.0
//!     h_freq = 38.0
//!     [[step]]
//!     op = "resample"
//!     sfreq = 100.0
//!     "#,
//!     "<inline>",
//! )?;
//! pipeline.apply(&mut rec)?;
//! let events = events_from_annotations(&rec.info, &EventMapping::new([("T1", "left"), ("T2", "right")]))?;
//! let params = EventWindowParams {
//!     trial_start_offset_samples: -50,
//!     trial_stop_offset_samples: 0,
//!     window_size_samples: Some(200),
//!     window_stride_samples: Some(100),
//!     drop_last_window: false,
//! };
//! let windows = create_windows_from_events(&events, rec.info.n_samples, 0, &params)?;
//! println!("{} windows", windows.len());
//! # Ok::<(), neurodl_signal::Error>(())
//! ```
//!
//! # Non-finite samples
//! Filters, resamplers and standardisation refuse NaN and infinite samples
//! with [`Error::NonFinite`] naming the channel and the first bad sample:
//! a NaN spreads over the whole filter length and would silently corrupt every
//! window near it. Interpolate or drop such channels first.

#![warn(missing_docs)]

pub mod error;
pub mod events;
mod fft_conv;
pub mod fir;
pub mod iir;
pub mod memory;
pub mod ops;
pub mod pipeline;
mod real_fft;
pub mod resample;
pub mod simulate;
pub mod standardize;
pub mod window;

pub use error::{Error, Result};
