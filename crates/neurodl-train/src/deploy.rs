//! A decoder trained on all of an experiment's trials, packaged with what it needs to predict
//! on new recordings: the weights, and a `decoder.json` card with the labels, the channels, the
//! sampling rate, the preprocessing pipeline and the windowing it was trained with. Prediction
//! applies exactly that preprocessing, so a model never sees data prepared differently from its
//! training data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurodl_eval::aggregate_trials;
use neurodl_io::open_recording;
use neurodl_models::{AnyModel, Device, EegModel, SignalShape};
use neurodl_signal::events::{
    EventMapping, FixedWindowParams, WindowRef, create_fixed_length_windows, create_windows_from_events,
    events_from_annotations,
};
use neurodl_signal::pipeline::Pipeline;
use serde::{Deserialize, Serialize};

use crate::data::{WindowStore, discover, window_params};
use crate::error::{Result, TrainError};
use crate::experiment::{Decoder, Experiment, WindowSpec};
use crate::fit::{EpochRecord, FitInput, fit, predict_proba};
use crate::record::{write_json, write_text};
use crate::rng::{derive_seed, name_hash};

/// What a packaged decoder was trained on and how to feed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderCard {
    /// The model (braindecode's name).
    pub model: String,
    /// Its hyper-parameters that differ from braindecode's defaults (braindecode's names).
    #[serde(default)]
    pub model_config: serde_json::Value,
    /// Class labels, in output order.
    pub labels: Vec<String>,
    /// Annotation description → label mapping used for training.
    pub events: BTreeMap<String, String>,
    /// Channels the model expects, in order (after preprocessing).
    pub channels: Vec<String>,
    /// Sampling rate the model expects (after preprocessing).
    pub sfreq: f64,
    /// Samples per window.
    pub n_times: usize,
    /// The preprocessing, as a pipeline TOML document.
    pub preprocessing: String,
    /// The windowing.
    pub windows: WindowSpec,
    /// The training recordings and their SHA-256.
    pub trained_on: Vec<(String, String)>,
    /// Training history.
    pub history: Vec<EpochRecord>,
    /// neurodl version that trained it.
    pub neurodl: String,
}

/// Trains the experiment's first deep-model decoder on all its trials and writes
/// `out_dir/model.safetensors`, `out_dir/decoder.json` and `out_dir/experiment.toml`.
pub fn train_decoder(
    exp: &Experiment,
    out_dir: &Path,
    on_epoch: &(dyn Fn(&EpochRecord) + Sync),
) -> Result<DecoderCard> {
    let (model_name, model_config) = exp
        .resolved_decoders()
        .into_iter()
        .find_map(|d| match d {
            Decoder::Model(m, c) => Some((m, c)),
            Decoder::Baseline(_) => None,
        })
        .ok_or_else(|| {
            TrainError::Dataset(
                "training a decoder for prediction needs a deep model ([[decoder]] model = ...)".into(),
            )
        })?;
    let store = WindowStore::build(exp, discover(&exp.dataset)?)?;
    let all: Vec<usize> = (0..store.windows.len()).collect();
    let seed = derive_seed(exp.seed, &[name_hash(&model_name.to_ascii_lowercase()), u64::MAX]);
    let _rng = crate::fit::lock_backend_rng();
    let device = Device::default().autodiff();
    device.seed(derive_seed(seed, &[0]));
    let signal =
        SignalShape::new(store.n_chans(), store.labels.len(), store.n_times).with_sfreq(store.sfreq());
    std::fs::create_dir_all(out_dir).map_err(|e| TrainError::io(out_dir, e))?;
    let weights = out_dir.join("model.safetensors");
    let input = FitInput {
        store: &store,
        train: &all,
        valid: &[],
        spec: &exp.training,
        seed,
        checkpoint: None,
        on_epoch,
        interrupt_after: None,
    };
    macro_rules! train {
        ($m:expr) => {{
            let fitted = fit($m, &device, input)?;
            fitted.model.save_safetensors(&weights)?;
            fitted.history
        }};
    }
    let history = match AnyModel::with_config(&model_name, &signal, &device, &model_config)? {
        AnyModel::ShallowFBCSPNet(m) => train!(m),
        AnyModel::Deep4Net(m) => train!(m),
        AnyModel::EEGNet(m) => train!(m),
        AnyModel::EEGConformer(m) => train!(m),
        AnyModel::ATCNet(m) => train!(m),
    };
    let card = DecoderCard {
        model: model_name,
        model_config,
        labels: store.labels.clone(),
        events: exp.events.clone(),
        channels: store.recordings[0].channels.clone(),
        sfreq: store.sfreq(),
        n_times: store.n_times,
        preprocessing: exp.preprocessing.to_toml_string(),
        windows: exp.windows.clone(),
        trained_on: store
            .recordings
            .iter()
            .map(|r| (r.source.path.display().to_string(), r.sha256.clone()))
            .collect(),
        history,
        neurodl: env!("CARGO_PKG_VERSION").into(),
    };
    write_json(&out_dir.join("decoder.json"), &card)?;
    write_text(&out_dir.join("experiment.toml"), &exp.to_toml_string())?;
    Ok(card)
}

/// One prediction of [`predict_recording`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Trial index (event windows) or window index (fixed-length windows).
    pub index: usize,
    /// Start of the trial or window, seconds from the recording's first sample.
    pub onset_s: f64,
    /// The annotation's label, when the recording has the training events.
    pub true_label: Option<String>,
    /// The predicted label.
    pub predicted: String,
    /// Class probabilities, in the card's label order.
    pub proba: Vec<f64>,
}

/// Reads a packaged decoder's card.
pub fn read_card(model_dir: &Path) -> Result<DecoderCard> {
    let path = model_dir.join("decoder.json");
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path,
        message: format!("decoder.json: {e}"),
    })
}

/// Predicts on a recording with a decoder packaged by [`train_decoder`]: the card's
/// preprocessing is applied, then trials are cut around the training events when the recording
/// has them (one prediction per trial, window probabilities averaged), else the whole recording
/// is cut into consecutive windows (one prediction per window).
pub fn predict_recording(model_dir: &Path, path: &Path) -> Result<Vec<Prediction>> {
    let card = read_card(model_dir)?;
    let pipeline = Pipeline::from_toml_str(
        &card.preprocessing,
        &model_dir.join("decoder.json").display().to_string(),
    )
    .map_err(|e| TrainError::Signal {
        path: model_dir.to_path_buf(),
        error: e,
    })?;
    let sig = |e| TrainError::Signal {
        path: path.to_path_buf(),
        error: e,
    };
    let rec = pipeline
        .read_and_apply(open_recording(path)?.as_mut())
        .map_err(sig)?;
    let names: Vec<String> = rec.info.channels.iter().map(|c| c.name.clone()).collect();
    if names != card.channels {
        let missing: Vec<&String> = card.channels.iter().filter(|c| !names.contains(c)).collect();
        return Err(TrainError::Dataset(format!(
            "{}: after preprocessing the channels differ from the {} the decoder was trained with{}",
            path.display(),
            card.channels.len(),
            if missing.is_empty() {
                " (same names, other order or extra channels)".to_string()
            } else {
                format!(
                    "; missing: {}",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            }
        )));
    }
    if rec.info.sfreq != card.sfreq {
        return Err(TrainError::Dataset(format!(
            "{}: sampled at {} Hz after preprocessing, the decoder expects {} Hz",
            path.display(),
            rec.info.sfreq,
            card.sfreq
        )));
    }
    let mapping = EventMapping::new(card.events.iter().map(|(d, l)| (d.clone(), l.clone())));
    let has_events = mapping
        .entries
        .iter()
        .all(|(d, _)| rec.info.annotations.iter().any(|a| &a.description == d));
    let windows: Vec<WindowRef> = if has_events {
        let events = events_from_annotations(&rec.info, &mapping).map_err(sig)?;
        // The training windowing, with the window length the model was built for.
        let params = neurodl_signal::events::EventWindowParams {
            window_size_samples: Some(card.n_times),
            ..window_params(&card.windows, rec.info.sfreq)?
        };
        create_windows_from_events(&events, rec.data.ncols(), 0, &params).map_err(sig)?
    } else {
        create_fixed_length_windows(
            rec.data.ncols(),
            0,
            &FixedWindowParams {
                start_offset_samples: 0,
                stop_samples: None,
                window_size_samples: Some(card.n_times),
                window_stride_samples: Some(card.n_times),
                drop_last_window: true,
                label: None,
            },
        )
        .map_err(sig)?
    };
    if windows.is_empty() {
        return Err(TrainError::Dataset(format!(
            "{}: shorter than one {}-sample window",
            path.display(),
            card.n_times
        )));
    }
    let device = Device::default();
    let signal =
        SignalShape::new(card.channels.len(), card.labels.len(), card.n_times).with_sfreq(card.sfreq);
    let store = WindowStore::single(rec, windows.clone(), card.labels.clone(), card.n_times);
    let all: Vec<usize> = (0..windows.len()).collect();
    let weights: PathBuf = model_dir.join("model.safetensors");
    let config = match &card.model_config {
        serde_json::Value::Null => serde_json::json!({}),
        other => other.clone(),
    };
    let proba =
        match AnyModel::with_config(&card.model, &signal, &device, &config)?.load_safetensors(&weights)? {
            AnyModel::ShallowFBCSPNet(m) => predict_proba(&m, &store, &all, 64)?,
            AnyModel::Deep4Net(m) => predict_proba(&m, &store, &all, 64)?,
            AnyModel::EEGNet(m) => predict_proba(&m, &store, &all, 64)?,
            AnyModel::EEGConformer(m) => predict_proba(&m, &store, &all, 64)?,
            AnyModel::ATCNet(m) => predict_proba(&m, &store, &all, 64)?,
        };
    let sfreq = card.sfreq;
    let mut out: Vec<Prediction> = Vec::new();
    if has_events {
        let trial_of_window: Vec<u32> = windows.iter().map(|w| w.trial).collect();
        let classes: Vec<usize> = windows.iter().map(|w| w.label as usize).collect();
        let (trials, trial_classes, trial_proba) = aggregate_trials(&trial_of_window, &classes, &proba)?;
        for ((trial, class), proba) in trials.into_iter().zip(trial_classes).zip(trial_proba) {
            // Windows come in time order, so a trial's first window starts it.
            let start = windows.iter().find(|w| w.trial == trial).map_or(0, |w| w.start);
            out.push(Prediction {
                index: trial as usize,
                onset_s: start as f64 / sfreq,
                true_label: card.labels.get(class).cloned(),
                predicted: card.labels[argmax(&proba)].clone(),
                proba,
            });
        }
    } else {
        for (i, (w, p)) in windows.iter().zip(proba).enumerate() {
            out.push(Prediction {
                index: i,
                onset_s: w.start as f64 / sfreq,
                true_label: None,
                predicted: card.labels[argmax(&p)].clone(),
                proba: p,
            });
        }
    }
    Ok(out)
}

fn argmax(p: &[f64]) -> usize {
    (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0)
}
