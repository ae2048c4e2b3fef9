//! `neurodl`: one command-line tool for deep learning on neuroscience data.
//!
//! Thin glue over the library crates: argument parsing, progress and printing
//! live here; everything that computes lives in `neurodl-io` and the crates above it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod commands;

// Burn's CPU backend and the readers allocate large short-lived buffers; with glibc's
// malloc these are page-faulted afresh on every use (Burn training steps 1.5–2.4x slower,
// EDF full reads up to 1.7x slower, measured on the development machine).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deep learning for neuroscience: read, convert, preprocess and simulate EEG recordings; train,
/// evaluate and apply EEG decoders (deep models and classical baselines); list the model zoo.
///
/// Supported formats: EDF/EDF+ and BDF/BDF+ (.edf, .bdf), BrainVision (.vhdr),
/// EEGLAB (.set), and BIDS EEG datasets (a folder with dataset_description.json).
#[derive(Parser)]
#[command(name = "neurodl", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarise a recording or a BIDS dataset: format, duration, channels by type,
    /// sampling rates and annotation counts.
    #[command(
        after_help = "Examples:\n  neurodl info S001R03.edf\n  neurodl info recording.vhdr --json\n  neurodl info my_bids_dataset/"
    )]
    Info {
        /// A recording (.edf, .bdf, .vhdr, .set) or the root folder of a BIDS dataset.
        path: PathBuf,
        /// Print JSON for scripts instead of the readable summary: `format`, `n_channels`,
        /// `channels` (name, type, unit, sfreq), `sfreq`, `n_samples`, `duration_s`,
        /// `meas_date`, `subject`, `annotation_counts` and every annotation
        /// (onset and duration in seconds from the first sample, description).
        #[arg(long)]
        json: bool,
    },
    /// Convert a recording to EDF+ (.edf) or BDF+ (.bdf), chosen by OUTPUT's extension.
    ///
    /// Channels, sampling rate, start time, subject and annotations are kept;
    /// values are kept within the target's resolution (EDF+: 16 bits per channel,
    /// BDF+: 24 bits), and the largest quantisation error is reported.
    #[command(
        after_help = "Examples:\n  neurodl convert recording.vhdr recording.edf\n  neurodl convert data.set data.bdf"
    )]
    Convert {
        /// The recording to read (.edf, .bdf, .vhdr, .set).
        input: PathBuf,
        /// Where to write: .edf for EDF+, .bdf for BDF+. Written atomically.
        output: PathBuf,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        overwrite: bool,
    },
    /// Preprocess a recording or a BIDS dataset and write EDF+/BDF+: a TOML pipeline
    /// (--pipeline) and/or step flags, applied in the order given.
    #[command(
        after_help = "Examples:\n  neurodl preprocess S001R03.edf out.edf --pick-types eeg --bandpass 4 38 --resample 100\n  neurodl preprocess raw.bdf clean.bdf --notch 50 --reference average\n  neurodl preprocess bids_root/ derivatives/ --pipeline pipeline.toml --format bdf\n  neurodl preprocess x.edf y.edf --bandpass 1 40 --iir 4 --print-pipeline > pipeline.toml"
    )]
    Preprocess(commands::preprocess::PreprocessArgs),
    /// Run a decoding experiment (one TOML file: dataset, events, preprocessing, windows,
    /// decoders, training, protocol) and write its run record: metrics (JSON, CSV), the split,
    /// data hashes, learning curves and confusion matrices (PNG), weights and an HTML report.
    #[command(
        after_help = "Examples:\n  neurodl run examples/experiments/eegmmidb_imagery_fists_feet.toml\n  neurodl run exp.toml --out runs/try1\n  neurodl run exp.toml --out runs/try1 --resume      # after a kill: continue from the last epoch\n  neurodl run exp.toml --print-experiment           # every default spelled out"
    )]
    Run(commands::run::RunArgs),
    /// EEG decoding from flags alone: cross-validate decoders, train one for later use, predict.
    #[command(subcommand)]
    Eeg(EegCommand),
    /// Image segmentation of volumes (MRI, microscopy), nnU-Net style (3-D patches or 2-D
    /// slices): plan, train, predict, evaluate.
    #[command(subcommand)]
    Seg(SegCommand),
    /// The main job on a fresh clone with no data: simulate a two-class motor-imagery BIDS
    /// dataset, then preprocess it, cross-validate ShallowFBCSPNet and the Riemannian and CSP
    /// baselines within subject, and print the results and where the report is.
    #[command(
        after_help = "Examples:\n  neurodl demo\n  neurodl demo --out /tmp/neurodl-demo --subjects 3 --epochs 20"
    )]
    Demo(commands::demo::DemoArgs),
    /// Write a simulated two-class motor-imagery EEG dataset (left/right hand imagery with
    /// contralateral mu/beta desynchronisation, 1/f background, blinks, EMG, drift, line
    /// noise) as BIDS-EEG with EDF+ files; deterministic from --seed.
    #[command(
        after_help = "Examples:\n  neurodl simulate sim_bids/\n  neurodl simulate sim_bids/ --subjects 9 --sessions 2 --runs 6 --trials-per-class 12 --seed 42\n  neurodl simulate tiny/ --subjects 1 --trials-per-class 2 --sfreq 128 --no-eog --no-artifacts\n  neurodl info sim_bids/"
    )]
    Simulate(commands::simulate::SimulateArgs),
    /// List the EEG models (ShallowFBCSPNet, Deep4Net, EEGNet, EEGConformer, ATCNet) with their
    /// papers and trainable parameter counts for an input shape.
    ///
    /// Unset shape options default to 22 channels x 1125 samples at 250 Hz and 4 outputs
    /// (BCI Competition IV 2a trials). Counts equal braindecode 1.8's.
    #[command(
        after_help = "Examples:\n  neurodl models\n  neurodl models --n-chans 64 --n-times 480 --sfreq 160 --n-outputs 4 --json\n  neurodl models --n-chans 64 --window-seconds 3 --sfreq 160"
    )]
    Models {
        /// Number of EEG channels.
        #[arg(long)]
        n_chans: Option<usize>,
        /// Samples per input window.
        #[arg(long)]
        n_times: Option<usize>,
        /// Window length in seconds (with --sfreq), instead of --n-times.
        #[arg(long)]
        window_seconds: Option<f64>,
        /// Sampling rate in Hz.
        #[arg(long)]
        sfreq: Option<f64>,
        /// Number of outputs (classes).
        #[arg(long)]
        n_outputs: Option<usize>,
        /// Print JSON for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// `neurodl eeg ...`.
#[derive(Subcommand)]
enum EegCommand {
    /// Cross-validate decoders on recordings or a BIDS dataset and write a run record.
    #[command(
        after_help = "Examples:\n  neurodl eeg evaluate S001R06.edf S001R10.edf --events T1=both_fists,T2=both_feet --bandpass 4 38 --window 4 --model ShallowFBCSPNet --baseline ts-lr\n  neurodl eeg evaluate bids_root/ --events left_hand=left_hand,right_hand=right_hand --protocol cross-subject --model EEGNet"
    )]
    Evaluate(commands::eeg::EvaluateArgs),
    /// Train one deep decoder on all trials and save it (weights + decoder.json) for `predict`.
    #[command(
        after_help = "Example:\n  neurodl eeg train S001R06.edf S001R10.edf --events T1=both_fists,T2=both_feet --bandpass 4 38 --window 4 --model ShallowFBCSPNet --out decoders/fists-feet"
    )]
    Train(commands::eeg::TrainArgs),
    /// Predict with a trained decoder: one CSV row per trial (recordings with the training
    /// events) or per window (recordings without), with class probabilities.
    #[command(
        after_help = "Example:\n  neurodl eeg predict decoders/fists-feet S001R14.edf > predictions.csv"
    )]
    Predict(commands::eeg::PredictArgs),
}

/// Volume segmentation, nnU-Net style (its 3d_fullres or 2d configuration): plan from a dataset
/// fingerprint, train U-Nets under cross-validation by case, predict whole scans with sliding
/// windows, evaluate.
#[derive(Subcommand)]
enum SegCommand {
    /// Fingerprint a labelled dataset and derive a training plan (JSON, editable).
    #[command(
        after_help = "Example:\n  neurodl seg plan examples/experiments/msd_hippocampus.toml --out plan.json"
    )]
    Plan(commands::seg::PlanArgs),
    /// Plan, preprocess, train and cross-validate; writes a run record with a report.
    #[command(
        after_help = "Examples:\n  neurodl seg train examples/experiments/msd_hippocampus.toml --out runs/hippocampus\n  neurodl seg train exp.toml --out runs/h --resume         # after a kill: continue from the last epoch\n  neurodl seg train exp.toml --plan edited_plan.json\n  neurodl seg train exp.toml --configuration 2d --out runs/h-2d   # nnU-Net's 2-D configuration"
    )]
    Train(commands::seg::TrainArgs),
    /// Segment scans with a trained model; outputs keep their input's grid and affine.
    #[command(
        after_help = "Example:\n  neurodl seg predict runs/hippocampus/fold-1/model scan.nii.gz --out predictions/"
    )]
    Predict(commands::seg::PredictArgs),
    /// Score predicted label maps against references (Dice, HD95, surface Dice, ...).
    #[command(
        after_help = "Example:\n  neurodl seg evaluate predictions/ labels/ --labels 1,2 --csv metrics.csv"
    )]
    Evaluate(commands::seg::EvaluateArgs),
}

fn main() -> ExitCode {
    // Parsed through `ArgMatches` so `preprocess` can apply its step flags in command-line order.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Info { path, json } => commands::info::run(&path, json),
        Command::Convert {
            input,
            output,
            overwrite,
        } => commands::convert::run(&input, &output, overwrite),
        Command::Preprocess(args) => {
            let sub = matches
                .subcommand_matches("preprocess")
                .expect("clap matched preprocess");
            commands::preprocess::run(&args, sub)
        }
        Command::Run(args) => commands::run::run(&args),
        Command::Eeg(EegCommand::Evaluate(args)) => commands::eeg::evaluate(&args),
        Command::Eeg(EegCommand::Train(args)) => commands::eeg::train(&args),
        Command::Eeg(EegCommand::Predict(args)) => commands::eeg::predict(&args),
        Command::Seg(SegCommand::Plan(args)) => commands::seg::plan_command(&args),
        Command::Seg(SegCommand::Train(args)) => commands::seg::train(&args),
        Command::Seg(SegCommand::Predict(args)) => commands::seg::predict(&args),
        Command::Seg(SegCommand::Evaluate(args)) => commands::seg::evaluate(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Models {
            n_chans,
            n_times,
            window_seconds,
            sfreq,
            n_outputs,
            json,
        } => {
            let shape = commands::models::ShapeArgs {
                n_chans,
                n_times,
                window_seconds,
                sfreq,
                n_outputs,
            };
            commands::models::run(&shape, json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Output piped into `head` and closed early: the reader got what it wanted.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
