//! 3-D volume transforms for neurodl segmentation: what nnU-Net's preprocessing and
//! augmentation (via TorchIO / MONAI / batchgenerators in Python) do, in Rust, without a
//! deep-learning dependency.
//!
//! - [`Subject`]: one case's image channels and label map on one grid; every transform
//!   moves both together (labels nearest-neighbour).
//! - [`spatial`]: reorient to RAS, resample to a spacing or a reference grid, crop to the
//!   non-zero box, pad/crop to a shape, flips — each with the record that undoes it.
//! - [`intensity`]: z-score, nnU-Net's CT normalisation, and the deterministic kernels of
//!   the intensity augmentations.
//! - [`augment`]: seeded random transforms and the serde-declared [`Pipeline`], with random
//!   affine + elastic fused into one interpolation.
//! - [`patch`]: nnU-Net patch sampling and the worker-thread [`PatchQueue`].
//! - [`components`]: connected components (SciPy's numbering) and nnU-Net's keep-largest-component
//!   post-processing.
//! - [`interp`]: the SciPy-exact interpolation kernel everything resamples through.
//!
//! Layout: arrays are `channels × X × Y × Z` / `X × Y × Z`, Z fastest, as
//! [`neurodl_io::Volume`]; world coordinates are RAS+ millimetres.
#![warn(missing_docs)]
// Index loops over 3 axes / 3 × 4 matrices read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

pub mod augment;
pub mod components;
pub mod error;
pub mod intensity;
pub mod interp;
pub mod patch;
pub mod rng;
pub mod spatial;
pub mod subject;

pub use augment::{AffineParams, PadValue, Pipeline, Transform, spatial_transform};
pub use components::{Components, Connectivity, keep_largest_component, label_components};
pub use error::{Result, VolumeError};
pub use interp::{Boundary, ControlGrid, Interpolation, Resampled};
pub use patch::{ClassLocations, Patch, PatchQueue, PatchSampler, QueueConfig};
pub use rng::SeededRng;
pub use spatial::{Anchor, BoundingBox, PadCrop, PadMode, Reorientation};
pub use subject::{Geometry, Subject};
