//! `neurodl simulate OUT_DIR`: write a simulated two-class motor-imagery BIDS dataset.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use neurodl_signal::simulate::{ArtifactConfig, LEFT_HAND, MotorImageryConfig, RIGHT_HAND, write_bids};

/// Arguments of `neurodl simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The BIDS folder to create (must be new or empty; see --overwrite).
    pub out_dir: PathBuf,
    /// Number of subjects.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub subjects: usize,
    /// Sessions per subject (with one, no ses- folder).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sessions: usize,
    /// Runs per session (with one, no run- entity).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub runs: usize,
    /// Trials of each class (left_hand, right_hand) per run.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub trials_per_class: usize,
    /// Sampling rate in Hz (80-10000).
    #[arg(long, value_name = "HZ", default_value_t = 250.0)]
    pub sfreq: f64,
    /// Seed: the same seed and options give bit-identical files on any machine.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Power-line frequency of the simulated mains interference.
    #[arg(long, value_name = "50|60", default_value_t = 50)]
    pub line_freq: u32,
    /// Leave out the three EOG channels.
    #[arg(long)]
    pub no_eog: bool,
    /// Simulate brain activity only: no blinks, saccades, EMG, drift, line or sensor noise.
    #[arg(long)]
    pub no_artifacts: bool,
    /// Replace a BIDS dataset already at OUT_DIR (its sub-* folders and top-level metadata;
    /// derivatives/ and other files are kept). A non-empty folder that is not a BIDS dataset
    /// is never replaced.
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs `neurodl simulate`.
pub fn run(args: &SimulateArgs) -> Result<()> {
    if args.line_freq != 50 && args.line_freq != 60 {
        bail!("--line-freq must be 50 or 60, not {}", args.line_freq);
    }
    let cfg = MotorImageryConfig {
        n_subjects: args.subjects,
        n_sessions: args.sessions,
        n_runs: args.runs,
        trials_per_class_per_run: args.trials_per_class,
        sfreq: args.sfreq,
        line_freq: args.line_freq as f64,
        with_eog: !args.no_eog,
        seed: args.seed,
        artifacts: if args.no_artifacts {
            ArtifactConfig::none()
        } else {
            ArtifactConfig::default()
        },
        ..MotorImageryConfig::default()
    };
    // Parameter errors name the library's field; say which flag that is.
    cfg.validate().map_err(|e| {
        let text = e.to_string();
        let flag = [
            ("n_subjects", "--subjects"),
            ("n_sessions", "--sessions"),
            ("n_runs", "--runs"),
            ("trials_per_class_per_run", "--trials-per-class"),
            ("sfreq", "--sfreq"),
        ]
        .iter()
        .find(|(field, _)| text.starts_with(&format!("invalid {field} ")))
        .map(|(_, flag)| format!("{flag}: "))
        .unwrap_or_default();
        anyhow::anyhow!("{flag}{text}")
    })?;
    let non_empty = std::fs::read_dir(&args.out_dir).is_ok_and(|mut entries| entries.next().is_some());
    if non_empty && !args.overwrite {
        bail!(
            "{}: already exists and is not empty (pass --overwrite to replace the BIDS dataset there)",
            args.out_dir.display()
        );
    }
    eprintln!(
        "simulating {} recording(s) into {} ...",
        cfg.n_recordings(),
        args.out_dir.display()
    );
    let summary = write_bids(&cfg, &args.out_dir, args.overwrite)
        .with_context(|| format!("writing {}", args.out_dir.display()))?;
    let per_class = cfg.trials_per_class_per_run * cfg.n_recordings();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Simulated motor-imagery BIDS dataset (seed {}) in {}",
        cfg.seed,
        summary.root.display()
    )?;
    writeln!(out, "  subjects     {}", summary.n_subjects)?;
    writeln!(
        out,
        "  recordings   {} ({} session(s) x {} run(s) per subject)",
        summary.n_recordings, cfg.n_sessions, cfg.n_runs
    )?;
    writeln!(
        out,
        "  trials       {} ({per_class} {LEFT_HAND}, {per_class} {RIGHT_HAND}; {} s imagery each)",
        summary.n_events, cfg.imagery_s
    )?;
    writeln!(
        out,
        "  duration     {:.1} min in all, {} channels ({} EEG{}) at {} Hz",
        summary.total_duration_s / 60.0,
        cfg.n_channels(),
        cfg.eeg_channels.len(),
        if cfg.with_eog { " + 3 EOG" } else { "" },
        cfg.sfreq
    )?;
    writeln!(out, "  inspect it   neurodl info {}", summary.root.display())?;
    Ok(())
}
