//! `neurodl preprocess IN OUT`: run a preprocessing pipeline (a TOML file and/or
//! step flags, in the order given) on a recording or every recording of a BIDS
//! dataset, and write EDF+/BDF+.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ArgMatches;
use neurodl_io::bids::BidsDataset;
use neurodl_io::edf::{EdfVariant, write_edf};
use neurodl_io::{ChannelType, RecordingReader, open_recording};
use neurodl_signal::pipeline::{FilterMethod, Pipeline, Step};
use rayon::prelude::*;

/// Arguments of `neurodl preprocess`.
#[derive(clap::Args)]
pub struct PreprocessArgs {
    /// A recording (.edf, .bdf, .vhdr, .set) or the root folder of a BIDS dataset.
    pub input: PathBuf,
    /// For a recording: the file to write (.edf for EDF+, .bdf for BDF+).
    /// For a BIDS dataset: a folder; each recording is written under its relative path.
    pub output: PathBuf,
    /// A TOML pipeline file (`[[step]]` tables); its steps run before any step flags.
    #[arg(long, value_name = "P.toml")]
    pub pipeline: Option<PathBuf>,
    /// Keep channels of these types (comma-separated: eeg,eog,...).
    #[arg(long, value_name = "TYPES")]
    pub pick_types: Vec<String>,
    /// Band-pass LOW..HIGH Hz (MNE-default zero-phase FIR; see --iir).
    #[arg(long, num_args = 2, value_names = ["LOW", "HIGH"], allow_negative_numbers = true)]
    pub bandpass: Vec<f64>,
    /// Make --bandpass a Butterworth filter of this order, forward-backward (SciPy sosfiltfilt).
    #[arg(long, value_name = "ORDER")]
    pub iir: Option<usize>,
    /// Remove this line frequency and its harmonics (MNE FIR notch).
    #[arg(long, value_name = "FREQ", allow_negative_numbers = true)]
    pub notch: Vec<f64>,
    /// Resample to this rate in Hz (MNE's FFT method).
    #[arg(long, value_name = "HZ", allow_negative_numbers = true)]
    pub resample: Vec<f64>,
    /// Re-reference EEG: `average`, or channel name(s) separated by commas.
    #[arg(long, value_name = "average|CH[,CH]")]
    pub reference: Vec<String>,
    /// Output format for a BIDS dataset (a single output file's extension decides by itself).
    #[arg(long, value_name = "edf|bdf", default_value = "edf")]
    pub format: String,
    /// Print the effective pipeline as TOML (to keep with the results) and exit without processing.
    #[arg(long)]
    pub print_pipeline: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
}

/// The step flags as pipeline steps, in command-line order.
fn flag_steps(args: &PreprocessArgs, matches: &ArgMatches) -> Result<Vec<Step>> {
    let mut steps: Vec<(usize, Step)> = Vec::new();
    let indices =
        |id: &str| -> Vec<usize> { matches.indices_of(id).map(|i| i.collect()).unwrap_or_default() };
    for (idx, types) in indices("pick_types").into_iter().zip(&args.pick_types) {
        steps.push((idx, pick_types_step(types)?));
    }
    let band_idx = indices("bandpass");
    if args.iir.is_some() && args.bandpass.is_empty() {
        bail!("--iir ORDER applies to --bandpass, which is missing");
    }
    for (k, pair) in args.bandpass.chunks(2).enumerate() {
        steps.push((band_idx[2 * k], bandpass_step(pair[0], pair[1], args.iir)?));
    }
    for (idx, &freq) in indices("notch").into_iter().zip(&args.notch) {
        steps.push((idx, Step::Notch { freq }));
    }
    for (idx, &sfreq) in indices("resample").into_iter().zip(&args.resample) {
        steps.push((idx, resample_step(sfreq)));
    }
    for (idx, r) in indices("reference").into_iter().zip(&args.reference) {
        let step = if r == "average" {
            Step::AverageReference {}
        } else {
            Step::Reference {
                channels: r.split(',').map(|c| c.trim().to_string()).collect(),
            }
        };
        steps.push((idx, step));
    }
    steps.sort_by_key(|(i, _)| *i);
    Ok(steps.into_iter().map(|(_, s)| s).collect())
}

/// `--pick-types eeg,eog` as a step.
pub(crate) fn pick_types_step(types: &str) -> Result<Step> {
    let kinds = types
        .split(',')
        .map(|t| {
            ChannelType::parse(t.trim()).with_context(|| {
                format!("--pick-types: unknown channel type `{t}` (known: eeg, eog, emg, ecg, ecog, seeg, resp, stim, misc)")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Step::PickTypes { types: kinds })
}

/// `--bandpass LOW HIGH` as a step: MNE's default zero-phase FIR, or a Butterworth of order
/// `iir` applied forward-backward.
pub(crate) fn bandpass_step(low: f64, high: f64, iir: Option<usize>) -> Result<Step> {
    // In a pipeline file l_freq > h_freq means band-stop (as in MNE); a flag
    // called --bandpass with reversed edges is far more likely a typo.
    if low >= high {
        bail!("--bandpass LOW HIGH: LOW ({low}) must be below HIGH ({high})");
    }
    let (method, order) = match iir {
        Some(o) => (FilterMethod::Iir, Some(o)),
        None => (FilterMethod::Fir, None),
    };
    Ok(Step::Filter {
        l_freq: Some(low),
        h_freq: Some(high),
        method,
        order,
        zero_phase: true,
        l_trans_bandwidth: None,
        h_trans_bandwidth: None,
    })
}

/// `--resample HZ` as a step (MNE's FFT method).
pub(crate) fn resample_step(sfreq: f64) -> Step {
    Step::Resample {
        sfreq,
        method: Default::default(),
    }
}

fn variant_for(path: &Path) -> Result<EdfVariant> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "edf" => Ok(EdfVariant::EdfPlus),
        "bdf" => Ok(EdfVariant::BdfPlus),
        other => bail!(
            "{}: cannot write `.{other}` files; use .edf (EDF+) or .bdf (BDF+)",
            path.display()
        ),
    }
}

fn process(
    reader: Result<Box<dyn RecordingReader>>,
    pipeline: &Pipeline,
    input: &Path,
    output: &Path,
) -> Result<()> {
    let rec = pipeline
        .read_and_apply(reader?.as_mut())
        .with_context(|| format!("preprocessing {}", input.display()))?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let report = write_edf(output, &rec, variant_for(output)?)
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "wrote {} ({} channels at {} Hz, {:.1} s, {} annotations; {} records)",
        output.display(),
        rec.info.channels.len(),
        rec.info.sfreq,
        rec.info.duration_s(),
        rec.info.annotations.len(),
        report.n_records
    );
    Ok(())
}

/// Runs `neurodl preprocess`; `matches` are the subcommand's parsed arguments (for flag order).
pub fn run(args: &PreprocessArgs, matches: &ArgMatches) -> Result<()> {
    // Streaming blocks of channels gain nothing from huge pages and would keep
    // ~20 MiB more resident (see `neurodl_signal::memory`).
    neurodl_signal::memory::disable_transparent_huge_pages();
    let mut pipeline = match &args.pipeline {
        Some(p) => Pipeline::from_file(p)?,
        None => Pipeline::default(),
    };
    pipeline.steps.extend(flag_steps(args, matches)?);
    if args.print_pipeline {
        std::io::Write::write_all(
            &mut std::io::stdout().lock(),
            pipeline.to_toml_string().as_bytes(),
        )?;
        return Ok(());
    }
    if pipeline.steps.is_empty() {
        bail!("no preprocessing steps: give --pipeline P.toml or step flags (--bandpass, --resample, ...)");
    }
    if args.input.is_dir() {
        let dataset = BidsDataset::open(&args.input)?;
        let ext = match args.format.to_ascii_lowercase().as_str() {
            f @ ("edf" | "bdf") => f.to_string(),
            other => bail!("--format: `{other}` is not edf or bdf"),
        };
        let jobs: Vec<(PathBuf, PathBuf, &neurodl_io::bids::BidsRecording)> = dataset
            .recordings()
            .iter()
            .map(|r| {
                let rel = r.path.strip_prefix(dataset.root()).unwrap_or(&r.path);
                (r.path.clone(), args.output.join(rel).with_extension(&ext), r)
            })
            .collect();
        if !args.overwrite
            && let Some((_, out, _)) = jobs.iter().find(|(_, out, _)| out.exists())
        {
            bail!(
                "{}: already exists (pass --overwrite to replace it)",
                out.display()
            );
        }
        let failures: Vec<String> = jobs
            .par_iter()
            .filter_map(|(input, output, rec)| {
                process(rec.open().map_err(Into::into), &pipeline, input, output).err()
            })
            .map(|e| format!("{e:#}"))
            .collect();
        if !failures.is_empty() {
            bail!(
                "{} of {} recordings failed:\n  {}",
                failures.len(),
                jobs.len(),
                failures.join("\n  ")
            );
        }
        return Ok(());
    }
    variant_for(&args.output)?;
    if args.output.exists() && !args.overwrite {
        bail!(
            "{}: already exists (pass --overwrite to replace it)",
            args.output.display()
        );
    }
    process(
        open_recording(&args.input).map_err(Into::into),
        &pipeline,
        &args.input,
        &args.output,
    )
}
