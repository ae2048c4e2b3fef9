//! The run record: everything needed to know what a run did and to reproduce it.
//!
//! ```text
//! RUN_DIR/
//!   config.toml        the resolved experiment (resuming requires it unchanged)
//!   environment.json   neurodl and library versions, OS, CPU threads
//!   data.json          every recording: path, SHA-256, subject/session/run, channels, sfreq, trials
//!   split.json         every fold: train and test trials by id (subject/session/run#trial)
//!   metrics.json       per-fold scores, confusion matrices and training curves; per-decoder
//!                      and per-subject mean ± sd (identical for identical config, data and seed)
//!   metrics.csv        one row per decoder and fold
//!   summary.csv        one row per decoder (mean ± sd over folds)
//!   timings.csv        seconds per decoder and fold (kept out of metrics.json: it varies)
//!   plots/             learning curves, confusion matrices, accuracy per decoder (PNG)
//!   weights/           final weights of every deep model and fold (safetensors)
//!   folds/             per-fold results (what --resume reads back)
//!   report.html        all of the above in one self-contained page
//! ```
//!
//! Every file is written atomically (temporary file, fsync, rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use neurodl_eval::{Fold, MeanSd, Scores, mean_sd};
use neurodl_io::AtomicFile;
use neurodl_report::{Bar, Curve, Report, bar_chart_png, confusion_matrix_png, line_plot_png, write_png};
use serde::Serialize;

use crate::data::WindowStore;
use crate::error::{Result, TrainError};
use crate::experiment::Experiment;
use crate::run::{FoldResult, RunSummary};

/// Writes `text` to `path` atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_bytes(path, text.as_bytes())
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| TrainError::io(parent, e))?;
    }
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| TrainError::io(path, e))?;
    f.commit()?;
    Ok(())
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("run records serialise");
    text.push('\n');
    write_text(path, &text)
}

/// Reads JSON from `path`; errors name the file (and, for bad JSON, line and column).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Config {
        source_name: path.display().to_string(),
        message: e.to_string(),
    })
}

/// [`read_json`], or `None` when there is no file at `path`.
pub fn read_json_if_present<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// `environment.json`.
pub fn write_environment(dir: &Path) -> Result<()> {
    #[derive(Serialize)]
    struct Environment {
        neurodl: &'static str,
        burn: &'static str,
        /// The device Burn chose (`Device::default()`: a GPU when the binary was built with a
        /// GPU feature, unless `BURN_DEVICE` says otherwise; else the CPU backend).
        device: String,
        os: &'static str,
        arch: &'static str,
        threads: usize,
        created: String,
    }
    write_json(
        &dir.join("environment.json"),
        &Environment {
            neurodl: env!("CARGO_PKG_VERSION"),
            burn: "0.22.1",
            device: format!("{:?}", neurodl_models::Device::default()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            threads: rayon::current_num_threads(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    )
}

fn trial_id(store: &WindowStore, t: usize) -> String {
    let m = &store.trials[t];
    format!("{}/{}/{}#{}", m.subject, m.session, m.run, m.trial)
}

/// `split.json`.
pub fn write_split(dir: &Path, store: &WindowStore, folds: &[Fold]) -> Result<()> {
    #[derive(Serialize)]
    struct FoldIds {
        name: String,
        group: String,
        train: Vec<String>,
        test: Vec<String>,
    }
    let folds: Vec<FoldIds> = folds
        .iter()
        .map(|f| FoldIds {
            name: f.name.clone(),
            group: f.group.clone(),
            train: f.train.iter().map(|&t| trial_id(store, t)).collect(),
            test: f.test.iter().map(|&t| trial_id(store, t)).collect(),
        })
        .collect();
    write_json(&dir.join("split.json"), &folds)
}

/// `data.json`.
pub fn write_data(dir: &Path, store: &WindowStore) -> Result<()> {
    #[derive(Serialize)]
    struct Rec<'a> {
        path: String,
        sha256: &'a str,
        subject: &'a str,
        session: &'a str,
        run: &'a str,
        sfreq: f64,
        n_samples: usize,
        n_trials: usize,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        labels: &'a [String],
        channels: &'a [String],
        n_times: usize,
        n_windows: usize,
        recordings: Vec<Rec<'a>>,
    }
    let recordings = store
        .recordings
        .iter()
        .enumerate()
        .map(|(i, r)| Rec {
            path: r.source.path.display().to_string(),
            sha256: &r.sha256,
            subject: &r.source.subject,
            session: &r.source.session,
            run: &r.source.run,
            sfreq: r.sfreq,
            n_samples: r.data.ncols(),
            n_trials: store.trials.iter().filter(|t| t.recording as usize == i).count(),
        })
        .collect();
    write_json(
        &dir.join("data.json"),
        &Data {
            labels: &store.labels,
            channels: &store.recordings[0].channels,
            n_times: store.n_times,
            n_windows: store.windows.len(),
            recordings,
        },
    )
}

/// Learning curves show one line per fold up to this many folds, else one per subject/session.
const MAX_FOLD_CURVES: usize = 10;

/// Mean ± sd of each metric for one decoder over its folds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecoderSummary {
    /// The decoder.
    pub decoder: String,
    /// Number of folds.
    pub n_folds: usize,
    /// Accuracy.
    pub accuracy: MeanSd,
    /// Balanced accuracy.
    pub balanced_accuracy: MeanSd,
    /// Cohen's kappa.
    pub cohen_kappa: MeanSd,
    /// Macro-averaged F1.
    pub f1_macro: MeanSd,
    /// ROC-AUC (two classes).
    pub roc_auc: Option<MeanSd>,
    /// Accuracy per subject (mean ± sd over that subject's folds).
    pub per_subject_accuracy: BTreeMap<String, MeanSd>,
    /// Confusion matrix summed over folds.
    pub confusion: Vec<Vec<u64>>,
}

/// Per-decoder summaries, decoders in the order they first appear.
pub fn summarise(labels: &[String], folds: &[FoldResult]) -> Vec<DecoderSummary> {
    let mut names: Vec<&str> = Vec::new();
    for f in folds {
        if !names.contains(&f.decoder.as_str()) {
            names.push(&f.decoder);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mine: Vec<&FoldResult> = folds.iter().filter(|f| f.decoder == name).collect();
            let pick =
                |g: fn(&Scores) -> f64| mean_sd(&mine.iter().map(|f| g(&f.scores)).collect::<Vec<_>>());
            let aucs: Vec<f64> = mine.iter().filter_map(|f| f.scores.roc_auc).collect();
            let mut by_subject: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for f in &mine {
                for s in &f.test_subjects {
                    by_subject.entry(s.clone()).or_default().push(f.scores.accuracy);
                }
            }
            let k = labels.len();
            let mut confusion = vec![vec![0u64; k]; k];
            for f in &mine {
                for (i, row) in f.confusion.iter().enumerate() {
                    for (j, &c) in row.iter().enumerate() {
                        confusion[i][j] += c;
                    }
                }
            }
            DecoderSummary {
                decoder: name.to_string(),
                n_folds: mine.len(),
                accuracy: pick(|s| s.accuracy),
                balanced_accuracy: pick(|s| s.balanced_accuracy),
                cohen_kappa: pick(|s| s.cohen_kappa),
                f1_macro: pick(|s| s.f1_macro),
                roc_auc: (aucs.len() == mine.len() && !aucs.is_empty()).then(|| mean_sd(&aucs)),
                per_subject_accuracy: by_subject.into_iter().map(|(s, v)| (s, mean_sd(&v))).collect(),
                confusion,
            }
        })
        .collect()
}

/// `12.3 ± 4.5` style, in the metric's own unit.
pub fn fmt_mean_sd(m: &MeanSd) -> String {
    match m.sd {
        Some(sd) => format!("{:.3} ± {:.3}", m.mean, sd),
        None => format!("{:.3}", m.mean),
    }
}

/// metrics.json, the CSVs, the plots and the report.
pub fn write_results(exp: &Experiment, store: &WindowStore, run: &RunSummary) -> Result<()> {
    let dir = &run.dir;
    let summaries = summarise(&run.labels, &run.folds);

    #[derive(Serialize)]
    struct FoldMetrics<'a> {
        decoder: &'a str,
        fold: &'a str,
        group: &'a str,
        test_subjects: &'a [String],
        n_train_trials: usize,
        n_valid_trials: usize,
        n_test_trials: usize,
        scores: &'a Scores,
        confusion: &'a [Vec<u64>],
        best_epoch: usize,
        stopped_early: bool,
        history: &'a [crate::fit::EpochRecord],
    }
    #[derive(Serialize)]
    struct Metrics<'a> {
        experiment: &'a str,
        labels: &'a [String],
        level: &'a str,
        summary: &'a [DecoderSummary],
        folds: Vec<FoldMetrics<'a>>,
    }
    let metrics = Metrics {
        experiment: &exp.name,
        labels: &run.labels,
        level: if exp.evaluation.trial_level {
            "trial"
        } else {
            "window"
        },
        summary: &summaries,
        folds: run
            .folds
            .iter()
            .map(|f| FoldMetrics {
                decoder: &f.decoder,
                fold: &f.fold,
                group: &f.group,
                test_subjects: &f.test_subjects,
                n_train_trials: f.n_train_trials,
                n_valid_trials: f.n_valid_trials,
                n_test_trials: f.n_test_trials,
                scores: &f.scores,
                confusion: &f.confusion,
                best_epoch: f.best_epoch,
                stopped_early: f.stopped_early,
                history: &f.history,
            })
            .collect(),
    };
    write_json(&dir.join("metrics.json"), &metrics)?;

    let num = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    let mut csv = String::from(
        "decoder,fold,group,n_train_trials,n_test_trials,accuracy,balanced_accuracy,cohen_kappa,f1_macro,roc_auc\n",
    );
    let mut timings = String::from("decoder,fold,seconds,epochs\n");
    for f in &run.folds {
        let s = &f.scores;
        csv.push_str(&format!(
            "{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{}\n",
            csv_field(&f.decoder),
            csv_field(&f.fold),
            csv_field(&f.group),
            f.n_train_trials,
            f.n_test_trials,
            s.accuracy,
            s.balanced_accuracy,
            s.cohen_kappa,
            s.f1_macro,
            num(s.roc_auc)
        ));
        timings.push_str(&format!(
            "{},{},{:.3},{}\n",
            csv_field(&f.decoder),
            csv_field(&f.fold),
            f.seconds,
            f.history.len()
        ));
    }
    write_text(&dir.join("metrics.csv"), &csv)?;
    write_text(&dir.join("timings.csv"), &timings)?;
    let mut summary_csv = String::from(
        "decoder,n_folds,accuracy_mean,accuracy_sd,balanced_accuracy_mean,balanced_accuracy_sd,cohen_kappa_mean,cohen_kappa_sd,f1_macro_mean,f1_macro_sd,roc_auc_mean,roc_auc_sd\n",
    );
    for s in &summaries {
        let pair = |m: &MeanSd| format!("{:.6},{}", m.mean, num(m.sd));
        summary_csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            csv_field(&s.decoder),
            s.n_folds,
            pair(&s.accuracy),
            pair(&s.balanced_accuracy),
            pair(&s.cohen_kappa),
            pair(&s.f1_macro),
            s.roc_auc.as_ref().map(pair).unwrap_or_else(|| ",".into())
        ));
    }
    write_text(&dir.join("summary.csv"), &summary_csv)?;

    write_plots_and_report(exp, store, run, &summaries)
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_plots_and_report(
    exp: &Experiment,
    store: &WindowStore,
    run: &RunSummary,
    summaries: &[DecoderSummary],
) -> Result<()> {
    let dir = &run.dir;
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| TrainError::io(&plots, e))?;
    let mut report = Report::new(format!("neurodl run: {}", exp.name));
    report.subtitle(&format!(
        "{} recordings, {}, {} trials, {} windows of {} samples at {} Hz; classes: {}",
        store.recordings.len(),
        {
            let mut s: Vec<&str> = store.trials.iter().map(|t| t.subject.as_str()).collect();
            s.sort();
            s.dedup();
            if s.len() == 1 {
                "1 subject".to_string()
            } else {
                format!("{} subjects", s.len())
            }
        },
        store.trials.len(),
        store.windows.len(),
        store.n_times,
        store.sfreq(),
        run.labels.join(", ")
    ));

    report.section("Results");
    report.paragraph(&format!(
        "Protocol: {}. Scores are computed on {} (mean ± sample sd over folds).",
        protocol_text(exp),
        if exp.evaluation.trial_level {
            "trials (window probabilities averaged per trial)"
        } else {
            "windows"
        }
    ));
    let header: Vec<String> = [
        "decoder",
        "folds",
        "accuracy",
        "balanced acc.",
        "Cohen's κ",
        "macro-F1",
        "ROC-AUC",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            vec![
                s.decoder.clone(),
                s.n_folds.to_string(),
                fmt_mean_sd(&s.accuracy),
                fmt_mean_sd(&s.balanced_accuracy),
                fmt_mean_sd(&s.cohen_kappa),
                fmt_mean_sd(&s.f1_macro),
                s.roc_auc.as_ref().map(fmt_mean_sd).unwrap_or_else(|| "–".into()),
            ]
        })
        .collect();
    report.table("Scores per decoder", &header, &rows);
    let bars: Vec<Bar> = summaries
        .iter()
        .map(|s| Bar {
            label: s.decoder.clone(),
            value: s.accuracy.mean,
            err: s.accuracy.sd,
        })
        .collect();
    let chance = 1.0 / run.labels.len().max(1) as f64;
    let png = bar_chart_png(
        "Accuracy per decoder",
        "accuracy",
        &bars,
        Some((chance, "chance")),
        (800, 450),
    )?;
    write_png(&plots.join("accuracy.png"), &png)?;
    report.image_png(
        "Accuracy per decoder (error bars: sd over folds; dashed: chance level)",
        &png,
    );

    let subjects: Vec<String> = {
        let mut s: Vec<String> = summaries
            .iter()
            .flat_map(|d| d.per_subject_accuracy.keys().cloned())
            .collect();
        s.sort();
        s.dedup();
        s
    };
    if subjects.len() > 1 {
        let mut header = vec!["subject".to_string()];
        header.extend(summaries.iter().map(|s| s.decoder.clone()));
        let rows: Vec<Vec<String>> = subjects
            .iter()
            .map(|subj| {
                let mut row = vec![subj.clone()];
                row.extend(summaries.iter().map(|s| {
                    s.per_subject_accuracy
                        .get(subj)
                        .map(fmt_mean_sd)
                        .unwrap_or_default()
                }));
                row
            })
            .collect();
        report.table("Accuracy per subject", &header, &rows);
    }

    report.section("Confusion matrices (summed over folds)");
    for s in summaries {
        let png = confusion_matrix_png(&s.decoder, &run.labels, &s.confusion, (520, 460))?;
        let slug = s.decoder.to_ascii_lowercase().replace('+', "-");
        write_png(&plots.join(format!("confusion-{slug}.png")), &png)?;
        report.image_png(
            &format!("{}: rows true class, columns predicted", s.decoder),
            &png,
        );
    }

    let trained: Vec<&DecoderSummary> = summaries
        .iter()
        .filter(|s| {
            run.folds
                .iter()
                .any(|f| f.decoder == s.decoder && !f.history.is_empty())
        })
        .collect();
    if !trained.is_empty() {
        report.section("Learning curves");
        for s in trained {
            let folds: Vec<&FoldResult> = run.folds.iter().filter(|f| f.decoder == s.decoder).collect();
            // One line per fold while that stays readable; with more folds, one line per group
            // (subject/session): the mean over its folds at each epoch.
            let per_fold = folds.len() <= MAX_FOLD_CURVES;
            let unit = if per_fold {
                "fold"
            } else {
                "subject/session (mean over its folds)"
            };
            let curves = |label: &str, y: &dyn Fn(&crate::fit::EpochRecord) -> Option<f64>| -> Vec<Curve> {
                let mut groups: Vec<(String, Vec<&FoldResult>)> = Vec::new();
                for f in &folds {
                    let key = if per_fold { f.fold.clone() } else { f.group.clone() };
                    match groups.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, members)) => members.push(f),
                        None => groups.push((key, vec![f])),
                    }
                }
                groups
                    .into_iter()
                    .map(|(key, members)| {
                        let n_epochs = members.iter().map(|f| f.history.len()).max().unwrap_or(0);
                        let mean_at = |e: usize| {
                            let vals: Vec<f64> = members
                                .iter()
                                .filter_map(|f| f.history.get(e).and_then(y))
                                .collect();
                            if vals.is_empty() {
                                f64::NAN
                            } else {
                                vals.iter().sum::<f64>() / vals.len() as f64
                            }
                        };
                        Curve {
                            label: format!("{key} {label}"),
                            x: (1..=n_epochs).map(|e| e as f64).collect(),
                            y: (0..n_epochs).map(mean_at).collect(),
                        }
                    })
                    .collect()
            };
            let has_valid = folds
                .iter()
                .any(|f| f.history.iter().any(|r| r.valid_loss.is_some()));
            let mut loss_curves = curves("train", &|r| Some(r.train_loss));
            if has_valid {
                loss_curves.extend(curves("valid", &|r| r.valid_loss));
            }
            let slug = s.decoder.to_ascii_lowercase();
            let png = line_plot_png(
                &format!("{}: loss per epoch", s.decoder),
                "epoch",
                "cross-entropy",
                &loss_curves,
                (800, 450),
            )?;
            write_png(&plots.join(format!("loss-{slug}.png")), &png)?;
            report.image_png(
                &format!(
                    "{}: training (and validation) loss, one line per {unit}",
                    s.decoder
                ),
                &png,
            );
            let acc_curves = if has_valid {
                curves("valid", &|r| r.valid_accuracy)
            } else {
                curves("train", &|r| Some(r.train_accuracy))
            };
            let png = line_plot_png(
                &format!("{}: accuracy per epoch", s.decoder),
                "epoch",
                "accuracy (windows)",
                &acc_curves,
                (800, 450),
            )?;
            write_png(&plots.join(format!("accuracy-{slug}.png")), &png)?;
            report.image_png(
                &format!("{}: accuracy per epoch, one line per {unit}", s.decoder),
                &png,
            );
        }
    }

    report.section("Folds");
    let header: Vec<String> = [
        "decoder",
        "fold",
        "group",
        "train trials",
        "valid trials",
        "test trials",
        "accuracy",
        "κ",
        "epochs",
        "seconds",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = run
        .folds
        .iter()
        .map(|f| {
            vec![
                f.decoder.clone(),
                f.fold.clone(),
                f.group.clone(),
                f.n_train_trials.to_string(),
                f.n_valid_trials.to_string(),
                f.n_test_trials.to_string(),
                format!("{:.3}", f.scores.accuracy),
                format!("{:.3}", f.scores.cohen_kappa),
                if f.history.is_empty() {
                    "–".into()
                } else {
                    format!("{} (best {})", f.history.len(), f.best_epoch)
                },
                format!("{:.1}", f.seconds),
            ]
        })
        .collect();
    report.table("Every decoder on every fold", &header, &rows);

    report.section("Data");
    let header: Vec<String> = ["file", "subject", "session", "run", "trials", "SHA-256"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = store
        .recordings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                r.source.path.display().to_string(),
                r.source.subject.clone(),
                r.source.session.clone(),
                r.source.run.clone(),
                store
                    .trials
                    .iter()
                    .filter(|t| t.recording as usize == i)
                    .count()
                    .to_string(),
                r.sha256[..16].to_string() + "…",
            ]
        })
        .collect();
    report.table(
        "Recordings (full hashes in data.json; the split by trial in split.json)",
        &header,
        &rows,
    );
    report.preformatted("Experiment (config.toml)", &exp.to_toml_string());
    if let Ok(env) = std::fs::read_to_string(dir.join("environment.json")) {
        report.preformatted("Environment (environment.json)", &env);
    }
    report.write(&dir.join("report.html"))?;
    Ok(())
}

fn protocol_text(exp: &Experiment) -> String {
    use neurodl_eval::Protocol;
    match &exp.evaluation.protocol {
        Protocol::WithinSession { n_folds, shuffle } => format!(
            "within-session {n_folds}-fold cross-validation, stratified by class{}",
            if *shuffle { ", shuffled" } else { "" }
        ),
        Protocol::CrossSession => "cross-session (leave one session out, per subject)".into(),
        Protocol::CrossSubject => "cross-subject (leave one subject out)".into(),
        Protocol::TrainTest { train, test } => {
            format!("train on [{}], test on [{}]", train.join(", "), test.join(", "))
        }
    }
}
