//! 3-D (and 2-D) medical image segmentation: the U-Net of nnU-Net, its training loss and
//! sliding-window inference over whole volumes.
//!
//! * [`PlainConvUNet`]: the encoder-decoder of Ronneberger et al. (2015), *U-Net: Convolutional
//!   Networks for Biomedical Image Segmentation*, MICCAI, LNCS 9351:234–241,
//!   doi:10.1007/978-3-319-24574-4_28, in its volumetric form (Çiçek et al. 2016, *3D U-Net:
//!   Learning Dense Volumetric Segmentation from Sparse Annotation*, MICCAI, LNCS 9901:424–432,
//!   doi:10.1007/978-3-319-46723-8_49) as configured by nnU-Net (Isensee et al. 2021, *nnU-Net: a
//!   self-configuring method for deep learning-based biomedical image segmentation*, Nature
//!   Methods 18:203–211, doi:10.1038/s41592-020-01008-z): the `PlainConvUNet` of the
//!   `dynamic-network-architectures` package, whose `state_dict` it imports.
//! * [`DiceCeLoss`] and [`DeepSupervisionLoss`]: nnU-Net's `DC_and_CE_loss` and
//!   `DeepSupervisionWrapper`; [`downsample_labels`] makes the lower-resolution targets.
//! * [`sliding_window_inference`]: nnU-Net's tiling, Gaussian importance weighting and mirroring
//!   test-time augmentation over a `(C, X, Y, Z)` volume, for any predictor.
//!
//! Tensors are channels-first, `[batch, channels, X, Y, Z]`; a 2-D network works on
//! `[batch, channels, X, Y, 1]` (or, through [`PlainConvUNet::forward_2d`], `[batch, channels,
//! X, Y]`), so the same sliding-window code serves both, with a patch of depth 1.

mod direct_conv;
mod loss;
mod sliding_window;
mod unet;

pub use loss::{
    DeepSupervisionLoss, DiceCeLoss, DiceCeLossConfig, deep_supervision_weights, downsample_labels,
};
pub use sliding_window::{
    Importance, SlidingWindowConfig, compute_steps, gaussian_importance_map, sliding_window_inference,
};
pub use unet::{PlainConvUNet, PlainConvUNetConfig};

/// Everything that can go wrong building, running or training a segmentation model.
#[derive(Debug, thiserror::Error)]
pub enum SegmentationError {
    /// A configuration the network, loss or inference cannot be built with.
    #[error("invalid segmentation configuration: {0}")]
    InvalidConfig(String),
    /// A tensor whose shape does not fit: `what` names it and what was expected.
    #[error("{what}: got shape {got:?}")]
    Shape {
        /// What was expected, in words.
        what: String,
        /// The offending shape.
        got: Vec<usize>,
    },
    /// Reading, writing or matching a weight file failed (the error lists every missing,
    /// unexpected and mis-shaped tensor).
    #[error(transparent)]
    Weights(#[from] crate::ModelError),
}

pub(crate) fn invalid(reason: impl Into<String>) -> SegmentationError {
    SegmentationError::InvalidConfig(reason.into())
}

pub(crate) fn shape_err(what: impl Into<String>, got: &[usize]) -> SegmentationError {
    SegmentationError::Shape {
        what: what.into(),
        got: got.to_vec(),
    }
}
