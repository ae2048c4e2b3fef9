//! `neurodl convert IN OUT`: any readable format to EDF+ or BDF+.

use std::path::Path;

use anyhow::{Context, Result, bail};
use neurodl_io::edf::{EdfVariant, write_edf};
use neurodl_io::open_recording;

/// Runs `neurodl convert`.
pub fn run(input: &Path, output: &Path, overwrite: bool) -> Result<()> {
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let variant = match ext.as_str() {
        "edf" => EdfVariant::EdfPlus,
        "bdf" => EdfVariant::BdfPlus,
        other => bail!(
            "{}: cannot write `.{other}` files; use .edf (EDF+) or .bdf (BDF+)",
            output.display()
        ),
    };
    if output.exists() && !overwrite {
        bail!(
            "{}: already exists (pass --overwrite to replace it)",
            output.display()
        );
    }
    let mut reader = open_recording(input)?;
    let recording = reader.read_all()?;
    let report =
        write_edf(output, &recording, variant).with_context(|| format!("writing {}", output.display()))?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let worst = report.max_quantisation_error.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "wrote {} ({} channels, {} records of {} s, {} annotations; largest quantisation error {:.3e} in SI units{})",
        output.display(),
        recording.info.channels.len(),
        report.n_records,
        report.record_duration,
        recording.info.annotations.len(),
        worst,
        if report.padded_samples > 0 {
            format!("; last record padded with {} zero samples", report.padded_samples)
        } else {
            String::new()
        }
    );
    Ok(())
}
