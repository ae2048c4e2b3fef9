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
//! ([`brainvision`]), EEGLAB `.set` ([`eeglab`]) and BIDS EEG datasets ([`bids`]; written by [`bids_write`]);
//! volumes: NIfTI-1/NIfTI-2 `.nii`/`.nii.gz` ([`nifti`]) and NRRD `.nrrd`/`.nhdr` ([`nrrd`]),
//! read and write, via [`open_volume`]/[`write_volume`], and nnU-Net/MSD or paired-folder
//! segmentation datasets ([`volume_dataset`]).

pub mod atomic;
pub mod bids;
pub mod bids_write;
pub mod brainvision;
pub mod edf;
pub mod eeglab;
pub mod error;
mod mat5;
pub mod nifti;
pub mod nrrd;
mod open;
pub mod recording;
pub mod testdata;
pub mod volume;
pub mod volume_dataset;
mod volume_open;

pub use atomic::AtomicFile;
pub use error::{Error, Result};
pub use open::{detect_format, open_recording};
pub use recording::{
    Annotation, ChannelInfo, ChannelType, Format, Recording, RecordingInfo, RecordingReader, SubjectInfo,
};
pub use volume::{Affine, IntensityScaling, Volume, VolumeMeta, VoxelData, VoxelType};
pub use volume_dataset::{CaseFiles, VolumeDataset};
pub use volume_open::{open_volume, write_volume};
