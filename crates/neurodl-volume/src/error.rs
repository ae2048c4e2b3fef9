//! The one error type of this crate: every variant names the parameter and the value that
//! was refused, so a bad experiment file is fixed from the message alone.

/// Why a volume transform refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VolumeError {
    /// A numeric parameter is outside its allowed range.
    #[error("parameter `{name}` = {value} is invalid: {reason}")]
    Parameter {
        /// The parameter's name as in the config / function signature.
        name: &'static str,
        /// The refused value, printed.
        value: String,
        /// What would be accepted.
        reason: &'static str,
    },
    /// Image and label (or two images) do not share the same spatial shape.
    #[error("shape mismatch for {what}: {left:?} vs {right:?}")]
    ShapeMismatch {
        /// Which two things were compared.
        what: &'static str,
        /// The first shape.
        left: Vec<usize>,
        /// The second shape.
        right: Vec<usize>,
    },
    /// Two volumes of one subject sit on different grids (affines differ).
    #[error("affine mismatch for {what}: largest element difference {max_difference}")]
    AffineMismatch {
        /// Which volumes were compared.
        what: String,
        /// The largest absolute difference between the two matrices.
        max_difference: f64,
    },
    /// The voxel-to-world matrix cannot be inverted.
    #[error("the affine of {what} is singular and cannot be inverted")]
    SingularAffine {
        /// Whose affine.
        what: &'static str,
    },
    /// A volume with no voxels (some axis has length 0).
    #[error("{what} is empty (shape {shape:?})")]
    Empty {
        /// Which volume.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A label volume holds values that are not labels.
    #[error("label volume: {0}")]
    Label(#[from] neurodl_io::volume::LabelError),
    /// Loading a case for the patch queue failed.
    #[error("loading case {index}: {message}")]
    Load {
        /// The case index.
        index: usize,
        /// The loader's message.
        message: String,
    },
    /// A worker thread of the patch queue panicked or went away.
    #[error("patch queue worker {worker} stopped: {message}")]
    Worker {
        /// The worker's number.
        worker: usize,
        /// What happened.
        message: String,
    },
}

/// `Result` with [`VolumeError`].
pub type Result<T> = std::result::Result<T, VolumeError>;

pub(crate) fn param(name: &'static str, value: impl std::fmt::Debug, reason: &'static str) -> VolumeError {
    VolumeError::Parameter {
        name,
        value: format!("{value:?}"),
        reason,
    }
}
