//! `neurodl eeg evaluate|train|predict`: the common EEG decoding jobs from flags alone, without
//! writing an experiment file (`--print-experiment` shows the one the flags make).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use neurodl_eval::Protocol;
use neurodl_io::ChannelType;
use neurodl_signal::pipeline::{Pipeline, Step};
use neurodl_train::deploy::{predict_recording, read_card, train_decoder};
use neurodl_train::experiment::{
    Baseline, DatasetSpec, DecoderSpec, EvaluationSpec, TrainingSpec, WindowSpec,
};
use neurodl_train::{Experiment, TrainError};

use super::preprocess::{bandpass_step, pick_types_step, resample_step};

/// The data, preprocessing, windows, decoders and training, as flags.
#[derive(clap::Args, Clone)]
pub struct EegFlags {
    /// Recordings (.edf, .bdf, .vhdr, .set), or one BIDS root folder.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Annotation descriptions and their labels: `T1=left_fist,T2=right_fist`.
    #[arg(long, value_name = "DESC=LABEL,...", required = true)]
    pub events: String,
    /// Deep models to evaluate (repeatable): ShallowFBCSPNet, Deep4Net, EEGNet, EEGConformer, ATCNet.
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// Classical baselines to evaluate (repeatable): csp-lda, ts-lr.
    #[arg(long = "baseline", value_name = "NAME")]
    pub baselines: Vec<String>,
    /// Keep channels of these types (comma-separated; default eeg).
    #[arg(long, value_name = "TYPES", default_value = "eeg")]
    pub pick_types: String,
    /// Multiply the samples (volts) by this factor first; 1e6 gives µV, as braindecode's
    /// tutorials feed their models.
    #[arg(long, value_name = "FACTOR", default_value_t = 1e6)]
    pub scale: f64,
    /// Band-pass LOW HIGH Hz (MNE's default zero-phase FIR).
    #[arg(long, num_args = 2, value_names = ["LOW", "HIGH"])]
    pub bandpass: Vec<f64>,
    /// Resample to this rate (Hz, MNE's FFT method).
    #[arg(long, value_name = "HZ")]
    pub resample: Option<f64>,
    /// braindecode's exponential moving standardisation (factor 1e-3, init block 1000).
    #[arg(long)]
    pub standardize: bool,
    /// Trial start relative to the event onset, seconds.
    #[arg(long, value_name = "S", default_value_t = 0.0, allow_negative_numbers = true)]
    pub trial_start: f64,
    /// Window length in seconds (default: the whole trial).
    #[arg(long, value_name = "S")]
    pub window: Option<f64>,
    /// Step between windows in seconds (default: the window length).
    #[arg(long, value_name = "S")]
    pub stride: Option<f64>,
    /// Training epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 0.000625)]
    pub lr: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 20170801)]
    pub seed: u64,
    /// Print the experiment the flags make (TOML, for `neurodl run`) and exit.
    #[arg(long)]
    pub print_experiment: bool,
}

impl EegFlags {
    /// The experiment these flags describe.
    pub fn to_experiment(&self, name: &str, protocol: Protocol) -> Result<Experiment> {
        let mut events = BTreeMap::new();
        for pair in self.events.split(',').filter(|s| !s.trim().is_empty()) {
            let Some((d, l)) = pair.split_once('=') else {
                bail!("--events: `{pair}` is not DESC=LABEL (e.g. T1=left_fist)");
            };
            events.insert(d.trim().to_string(), l.trim().to_string());
        }
        let dataset = if self.inputs.len() == 1 && self.inputs[0].is_dir() {
            DatasetSpec {
                bids_root: Some(self.inputs[0].clone()),
                ..DatasetSpec::default()
            }
        } else {
            DatasetSpec {
                files: self.inputs.clone(),
                ..DatasetSpec::default()
            }
        };
        let mut steps = vec![pick_types_step(&self.pick_types)?];
        if self.scale != 1.0 {
            steps.push(Step::Scale {
                factor: self.scale,
                types: vec![ChannelType::Eeg],
            });
        }
        if let [lo, hi] = self.bandpass[..] {
            steps.push(bandpass_step(lo, hi, None)?);
        }
        if let Some(sfreq) = self.resample {
            steps.push(resample_step(sfreq));
        }
        if self.standardize {
            steps.push(Step::ExponentialMovingStandardize {
                factor_new: 1e-3,
                init_block_size: Some(1000),
                eps: 1e-4,
            });
        }
        let mut decoders: Vec<DecoderSpec> = self
            .models
            .iter()
            .map(|m| DecoderSpec {
                model: Some(m.clone()),
                baseline: None,
                config: None,
            })
            .collect();
        for b in &self.baselines {
            let baseline = match b.to_ascii_lowercase().as_str() {
                "csp-lda" | "csp+lda" => Baseline::CspLda,
                "ts-lr" | "ts+lr" => Baseline::TsLr,
                other => bail!("--baseline: unknown `{other}` (csp-lda, ts-lr)"),
            };
            decoders.push(DecoderSpec {
                model: None,
                baseline: Some(baseline),
                config: None,
            });
        }
        if decoders.is_empty() {
            decoders.push(DecoderSpec {
                model: Some("ShallowFBCSPNet".into()),
                baseline: None,
                config: None,
            });
        }
        let exp = Experiment {
            name: name.to_string(),
            seed: self.seed,
            dataset,
            events,
            preprocessing: Pipeline { steps },
            windows: WindowSpec {
                trial_start_offset_s: self.trial_start,
                window_size_s: self.window,
                window_stride_s: self.stride,
                ..WindowSpec::default()
            },
            decoders,
            training: TrainingSpec {
                epochs: self.epochs,
                batch_size: self.batch_size,
                lr: self.lr,
                ..TrainingSpec::default()
            },
            evaluation: EvaluationSpec {
                protocol,
                trial_level: true,
            },
        };
        // Round-trip through TOML so flag values get the same checks as an experiment file.
        Ok(Experiment::from_toml_str(&exp.to_toml_string(), "<flags>")?)
    }
}

/// Arguments of `neurodl eeg evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub flags: EegFlags,
    /// within-session (k-fold per subject and session), cross-session, cross-subject.
    #[arg(long, default_value = "within-session")]
    pub protocol: String,
    /// Folds of within-session cross-validation.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// The run folder (default runs/eeg-evaluate).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run in --out.
    #[arg(long)]
    pub resume: bool,
}

/// `neurodl eeg evaluate`.
pub fn evaluate(args: &EvaluateArgs) -> Result<()> {
    let protocol = match args.protocol.as_str() {
        "within-session" => Protocol::WithinSession {
            n_folds: args.folds,
            shuffle: true,
        },
        "cross-session" => Protocol::CrossSession,
        "cross-subject" => Protocol::CrossSubject,
        other => bail!("--protocol: unknown `{other}` (within-session, cross-session, cross-subject)"),
    };
    let exp = args.flags.to_experiment("eeg-evaluate", protocol)?;
    if args.flags.print_experiment {
        print!("{}", exp.to_toml_string());
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/eeg-evaluate"));
    let summary = super::run::run_with_progress(&exp, &out, args.resume)?;
    super::run::print_summary(&summary);
    Ok(())
}

/// Arguments of `neurodl eeg train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub flags: EegFlags,
    /// Folder for the trained decoder (model.safetensors, decoder.json, experiment.toml).
    #[arg(long, value_name = "DIR", required = true)]
    pub out: PathBuf,
}

/// `neurodl eeg train`.
pub fn train(args: &TrainArgs) -> Result<()> {
    let exp = args.flags.to_experiment("eeg-train", Protocol::CrossSubject)?;
    if args.flags.print_experiment {
        print!("{}", exp.to_toml_string());
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(exp.training.epochs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{elapsed_precise}] {bar:30} epoch {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let card = train_decoder(&exp, &args.out, &|r| {
        bar.set_position(r.epoch as u64);
        bar.set_message(format!(
            "loss {:.4} train acc {:.3}",
            r.train_loss, r.train_accuracy
        ));
    })
    .map_err(|e: TrainError| anyhow::anyhow!(e))?;
    bar.finish_and_clear();
    println!(
        "trained {} on {} recordings ({} channels, {} samples at {} Hz, classes {}); final loss {:.4}",
        card.model,
        card.trained_on.len(),
        card.channels.len(),
        card.n_times,
        card.sfreq,
        card.labels.join(", "),
        card.history.last().map_or(f64::NAN, |r| r.train_loss)
    );
    println!("decoder: {}", args.out.display());
    Ok(())
}

/// Arguments of `neurodl eeg predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// A decoder folder written by `neurodl eeg train`.
    pub model_dir: PathBuf,
    /// Recordings to predict on.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Print JSON instead of CSV.
    #[arg(long)]
    pub json: bool,
}

/// `neurodl eeg predict`: one CSV row per trial (or window) and recording.
pub fn predict(args: &PredictArgs) -> Result<()> {
    let card = read_card(&args.model_dir)?;
    let mut all = Vec::new();
    for input in &args.inputs {
        let preds = predict_recording(&args.model_dir, input)
            .with_context(|| format!("predicting on {}", input.display()))?;
        all.push((input.display().to_string(), preds));
    }
    if args.json {
        let value: Vec<serde_json::Value> = all
            .iter()
            .map(|(f, p)| serde_json::json!({"file": f, "labels": card.labels, "predictions": p}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut header = "file,index,onset_s,true_label,predicted".to_string();
    for l in &card.labels {
        header.push_str(&format!(",p_{l}"));
    }
    println!("{header}");
    for (f, preds) in &all {
        let mut correct = 0;
        let mut labelled = 0;
        for p in preds {
            let probs: Vec<String> = p.proba.iter().map(|v| format!("{v:.6}")).collect();
            println!(
                "{f},{},{:.3},{},{},{}",
                p.index,
                p.onset_s,
                p.true_label.as_deref().unwrap_or(""),
                p.predicted,
                probs.join(",")
            );
            if let Some(t) = &p.true_label {
                labelled += 1;
                correct += usize::from(t == &p.predicted);
            }
        }
        if labelled > 0 {
            eprintln!(
                "{f}: accuracy {:.3} on {labelled} labelled trials",
                correct as f64 / labelled as f64
            );
        }
    }
    Ok(())
}
