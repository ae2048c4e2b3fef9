//! The experiment file: one TOML document that declares a whole decoding study.
//!
//! ```toml
//! name = "eegmmidb-imagery-fists-feet"
//! seed = 20170801
//!
//! [dataset]
//! files = ["../shared/data/eeg/eegmmidb/S001R06.edf", "../shared/data/eeg/eegmmidb/S001R10.edf"]
//!
//! [events]            # annotation description = class label; classes in the order of the labels' names
//! T1 = "both_fists"
//! T2 = "both_feet"
//!
//! [[preprocessing.step]]
//! op = "pick_types"
//! types = ["eeg"]
//! [[preprocessing.step]]
//! op = "filter"
//! l_freq = 4.0
//! h_freq = 38.0
//!
//! [windows]
//! trial_start_offset_s = 0.0
//! window_size_s = 4.0
//!
//! [[decoder]]
//! model = "ShallowFBCSPNet"
//! [[decoder]]
//! baseline = "csp-lda"
//!
//! [training]
//! epochs = 30
//! batch_size = 16
//! lr = 0.000625
//!
//! [evaluation]
//! protocol = { kind = "within-session", n_folds = 5 }
//! ```
//!
//! Every table rejects unknown keys, and every error names the file, the line and the key:
//! a misspelt `window_size_s` must not silently fall back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurodl_eval::Protocol;
use neurodl_signal::pipeline::Pipeline;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// A whole decoding study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name of the study; names the run folder.
    pub name: String,
    /// Seed of every random choice: folds, shuffling, weight initialisation, dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Where the recordings are.
    pub dataset: DatasetSpec,
    /// Annotation description → class label (`T1 = "left_hand"`). Classes are numbered in
    /// the order of the descriptions' names (TOML tables are unordered).
    pub events: BTreeMap<String, String>,
    /// Steps applied to every recording before windowing.
    #[serde(default, with = "pipeline_table")]
    pub preprocessing: Pipeline,
    /// How trials are cut into windows.
    #[serde(default)]
    pub windows: WindowSpec,
    /// The decoders to evaluate, under the same splits.
    #[serde(rename = "decoder")]
    pub decoders: Vec<DecoderSpec>,
    /// How deep models are trained.
    #[serde(default)]
    pub training: TrainingSpec,
    /// The evaluation protocol.
    #[serde(default)]
    pub evaluation: EvaluationSpec,
}

fn default_seed() -> u64 {
    20170801
}

/// Where the recordings are: explicit files, a glob pattern, or a BIDS root (exactly one).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Recording files (.edf, .bdf, .vhdr, .set), relative to the experiment file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
    /// A glob pattern (`data/sub-*/eeg/*.edf`), relative to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// The root of a BIDS dataset, relative to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bids_root: Option<PathBuf>,
    /// BIDS only: keep these subjects (labels without `sub-`); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// BIDS only: keep this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Files only: subject id for every file (default: the id in the file's header, else the
    /// file name's stem up to its first run marker, e.g. `S001` for `S001R04.edf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Trial windows, in seconds (converted to samples at the preprocessed sampling rate, rounded as
/// braindecode rounds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowSpec {
    /// Shift of each trial's start from its event onset (negative: earlier).
    pub trial_start_offset_s: f64,
    /// Shift of each trial's stop from its event's end.
    pub trial_stop_offset_s: f64,
    /// Window length; the whole trial when absent.
    pub window_size_s: Option<f64>,
    /// Step between windows; the window length when absent.
    pub window_stride_s: Option<f64>,
    /// Drop a trial's tail that a whole stride does not reach, instead of adding a last window
    /// aligned to the trial's end.
    pub drop_last_window: bool,
}

impl Default for WindowSpec {
    fn default() -> Self {
        Self {
            trial_start_offset_s: 0.0,
            trial_stop_offset_s: 0.0,
            window_size_s: None,
            window_stride_s: None,
            drop_last_window: true,
        }
    }
}

/// One decoder: a deep model of the zoo (`model = "ShallowFBCSPNet"`) or a classical baseline
/// (`baseline = "csp-lda"` or `"ts-lr"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSpec {
    /// A model of the zoo, as braindecode spells it (`neurodl models` lists them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A classical baseline: `csp-lda` (MNE CSP, 4 components + LDA) or `ts-lr` (Riemannian
    /// tangent space + logistic regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// The model's hyper-parameters with braindecode's names (`drop_prob = 0.25`,
    /// `F1 = 16`...); absent ones keep braindecode's defaults. Deep models only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<toml::Table>,
}

/// The classical baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// Common spatial patterns (MNE) + linear discriminant analysis (scikit-learn).
    CspLda,
    /// Riemannian tangent space + logistic regression (pyRiemann TS+LR).
    TsLr,
}

/// What a decoder is, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoder {
    /// A deep model of the zoo: its name and hyper-parameters (a JSON object, empty for
    /// braindecode's defaults).
    Model(String, serde_json::Value),
    /// A classical baseline.
    Baseline(Baseline),
}

impl Decoder {
    /// The name shown in tables (`ShallowFBCSPNet`, `CSP+LDA`, `TS+LR`).
    pub fn display_name(&self) -> String {
        match self {
            Decoder::Model(m, _) => m.clone(),
            Decoder::Baseline(Baseline::CspLda) => "CSP+LDA".into(),
            Decoder::Baseline(Baseline::TsLr) => "TS+LR".into(),
        }
    }

    /// A file-name-safe id (`shallowfbcspnet`, `csp-lda`).
    pub fn slug(&self) -> String {
        match self {
            Decoder::Model(m, _) => m.to_ascii_lowercase(),
            Decoder::Baseline(Baseline::CspLda) => "csp-lda".into(),
            Decoder::Baseline(Baseline::TsLr) => "ts-lr".into(),
        }
    }
}

/// Optimisation of the deep models (braindecode's trial-wise decoding tutorial defaults for
/// ShallowFBCSPNet: AdamW, lr 0.0625·0.01, no weight decay, cosine annealing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSpec {
    /// Passes over the training windows.
    pub epochs: usize,
    /// Windows per optimiser step.
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Weight the loss by inverse class frequency of the training windows (PyTorch's
    /// `CrossEntropyLoss(weight=...)` semantics).
    pub class_weighting: bool,
    /// Early stopping on a validation split of the training trials; off when absent.
    pub early_stopping: Option<EarlyStopping>,
}

impl Default for TrainingSpec {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 64,
            lr: 0.0625 * 0.01,
            weight_decay: 0.0,
            schedule: Schedule::Cosine,
            class_weighting: false,
            early_stopping: None,
        }
    }
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The initial rate throughout.
    Constant,
    /// Cosine annealing to zero over the epochs (PyTorch's `CosineAnnealingLR` with
    /// `T_max = epochs - 1`, stepped once per epoch, as braindecode's tutorials do).
    Cosine,
}

/// Early stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// Fraction of the training trials held out for validation (stratified, by trial).
    pub validation_fraction: f64,
    /// Epochs without a lower validation loss before training stops.
    pub patience: usize,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            validation_fraction: 0.2,
            patience: 10,
        }
    }
}

/// The evaluation protocol and how window predictions become trial predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSpec {
    /// MOABB's protocols: `within-session` (k-fold), `cross-session`, `cross-subject`, or
    /// `train-test` with explicit run lists.
    pub protocol: Protocol,
    /// Score trials (mean of their windows' probabilities) rather than windows.
    pub trial_level: bool,
}

impl Default for EvaluationSpec {
    fn default() -> Self {
        Self {
            protocol: Protocol::WithinSession {
                n_folds: 5,
                shuffle: true,
            },
            trial_level: true,
        }
    }
}

mod pipeline_table {
    use neurodl_signal::pipeline::Pipeline;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &Pipeline, s: S) -> Result<S::Ok, S::Error> {
        toml::Table::from(p.clone()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pipeline, D::Error> {
        let table = toml::Table::deserialize(d)?;
        Pipeline::try_from(table).map_err(serde::de::Error::custom)
    }
}

impl Experiment {
    /// Parses an experiment; `source` (the file's path) appears in errors.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Self> {
        let exp: Experiment = toml::from_str(text).map_err(|e| TrainError::Config {
            source_name: source.to_string(),
            message: describe_toml_error(text, &e),
        })?;
        exp.validate().map_err(|message| TrainError::Config {
            source_name: source.to_string(),
            message,
        })?;
        Ok(exp)
    }

    /// Reads an experiment file; relative dataset paths are resolved against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let mut exp = Self::from_toml_str(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        exp.dataset.resolve_relative_to(base);
        Ok(exp)
    }

    /// The experiment as TOML (parses back to an equal experiment): the run record's
    /// `config.toml`.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("an experiment serialises to TOML")
    }

    /// The decoders' display names, in order (`ShallowFBCSPNet`, `CSP+LDA`...).
    pub fn decoders_display_names(&self) -> Vec<String> {
        self.resolved_decoders()
            .iter()
            .map(Decoder::display_name)
            .collect()
    }

    /// The decoders, resolved.
    pub fn resolved_decoders(&self) -> Vec<Decoder> {
        self.decoders
            .iter()
            .map(|d| match (&d.model, d.baseline) {
                (Some(m), _) => Decoder::Model(
                    neurodl_models::canonical_name(m).map_or_else(|_| m.clone(), str::to_string),
                    config_json(d.config.as_ref()),
                ),
                (None, Some(b)) => Decoder::Baseline(b),
                (None, None) => unreachable!("validated: each decoder names a model or a baseline"),
            })
            .collect()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let d = &self.dataset;
        let sources = [!d.files.is_empty(), d.glob.is_some(), d.bids_root.is_some()];
        if sources.iter().filter(|&&s| s).count() != 1 {
            return Err("[dataset] must give exactly one of `files`, `glob` or `bids_root`".into());
        }
        if self.events.is_empty() {
            return Err("[events] must map at least one annotation description to a label".into());
        }
        if self.decoders.is_empty() {
            return Err(
                "at least one [[decoder]] is needed (model = \"ShallowFBCSPNet\" or baseline = \"csp-lda\")"
                    .into(),
            );
        }
        for (i, dec) in self.decoders.iter().enumerate() {
            match (&dec.model, dec.baseline) {
                (Some(_), Some(_)) => {
                    return Err(format!("decoder {}: give `model` or `baseline`, not both", i + 1));
                }
                (None, None) => {
                    return Err(format!(
                        "decoder {}: needs `model` (e.g. \"ShallowFBCSPNet\") or `baseline` (\"csp-lda\", \"ts-lr\")",
                        i + 1
                    ));
                }
                (Some(m), None) => {
                    if neurodl_models::canonical_name(m).is_err() {
                        let known: Vec<&str> = neurodl_models::models().iter().map(|m| m.name).collect();
                        return Err(format!(
                            "decoder {}: unknown model `{m}` (known: {})",
                            i + 1,
                            known.join(", ")
                        ));
                    }
                    if let Err(e) = neurodl_models::check_config(m, &config_json(dec.config.as_ref())) {
                        return Err(format!("decoder {} ({m}) config: {e}", i + 1));
                    }
                }
                (None, Some(_)) => {
                    if dec.config.is_some() {
                        return Err(format!(
                            "decoder {}: `config` sets deep-model hyper-parameters; the baselines take none",
                            i + 1
                        ));
                    }
                }
            }
        }
        let t = &self.training;
        if t.epochs == 0 {
            return Err("[training] epochs must be at least 1".into());
        }
        if t.batch_size == 0 {
            return Err("[training] batch_size must be at least 1".into());
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(format!("[training] lr must be positive, got {}", t.lr));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return Err(format!(
                "[training] weight_decay must be >= 0, got {}",
                t.weight_decay
            ));
        }
        if let Some(es) = &t.early_stopping {
            if !(es.validation_fraction > 0.0 && es.validation_fraction < 1.0) {
                return Err(format!(
                    "[training.early_stopping] validation_fraction must be in (0, 1), got {}",
                    es.validation_fraction
                ));
            }
            if es.patience == 0 {
                return Err("[training.early_stopping] patience must be at least 1".into());
            }
        }
        let w = &self.windows;
        for (key, v) in [
            ("trial_start_offset_s", Some(w.trial_start_offset_s)),
            ("trial_stop_offset_s", Some(w.trial_stop_offset_s)),
            ("window_size_s", w.window_size_s),
            ("window_stride_s", w.window_stride_s),
        ] {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(format!("[windows] {key} must be finite, got {v}"));
            }
        }
        for (key, v) in [
            ("window_size_s", w.window_size_s),
            ("window_stride_s", w.window_stride_s),
        ] {
            if let Some(v) = v
                && v <= 0.0
            {
                return Err(format!("[windows] {key} must be positive, got {v}"));
            }
        }
        Ok(())
    }
}

fn config_json(config: Option<&toml::Table>) -> serde_json::Value {
    config.map_or_else(
        || serde_json::Value::Object(Default::default()),
        |t| serde_json::to_value(t).expect("TOML values convert to JSON"),
    )
}

impl DatasetSpec {
    fn resolve_relative_to(&mut self, base: &Path) {
        let join = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        self.files = self.files.iter().map(|f| join(f)).collect();
        self.bids_root = self.bids_root.as_deref().map(join);
        if let Some(g) = &self.glob
            && !Path::new(g).is_absolute()
        {
            self.glob = Some(base.join(g).to_string_lossy().into_owned());
        }
    }
}

/// toml's message with the line number spelled out first and the offending line quoted, so the
/// user sees file, line and key at a glance.
pub(crate) fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line}: {message} (at `{line_text}`)")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[dataset]
files = ["a.edf"]
[events]
T1 = "left"
T2 = "right"
[[decoder]]
model = "ShallowFBCSPNet"
[[decoder]]
baseline = "ts-lr"
"#;

    #[test]
    fn minimal_experiment_gets_documented_defaults() {
        let e = Experiment::from_toml_str(MINIMAL, "t.toml").unwrap();
        assert_eq!(e.training, TrainingSpec::default());
        assert_eq!(e.seed, default_seed());
        assert_eq!(
            e.resolved_decoders(),
            vec![
                Decoder::Model("ShallowFBCSPNet".into(), serde_json::json!({})),
                Decoder::Baseline(Baseline::TsLr)
            ]
        );
        let again = Experiment::from_toml_str(&e.to_toml_string(), "again").unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace("[events]", "[windows]\nwindow_size = 4.0\n[events]");
        let err = Experiment::from_toml_str(&text, "exp.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exp.toml"), "{err}");
        assert!(err.contains("line 6"), "{err}");
        assert!(err.contains("window_size"), "{err}");
    }

    #[test]
    fn type_error_names_line_and_key() {
        let text = format!("{MINIMAL}\n[training]\nepochs = \"ten\"\n");
        let err = Experiment::from_toml_str(&text, "exp.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 14") && err.contains("epochs"), "{err}");
    }

    #[test]
    fn semantic_errors_are_named() {
        let bad_model = MINIMAL.replace("ShallowFBCSPNet", "ShallowNet");
        let err = Experiment::from_toml_str(&bad_model, "e")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown model `ShallowNet`") && err.contains("EEGNet"),
            "{err}"
        );
        let two_sources = MINIMAL.replace("files = [\"a.edf\"]", "files = [\"a.edf\"]\nglob = \"*.edf\"");
        let err = Experiment::from_toml_str(&two_sources, "e")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one"), "{err}");
        let zero = format!("{MINIMAL}\n[training]\nbatch_size = 0\n");
        assert!(
            Experiment::from_toml_str(&zero, "e")
                .unwrap_err()
                .to_string()
                .contains("batch_size")
        );
        let bad_config = MINIMAL.replace(
            "model = \"ShallowFBCSPNet\"",
            "model = \"EEGNet\"\nconfig = { F1 = 16, dropout = 0.1 }",
        );
        let err = Experiment::from_toml_str(&bad_config, "e")
            .unwrap_err()
            .to_string();
        assert!(err.contains("EEGNet") && err.contains("dropout"), "{err}");
        let good_config = MINIMAL.replace(
            "model = \"ShallowFBCSPNet\"",
            "model = \"eegnetv4\"\nconfig = { F1 = 16, drop_prob = 0.5, final_conv_length = \"auto\" }",
        );
        let e = Experiment::from_toml_str(&good_config, "e").unwrap();
        assert_eq!(
            e.resolved_decoders()[0],
            Decoder::Model(
                "EEGNet".into(),
                serde_json::json!({"F1": 16, "drop_prob": 0.5, "final_conv_length": "auto"})
            )
        );
        let bad_step = format!("{MINIMAL}\n[[preprocessing.step]]\nop = \"filter\"\nl_freqq = 1.0\n");
        let err = Experiment::from_toml_str(&bad_step, "e").unwrap_err().to_string();
        assert!(err.contains("step 1") && err.contains("l_freqq"), "{err}");
    }
}
