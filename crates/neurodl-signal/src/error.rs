//! The one error type of `neurodl-signal`.
//!
//! Every parameter error names the parameter and the offending value, so a
//! pipeline file with a typo points at the line to fix; numerical code never
//! panics on user input.

/// Errors raised by preprocessing operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter value is out of its valid range or inconsistent with the data.
    #[error("invalid {param} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name as the API or pipeline file spells it (e.g. `h_freq`).
        param: String,
        /// The value that was given, formatted.
        value: String,
        /// Why it is rejected, with the valid range where it helps.
        reason: String,
    },
    /// The data holds NaN or infinite samples, which no filter can process meaningfully.
    #[error(
        "channel {channel} sample {sample} is {value}: {operation} needs finite samples (interpolate or drop the channel first)"
    )]
    NonFinite {
        /// Channel name (or index, for bare arrays).
        channel: String,
        /// Sample index of the first non-finite value.
        sample: usize,
        /// The value found.
        value: f64,
        /// The operation that refused it.
        operation: String,
    },
    /// A pipeline file could not be parsed.
    #[error("pipeline {source_name}: {message}")]
    Pipeline {
        /// The file (or `<string>`).
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A pipeline step failed.
    #[error("step {index} ({op}): {error}")]
    Step {
        /// 1-based position of the step in the pipeline.
        index: usize,
        /// The step's `op`.
        op: String,
        /// What went wrong (shown in the message, not chained, so it prints once).
        error: Box<Error>,
    },
    /// Reading or writing a recording failed.
    #[error(transparent)]
    Io(#[from] neurodl_io::Error),
}

impl Error {
    /// An [`Error::InvalidParameter`].
    pub fn param(param: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            param: param.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Fails with [`Error::NonFinite`] at the first NaN/Inf sample of any row.
pub(crate) fn check_finite(
    data: ndarray::ArrayView2<'_, f64>,
    channel_name: impl Fn(usize) -> String,
    operation: &str,
) -> Result<()> {
    for (ch, row) in data.outer_iter().enumerate() {
        let first_bad = match row.as_slice() {
            Some(slice) => first_non_finite(slice),
            None => row.iter().position(|v| !v.is_finite()),
        };
        if let Some(sample) = first_bad {
            let value = row[sample];
            return Err(Error::NonFinite {
                channel: channel_name(ch),
                sample,
                value,
                operation: operation.to_string(),
            });
        }
    }
    Ok(())
}

/// Index of the first NaN or ±∞ in `x`.
///
/// Every preprocessing step checks its input, so this scan runs over each
/// recording several times per pipeline: it tests blocks with a branch-free OR of
/// exponent bits (which vectorises) and only searches a block that holds a bad value.
fn first_non_finite(x: &[f64]) -> Option<usize> {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    const BLOCK: usize = 512;
    x.chunks(BLOCK).enumerate().find_map(|(b, block)| {
        let any_bad = block
            .iter()
            .fold(false, |acc, v| acc | (v.to_bits() & EXPONENT == EXPONENT));
        any_bad
            .then(|| block.iter().position(|v| !v.is_finite()))
            .flatten()
            .map(|i| b * BLOCK + i)
    })
}

/// [`check_finite`] on the rows `rows` of `data` only; `row_name` names a row by its index in `data`.
pub(crate) fn check_rows_finite(
    data: ndarray::ArrayView2<'_, f64>,
    rows: &[usize],
    row_name: impl Fn(usize) -> String,
    operation: &str,
) -> Result<()> {
    for &r in rows {
        check_finite(data.slice(ndarray::s![r..r + 1, ..]), |_| row_name(r), operation)?;
    }
    Ok(())
}
