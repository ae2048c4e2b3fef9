//! Running an experiment: data → folds (checked for leakage) → every decoder on every fold →
//! scores → the run record.
//!
//! A run folder is resumable: each finished fold is stored as `folds/<decoder>/<fold>.json`
//! and each deep-model training checkpoints every epoch under `checkpoints/`, so
//! `--resume` after a kill skips finished folds and continues the interrupted one from its last
//! epoch, reaching the same metrics as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use neurodl_baselines::{CspConfig, CspLda, Decoder as _, TangentSpaceConfig, TangentSpaceLr};
use neurodl_eval::{
    ConfusionMatrix, Fold, Scores, aggregate_trials, check_no_leakage, make_folds, score, split_validation,
};
use neurodl_models::{AnyModel, Device, EegModel, SignalShape};
use serde::{Deserialize, Serialize};

use crate::data::{WindowStore, discover};
use crate::error::{Result, TrainError};
use crate::experiment::{Baseline, Decoder, Experiment};
use crate::fit::{CheckpointPlan, EpochRecord, FitInput, fit, predict_proba};
use crate::record;
use crate::rng::{derive_seed, name_hash};

/// Progress of a run, for a progress bar.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The data is loaded.
    Loaded {
        /// Recordings read.
        n_recordings: usize,
        /// Trials found.
        n_trials: usize,
        /// Windows cut.
        n_windows: usize,
    },
    /// A decoder starts on a fold.
    FoldStarted {
        /// The decoder's name.
        decoder: &'a str,
        /// The fold's name.
        fold: &'a str,
        /// 0-based position of this (decoder, fold) among all.
        index: usize,
        /// Number of (decoder, fold) pairs.
        total: usize,
        /// Epochs planned (0 for baselines).
        epochs: usize,
    },
    /// A training epoch ended.
    Epoch {
        /// The decoder's name.
        decoder: &'a str,
        /// The fold's name.
        fold: &'a str,
        /// What happened.
        record: &'a EpochRecord,
    },
    /// A decoder finished a fold.
    FoldFinished {
        /// The decoder's name.
        decoder: &'a str,
        /// The fold's name.
        fold: &'a str,
        /// Its scores on the test set.
        scores: &'a Scores,
        /// Whether it was read back from an earlier (resumed) run.
        from_earlier_run: bool,
    },
}

/// How to run.
pub struct RunOptions<'a> {
    /// The run folder (created; must be empty or absent unless resuming).
    pub out_dir: PathBuf,
    /// Continue the run in `out_dir`: finished folds are kept, the interrupted training resumes
    /// from its last checkpoint.
    pub resume: bool,
    /// Stop as if killed after this many training epochs in total (tests of resumption).
    pub interrupt_after_epochs: Option<usize>,
    /// Progress callback.
    pub progress: &'a (dyn Fn(Progress<'_>) + Sync),
}

/// One decoder on one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// The decoder's display name.
    pub decoder: String,
    /// The fold's name.
    pub fold: String,
    /// The group the fold belongs to (e.g. `S001/0` for within-session folds).
    pub group: String,
    /// Subjects of the test trials.
    pub test_subjects: Vec<String>,
    /// Trials used for training (validation excluded).
    pub n_train_trials: usize,
    /// Trials held out for validation.
    pub n_valid_trials: usize,
    /// Test trials.
    pub n_test_trials: usize,
    /// Scores on the test set (trials or windows, as the experiment says).
    pub scores: Scores,
    /// Confusion matrix on the test set: `counts[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Training history (deep models).
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were evaluated (deep models).
    pub best_epoch: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Wall-clock seconds of fitting and predicting.
    pub seconds: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// Class labels.
    pub labels: Vec<String>,
    /// Every (decoder, fold) result, decoders in experiment order.
    pub folds: Vec<FoldResult>,
    /// False when the run was interrupted (see [`RunOptions::interrupt_after_epochs`]).
    pub complete: bool,
}

/// Runs an experiment and writes its run record into `opts.out_dir`.
pub fn run_experiment(exp: &Experiment, opts: &RunOptions<'_>) -> Result<RunSummary> {
    let dir = &opts.out_dir;
    check_run_dir(dir, opts.resume, exp)?;
    let sources = discover(&exp.dataset)?;
    let store = WindowStore::build(exp, sources)?;
    (opts.progress)(Progress::Loaded {
        n_recordings: store.recordings.len(),
        n_trials: store.trials.len(),
        n_windows: store.windows.len(),
    });
    let folds = make_folds(&exp.evaluation.protocol, &store.trials, exp.seed)?;
    for fold in &folds {
        check_no_leakage(&exp.evaluation.protocol, &store.trials, fold)?;
    }
    // Only now that the data loads and the folds are sound does the run folder appear: a run
    // refused for its data or protocol leaves nothing to clean up before the corrected retry.
    if !opts.resume {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        record::write_text(&dir.join("config.toml"), &exp.to_toml_string())?;
        record::write_environment(dir)?;
    }
    record::write_split(dir, &store, &folds)?;
    record::write_data(dir, &store)?;

    let decoders = exp.resolved_decoders();
    let total = decoders.len() * folds.len();
    let mut results = Vec::with_capacity(total);
    let mut epochs_left = opts.interrupt_after_epochs;
    for (di, decoder) in decoders.iter().enumerate() {
        for (fi, fold) in folds.iter().enumerate() {
            let name = decoder.display_name();
            let fold_file = dir
                .join("folds")
                .join(decoder.slug())
                .join(format!("{}.json", file_safe(&fold.name)));
            if opts.resume
                && let Ok(text) = std::fs::read_to_string(&fold_file)
            {
                let result: FoldResult = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
                    path: fold_file.clone(),
                    message: e.to_string(),
                })?;
                (opts.progress)(Progress::FoldFinished {
                    decoder: &name,
                    fold: &fold.name,
                    scores: &result.scores,
                    from_earlier_run: true,
                });
                results.push(result);
                continue;
            }
            (opts.progress)(Progress::FoldStarted {
                decoder: &name,
                fold: &fold.name,
                index: di * folds.len() + fi,
                total,
                epochs: if matches!(decoder, Decoder::Model(..)) {
                    exp.training.epochs
                } else {
                    0
                },
            });
            let seed = derive_seed(exp.seed, &[name_hash(&decoder.slug()), fi as u64]);
            let outcome = run_fold(exp, &store, decoder, fold, seed, dir, opts, &mut epochs_left)?;
            let Some(result) = outcome else {
                return Ok(RunSummary {
                    dir: dir.clone(),
                    labels: store.labels.clone(),
                    folds: results,
                    complete: false,
                });
            };
            record::write_json(&fold_file, &result)?;
            (opts.progress)(Progress::FoldFinished {
                decoder: &name,
                fold: &fold.name,
                scores: &result.scores,
                from_earlier_run: false,
            });
            results.push(result);
        }
    }
    let summary = RunSummary {
        dir: dir.clone(),
        labels: store.labels.clone(),
        folds: results,
        complete: true,
    };
    record::write_results(exp, &store, &summary)?;
    Ok(summary)
}

/// A fold name (`sub-01/ses-01/fold-3`) as one file-name component (`sub-01_ses-01_fold-3`).
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Refuses, before any work, a run folder that cannot take this run: on resume one started with
/// a different experiment, otherwise one that is not empty.
fn check_run_dir(dir: &Path, resume: bool, exp: &Experiment) -> Result<()> {
    let config = dir.join("config.toml");
    if resume {
        let text = std::fs::read_to_string(&config).map_err(|e| TrainError::Checkpoint {
            path: dir.to_path_buf(),
            message: format!("cannot resume: config.toml unreadable ({e}); is this a run folder?"),
        })?;
        if text != exp.to_toml_string() {
            return Err(TrainError::Checkpoint {
                path: dir.to_path_buf(),
                message: "cannot resume: the experiment differs from the one this run folder was started with (config.toml)".into(),
            });
        }
        return Ok(());
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| TrainError::io(dir, e))?
            .next()
            .is_some()
    {
        return Err(TrainError::Dataset(format!(
            "run folder {} exists and is not empty: pass --resume to continue it, or choose another --out",
            dir.display()
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_fold(
    exp: &Experiment,
    store: &WindowStore,
    decoder: &Decoder,
    fold: &Fold,
    seed: u64,
    dir: &Path,
    opts: &RunOptions<'_>,
    epochs_left: &mut Option<usize>,
) -> Result<Option<FoldResult>> {
    let started = Instant::now();
    let n_classes = store.labels.len();
    let (train_trials, valid_trials) = match (&exp.training.early_stopping, decoder) {
        (Some(es), Decoder::Model(..)) => split_validation(
            &store.trials,
            &fold.train,
            es.validation_fraction,
            derive_seed(seed, &[1]),
        )?,
        _ => (fold.train.clone(), Vec::new()),
    };
    let train_w = store.windows_of_trials(&train_trials);
    let valid_w = store.windows_of_trials(&valid_trials);
    let test_w = store.windows_of_trials(&fold.test);
    let y_train = store.classes(&train_w);
    let name = decoder.display_name();

    let (proba, history, best_epoch, stopped_early) = match decoder {
        Decoder::Baseline(b) => {
            let x_train = store.trials_f64(&train_w);
            let x_test = store.trials_f64(&test_w);
            let proba = match b {
                Baseline::CspLda => CspLda::fit(x_train.view(), &y_train, n_classes, &CspConfig::default())?
                    .predict_proba(x_test.view())?,
                Baseline::TsLr => TangentSpaceLr::fit(
                    x_train.view(),
                    &y_train,
                    n_classes,
                    &TangentSpaceConfig::default(),
                )?
                .predict_proba(x_test.view())?,
            };
            let rows = proba.rows().into_iter().map(|r| r.to_vec()).collect();
            (rows, Vec::new(), 0, false)
        }
        Decoder::Model(model_name, model_config) => {
            let _rng = crate::fit::lock_backend_rng();
            let device = Device::default().autodiff();
            device.seed(derive_seed(seed, &[0]));
            let signal =
                SignalShape::new(store.n_chans(), n_classes, store.n_times).with_sfreq(store.sfreq());
            let model = AnyModel::with_config(model_name, &signal, &device, model_config)?;
            let on_epoch = |record: &EpochRecord| {
                (opts.progress)(Progress::Epoch {
                    decoder: &name,
                    fold: &fold.name,
                    record,
                })
            };
            let input = FitInput {
                store,
                train: &train_w,
                valid: &valid_w,
                spec: &exp.training,
                seed,
                checkpoint: Some(CheckpointPlan {
                    dir: dir
                        .join("checkpoints")
                        .join(decoder.slug())
                        .join(file_safe(&fold.name)),
                    resume: opts.resume,
                }),
                on_epoch: &on_epoch,
                interrupt_after: *epochs_left,
            };
            let weights = dir.join("weights").join(format!(
                "{}-{}.safetensors",
                decoder.slug(),
                file_safe(&fold.name)
            ));
            macro_rules! train {
                ($m:expr) => {{
                    let fitted = fit($m, &device, input)?;
                    if let Some(left) = epochs_left.as_mut() {
                        *left -= fitted.history.len().min(*left);
                    }
                    if fitted.interrupted {
                        return Ok(None);
                    }
                    std::fs::create_dir_all(weights.parent().expect("has a parent"))
                        .map_err(|e| TrainError::io(&weights, e))?;
                    fitted.model.save_safetensors(&weights)?;
                    let proba = predict_proba(&fitted.model, store, &test_w, exp.training.batch_size)?;
                    (
                        proba,
                        fitted.history,
                        fitted.best_epoch,
                        fitted.stopped_early,
                    )
                }};
            }
            let out = match model {
                AnyModel::ShallowFBCSPNet(m) => train!(m),
                AnyModel::Deep4Net(m) => train!(m),
                AnyModel::EEGNet(m) => train!(m),
                AnyModel::EEGConformer(m) => train!(m),
                AnyModel::ATCNet(m) => train!(m),
            };
            // The fold is done: its epoch checkpoints are no longer needed.
            let ck = dir
                .join("checkpoints")
                .join(decoder.slug())
                .join(file_safe(&fold.name));
            if ck.exists() {
                std::fs::remove_dir_all(&ck).map_err(|e| TrainError::io(&ck, e))?;
            }
            out
        }
    };

    let y_test = store.classes(&test_w);
    let (y_eval, proba_eval) = if exp.evaluation.trial_level {
        let trial_ids: Vec<usize> = test_w.iter().map(|&w| store.trial_of_window[w]).collect();
        let (_, y, p) = aggregate_trials(&trial_ids, &y_test, &proba)?;
        (y, p)
    } else {
        (y_test, proba)
    };
    let (scores, confusion): (Scores, ConfusionMatrix) = score(&store.labels, &y_eval, &proba_eval)?;
    let mut test_subjects: Vec<String> = fold
        .test
        .iter()
        .map(|&t| store.trials[t].subject.clone())
        .collect();
    test_subjects.sort();
    test_subjects.dedup();
    Ok(Some(FoldResult {
        decoder: name,
        fold: fold.name.clone(),
        group: fold.group.clone(),
        test_subjects,
        n_train_trials: train_trials.len(),
        n_valid_trials: valid_trials.len(),
        n_test_trials: fold.test.len(),
        scores,
        confusion: confusion.counts,
        history,
        best_epoch,
        stopped_early,
        seconds: started.elapsed().as_secs_f64(),
    }))
}
