//! # neurodl-io
//!
//! File formats and dataset layouts for neurodl: read the field's EEG
//! recordings exactly as MNE-Python does, lazily, and write EDF+/BDF+.
//! This crate has no deep-learning dependency; everything above it
//! (preprocessing, models, the CLI) consumes the [`RecordingInfo`] +
//! [`RecordingReader`] data model defined in [`recording`].
//!
//! ```no_run
//! use neurodl_io::open_recording;
//!
//! let mut reader = open_recording("S001R03.edf".as_ref())?;
//! println!("{} channels at {} Hz", reader.info().channels.len(), reader.info().sfreq);
//! // One second of the first two channels, in volts:
//! let window = reader.read_segment(0, 160, Some(&[0, 1]))?;
//! assert_eq!(window.shape(), &[2, 160]);
//! # Ok::<(), neurodl_io::Error>(())
//! ```
//!
//! Supported: EDF/EDF+ and BDF/BDF+ ([`edf`], read and write), BrainVision
//! ([`brainvision`]), EEGLAB `.set` ([`eeglab`]) and BIDS EEG datasets ([`bids`]; written by [`bids_write`]).

pub mod atomic;
pub mod bids;
pub mod bids_write;
pub mod brainvision;
pub mod edf;
pub mod eeglab;
pub mod error;
mod mat5;
mod open;
pub mod recording;
pub mod testdata;
pub mod volume;

pub use atomic::AtomicFile;
pub use error::{Error, Result};
pub use open::{detect_format, open_recording};
pub use recording::{
    Annotation, ChannelInfo, ChannelType, Format, Recording, RecordingInfo, RecordingReader, SubjectInfo,
};
pub use volume::{Affine, IntensityScaling, Volume, VolumeMeta, VoxelData, VoxelType};
