//! A two-class motor-imagery EEG simulator: realistic enough to train and test
//! decoders on, deterministic from a seed, and free of any data licence.
//!
//! It is what `neurodl demo` trains on and what tests and scale benchmarks use
//! when no real recording is at hand. Each recording ("run") holds trials of
//! imagined left- or right-hand movement: a cue at `t = 0`, four seconds of
//! imagery, then a random 2–3 s rest. The class shows, as in real data, only
//! as an *event-related desynchronisation* (ERD) of the sensorimotor mu
//! (8–13 Hz) and beta (15–30 Hz) rhythms over the hemisphere opposite the hand
//! (right hand → C3, left hand → C4), buried in background activity and
//! artefacts.
//!
//! # Signal model
//! Everything is simulated on an idealised spherical head of radius
//! [`HEAD_RADIUS_M`]; electrode positions follow the 10-10 system
//! ([`electrode_position`]). Every channel's sample is the sum of:
//!
//! * **Background**: 1/f^χ ("pink") activity, χ (the subject's
//!   [`SubjectProfile::aperiodic_exponent`]) between 1 and 2. White noise from
//!   40 cortical sources spread evenly over the head is mixed to the electrodes
//!   with Gaussian weights of the scalp distance (σ = 3 cm, rows normalised),
//!   plus 20 % of independent noise per electrode, then shaped by a cascade of
//!   first-order pole–zero sections spaced two per octave from 0.5 Hz up
//!   (flat below), whose average slope is −χ in power. Neighbouring channels
//!   therefore correlate (about 0.55 within 4.5 cm, 0.3 at 4.5–8 cm, none
//!   beyond 11 cm), as volume conduction makes them in real EEG.
//! * **Rhythms**: band-limited noise (white noise through two band-pass
//!   biquads, so the amplitude waxes and wanes) at six sources: mu and beta
//!   under C3 and under C4 (positions jittered per subject by up to 8 mm) and
//!   posterior alpha under PO3 and PO4, each spread with σ = 3 cm. Amplitudes
//!   are set by a signal-to-background power ratio in their band, so the
//!   difficulty of a subject does not depend on its noise spectrum, and each
//!   source's amplitude also fluctuates slowly (log-normal, 0.2 Hz corner,
//!   [`SubjectProfile::rhythm_variability`]), as real rhythms do over seconds:
//!   this, more than the noise, makes single trials hard to classify.
//! * **Task**: during imagery the contralateral mu amplitude drops by the
//!   subject's [`SubjectProfile::erd_depth`] (20–50 %, varying ±30 % from trial
//!   to trial) and beta by 80 % of that; the ipsilateral side rises by
//!   [`SubjectProfile::ers_gain`] when [`MotorImageryConfig::ipsilateral_ers`]
//!   is on. Both start after a subject-specific latency and ramp with a raised
//!   cosine over 0.5 s, and ramp back over 0.5 s after the imagery. In a
//!   fraction [`SubjectProfile::lapse_rate`] of trials nothing happens.
//! * **Artefacts** ([`ArtifactConfig`]): eye blinks (a 0.3 s bump of 80–200 µV
//!   on the vertical EOG, decaying exponentially with distance from the eyes
//!   over the scalp, so Fz sees about an eighth of it); horizontal saccades
//!   (antiphase steps on the left/right EOG); EMG bursts (high-passed noise
//!   above 30 Hz, 10–40 µV, on the lateral channels of one or both sides);
//!   slow electrode drift (per channel, 5–20 µV, 1/f² above a 0.005–0.03 Hz
//!   corner);
//!   power-line noise at 50 or 60 Hz (1–8 µV) with a weaker third harmonic (both
//!   omitted above 0.45 × the sampling rate, where an amplifier's
//!   anti-aliasing filter would remove them); white amplifier noise.
//!
//! Amplitudes are realistic: background 8–15 µV RMS, a few µV of mu and beta,
//! total RMS per channel 10–30 µV outside blinks and bursts.
//!
//! # Subjects, sessions and runs
//! A subject's parameters ([`SubjectProfile`]) are drawn from the seed and the
//! subject index only, so some subjects are much easier to decode than
//! others, and adding subjects never changes the existing ones. A session
//! redraws noise levels and electrode contacts (±15 %); a run redraws
//! everything random in time (trial order, rests, noise, artefacts).
//!
//! # Determinism
//! Same configuration and seed → bit-identical samples on every machine and
//! build: random numbers come from ChaCha8 (`rand_chacha` 0.9) keyed by the
//! seed (expanded with SplitMix64), one independent stream per component
//! (background, rhythms, trial timing, each artefact kind) and per
//! subject/session/run; uniforms use the top 53 bits of each word, normals the
//! Marsaglia polar method; transcendental functions come from the pure-Rust
//! `libm` crate (not the platform's maths library), and all other arithmetic
//! is plain IEEE-754 in a fixed order (no FFT, no BLAS, no threads within a
//! run; [`write_bids`] runs whole recordings in parallel). Because
//! each component has its own stream, switching an artefact off leaves every
//! other component sample-for-sample the same.
//!
//! # What it is not
//! It is not a forward model of a real head (no boundary-element model, no
//! reference electrode: potentials are as if referenced at infinity), and it
//! has no evoked potentials, no slow cortical potentials, no class
//! information outside the mu/beta amplitude, and no non-stationarity beyond
//! sessions. Decoders that do well on it are not thereby proven on real EEG;
//! decoders that fail on it have a bug.
//!
//! ```
//! use neurodl_signal::simulate::{MotorImageryConfig, simulate_run};
//!
//! let cfg = MotorImageryConfig { trials_per_class_per_run: 2, ..MotorImageryConfig::default() };
//! let rec = simulate_run(&cfg, 0, 0, 0)?;
//! assert_eq!(rec.info.channels.len(), 25); // 22 EEG + 3 EOG
//! assert_eq!(rec.info.annotations.len(), 4);
//! # Ok::<(), neurodl_signal::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use neurodl_io::bids::BidsEntities;
use neurodl_io::bids_write::{BidsSummary, BidsWriteOptions, BidsWriter, EegSidecar};
use neurodl_io::{Annotation, ChannelInfo, ChannelType, Format, Recording, RecordingInfo, SubjectInfo};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// The 22 EEG channels of BCI Competition IV dataset 2a, in its order.
pub const BCI_IV_2A_CHANNELS: [&str; 22] = [
    "Fz", "FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "CP3", "CP1", "CPz",
    "CP2", "CP4", "P1", "Pz", "P2", "POz",
];

/// Names of the three EOG channels (as in BCI Competition IV 2a).
pub const EOG_CHANNELS: [&str; 3] = ["EOG-left", "EOG-central", "EOG-right"];

/// Radius of the idealised spherical head, in metres (MNE's default sphere).
pub const HEAD_RADIUS_M: f64 = 0.095;

/// Annotation description of a left-hand imagery trial.
pub const LEFT_HAND: &str = "left_hand";

/// Annotation description of a right-hand imagery trial.
pub const RIGHT_HAND: &str = "right_hand";

/// The BIDS task label of simulated recordings unless configured otherwise.
pub const DEFAULT_TASK: &str = "motorimagery";

/// Which artefacts and noise sources are simulated, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactConfig {
    /// Eye blinks per minute (random times at least 0.6 s apart; people blink 10–20 times a
    /// minute). 0 for none.
    pub blinks_per_minute: f64,
    /// Horizontal saccades (look aside, hold 0.3–1.5 s, look back) per minute, at least 1.7 s
    /// apart. 0 for none.
    pub saccades_per_minute: f64,
    /// Bursts of muscle activity (jaw clench, swallowing; 0.3–1.2 s) per minute, at least
    /// 1.5 s apart. 0 for none.
    pub emg_bursts_per_minute: f64,
    /// Slow electrode drift on every channel.
    pub drift: bool,
    /// Power-line interference at [`MotorImageryConfig::line_freq`] and its third harmonic.
    pub line_noise: bool,
    /// White amplifier noise (0.5–1.5 µV RMS at 250 Hz).
    pub sensor_noise: bool,
}

impl Default for ArtifactConfig {
    /// Typical artefact load of a cooperative subject: 12 blinks, 4 saccades and
    /// 1.5 EMG bursts a minute, drift, line and sensor noise.
    fn default() -> Self {
        ArtifactConfig {
            blinks_per_minute: 12.0,
            saccades_per_minute: 4.0,
            emg_bursts_per_minute: 1.5,
            drift: true,
            line_noise: true,
            sensor_noise: true,
        }
    }
}

impl ArtifactConfig {
    /// No artefacts and no sensor noise: brain activity only.
    pub fn none() -> Self {
        ArtifactConfig {
            blinks_per_minute: 0.0,
            saccades_per_minute: 0.0,
            emg_bursts_per_minute: 0.0,
            drift: false,
            line_noise: false,
            sensor_noise: false,
        }
    }
}

/// What to simulate: dataset size, timing, montage, artefacts and the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct MotorImageryConfig {
    /// Number of subjects (1–9999); labels are `01`, `02`… (zero-padded to the width of the count).
    pub n_subjects: usize,
    /// Sessions per subject (1–99). With one session no `ses-` entity is used.
    pub n_sessions: usize,
    /// Runs (recordings) per session (1–99). With one run no `run-` entity is used.
    pub n_runs: usize,
    /// Trials of each class in each run (1–10000); the order within a run is shuffled.
    pub trials_per_class_per_run: usize,
    /// Sampling rate in Hz (80–10000).
    pub sfreq: f64,
    /// Power-line frequency in Hz: 50 or 60.
    pub line_freq: f64,
    /// Add the three EOG channels of [`EOG_CHANNELS`] after the EEG channels.
    pub with_eog: bool,
    /// Seed of every random draw.
    pub seed: u64,
    /// EEG channel labels, from the 10-10 system ([`electrode_position`] must know them).
    pub eeg_channels: Vec<String>,
    /// Seconds of imagery after each cue (the annotation's duration), 1–30.
    pub imagery_s: f64,
    /// Rest after each imagery period, drawn uniformly from `[min, max]` seconds (0–60).
    pub iti_s: [f64; 2],
    /// Seconds of rest before the first cue (0–600).
    pub lead_in_s: f64,
    /// Raise the ipsilateral mu/beta amplitude during imagery (event-related synchronisation).
    pub ipsilateral_ers: bool,
    /// Artefacts and noise.
    pub artifacts: ArtifactConfig,
    /// BIDS task label (letters and digits).
    pub task: String,
}

impl Default for MotorImageryConfig {
    /// One subject, one session, one run of 24 trials per class at 250 Hz, 22 EEG
    /// channels of BCI IV 2a plus 3 EOG, 50 Hz mains, 4 s imagery, 2–3 s rests,
    /// 2 s lead-in, ipsilateral ERS, default artefacts, seed 0.
    fn default() -> Self {
        MotorImageryConfig {
            n_subjects: 1,
            n_sessions: 1,
            n_runs: 1,
            trials_per_class_per_run: 24,
            sfreq: 250.0,
            line_freq: 50.0,
            with_eog: true,
            seed: 0,
            eeg_channels: BCI_IV_2A_CHANNELS.iter().map(|s| s.to_string()).collect(),
            imagery_s: 4.0,
            iti_s: [2.0, 3.0],
            lead_in_s: 2.0,
            ipsilateral_ers: true,
            artifacts: ArtifactConfig::default(),
            task: DEFAULT_TASK.to_string(),
        }
    }
}

/// Indices of one recording in a simulated dataset (all 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId {
    /// Subject index (`0..n_subjects`).
    pub subject: usize,
    /// Session index (`0..n_sessions`).
    pub session: usize,
    /// Run index (`0..n_runs`).
    pub run: usize,
}

/// The parameters that make one simulated subject different from another.
///
/// Drawn from the seed and the subject index; [`MotorImageryConfig::subject_profile`]
/// returns them, e.g. to relate a decoder's accuracy to the subject's ERD.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectProfile {
    /// Exponent χ of the 1/f^χ background power spectrum (1–2).
    pub aperiodic_exponent: f64,
    /// RMS of the background activity at every electrode, in µV (8–15).
    pub background_rms_uv: f64,
    /// Peak frequency of the sensorimotor mu rhythm, Hz (9–12.5).
    pub mu_freq_hz: f64,
    /// Bandwidth of the mu rhythm, Hz (1.5–3).
    pub mu_bandwidth_hz: f64,
    /// Mu power over its source electrode divided by the background power in 8–13 Hz there (1–6).
    pub mu_snr: f64,
    /// Peak frequency of the sensorimotor beta rhythm, Hz (18–24).
    pub beta_freq_hz: f64,
    /// Beta power over its source divided by the background power in 15–30 Hz (0.5–2).
    pub beta_snr: f64,
    /// Peak frequency of the posterior alpha rhythm, Hz (9.5–11.5).
    pub alpha_freq_hz: f64,
    /// Alpha power over PO3/PO4 divided by the background power in 8–13 Hz (2–10).
    pub alpha_snr: f64,
    /// Fraction by which imagery lowers the contralateral mu amplitude (0.2–0.5); beta drops by 0.8 × this.
    pub erd_depth: f64,
    /// Fraction by which imagery raises the ipsilateral mu/beta amplitude (0.05–0.15), when enabled.
    pub ers_gain: f64,
    /// Seconds from the cue to the start of the ERD ramp (0.2–0.5).
    pub erd_latency_s: f64,
    /// Fraction of trials in which the subject's attention lapses: no ERD or ERS at all (0–0.25).
    pub lapse_rate: f64,
    /// Standard deviation of the slow (≈0.2 Hz) random fluctuation of each rhythm's log
    /// amplitude, independent per source (0.2–0.6): the waxing and waning of real rhythms
    /// over seconds, which makes single trials much noisier than the average ERD suggests.
    pub rhythm_variability: f64,
}

/// One simulated recording with its place in the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedRun {
    /// Its indices.
    pub id: RunId,
    /// Its BIDS entities (subject, session, task, run labels).
    pub entities: BidsEntities,
    /// The recording: EEG (and EOG) in volts, annotations for every trial.
    pub recording: Recording,
}

/// The recordings of a simulated dataset, produced lazily one run at a time
/// (subject-major, then session, then run).
#[derive(Debug, Clone)]
pub struct SimulatedDataset {
    cfg: MotorImageryConfig,
    ids: Vec<RunId>,
    next: usize,
}

impl Iterator for SimulatedDataset {
    type Item = SimulatedRun;

    fn next(&mut self) -> Option<SimulatedRun> {
        let id = *self.ids.get(self.next)?;
        self.next += 1;
        // The configuration was validated when the dataset was created, and ids are in range.
        let recording = simulate_validated(&self.cfg, id);
        Some(SimulatedRun {
            id,
            entities: self.cfg.entities(id),
            recording,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.ids.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for SimulatedDataset {}

/// Checks `cfg` and returns an iterator over all its recordings.
pub fn simulate_dataset(cfg: &MotorImageryConfig) -> Result<SimulatedDataset> {
    cfg.validate()?;
    Ok(SimulatedDataset {
        cfg: cfg.clone(),
        ids: cfg.run_ids(),
        next: 0,
    })
}

/// Simulates one recording: run `run` of session `session` of subject `subject` (0-based).
///
/// The result depends only on the seed, these indices and the signal parameters
/// of `cfg` (not on `n_subjects`, `n_sessions` or `n_runs` beyond the range check).
pub fn simulate_run(
    cfg: &MotorImageryConfig,
    subject: usize,
    session: usize,
    run: usize,
) -> Result<Recording> {
    cfg.validate()?;
    for (param, value, count) in [
        ("subject", subject, cfg.n_subjects),
        ("session", session, cfg.n_sessions),
        ("run", run, cfg.n_runs),
    ] {
        if value >= count {
            return Err(Error::param(
                param,
                value,
                format!("must be below the configured count ({count}; indices are 0-based)"),
            ));
        }
    }
    Ok(simulate_validated(
        cfg,
        RunId {
            subject,
            session,
            run,
        },
    ))
}

/// Simulates the whole dataset of `cfg` and writes it as BIDS-EEG (EDF+) under `root`,
/// recordings in parallel; see [`neurodl_io::bids_write`] for the layout and for what
/// `overwrite` may replace.
///
/// Besides the recordings it writes `participants.tsv` with each subject's
/// [`SubjectProfile`] as `sim_*` columns (the ground truth of how decodable the subject
/// is), a README with the configuration, and `value` codes 1 = `left_hand`,
/// 2 = `right_hand` in the events files. The `_eeg.json` sidecars say `EEGReference`
/// "n/a" (the model is reference-free) and give the line frequency.
pub fn write_bids(cfg: &MotorImageryConfig, root: &Path, overwrite: bool) -> Result<BidsSummary> {
    cfg.validate()?;
    let mut options = BidsWriteOptions::new(format!("neurodl simulated motor imagery (seed {})", cfg.seed));
    options.overwrite = overwrite;
    // BIDS asks for authors (DOI registration); a simulation's author is its generator.
    options.authors = vec!["neurodl simulator (no human participants)".into()];
    options.generated_by_description =
        Some("neurodl_signal::simulate: two-class motor-imagery EEG simulator".into());
    options.readme = Some(readme(cfg));
    options.event_values = BTreeMap::from([(LEFT_HAND.to_string(), 1), (RIGHT_HAND.to_string(), 2)]);
    options.participant_columns = PROFILE_COLUMNS
        .iter()
        .map(|(name, description)| (name.to_string(), description.to_string()))
        .collect();
    let writer = BidsWriter::create(root, options)?;
    for subject in 0..cfg.n_subjects {
        let p = cfg.subject_profile(subject);
        let values = [
            p.aperiodic_exponent,
            p.background_rms_uv,
            p.mu_freq_hz,
            p.mu_snr,
            p.beta_freq_hz,
            p.alpha_freq_hz,
            p.erd_depth,
            p.ers_gain,
            p.lapse_rate,
            p.rhythm_variability,
        ];
        let columns = PROFILE_COLUMNS
            .iter()
            .zip(values)
            .map(|((name, _), v)| (name.to_string(), format!("{v:.3}")))
            .collect();
        writer.set_participant(&cfg.subject_label(subject), columns)?;
    }
    let mut sidecar = EegSidecar::new("n/a", Some(cfg.line_freq));
    sidecar.task_name = Some("motor imagery".into());
    for (key, value) in [
        (
            "TaskDescription",
            "Cued imagery of left- or right-hand movement: cue at the event onset, imagery for its duration, then rest",
        ),
        ("Instructions", "Simulated: no participant was instructed"),
        ("Manufacturer", "neurodl (simulated)"),
        ("EEGPlacementScheme", "10-10 (idealised spherical positions)"),
        ("EEGGround", "n/a"),
        ("CapManufacturer", "n/a"),
    ] {
        sidecar.extra.insert(key.into(), value.into());
    }
    cfg.run_ids().par_iter().try_for_each(|&id| -> Result<()> {
        let recording = simulate_validated(cfg, id);
        writer.write_recording(&cfg.entities(id), &recording, &sidecar)?;
        Ok(())
    })?;
    Ok(writer.finish()?)
}

/// `participants.tsv` columns of the subject profile, with their descriptions.
const PROFILE_COLUMNS: [(&str, &str); 10] = [
    (
        "sim_aperiodic_exponent",
        "Exponent of the simulated 1/f background power spectrum",
    ),
    (
        "sim_background_rms_uv",
        "RMS of the simulated background activity, microvolts",
    ),
    (
        "sim_mu_freq_hz",
        "Peak frequency of the simulated sensorimotor mu rhythm, Hz",
    ),
    (
        "sim_mu_snr",
        "Mu power over C3/C4 relative to the background power in 8-13 Hz",
    ),
    (
        "sim_beta_freq_hz",
        "Peak frequency of the simulated sensorimotor beta rhythm, Hz",
    ),
    (
        "sim_alpha_freq_hz",
        "Peak frequency of the simulated posterior alpha rhythm, Hz",
    ),
    (
        "sim_erd_depth",
        "Fraction by which imagery lowers the contralateral mu amplitude",
    ),
    (
        "sim_ers_gain",
        "Fraction by which imagery raises the ipsilateral mu amplitude",
    ),
    (
        "sim_lapse_rate",
        "Fraction of trials without any imagery-related modulation",
    ),
    (
        "sim_rhythm_variability",
        "Standard deviation of the slow log-amplitude fluctuation of the rhythms",
    ),
];

fn readme(cfg: &MotorImageryConfig) -> String {
    let a = &cfg.artifacts;
    format!(
        "Simulated two-class motor-imagery EEG, written by neurodl (neurodl_signal::simulate).\n\n\
         No person was recorded. Each run holds cued trials of imagined left- or right-hand movement\n\
         (events left_hand / right_hand, onset at the cue, duration = imagery). The class shows as a\n\
         desynchronisation of the mu (8-13 Hz) and beta rhythms over the contralateral sensorimotor\n\
         cortex (right hand: C3, left hand: C4). participants.tsv gives each subject's simulation\n\
         parameters (sim_* columns).\n\n\
         Configuration: seed {seed}; {subjects} subject(s), {sessions} session(s), {runs} run(s) per session,\n\
         {trials} trials per class per run; {sfreq} Hz; {n_eeg} EEG channels ({channels}){eog};\n\
         imagery {imagery} s, rest {iti_lo}-{iti_hi} s, lead-in {lead} s; ipsilateral ERS {ers};\n\
         line noise {line} ({line_freq} Hz); blinks {blinks}/min, saccades {saccades}/min, EMG bursts {emg}/min,\n\
         drift {drift}, sensor noise {sensor}.\n\n\
         The same configuration and seed reproduce these files bit for bit.\n",
        seed = cfg.seed,
        subjects = cfg.n_subjects,
        sessions = cfg.n_sessions,
        runs = cfg.n_runs,
        trials = cfg.trials_per_class_per_run,
        sfreq = cfg.sfreq,
        n_eeg = cfg.eeg_channels.len(),
        channels = cfg.eeg_channels.join(" "),
        eog = if cfg.with_eog { " + 3 EOG" } else { "" },
        imagery = cfg.imagery_s,
        iti_lo = cfg.iti_s[0],
        iti_hi = cfg.iti_s[1],
        lead = cfg.lead_in_s,
        ers = if cfg.ipsilateral_ers { "on" } else { "off" },
        line = if a.line_noise { "on" } else { "off" },
        line_freq = cfg.line_freq,
        blinks = a.blinks_per_minute,
        saccades = a.saccades_per_minute,
        emg = a.emg_bursts_per_minute,
        drift = if a.drift { "on" } else { "off" },
        sensor = if a.sensor_noise { "on" } else { "off" },
    )
}

/// Most values (channels × samples) one run may hold: 2 GiB of samples.
const MAX_RUN_VALUES: f64 = (1u64 << 28) as f64;

impl MotorImageryConfig {
    /// Checks every field; the error names the field, the value and the valid range.
    pub fn validate(&self) -> Result<()> {
        let count = |param: &str, value: usize, max: usize| -> Result<()> {
            if value == 0 || value > max {
                return Err(Error::param(param, value, format!("must be between 1 and {max}")));
            }
            Ok(())
        };
        count("n_subjects", self.n_subjects, 9999)?;
        count("n_sessions", self.n_sessions, 99)?;
        count("n_runs", self.n_runs, 99)?;
        count("trials_per_class_per_run", self.trials_per_class_per_run, 10_000)?;
        if !self.sfreq.is_finite() || !(80.0..=10_000.0).contains(&self.sfreq) {
            return Err(Error::param(
                "sfreq",
                self.sfreq,
                "must be between 80 Hz (beta reaches 30 Hz) and 10000 Hz",
            ));
        }
        if self.line_freq != 50.0 && self.line_freq != 60.0 {
            return Err(Error::param("line_freq", self.line_freq, "must be 50 or 60 (Hz)"));
        }
        if !self.imagery_s.is_finite() || !(1.0..=30.0).contains(&self.imagery_s) {
            return Err(Error::param(
                "imagery_s",
                self.imagery_s,
                "must be between 1 and 30 seconds",
            ));
        }
        let [lo, hi] = self.iti_s;
        if !lo.is_finite() || !hi.is_finite() || lo < 0.0 || hi < lo || hi > 60.0 {
            return Err(Error::param(
                "iti_s",
                format!("[{lo}, {hi}]"),
                "must be [min, max] seconds with 0 <= min <= max <= 60",
            ));
        }
        if !self.lead_in_s.is_finite() || !(0.0..=600.0).contains(&self.lead_in_s) {
            return Err(Error::param(
                "lead_in_s",
                self.lead_in_s,
                "must be between 0 and 600 seconds",
            ));
        }
        for (param, rate) in [
            ("artifacts.blinks_per_minute", self.artifacts.blinks_per_minute),
            (
                "artifacts.saccades_per_minute",
                self.artifacts.saccades_per_minute,
            ),
            (
                "artifacts.emg_bursts_per_minute",
                self.artifacts.emg_bursts_per_minute,
            ),
        ] {
            if !rate.is_finite() || !(0.0..=120.0).contains(&rate) {
                return Err(Error::param(param, rate, "must be between 0 and 120 per minute"));
            }
        }
        if self.task.is_empty() || !self.task.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::param(
                "task",
                format!("{:?}", self.task),
                "a BIDS task label must be non-empty letters and digits",
            ));
        }
        if self.eeg_channels.is_empty() {
            return Err(Error::param(
                "eeg_channels",
                "[]",
                "needs at least one EEG channel",
            ));
        }
        for (i, name) in self.eeg_channels.iter().enumerate() {
            if electrode_position(name).is_none() {
                return Err(Error::param(
                    "eeg_channels",
                    name,
                    "is not a 10-10 electrode label this simulator places (e.g. Fz, FC3, C4, CPz, PO7, T8, Oz)",
                ));
            }
            if self.eeg_channels[..i].contains(name)
                || (self.with_eog && EOG_CHANNELS.contains(&name.as_str()))
            {
                return Err(Error::param("eeg_channels", name, "appears twice"));
            }
        }
        let longest_run_s =
            self.lead_in_s + 2.0 * self.trials_per_class_per_run as f64 * (self.imagery_s + self.iti_s[1]);
        let values = (longest_run_s * self.sfreq).ceil() * self.n_channels() as f64;
        if values > MAX_RUN_VALUES {
            return Err(Error::param(
                "trials_per_class_per_run",
                self.trials_per_class_per_run,
                format!(
                    "a run of up to {longest_run_s:.0} s at {} Hz on {} channels would hold {values:.3e} samples \
                     (at most {MAX_RUN_VALUES:.3e}); use more runs with fewer trials",
                    self.sfreq,
                    self.n_channels()
                ),
            ));
        }
        Ok(())
    }

    /// Channels per recording (EEG plus EOG when enabled).
    pub fn n_channels(&self) -> usize {
        self.eeg_channels.len() + if self.with_eog { EOG_CHANNELS.len() } else { 0 }
    }

    /// Number of recordings in the dataset.
    pub fn n_recordings(&self) -> usize {
        self.n_subjects * self.n_sessions * self.n_runs
    }

    /// Every recording's indices, subject-major.
    pub fn run_ids(&self) -> Vec<RunId> {
        let mut ids = Vec::with_capacity(self.n_recordings());
        for subject in 0..self.n_subjects {
            for session in 0..self.n_sessions {
                for run in 0..self.n_runs {
                    ids.push(RunId {
                        subject,
                        session,
                        run,
                    });
                }
            }
        }
        ids
    }

    /// The BIDS label of subject index `subject`: `01`, `02`… (wider when there are 100 or more).
    pub fn subject_label(&self, subject: usize) -> String {
        let width = self.n_subjects.to_string().len().max(2);
        format!("{:0width$}", subject + 1)
    }

    /// BIDS entities of a recording: `sub`, `task`, and `ses`/`run` only when there is more than one.
    pub fn entities(&self, id: RunId) -> BidsEntities {
        BidsEntities {
            subject: self.subject_label(id.subject),
            session: (self.n_sessions > 1).then(|| format!("{:02}", id.session + 1)),
            task: Some(self.task.clone()),
            acquisition: None,
            run: (self.n_runs > 1).then(|| format!("{:02}", id.run + 1)),
            other: BTreeMap::new(),
        }
    }

    /// The parameters of subject index `subject` (any index; they depend only on it and the seed).
    pub fn subject_profile(&self, subject: usize) -> SubjectProfile {
        SubjectModel::draw(self.seed, subject).profile
    }
}

/// Position of a 10-10 electrode on the idealised spherical head, in metres, in
/// MNE's head frame (x towards the right ear, y towards the nose, z up; origin at the
/// sphere's centre). `None` for a label the simulator does not place.
///
/// Known labels: the midline (`Fpz`, `AFz`, `Fz`, `FCz`, `Cz`, `CPz`, `Pz`, `POz`, `Oz`),
/// rows `AF`, `F`, `FC`, `C`, `CP`, `P`, `PO` with numbers 1–6 (`AF` and `PO` also 7/8,
/// `F` and `P` 7/8), the equator `Fp1/2`, `FT7/8`, `T7/8`, `TP7/8`, `O1/2` (and the old
/// names `T3`–`T6`), case-insensitive. Placement: Fpz, T7, Oz and T8 lie on the equator,
/// each 10 % step is 22.5° along the midline and 18° along the equator, and an electrode
/// `n` of a row lies on the great circle from the row's midline electrode to its
/// equatorial one (`F7`, `FT7`, `T7`…), `⌈n/2⌉/4` of the way (C3 halfway from Cz to T7).
pub fn electrode_position(label: &str) -> Option<[f64; 3]> {
    let lower = label.trim().to_ascii_lowercase();
    let alias = match lower.as_str() {
        "t3" => "t7",
        "t4" => "t8",
        "t5" => "p7",
        "t6" => "p8",
        other => other,
    };
    let split = alias
        .find(|c: char| !c.is_ascii_alphabetic() || c == 'z')
        .unwrap_or(alias.len());
    let (prefix, suffix) = alias.split_at(split);
    // Row index from the front (Fp = 0) to the back (O = 8), and which numbers it allows.
    let (row, numbers): (u32, &[u32]) = match prefix {
        "fp" => (0, &[1, 2]),
        "af" => (1, &[1, 2, 3, 4, 5, 6, 7, 8]),
        "f" => (2, &[1, 2, 3, 4, 5, 6, 7, 8]),
        "fc" => (3, &[1, 2, 3, 4, 5, 6]),
        "ft" => (3, &[7, 8]),
        "c" => (4, &[1, 2, 3, 4, 5, 6]),
        "t" => (4, &[7, 8]),
        "cp" => (5, &[1, 2, 3, 4, 5, 6]),
        "tp" => (5, &[7, 8]),
        "p" => (6, &[1, 2, 3, 4, 5, 6, 7, 8]),
        "po" => (7, &[1, 2, 3, 4, 5, 6, 7, 8]),
        "o" => (8, &[1, 2]),
        _ => return None,
    };
    let midline = midline_point(row);
    if suffix == "z" {
        // FTz / Tz / TPz do not exist: those rows' midline electrodes are FCz, Cz, CPz.
        return matches!(prefix, "fp" | "af" | "f" | "fc" | "c" | "cp" | "p" | "po" | "o")
            .then(|| scale(midline, HEAD_RADIUS_M));
    }
    let n: u32 = suffix.parse().ok()?;
    if !numbers.contains(&n) {
        return None;
    }
    // The equatorial electrode of the row, on the side of the number (odd = left).
    let angle = (18.0 * (row + 1) as f64).to_radians();
    let side = if n % 2 == 1 { -1.0 } else { 1.0 };
    let equator = [side * libm::sin(angle), libm::cos(angle), 0.0];
    // Fp1/Fp2 and O1/O2 are the equatorial electrodes of their rows.
    let fraction = if row == 0 || row == 8 {
        1.0
    } else {
        n.div_ceil(2) as f64 / 4.0
    };
    Some(scale(slerp(midline, equator, fraction), HEAD_RADIUS_M))
}

/// Unit vector of the midline electrode of row `row` (22.5° steps from Fpz over Cz to Oz).
fn midline_point(row: u32) -> [f64; 3] {
    let a = (22.5 * row as f64).to_radians();
    [0.0, libm::cos(a), libm::sin(a)]
}

fn scale(v: [f64; 3], s: f64) -> [f64; 3] {
    [v[0] * s, v[1] * s, v[2] * s]
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Point `t` of the way along the great circle from unit vector `a` to unit vector `b`.
fn slerp(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    let dot = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]).clamp(-1.0, 1.0);
    let omega = libm::acos(dot);
    if omega < 1e-12 {
        return a;
    }
    let sa = libm::sin((1.0 - t) * omega) / libm::sin(omega);
    let sb = libm::sin(t * omega) / libm::sin(omega);
    [
        a[0] * sa + b[0] * sb,
        a[1] * sa + b[1] * sb,
        a[2] * sa + b[2] * sb,
    ]
}

/// Point on the head at `elevation` degrees above the equator (negative: below),
/// `azimuth` degrees from the nose towards the left ear.
fn head_point(azimuth_deg: f64, elevation_deg: f64) -> [f64; 3] {
    let (az, el) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
    scale(
        [
            -libm::sin(az) * libm::cos(el),
            libm::cos(az) * libm::cos(el),
            libm::sin(el),
        ],
        HEAD_RADIUS_M,
    )
}

// ---------------------------------------------------------------------------------------------
// Random numbers

/// Which part of the model a random stream feeds; each has its own stream so that
/// switching one off leaves the others unchanged.
#[derive(Clone, Copy)]
enum Component {
    Profile = 1,
    Session = 2,
    Timing = 3,
    Background = 4,
    Rhythms = 5,
    Blinks = 6,
    Saccades = 7,
    Emg = 8,
    Drift = 9,
    Line = 10,
    Sensor = 11,
}

struct SimRng {
    inner: ChaCha8Rng,
    spare: Option<f64>,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SimRng {
    fn new(seed: u64, component: Component, subject: usize, session: usize, run: usize) -> Self {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        // Validation bounds subject < 10^4, session and run < 100: the fields cannot overlap.
        inner.set_stream(
            ((component as u64) << 56) | ((subject as u64) << 32) | ((session as u64) << 16) | run as u64,
        );
        SimRng { inner, spare: None }
    }

    /// Uniform in [0, 1), from the top 53 bits (exact, platform-independent).
    fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// An index in `0..n` (n ≥ 1).
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    /// Standard normal by the Marsaglia polar method.
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * libm::log(s) / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }

    fn fill_normal(&mut self, out: &mut [f64]) {
        for x in out {
            *x = self.normal();
        }
    }

    /// Event times at `per_minute` on average over `[0, duration_s)`, at least `min_gap_s`
    /// apart: the gap plus an exponential wait (a Poisson process with a dead time), so events
    /// of one kind never overlap.
    fn event_times(&mut self, per_minute: f64, min_gap_s: f64, duration_s: f64) -> Vec<f64> {
        let mut times = Vec::new();
        if per_minute <= 0.0 {
            return times;
        }
        let mean_wait = (60.0 / per_minute - min_gap_s).max(0.0);
        let mut t = -min_gap_s * self.uniform();
        loop {
            t += min_gap_s - mean_wait * libm::log(1.0 - self.uniform());
            if t >= duration_s {
                return times;
            }
            times.push(t);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filters

/// A second-order section, normalised so that `a0 = 1`, run in transposed direct form II.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// `(1 − zero·z⁻¹) / (1 − pole·z⁻¹)`.
    fn first_order(pole: f64, zero: f64) -> Self {
        Biquad {
            b: [1.0, -zero, 0.0],
            a: [-pole, 0.0],
        }
    }

    /// RBJ band-pass with 0 dB peak gain at `f0`.
    fn bandpass(f0: f64, q: f64, sfreq: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * f0 / sfreq;
        let alpha = libm::sin(w0) / (2.0 * q);
        let a0 = 1.0 + alpha;
        Biquad {
            b: [alpha / a0, 0.0, -alpha / a0],
            a: [-2.0 * libm::cos(w0) / a0, (1.0 - alpha) / a0],
        }
    }

    /// RBJ high-pass at `f0`.
    fn highpass(f0: f64, q: f64, sfreq: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * f0 / sfreq;
        let (cos, alpha) = (libm::cos(w0), libm::sin(w0) / (2.0 * q));
        let a0 = 1.0 + alpha;
        Biquad {
            b: [(1.0 + cos) / 2.0 / a0, -(1.0 + cos) / a0, (1.0 + cos) / 2.0 / a0],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
        }
    }

    /// `|H(e^{jω})|²` given `cos ω` and `cos 2ω`.
    fn power_response(&self, cos1: f64, cos2: f64) -> f64 {
        let [b0, b1, b2] = self.b;
        let [a1, a2] = self.a;
        let num = b0 * b0 + b1 * b1 + b2 * b2 + 2.0 * (b0 * b1 + b1 * b2) * cos1 + 2.0 * b0 * b2 * cos2;
        let den = 1.0 + a1 * a1 + a2 * a2 + 2.0 * (a1 + a1 * a2) * cos1 + 2.0 * a2 * cos2;
        num / den
    }
}

/// Sections applied one after another.
#[derive(Debug, Clone)]
struct Cascade {
    sections: Vec<Biquad>,
}

impl Cascade {
    fn new_state(&self) -> Vec<[f64; 2]> {
        vec![[0.0; 2]; self.sections.len()]
    }

    /// Filters `x` in place, continuing from `state`.
    fn process(&self, state: &mut [[f64; 2]], x: &mut [f64]) {
        for (s, z) in self.sections.iter().zip(state.iter_mut()) {
            let ([b0, b1, b2], [a1, a2]) = (s.b, s.a);
            let (mut z1, mut z2) = (z[0], z[1]);
            for v in x.iter_mut() {
                let input = *v;
                let y = b0 * input + z1;
                z1 = b1 * input - a1 * y + z2;
                z2 = b2 * input - a2 * y;
                *v = y;
            }
            *z = [z1, z2];
        }
    }

    /// Output variance for unit-variance white input: the impulse response's energy.
    fn white_noise_gain(&self) -> f64 {
        let mut state = self.new_state();
        let mut block = vec![0.0; 4096];
        block[0] = 1.0;
        let mut energy = 0.0;
        // All poles are inside the unit circle; 2^24 samples bound the loop regardless.
        for _ in 0..4096 {
            self.process(&mut state, &mut block);
            let part: f64 = block.iter().map(|v| v * v).sum();
            energy += part;
            if part <= 1e-16 * energy {
                break;
            }
            block.fill(0.0);
        }
        energy
    }

    /// Output power in `[f_lo, f_hi]` Hz for unit-variance white input (midpoint rule).
    fn band_power(&self, f_lo: f64, f_hi: f64, sfreq: f64) -> f64 {
        const N: usize = 512;
        let (w_lo, w_hi) = (
            2.0 * std::f64::consts::PI * f_lo / sfreq,
            2.0 * std::f64::consts::PI * f_hi / sfreq,
        );
        let dw = (w_hi - w_lo) / N as f64;
        let mut sum = 0.0;
        for i in 0..N {
            let w = w_lo + (i as f64 + 0.5) * dw;
            let (c1, c2) = (libm::cos(w), libm::cos(2.0 * w));
            sum += self
                .sections
                .iter()
                .map(|s| s.power_response(c1, c2))
                .product::<f64>();
        }
        // Variance = (1/π) ∫₀^π P(ω) dω.
        sum * dw / std::f64::consts::PI
    }
}

/// 1/f^χ shaping: first-order sections with poles two per octave from 0.5 Hz and each
/// zero `χ/2` of the way (in log frequency) to the next pole.
fn pink_cascade(exponent: f64, sfreq: f64) -> Cascade {
    let ratio = std::f64::consts::SQRT_2;
    let zero_ratio = libm::pow(ratio, exponent / 2.0);
    let mut sections = Vec::new();
    let mut f = 0.5;
    while f < 0.45 * sfreq {
        let pole = libm::exp(-2.0 * std::f64::consts::PI * f / sfreq);
        let zero = libm::exp(-2.0 * std::f64::consts::PI * f * zero_ratio / sfreq);
        sections.push(Biquad::first_order(pole, zero));
        f *= ratio;
    }
    Cascade { sections }
}

/// Band-limited noise around `f0`: two identical band-pass sections.
fn resonator(f0: f64, bandwidth: f64, sfreq: f64) -> Cascade {
    let section = Biquad::bandpass(f0, f0 / bandwidth, sfreq);
    Cascade {
        sections: vec![section, section],
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// Spatial spread (Gaussian σ, metres) of background sources and rhythms.
const SPREAD_M: f64 = 0.03;
/// Share of the background variance that is common (mixed from sources), the rest per electrode.
const SHARED_BACKGROUND: f64 = 0.8;
/// Number of background sources over the head.
const N_BACKGROUND_SOURCES: usize = 40;
/// Seconds simulated (and discarded) before the first sample so filters reach steady state.
const WARM_UP_S: f64 = 4.0;
/// Samples per block of background generation.
const BLOCK: usize = 4096;
/// Length of the ERD/ERS raised-cosine ramps, seconds.
const RAMP_S: f64 = 0.5;
/// Corner frequency of the rhythms' slow amplitude fluctuation, Hz.
const RHYTHM_FLUCTUATION_HZ: f64 = 0.2;
/// Beta modulation relative to mu.
const BETA_MODULATION: f64 = 0.8;
/// Length constant (metres) of the exponential fall-off of eye artefacts over the scalp.
const EYE_FALLOFF_M: f64 = 0.05;

const UV: f64 = 1e-6;

struct SubjectModel {
    profile: SubjectProfile,
    /// Scalp points of the mu/beta sources under C3 (left) and C4 (right).
    motor_sources: [[f64; 3]; 2],
}

impl SubjectModel {
    fn draw(seed: u64, subject: usize) -> Self {
        let mut rng = SimRng::new(seed, Component::Profile, subject, 0, 0);
        let profile = SubjectProfile {
            aperiodic_exponent: rng.range(1.0, 2.0),
            background_rms_uv: rng.range(8.0, 15.0),
            mu_freq_hz: rng.range(9.0, 12.5),
            mu_bandwidth_hz: rng.range(1.5, 3.0),
            mu_snr: rng.range(1.0, 6.0),
            beta_freq_hz: rng.range(18.0, 24.0),
            beta_snr: rng.range(0.5, 2.0),
            alpha_freq_hz: rng.range(9.5, 11.5),
            alpha_snr: rng.range(2.0, 10.0),
            erd_depth: rng.range(0.2, 0.5),
            ers_gain: rng.range(0.05, 0.15),
            erd_latency_s: rng.range(0.2, 0.5),
            lapse_rate: rng.range(0.0, 0.25),
            rhythm_variability: rng.range(0.2, 0.6),
        };
        let mut jitter = |label: &str| {
            let p = electrode_position(label).expect("C3 and C4 are 10-10 labels");
            let q = [
                p[0] + rng.range(-0.008, 0.008),
                p[1] + rng.range(-0.008, 0.008),
                p[2] + rng.range(-0.008, 0.008),
            ];
            let norm = distance(q, [0.0; 3]);
            scale(q, HEAD_RADIUS_M / norm)
        };
        let motor_sources = [jitter("C3"), jitter("C4")];
        SubjectModel {
            profile,
            motor_sources,
        }
    }
}

/// Per-session factors: electrode contacts and the room.
struct SessionModel {
    background_factor: f64,
    rhythm_factor: f64,
    /// Per-channel amplifier noise, µV RMS at 250 Hz.
    sensor_uv: Vec<f64>,
    /// Per-channel drift RMS (µV) and corner frequency (Hz).
    drift: Vec<(f64, f64)>,
    /// Per-channel line-noise amplitude (µV) and phase offset (rad).
    line: Vec<(f64, f64)>,
}

impl SessionModel {
    fn draw(seed: u64, subject: usize, session: usize, n_channels: usize) -> Self {
        let mut rng = SimRng::new(seed, Component::Session, subject, session, 0);
        let background_factor = rng.range(0.85, 1.15);
        let rhythm_factor = rng.range(0.85, 1.15);
        let sensor_uv = (0..n_channels).map(|_| rng.range(0.5, 1.5)).collect();
        let drift = (0..n_channels)
            .map(|_| (rng.range(5.0, 20.0), rng.range(0.005, 0.03)))
            .collect();
        let line_base = rng.range(1.0, 8.0);
        let line = (0..n_channels)
            .map(|_| (line_base * rng.range(0.5, 1.5), rng.range(-0.3, 0.3)))
            .collect();
        SessionModel {
            background_factor,
            rhythm_factor,
            sensor_uv,
            drift,
            line,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Hand {
    Left,
    Right,
}

struct Trial {
    hand: Hand,
    cue: usize,
    /// This trial's ERD depth and ERS gain (the subject's, jittered).
    erd: f64,
    ers: f64,
    latency_s: f64,
}

/// Trial order and timing of a run, and its length in samples.
fn timeline(cfg: &MotorImageryConfig, subject: &SubjectProfile, id: RunId) -> (Vec<Trial>, usize) {
    let mut rng = SimRng::new(cfg.seed, Component::Timing, id.subject, id.session, id.run);
    let n = cfg.trials_per_class_per_run;
    let mut hands: Vec<Hand> = (0..2 * n)
        .map(|i| if i < n { Hand::Left } else { Hand::Right })
        .collect();
    for i in (1..hands.len()).rev() {
        hands.swap(i, rng.below(i + 1));
    }
    let mut trials = Vec::with_capacity(hands.len());
    let mut t = cfg.lead_in_s;
    for hand in hands {
        let cue = (t * cfg.sfreq).round() as usize;
        let iti = rng.range(cfg.iti_s[0], cfg.iti_s[1]);
        let performed = if rng.uniform() < subject.lapse_rate {
            0.0
        } else {
            1.0
        };
        trials.push(Trial {
            hand,
            cue,
            erd: performed * (subject.erd_depth * rng.range(0.7, 1.3)).min(0.9),
            ers: performed * subject.ers_gain * rng.range(0.7, 1.3),
            latency_s: (subject.erd_latency_s + rng.range(-0.1, 0.1)).max(0.0),
        });
        t = cue as f64 / cfg.sfreq + cfg.imagery_s + iti;
    }
    (trials, ((t * cfg.sfreq).round() as usize).max(1))
}

/// 0 → 1 raised cosine over `[0, 1]`.
fn smooth_step(x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x >= 1.0 {
        1.0
    } else {
        0.5 - 0.5 * libm::cos(std::f64::consts::PI * x)
    }
}

/// Amplitude gain of the mu rhythm under the hemisphere that controls `controls` (the
/// left hemisphere controls the right hand): lowered during that hand's imagery, raised
/// during the other's when ERS is on.
fn modulation(cfg: &MotorImageryConfig, trials: &[Trial], controls: Hand, n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n];
    let fs = cfg.sfreq;
    for trial in trials {
        let amount = if trial.hand == controls {
            -trial.erd
        } else if cfg.ipsilateral_ers {
            trial.ers
        } else {
            continue;
        };
        let start = trial.cue + (trial.latency_s * fs).round() as usize;
        let stop = (trial.cue + ((cfg.imagery_s + RAMP_S) * fs).ceil() as usize).min(n);
        for (j, v) in m.iter_mut().enumerate().take(stop).skip(start) {
            let since_cue = (j - trial.cue) as f64 / fs;
            let up = smooth_step((since_cue - trial.latency_s) / RAMP_S);
            let down = 1.0 - smooth_step((since_cue - cfg.imagery_s) / RAMP_S);
            *v += amount * up.min(down);
        }
    }
    m
}

/// One band-limited source: peak and bandwidth (Hz), RMS (V) at its scalp point, and the
/// amplitude modulation it follows (per-sample change, and its scale), if task-related.
struct Rhythm<'a> {
    freq: f64,
    bandwidth: f64,
    rms: f64,
    at: [f64; 3],
    modulation: Option<(&'a [f64], f64)>,
}

fn simulate_validated(cfg: &MotorImageryConfig, id: RunId) -> Recording {
    let fs = cfg.sfreq;
    let subject = SubjectModel::draw(cfg.seed, id.subject);
    let p = &subject.profile;
    let n_eeg = cfg.eeg_channels.len();
    let n_ch = cfg.n_channels();
    let session = SessionModel::draw(cfg.seed, id.subject, id.session, n_ch);
    let (trials, n) = timeline(cfg, p, id);
    let warm = (WARM_UP_S * fs).ceil() as usize;

    // Electrode points: EEG from the montage, EOG at the eyes (used for mixing only).
    let mut points: Vec<[f64; 3]> = cfg
        .eeg_channels
        .iter()
        .map(|c| electrode_position(c).expect("validated"))
        .collect();
    let eog_points = [
        head_point(35.0, -25.0),
        head_point(0.0, -5.0),
        head_point(-35.0, -25.0),
    ];
    if cfg.with_eog {
        points.extend(eog_points);
    }

    let mut data = Array2::<f64>::zeros((n_ch, n));

    // Background: white sources mixed to electrodes, then 1/f^χ shaping per electrode.
    let sources = background_sources();
    let mut mixing = vec![vec![0.0; sources.len()]; n_ch];
    for (row, &pt) in mixing.iter_mut().zip(&points) {
        for (g, &src) in row.iter_mut().zip(&sources) {
            let d = distance(pt, src);
            *g = libm::exp(-d * d / (2.0 * SPREAD_M * SPREAD_M));
        }
        let norm = row.iter().map(|g| g * g).sum::<f64>().sqrt();
        let shared = SHARED_BACKGROUND.sqrt() / norm;
        for g in row.iter_mut() {
            *g *= shared;
        }
    }
    let local = (1.0 - SHARED_BACKGROUND).sqrt();
    let pink = pink_cascade(p.aperiodic_exponent, fs);
    let pink_var = pink.white_noise_gain();
    let bg_rms = p.background_rms_uv * session.background_factor * UV;
    let bg_scale = bg_rms / pink_var.sqrt();
    let mut rng = SimRng::new(cfg.seed, Component::Background, id.subject, id.session, id.run);
    let mut states: Vec<Vec<[f64; 2]>> = (0..n_ch).map(|_| pink.new_state()).collect();
    let mut src_block = vec![vec![0.0; BLOCK]; sources.len()];
    let mut ch_block = vec![0.0; BLOCK];
    let total = warm + n;
    let mut start = 0;
    while start < total {
        let len = BLOCK.min(total - start);
        for s in src_block.iter_mut() {
            rng.fill_normal(&mut s[..len]);
        }
        for (c, state) in states.iter_mut().enumerate() {
            let block = &mut ch_block[..len];
            rng.fill_normal(block);
            for v in block.iter_mut() {
                *v *= local;
            }
            for (g, s) in mixing[c].iter().zip(&src_block) {
                for (v, &x) in block.iter_mut().zip(&s[..len]) {
                    *v += g * x;
                }
            }
            pink.process(state, block);
            // Keep only what falls after the warm-up.
            let skip = warm.saturating_sub(start);
            if skip >= len {
                continue;
            }
            let out_start = start + skip - warm;
            let mut row = data.row_mut(c);
            for (k, &v) in block[skip..].iter().enumerate() {
                row[out_start + k] = v * bg_scale;
            }
        }
        start += len;
    }

    // Rhythms: mu and beta under C3/C4 (task-modulated), alpha under PO3/PO4.
    let mu_band = pink.band_power(8.0, 13.0, fs) / pink_var;
    let beta_band = pink.band_power(15.0, 30.0, fs) / pink_var;
    let mu_rms = (p.mu_snr * mu_band).sqrt() * bg_rms * session.rhythm_factor;
    let beta_rms = (p.beta_snr * beta_band).sqrt() * bg_rms * session.rhythm_factor;
    let alpha_rms = (p.alpha_snr * mu_band).sqrt() * bg_rms * session.rhythm_factor;
    let left_mod = modulation(cfg, &trials, Hand::Right, n);
    let right_mod = modulation(cfg, &trials, Hand::Left, n);
    let posterior = [
        electrode_position("PO3").expect("10-10 label"),
        electrode_position("PO4").expect("10-10 label"),
    ];
    let rhythm = |freq, bandwidth, rms, at, modulation| Rhythm {
        freq,
        bandwidth,
        rms,
        at,
        modulation,
    };
    let rhythms = [
        rhythm(
            p.mu_freq_hz,
            p.mu_bandwidth_hz,
            mu_rms,
            subject.motor_sources[0],
            Some((left_mod.as_slice(), 1.0)),
        ),
        rhythm(
            p.mu_freq_hz,
            p.mu_bandwidth_hz,
            mu_rms,
            subject.motor_sources[1],
            Some((right_mod.as_slice(), 1.0)),
        ),
        rhythm(
            p.beta_freq_hz,
            5.0,
            beta_rms,
            subject.motor_sources[0],
            Some((left_mod.as_slice(), BETA_MODULATION)),
        ),
        rhythm(
            p.beta_freq_hz,
            5.0,
            beta_rms,
            subject.motor_sources[1],
            Some((right_mod.as_slice(), BETA_MODULATION)),
        ),
        rhythm(p.alpha_freq_hz, 2.0, alpha_rms, posterior[0], None),
        rhythm(p.alpha_freq_hz, 2.0, alpha_rms, posterior[1], None),
    ];
    let mut rng = SimRng::new(cfg.seed, Component::Rhythms, id.subject, id.session, id.run);
    let mut wave = vec![0.0; total];
    let fluctuation_rho = libm::exp(-2.0 * std::f64::consts::PI * RHYTHM_FLUCTUATION_HZ / fs);
    let fluctuation_innovation = (1.0 - fluctuation_rho * fluctuation_rho).sqrt();
    for Rhythm {
        freq,
        bandwidth,
        rms,
        at,
        modulation: modulated,
    } in rhythms
    {
        let filter = resonator(freq, bandwidth, fs);
        rng.fill_normal(&mut wave);
        filter.process(&mut filter.new_state(), &mut wave);
        let amplitude = rms / filter.white_noise_gain().sqrt();
        // Slow log-amplitude fluctuation, started in its stationary state; `- σ²` keeps the
        // mean power (E[exp(2σx)] = exp(2σ²) for a standard normal x).
        let sigma = p.rhythm_variability;
        let mut x = rng.normal();
        let signal = &mut wave[warm..];
        for (j, v) in signal.iter_mut().enumerate() {
            x = fluctuation_rho * x + fluctuation_innovation * rng.normal();
            let gain = match modulated {
                Some((m, k)) => (1.0 + k * m[j]).max(0.05),
                None => 1.0,
            };
            *v *= amplitude * gain * libm::exp(sigma * x - sigma * sigma);
        }
        for (c, &pt) in points.iter().enumerate() {
            let d = distance(pt, at);
            let g = libm::exp(-d * d / (2.0 * SPREAD_M * SPREAD_M));
            // Beyond ~4σ the contribution is below 0.03 % of the rhythm: not worth the pass.
            if g < 3e-4 {
                continue;
            }
            for (o, &v) in data.row_mut(c).iter_mut().zip(signal.iter()) {
                *o += g * v;
            }
        }
    }

    // Artefacts.
    let duration_s = n as f64 / fs;
    let eye = head_point(0.0, -20.0);
    let eye_gain: Vec<f64> = (0..n_ch)
        .map(|c| {
            if c < n_eeg {
                libm::exp(-distance(points[c], eye) / EYE_FALLOFF_M)
            } else {
                // EOG-left, EOG-central, EOG-right: the vertical EOG is largest at the centre.
                [0.5, 1.0, 0.5][c - n_eeg]
            }
        })
        .collect();
    let art = &cfg.artifacts;
    let mut rng = SimRng::new(cfg.seed, Component::Blinks, id.subject, id.session, id.run);
    for t0 in rng.event_times(art.blinks_per_minute, 0.6, duration_s) {
        let amplitude = rng.range(80.0, 200.0) * UV;
        let (rise, fall) = (rng.range(0.08, 0.12), rng.range(0.18, 0.3));
        let first = (t0 * fs).round() as usize;
        let len = ((rise + fall) * fs).ceil() as usize;
        let shape: Vec<f64> = (0..len)
            .map(|k| {
                let t = k as f64 / fs;
                if t < rise {
                    smooth_step(t / rise)
                } else {
                    1.0 - smooth_step((t - rise) / fall)
                }
            })
            .collect();
        add_pulse(&mut data, first, &shape, |c| amplitude * eye_gain[c]);
    }

    let mut rng = SimRng::new(cfg.seed, Component::Saccades, id.subject, id.session, id.run);
    for t0 in rng.event_times(art.saccades_per_minute, 1.7, duration_s) {
        let amplitude = rng.range(20.0, 60.0) * UV * if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
        let hold = rng.range(0.3, 1.5);
        let move_s = 0.04;
        let first = (t0 * fs).round() as usize;
        let len = ((hold + 2.0 * move_s) * fs).ceil() as usize;
        let shape: Vec<f64> = (0..len)
            .map(|k| {
                let t = k as f64 / fs;
                smooth_step(t / move_s).min(1.0 - smooth_step((t - move_s - hold) / move_s))
            })
            .collect();
        add_pulse(&mut data, first, &shape, |c| {
            if c < n_eeg {
                // A horizontal eye dipole reaches the lateral frontal scalp weakly, in antiphase.
                -0.3 * amplitude * eye_gain[c] * points[c][0] / HEAD_RADIUS_M
            } else {
                amplitude * [1.0, 0.0, -1.0][c - n_eeg]
            }
        });
    }

    let mut rng = SimRng::new(cfg.seed, Component::Emg, id.subject, id.session, id.run);
    let emg_filter = Cascade {
        sections: vec![Biquad::highpass(30.0, std::f64::consts::FRAC_1_SQRT_2, fs); 2],
    };
    let emg_norm = emg_filter.white_noise_gain().sqrt();
    for t0 in rng.event_times(art.emg_bursts_per_minute, 1.5, duration_s) {
        let side = rng.below(3); // 0: left, 1: right, 2: both
        let burst_s = rng.range(0.3, 1.2);
        let rms = rng.range(10.0, 40.0) * UV;
        let first = (t0 * fs).round() as usize;
        let len = ((burst_s * fs).ceil() as usize).min(n.saturating_sub(first));
        let edge = 0.05;
        for (c, &pt) in points.iter().enumerate() {
            let lateral = pt[0] / HEAD_RADIUS_M; // −1 left … +1 right
            let on_side = match side {
                0 => lateral < 0.0,
                1 => lateral > 0.0,
                _ => true,
            };
            let weight = ((lateral.abs() - 0.3) / 0.7).max(0.0);
            let weight = weight * weight;
            // Every channel draws its noise, so the draws do not depend on the montage's geometry.
            let mut noise = vec![0.0; len];
            rng.fill_normal(&mut noise);
            if !on_side || weight == 0.0 {
                continue;
            }
            emg_filter.process(&mut emg_filter.new_state(), &mut noise);
            let mut row = data.row_mut(c);
            for (k, v) in noise.iter().enumerate() {
                let t = k as f64 / fs;
                let env = smooth_step(t / edge).min(1.0 - smooth_step((t - burst_s + edge) / edge));
                row[first + k] += rms * weight * env * v / emg_norm;
            }
        }
    }

    if art.drift {
        let mut rng = SimRng::new(cfg.seed, Component::Drift, id.subject, id.session, id.run);
        for (c, &(rms, corner)) in session.drift.iter().enumerate() {
            let rho = libm::exp(-2.0 * std::f64::consts::PI * corner / fs);
            let innovation = (1.0 - rho * rho).sqrt();
            let mut x = rng.normal();
            for o in data.row_mut(c).iter_mut() {
                x = rho * x + innovation * rng.normal();
                *o += rms * UV * x;
            }
        }
    }

    if art.line_noise {
        let mut rng = SimRng::new(cfg.seed, Component::Line, id.subject, id.session, id.run);
        let phase0 = rng.range(0.0, 2.0 * std::f64::consts::PI);
        for (harmonic, relative) in [(1.0, 1.0), (3.0, 0.15)] {
            let f = cfg.line_freq * harmonic;
            if f >= 0.45 * fs {
                continue;
            }
            let w = 2.0 * std::f64::consts::PI * f / fs;
            let (sin, cos): (Vec<f64>, Vec<f64>) = (0..n)
                .map(|j| {
                    let a = w * j as f64 + harmonic * phase0;
                    (libm::sin(a), libm::cos(a))
                })
                .unzip();
            for (c, &(amp, phase)) in session.line.iter().enumerate() {
                let (a, b) = (
                    amp * relative * UV * libm::cos(harmonic * phase),
                    amp * relative * UV * libm::sin(harmonic * phase),
                );
                for ((o, s), k) in data.row_mut(c).iter_mut().zip(&sin).zip(&cos) {
                    *o += a * s + b * k;
                }
            }
        }
    }

    if art.sensor_noise {
        let mut rng = SimRng::new(cfg.seed, Component::Sensor, id.subject, id.session, id.run);
        let density = (fs / 250.0).sqrt();
        for (c, &uv) in session.sensor_uv.iter().enumerate() {
            let sigma = uv * UV * density;
            for o in data.row_mut(c).iter_mut() {
                *o += sigma * rng.normal();
            }
        }
    }

    let entities = cfg.entities(id);
    let mut channels: Vec<ChannelInfo> = cfg
        .eeg_channels
        .iter()
        .zip(&points)
        .map(|(name, &pt)| ChannelInfo {
            name: name.clone(),
            kind: ChannelType::Eeg,
            unit: "V".into(),
            sfreq: fs,
            position: Some(pt),
        })
        .collect();
    if cfg.with_eog {
        channels.extend(EOG_CHANNELS.iter().map(|name| ChannelInfo {
            name: name.to_string(),
            kind: ChannelType::Eog,
            unit: "V".into(),
            sfreq: fs,
            position: None,
        }));
    }
    let annotations = trials
        .iter()
        .map(|t| Annotation {
            onset: t.cue as f64 / fs,
            duration: cfg.imagery_s,
            description: match t.hand {
                Hand::Left => LEFT_HAND,
                Hand::Right => RIGHT_HAND,
            }
            .to_string(),
        })
        .collect();
    let mut extra = BTreeMap::new();
    extra.insert(
        "simulated".to_string(),
        "neurodl_signal::simulate motor imagery".to_string(),
    );
    extra.insert("simulated.seed".to_string(), cfg.seed.to_string());
    let mut info = RecordingInfo {
        // Simulated recordings are written (by `neurodl simulate`) as EDF+.
        format: Format::EdfPlus,
        path: PathBuf::from(bids_basename(&entities)),
        channels,
        sfreq: fs,
        n_samples: n,
        meas_date: None,
        subject: SubjectInfo {
            id: Some(entities.subject.clone()),
            ..SubjectInfo::default()
        },
        session: entities.session.clone(),
        annotations,
        extra,
        warnings: Vec::new(),
    };
    info.sort_annotations();
    Recording { info, data }
}

/// `sub-01[_ses-01]_task-x[_run-01]_eeg`: a name for messages, not a file.
fn bids_basename(e: &BidsEntities) -> String {
    let mut s = format!("sub-{}", e.subject);
    for (key, value) in [("ses", &e.session), ("task", &e.task), ("run", &e.run)] {
        if let Some(v) = value {
            s.push_str(&format!("_{key}-{v}"));
        }
    }
    s.push_str("_eeg");
    s
}

/// Adds `shape × gain(channel)` from sample `first` on, clipped at the recording's end.
fn add_pulse(data: &mut Array2<f64>, first: usize, shape: &[f64], gain: impl Fn(usize) -> f64) {
    let n = data.ncols();
    if first >= n {
        return;
    }
    let len = shape.len().min(n - first);
    for (c, mut row) in data.rows_mut().into_iter().enumerate() {
        let g = gain(c);
        if g == 0.0 {
            continue;
        }
        for (o, s) in row.iter_mut().skip(first).zip(&shape[..len]) {
            *o += g * s;
        }
    }
}

/// Background source points: a Fibonacci lattice over the head down to 20° below the equator.
fn background_sources() -> Vec<[f64; 3]> {
    // 60 lattice points over the whole sphere leave ~40 on the cap (z ≥ −0.35).
    const TOTAL: usize = 60;
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let mut points = Vec::with_capacity(N_BACKGROUND_SOURCES);
    for i in 0..TOTAL {
        let z = 1.0 - (2 * i + 1) as f64 / TOTAL as f64;
        if z < -0.35 || points.len() == N_BACKGROUND_SOURCES {
            continue;
        }
        let r = (1.0 - z * z).sqrt();
        let a = golden * i as f64;
        points.push(scale([r * libm::cos(a), r * libm::sin(a), z], HEAD_RADIUS_M));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_10_10_construction() {
        let cz = electrode_position("Cz").unwrap();
        assert!(distance(cz, [0.0, 0.0, HEAD_RADIUS_M]) < 1e-12);
        // C3 is halfway from Cz to T7 (45° from the vertex), on the left.
        let c3 = electrode_position("C3").unwrap();
        let t7 = electrode_position("t3").unwrap();
        assert!(c3[0] < 0.0 && (c3[2] / HEAD_RADIUS_M - 0.5f64.sqrt()).abs() < 1e-12);
        assert!(t7[2].abs() < 1e-12 && (t7[0] + HEAD_RADIUS_M).abs() < 1e-12);
        // Mirror symmetry of odd/even labels.
        let (f3, f4) = (
            electrode_position("F3").unwrap(),
            electrode_position("F4").unwrap(),
        );
        assert!((f3[0] + f4[0]).abs() < 1e-12 && (f3[1] - f4[1]).abs() < 1e-12);
        // Neighbouring 10-10 electrodes are about 3.7 cm apart.
        let c1 = electrode_position("C1").unwrap();
        assert!((distance(c1, c3) - 0.037).abs() < 0.001);
        for bad in ["Cx", "C7", "FT3", "Tz", "X1", "", "C", "Fp3", "O3", "P9"] {
            assert!(electrode_position(bad).is_none(), "{bad}");
        }
        for label in BCI_IV_2A_CHANNELS {
            let p = electrode_position(label).unwrap();
            assert!((distance(p, [0.0; 3]) - HEAD_RADIUS_M).abs() < 1e-12, "{label}");
        }
    }

    #[test]
    fn pink_cascade_has_the_asked_slope() {
        for exponent in [1.0, 1.5, 2.0] {
            let c = pink_cascade(exponent, 250.0);
            let p4 = c.band_power(3.9, 4.1, 250.0);
            let p32 = c.band_power(31.9, 32.1, 250.0);
            let slope = (p32 / p4).log2() / 3.0;
            assert!(
                (slope + exponent).abs() < 0.1,
                "exponent {exponent}: slope {slope}"
            );
        }
    }

    #[test]
    fn white_noise_gain_matches_the_band_integral() {
        let c = resonator(10.0, 2.0, 250.0);
        let direct = c.white_noise_gain();
        let integral = c.band_power(0.0, 125.0, 250.0);
        assert!((direct / integral - 1.0).abs() < 1e-3, "{direct} vs {integral}");
    }

    #[test]
    fn uniforms_and_normals_have_the_right_moments() {
        let mut rng = SimRng::new(7, Component::Background, 0, 0, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
        let us: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        assert!(us.iter().all(|&u| (0.0..1.0).contains(&u)));
        assert!((us.iter().sum::<f64>() / n as f64 - 0.5).abs() < 0.005);
    }
}
