//! `neurodl demo`: the main job end to end on a fresh clone with no data — simulate a
//! two-class motor-imagery BIDS dataset, then preprocess, cross-validate ShallowFBCSPNet and the
//! classical baselines within subject, and print the results and where the report is.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use neurodl_eval::Protocol;
use neurodl_signal::simulate::{LEFT_HAND, MotorImageryConfig, RIGHT_HAND, write_bids};
use neurodl_train::Experiment;

/// Arguments of `neurodl demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Folder for the simulated dataset (`data/`) and the run record (`run/`).
    #[arg(long, value_name = "DIR", default_value = "neurodl-demo")]
    pub out: PathBuf,
    /// Simulated subjects.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub subjects: usize,
    /// Trials of each class per run (two runs per subject).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub trials_per_class: usize,
    /// ShallowFBCSPNet training epochs per fold.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub epochs: usize,
    /// Seed of the simulation and of every random choice of the run.
    #[arg(long, value_name = "S", default_value_t = 7)]
    pub seed: u64,
    /// Replace an earlier demo in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the experiment the demo runs (TOML, for `neurodl run`) and exit.
    #[arg(long)]
    pub print_experiment: bool,
}

/// The demo's experiment on the dataset at `data`.
pub fn demo_experiment(data: &std::path::Path, args: &DemoArgs) -> Result<Experiment> {
    let text = format!(
        r#"
name = "demo-motor-imagery"
seed = {seed}

[dataset]
bids_root = "{data}"

[events]
{LEFT_HAND} = "{LEFT_HAND}"
{RIGHT_HAND} = "{RIGHT_HAND}"

[[preprocessing.step]]
op = "pick_types"
types = ["eeg"]
[[preprocessing.step]]
op = "scale"
factor = 1e6
[[preprocessing.step]]
op = "filter"
l_freq = 4.0
h_freq = 38.0
[[preprocessing.step]]
op = "resample"
sfreq = 100.0
[[preprocessing.step]]
op = "exponential_moving_standardize"
factor_new = 1e-3
init_block_size = 1000

[windows]
trial_start_offset_s = 0.5
window_size_s = 3.5

[[decoder]]
model = "ShallowFBCSPNet"
[[decoder]]
baseline = "ts-lr"
[[decoder]]
baseline = "csp-lda"

[training]
epochs = {epochs}
batch_size = 32
lr = 0.000625
schedule = "cosine"

[evaluation]
protocol = {{ kind = "within-session", n_folds = 5 }}
"#,
        seed = args.seed,
        data = data
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
        epochs = args.epochs,
    );
    let exp = Experiment::from_toml_str(&text, "<demo>")?;
    debug_assert!(matches!(exp.evaluation.protocol, Protocol::WithinSession { .. }));
    Ok(exp)
}

/// `neurodl demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let data = args.out.join("data");
    let run_dir = args.out.join("run");
    let exp = demo_experiment(&data, args)?;
    if args.print_experiment {
        print!("{}", exp.to_toml_string());
        return Ok(());
    }
    if run_dir.exists() {
        if !args.overwrite {
            bail!(
                "{} holds an earlier demo: pass --overwrite to replace it, or --out for another folder",
                args.out.display()
            );
        }
        std::fs::remove_dir_all(&run_dir).with_context(|| format!("removing {}", run_dir.display()))?;
    }
    let started = Instant::now();
    let cfg = MotorImageryConfig {
        n_subjects: args.subjects,
        n_runs: 2,
        trials_per_class_per_run: args.trials_per_class,
        seed: args.seed,
        ..MotorImageryConfig::default()
    };
    eprintln!(
        "simulating {} subjects x 2 runs x {} trials ({} and {}), 22 EEG + 3 EOG channels at {} Hz ...",
        cfg.n_subjects,
        2 * cfg.trials_per_class_per_run,
        LEFT_HAND,
        RIGHT_HAND,
        cfg.sfreq
    );
    let written = write_bids(&cfg, &data, args.overwrite).context("writing the simulated dataset")?;
    eprintln!(
        "wrote {} EDF+ recordings ({:.0} s of EEG, {} events) as BIDS under {}",
        written.n_recordings,
        written.total_duration_s,
        written.n_events,
        data.display()
    );
    eprintln!(
        "cross-validating ShallowFBCSPNet ({} epochs), TS+LR and CSP+LDA within subject (5 folds) ...",
        args.epochs
    );
    let summary = super::run::run_with_progress(&exp, &run_dir, false)?;
    super::run::print_summary(&summary);
    println!("finished in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
