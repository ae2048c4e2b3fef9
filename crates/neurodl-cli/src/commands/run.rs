//! `neurodl run EXPERIMENT.toml`: run a whole decoding study and write its run record.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use neurodl_train::record::{fmt_mean_sd, summarise};
use neurodl_train::{Experiment, Progress, RunOptions, RunSummary, run_experiment};

/// Arguments of `neurodl run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The experiment file (TOML): dataset, events, preprocessing, windows, decoders, training,
    /// evaluation. See examples/experiments/ for complete ones.
    pub experiment: PathBuf,
    /// The run folder to write (default: runs/<experiment name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run in --out: finished folds are kept and the interrupted training
    /// resumes from its last epoch checkpoint, reaching the same result as an uninterrupted run.
    #[arg(long)]
    pub resume: bool,
    /// Print the resolved experiment (defaults filled in) as TOML and exit.
    #[arg(long)]
    pub print_experiment: bool,
}

/// `neurodl run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let exp = Experiment::from_file(&args.experiment)?;
    if args.print_experiment {
        print!("{}", exp.to_toml_string());
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&exp.name));
    let summary = run_with_progress(&exp, &out, args.resume)?;
    print_summary(&summary);
    Ok(())
}

/// Runs `exp` into `out` with a progress bar on stderr.
pub fn run_with_progress(exp: &Experiment, out: &Path, resume: bool) -> Result<RunSummary> {
    let bar = super::progress_bar();
    let say = |line: String| super::say(&bar, line);
    let state = Mutex::new(());
    let progress = |p: Progress<'_>| {
        let _guard = state.lock();
        match p {
            Progress::Loaded {
                n_recordings,
                n_trials,
                n_windows,
            } => say(format!(
                "loaded {n_recordings} recordings: {n_trials} trials, {n_windows} windows"
            )),
            Progress::FoldStarted {
                decoder,
                fold,
                index,
                total,
                epochs,
            } => {
                if index == 0 || bar.length() == Some(0) {
                    bar.set_length(total as u64);
                }
                bar.set_position(index as u64);
                bar.set_message(format!(
                    "{decoder} {fold}{}",
                    if epochs > 0 {
                        format!(" epoch 0/{epochs}")
                    } else {
                        String::new()
                    }
                ));
            }
            Progress::Epoch {
                decoder,
                fold,
                record,
            } => {
                let valid = record
                    .valid_accuracy
                    .map(|a| format!(" valid acc {a:.3}"))
                    .unwrap_or_default();
                bar.set_message(format!(
                    "{decoder} {fold} epoch {} loss {:.4} train acc {:.3}{valid}",
                    record.epoch, record.train_loss, record.train_accuracy
                ));
                bar.tick();
            }
            Progress::FoldFinished {
                decoder,
                fold,
                scores,
                from_earlier_run,
            } => {
                bar.inc(1);
                say(format!(
                    "{decoder:<16} {fold:<28} accuracy {:.3}  kappa {:.3}{}",
                    scores.accuracy,
                    scores.cohen_kappa,
                    if from_earlier_run {
                        "  (from the earlier run)"
                    } else {
                        ""
                    }
                ));
            }
        }
    };
    let summary = run_experiment(
        exp,
        &RunOptions {
            out_dir: out.to_path_buf(),
            resume,
            interrupt_after_epochs: None,
            progress: &progress,
        },
    )
    .with_context(|| format!("experiment {}", exp.name))?;
    bar.finish_and_clear();
    Ok(summary)
}

/// The results table and where the record is.
pub fn print_summary(summary: &RunSummary) {
    let rows = summarise(&summary.labels, &summary.folds);
    println!();
    println!(
        "{:<16} {:>5}  {:<15} {:<15} {:<15}",
        "decoder", "folds", "accuracy", "balanced acc.", "kappa"
    );
    for s in &rows {
        println!(
            "{:<16} {:>5}  {:<15} {:<15} {:<15}",
            s.decoder,
            s.n_folds,
            fmt_mean_sd(&s.accuracy),
            fmt_mean_sd(&s.balanced_accuracy),
            fmt_mean_sd(&s.cohen_kappa)
        );
    }
    println!();
    println!("run record: {}", summary.dir.display());
    println!("report:     {}", summary.dir.join("report.html").display());
}
