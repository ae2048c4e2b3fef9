//! Evaluation splits with MOABB's protocol names, at trial level, with a
//! leakage guard.
//!
//! The unit of splitting is the trial, identified by `(recording, trial)`; the
//! caller maps windows to trials, so the windows of one trial always land on one
//! side. Coarser protocols keep coarser units whole: a run (train/test lists), a
//! session (cross-session) or a subject (cross-subject) is never on both sides.
//!
//! Every fold lists indices into the `trials` slice, ascending. Folds come in a
//! fixed order — groups, subjects and sessions in natural order (digit runs
//! compared as numbers, so `sub-2` < `sub-10`), then fold number — so the output
//! depends only on the trials, the protocol and the seed, never on hash-map
//! iteration order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, list_ids};
use crate::rng::{SplitMix64, group_seed};

/// One trial of a dataset, as the splits see it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrialMeta {
    /// Subject id (e.g. `sub-01`).
    pub subject: String,
    /// Session id within the subject (e.g. `ses-01`; may be empty).
    pub session: String,
    /// Run id within the session (e.g. `run-1`; may be empty).
    pub run: String,
    /// Recording id; with `trial` it identifies the trial. All trials of one
    /// recording must share subject, session and run.
    pub recording: u32,
    /// Trial id within the recording.
    pub trial: u32,
    /// True class index.
    pub class: usize,
}

fn five() -> usize {
    5
}

fn yes() -> bool {
    true
}

/// An evaluation protocol. Serialised with a `kind` tag in kebab case, e.g.
/// `{"kind": "within-session", "n_folds": 5}` or, in TOML, `kind = "cross-subject"`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Protocol {
    /// MOABB `WithinSessionEvaluation`: within each (subject, session),
    /// stratified k-fold cross-validation over its trials
    /// ([`stratified_kfold`]; MOABB uses `StratifiedKFold(5, shuffle=True)`).
    WithinSession {
        /// Number of folds per session (default 5, MOABB's).
        #[serde(default = "five")]
        n_folds: usize,
        /// Shuffle the fold assignment within each class (default true, MOABB's).
        /// Without shuffling the folds equal scikit-learn's exactly.
        #[serde(default = "yes")]
        shuffle: bool,
    },
    /// MOABB `CrossSessionEvaluation`: within each subject, leave one session out.
    /// Every subject needs at least 2 sessions.
    CrossSession,
    /// MOABB `CrossSubjectEvaluation` (leave-one-subject-out): train on all other
    /// subjects, test on one. Needs at least 2 subjects.
    CrossSubject,
    /// One fixed split by runs (e.g. BCI IV 2a's `0train` / `1test` sessions, or
    /// named runs). An entry with exactly two `/` is `subject/session/run` and
    /// matches that one run; any other entry is a run name and matches that run
    /// in every subject and session. Trials matched by neither list are left out;
    /// a trial matched by both is leakage (an error); an entry matching no trial
    /// is an error.
    TrainTest {
        /// Entries naming the training runs.
        train: Vec<String>,
        /// Entries naming the test runs.
        test: Vec<String>,
    },
}

impl Protocol {
    /// The protocol's kebab-case name, as serialised in `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::WithinSession { .. } => "within-session",
            Protocol::CrossSession => "cross-session",
            Protocol::CrossSubject => "cross-subject",
            Protocol::TrainTest { .. } => "train-test",
        }
    }
}

/// One train/test split.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Fold {
    /// Unique name: `sub-01/ses-01/fold-3` (within-session, folds numbered from 1),
    /// `sub-01/test-ses-02` (cross-session), `test-sub-07` (cross-subject),
    /// `train-test`.
    pub name: String,
    /// The unit results are grouped by: `subject/session` (within-session), the
    /// subject (cross-session), or `all`.
    pub group: String,
    /// Training trials: ascending indices into the trials slice.
    pub train: Vec<usize>,
    /// Test trials: ascending indices into the trials slice.
    pub test: Vec<usize>,
}

/// Builds the folds of `protocol` over `trials`. Deterministic: the same trials,
/// protocol and seed give the same folds. Under within-session shuffling, each
/// (subject, session) draws from its own generator seeded by the seed and the
/// group's name, so adding a subject leaves the other subjects' folds unchanged.
///
/// Errors: no trials, a `(recording, trial)` listed twice, a recording whose
/// trials disagree on subject/session/run, `n_folds < 2`, a class with fewer
/// trials than `n_folds` in some session, a subject with one session
/// (cross-session), one subject only (cross-subject), an empty run list, an
/// entry matching nothing, or a trial on both sides (train-test). Every fold is
/// passed through [`check_no_leakage`] before it is returned.
pub fn make_folds(protocol: &Protocol, trials: &[TrialMeta], seed: u64) -> Result<Vec<Fold>, EvalError> {
    if trials.is_empty() {
        return Err(EvalError::Empty { what: "trials" });
    }
    validate_trials(trials)?;
    let folds = match protocol {
        Protocol::WithinSession { n_folds, shuffle } => within_session(trials, *n_folds, *shuffle, seed)?,
        Protocol::CrossSession => cross_session(trials)?,
        Protocol::CrossSubject => cross_subject(trials)?,
        Protocol::TrainTest { train, test } => vec![train_test(trials, train, test)?],
    };
    for fold in &folds {
        check_no_leakage(protocol, trials, fold)?;
    }
    Ok(folds)
}

fn within_session(
    trials: &[TrialMeta],
    n_folds: usize,
    shuffle: bool,
    seed: u64,
) -> Result<Vec<Fold>, EvalError> {
    check_n_folds(n_folds)?;
    let mut groups: BTreeMap<NaturalKey, Vec<usize>> = BTreeMap::new();
    for (i, t) in trials.iter().enumerate() {
        groups
            .entry(NaturalKey::new(format!("{}/{}", t.subject, t.session)))
            .or_default()
            .push(i);
    }
    let mut folds = Vec::new();
    for (group, members) in groups {
        let name = group.0;
        let y: Vec<usize> = members.iter().map(|&i| trials[i].class).collect();
        let assignment = kfold_assign(&y, n_folds, shuffle, group_seed(seed, &name), &name)?;
        for f in 0..n_folds {
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for (&i, &a) in members.iter().zip(&assignment) {
                if a == f { test.push(i) } else { train.push(i) }
            }
            folds.push(Fold {
                name: format!("{name}/fold-{}", f + 1),
                group: name.clone(),
                train,
                test,
            });
        }
    }
    Ok(folds)
}

fn cross_session(trials: &[TrialMeta]) -> Result<Vec<Fold>, EvalError> {
    let mut subjects: BTreeMap<NaturalKey, BTreeMap<NaturalKey, Vec<usize>>> = BTreeMap::new();
    for (i, t) in trials.iter().enumerate() {
        subjects
            .entry(NaturalKey::new(t.subject.clone()))
            .or_default()
            .entry(NaturalKey::new(t.session.clone()))
            .or_default()
            .push(i);
    }
    let short: Vec<String> = subjects
        .iter()
        .filter(|(_, sessions)| sessions.len() < 2)
        .map(|(s, sessions)| {
            format!(
                "{} ({:?})",
                s.0,
                sessions.keys().next().map(|k| k.0.as_str()).unwrap_or("")
            )
        })
        .collect();
    if !short.is_empty() {
        return Err(EvalError::NotEnoughGroups {
            protocol: "cross-session",
            what: "sessions per subject",
            detail: format!(
                "{} subject(s) have a single session: {}",
                short.len(),
                list_ids(&short)
            ),
        });
    }
    let mut folds = Vec::new();
    for (subject, sessions) in &subjects {
        for (held_out, test) in sessions {
            let mut train: Vec<usize> = sessions
                .iter()
                .filter(|(s, _)| *s != held_out)
                .flat_map(|(_, m)| m.iter().copied())
                .collect();
            train.sort_unstable();
            folds.push(Fold {
                name: format!("{}/test-{}", subject.0, held_out.0),
                group: subject.0.clone(),
                train,
                test: test.clone(),
            });
        }
    }
    Ok(folds)
}

fn cross_subject(trials: &[TrialMeta]) -> Result<Vec<Fold>, EvalError> {
    let mut subjects: BTreeMap<NaturalKey, Vec<usize>> = BTreeMap::new();
    for (i, t) in trials.iter().enumerate() {
        subjects
            .entry(NaturalKey::new(t.subject.clone()))
            .or_default()
            .push(i);
    }
    if subjects.len() < 2 {
        let only = subjects.keys().next().map(|k| k.0.clone()).unwrap_or_default();
        return Err(EvalError::NotEnoughGroups {
            protocol: "cross-subject",
            what: "subjects",
            detail: format!("all {} trials belong to subject {only:?}", trials.len()),
        });
    }
    Ok(subjects
        .iter()
        .map(|(subject, test)| {
            let train = (0..trials.len())
                .filter(|&i| trials[i].subject != subject.0)
                .collect();
            Fold {
                name: format!("test-{}", subject.0),
                group: "all".into(),
                train,
                test: test.clone(),
            }
        })
        .collect())
}

/// Does a train/test list entry name this trial's run? See [`Protocol::TrainTest`].
fn entry_matches(entry: &str, t: &TrialMeta) -> bool {
    let parts: Vec<&str> = entry.split('/').collect();
    match parts.as_slice() {
        [subject, session, run] => *subject == t.subject && *session == t.session && *run == t.run,
        _ => entry == t.run,
    }
}

fn train_test(trials: &[TrialMeta], train_runs: &[String], test_runs: &[String]) -> Result<Fold, EvalError> {
    for (side, list) in [("train", train_runs), ("test", test_runs)] {
        if list.is_empty() {
            return Err(EvalError::InvalidParameter {
                name: side,
                reason: "the run list is empty".into(),
            });
        }
    }
    let mut known: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for t in trials {
        let r = run_id(t);
        if seen.insert(r.clone()) {
            known.push(r);
        }
    }
    for (side, list) in [("train", train_runs), ("test", test_runs)] {
        if let Some(entry) = list.iter().find(|e| !trials.iter().any(|t| entry_matches(e, t))) {
            return Err(EvalError::UnmatchedRun {
                side,
                entry: entry.clone(),
                known: list_ids(&known),
            });
        }
    }
    let mut fold = Fold {
        name: "train-test".into(),
        group: "all".into(),
        train: Vec::new(),
        test: Vec::new(),
    };
    let mut both: Vec<String> = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        let in_train = train_runs.iter().any(|e| entry_matches(e, t));
        let in_test = test_runs.iter().any(|e| entry_matches(e, t));
        match (in_train, in_test) {
            (true, true) => {
                let r = run_id(t);
                if !both.contains(&r) {
                    both.push(r);
                }
            }
            (true, false) => fold.train.push(i),
            (false, true) => fold.test.push(i),
            (false, false) => {}
        }
    }
    if !both.is_empty() {
        return Err(EvalError::Leakage {
            fold: fold.name,
            unit: "run",
            count: both.len(),
            ids: list_ids(&both),
        });
    }
    Ok(fold)
}

fn run_id(t: &TrialMeta) -> String {
    format!("{}/{}/{}", t.subject, t.session, t.run)
}

/// Refuses trial lists in which one `(recording, trial)` appears twice (a list of
/// windows passed as trials) or one recording has two subject/session/run values.
fn validate_trials(trials: &[TrialMeta]) -> Result<(), EvalError> {
    let mut ids: HashMap<(u32, u32), usize> = HashMap::with_capacity(trials.len());
    let mut recordings: HashMap<u32, usize> = HashMap::new();
    for (i, t) in trials.iter().enumerate() {
        if let Some(&first) = ids.get(&(t.recording, t.trial)) {
            return Err(EvalError::DuplicateTrial {
                recording: t.recording,
                trial: t.trial,
                first,
                second: i,
            });
        }
        ids.insert((t.recording, t.trial), i);
        match recordings.get(&t.recording) {
            Some(&f) => {
                let r = &trials[f];
                if (&r.subject, &r.session, &r.run) != (&t.subject, &t.session, &t.run) {
                    return Err(EvalError::InconsistentRecording {
                        recording: t.recording,
                        first: run_id(r),
                        first_index: f,
                        other: run_id(t),
                        index: i,
                    });
                }
            }
            None => {
                recordings.insert(t.recording, i);
            }
        }
    }
    Ok(())
}

/// The leakage guard: `Ok` only if `fold` is well formed and shares nothing
/// between its sides that `protocol` keeps apart.
///
/// Refused, in this order, each error naming the first few offenders and their
/// count: an index out of range, listed twice on one side, or on both sides; an
/// empty side; a trial `(recording, trial)` on both sides (under every protocol —
/// windows of one trial must never be split); a subject on both sides under
/// cross-subject; a session (`subject/session`) on both sides under cross-session;
/// a run (`subject/session/run`) on both sides under train-test; and, under those
/// three, a recording on both sides (only reachable with inconsistent metadata).
/// Within-session folds may share subjects, sessions, runs and recordings, as in
/// MOABB.
pub fn check_no_leakage(protocol: &Protocol, trials: &[TrialMeta], fold: &Fold) -> Result<(), EvalError> {
    let bad = |problem: String| EvalError::BadFold {
        fold: fold.name.clone(),
        problem,
    };
    for (side, idx) in [("train", &fold.train), ("test", &fold.test)] {
        let out: Vec<usize> = idx.iter().copied().filter(|&i| i >= trials.len()).collect();
        if !out.is_empty() {
            return Err(bad(format!(
                "{} {side} index(es) out of range for {} trials: {}",
                out.len(),
                trials.len(),
                list_ids(&out)
            )));
        }
        let mut seen = HashSet::with_capacity(idx.len());
        let twice: Vec<usize> = idx.iter().copied().filter(|&i| !seen.insert(i)).collect();
        if !twice.is_empty() {
            return Err(bad(format!(
                "{} {side} index(es) listed twice: {}",
                twice.len(),
                list_ids(&twice)
            )));
        }
    }
    let train_set: HashSet<usize> = fold.train.iter().copied().collect();
    let both: Vec<usize> = fold
        .test
        .iter()
        .copied()
        .filter(|i| train_set.contains(i))
        .collect();
    if !both.is_empty() {
        return Err(bad(format!(
            "{} index(es) on both train and test sides: {}",
            both.len(),
            list_ids(&both)
        )));
    }
    for (side, idx) in [("train", &fold.train), ("test", &fold.test)] {
        if idx.is_empty() {
            return Err(bad(format!("the {side} side is empty")));
        }
    }

    shared_units(fold, "trial", |i| {
        TrialId(trials[i].recording, trials[i].trial).to_string()
    })?;
    match protocol {
        Protocol::WithinSession { .. } => return Ok(()),
        Protocol::CrossSubject => shared_units(fold, "subject", |i| trials[i].subject.clone())?,
        Protocol::CrossSession => shared_units(fold, "session", |i| {
            format!("{}/{}", trials[i].subject, trials[i].session)
        })?,
        Protocol::TrainTest { .. } => shared_units(fold, "run", |i| run_id(&trials[i]))?,
    }
    shared_units(fold, "recording", |i| trials[i].recording.to_string())
}

/// Errors if some unit (as `unit_of` names it) has trials on both sides; the ids
/// are listed in order of first appearance on the test side.
fn shared_units(fold: &Fold, unit: &'static str, unit_of: impl Fn(usize) -> String) -> Result<(), EvalError> {
    let train: HashSet<String> = fold.train.iter().map(|&i| unit_of(i)).collect();
    let mut reported = HashSet::new();
    let shared: Vec<String> = fold
        .test
        .iter()
        .map(|&i| unit_of(i))
        .filter(|u| train.contains(u) && reported.insert(u.clone()))
        .collect();
    if shared.is_empty() {
        Ok(())
    } else {
        Err(EvalError::Leakage {
            fold: fold.name.clone(),
            unit,
            count: shared.len(),
            ids: list_ids(&shared),
        })
    }
}

struct TrialId(u32, u32);

impl fmt::Display for TrialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(recording {}, trial {})", self.0, self.1)
    }
}

fn check_n_folds(n_folds: usize) -> Result<(), EvalError> {
    if n_folds < 2 {
        return Err(EvalError::InvalidParameter {
            name: "n_folds",
            reason: format!("must be at least 2, got {n_folds}"),
        });
    }
    Ok(())
}

/// scikit-learn's `StratifiedKFold(n_splits=n_folds, shuffle=shuffle)` test-fold
/// assignment: entry `i` is the fold (0-based) in which sample `i` is tested.
///
/// Allocation, as scikit-learn computes it: classes are numbered in order of first
/// appearance in `y`; the samples, sorted by that number, are dealt round-robin
/// to the folds, which fixes how many samples of each class each fold tests (fold
/// sizes then differ by at most one, and so do each class's counts across folds).
/// Each class's fold labels are laid out in blocks (fold 0's, then fold 1's, …)
/// over that class's samples in their order in `y`. Without shuffling the result
/// equals scikit-learn's exactly; with shuffling each class's block is permuted by
/// a [`SplitMix64`] generator seeded by `seed` (NumPy's generator differs, so the
/// membership differs from scikit-learn's while sizes and per-class counts do not).
///
/// Errors: `n_folds < 2`, empty `y`, or a class with fewer than `n_folds`
/// samples (naming it). scikit-learn only warns in that last case (and errors only
/// when every class is that small); here such a class would be missing from some
/// test folds, which makes per-fold balanced accuracy and kappa incomparable, so
/// it is refused.
pub fn stratified_kfold(
    y: &[usize],
    n_folds: usize,
    shuffle: bool,
    seed: u64,
) -> Result<Vec<usize>, EvalError> {
    check_n_folds(n_folds)?;
    kfold_assign(y, n_folds, shuffle, seed, "y")
}

fn kfold_assign(
    y: &[usize],
    n_folds: usize,
    shuffle: bool,
    seed: u64,
    group: &str,
) -> Result<Vec<usize>, EvalError> {
    if y.is_empty() {
        return Err(EvalError::Empty { what: "y" });
    }
    // Classes in order of first appearance, with their sample positions.
    let mut order: Vec<usize> = Vec::new();
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &c) in y.iter().enumerate() {
        members
            .entry(c)
            .or_insert_with(|| {
                order.push(c);
                Vec::new()
            })
            .push(i);
    }
    if let Some(&c) = order.iter().find(|c| members[c].len() < n_folds) {
        return Err(EvalError::ClassTooSmall {
            group: group.to_string(),
            class: c,
            count: members[&c].len(),
            needed: n_folds,
            why: format!("n_folds = {n_folds}: every test fold needs one trial of each class"),
        });
    }
    let mut rng = SplitMix64::new(seed);
    let mut assignment = vec![0usize; y.len()];
    let mut start = 0usize;
    for c in &order {
        let idx = &members[c];
        // Positions start..start+len of the class-sorted samples, dealt round-robin.
        let mut folds_for_class: Vec<usize> = Vec::with_capacity(idx.len());
        for f in 0..n_folds {
            let count = (start..start + idx.len()).filter(|p| p % n_folds == f).count();
            folds_for_class.extend(std::iter::repeat_n(f, count));
        }
        if shuffle {
            rng.shuffle(&mut folds_for_class);
        }
        for (&i, &f) in idx.iter().zip(&folds_for_class) {
            assignment[i] = f;
        }
        start += idx.len();
    }
    Ok(assignment)
}

/// Splits training trials into (train, validation) for early stopping,
/// stratified by class and at trial level, deterministically from `seed`.
///
/// Sizes follow scikit-learn's `train_test_split(test_size=fraction,
/// stratify=y)` (`StratifiedShuffleSplit`): `n_val = ceil(fraction · n)`; each
/// class gets `floor(count · n_val / n)` validation trials, and the remaining
/// ones go to the classes with the largest remainders, ties broken at random
/// (remainders compared exactly, as rationals). Which trials of a class are
/// chosen is random. Both returned lists are ascending trial indices.
///
/// Errors: `fraction` not in (0, 1); `train` empty, out of range or with
/// repeats; a class with fewer than 2 trials; fewer validation or remaining
/// training trials than classes (scikit-learn's conditions).
pub fn split_validation(
    trials: &[TrialMeta],
    train: &[usize],
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), EvalError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(EvalError::InvalidParameter {
            name: "fraction",
            reason: format!("must be strictly between 0 and 1, got {fraction}"),
        });
    }
    if train.is_empty() {
        return Err(EvalError::Empty { what: "train" });
    }
    let mut seen = HashSet::with_capacity(train.len());
    for &i in train {
        if i >= trials.len() {
            return Err(EvalError::InvalidParameter {
                name: "train",
                reason: format!("index {i} is out of range for {} trials", trials.len()),
            });
        }
        if !seen.insert(i) {
            return Err(EvalError::InvalidParameter {
                name: "train",
                reason: format!("index {i} is listed twice"),
            });
        }
    }
    let n = train.len();
    let n_val = (fraction * n as f64).ceil() as usize;
    let n_train = n - n_val.min(n);
    // Classes in ascending order, as numpy.unique orders them for scikit-learn.
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in train {
        by_class.entry(trials[i].class).or_default().push(i);
    }
    if let Some((&class, m)) = by_class.iter().find(|(_, m)| m.len() < 2) {
        return Err(EvalError::ClassTooSmall {
            group: "validation split".into(),
            class,
            count: m.len(),
            needed: 2,
            why: "a stratified validation split needs 2 trials per class".into(),
        });
    }
    let k = by_class.len();
    if n_train < k || n_val < k {
        return Err(EvalError::InvalidParameter {
            name: "fraction",
            reason: format!(
                "{fraction} of {n} trials gives {n_train} training and {n_val} validation trials; each must be at least the number of classes, {k}"
            ),
        });
    }
    let counts: Vec<usize> = by_class.values().map(Vec::len).collect();
    let mut rng = SplitMix64::new(seed);
    let n_val_per_class = approximate_mode(&counts, n_val, &mut rng);
    let (mut kept, mut val) = (Vec::with_capacity(n_train), Vec::with_capacity(n_val));
    for (members, &t) in by_class.values().zip(&n_val_per_class) {
        let mut m = members.clone();
        rng.shuffle(&mut m);
        val.extend_from_slice(&m[..t]);
        kept.extend_from_slice(&m[t..]);
    }
    kept.sort_unstable();
    val.sort_unstable();
    Ok((kept, val))
}

/// scikit-learn's `_approximate_mode`: `n_draws` split over classes in proportion
/// to `counts`, floors first, then one more to each of the largest remainders;
/// equal remainders draw at random. Remainders are the exact numerators
/// `count · n_draws mod total` over the common denominator `total`.
fn approximate_mode(counts: &[usize], n_draws: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let mut out: Vec<usize> = counts.iter().map(|&c| c * n_draws / total).collect();
    let rem: Vec<usize> = counts.iter().map(|&c| c * n_draws % total).collect();
    let mut need = n_draws - out.iter().sum::<usize>();
    let mut values: Vec<usize> = rem.clone();
    values.sort_unstable_by(|a, b| b.cmp(a));
    values.dedup();
    for v in values {
        if need == 0 {
            break;
        }
        let mut inds: Vec<usize> = (0..counts.len()).filter(|&i| rem[i] == v).collect();
        if inds.len() > need {
            rng.shuffle(&mut inds);
            inds.truncate(need);
        }
        for &i in &inds {
            out[i] += 1;
        }
        need -= inds.len();
    }
    out
}

/// A string ordered "naturally": runs of digits compare as numbers, so `sub-2`
/// sorts before `sub-10`; ties (`01` vs `1`) fall back to plain string order, so
/// the order is total and distinct strings never compare equal.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NaturalKey(String);

impl NaturalKey {
    fn new(s: String) -> Self {
        Self(s)
    }
}

impl Ord for NaturalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        natural_cmp(&self.0, &other.0).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for NaturalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = trim_zeros(&a[..da]);
                let nb = trim_zeros(&b[..db]);
                let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if o != Ordering::Equal {
                    return o;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|&&c| c == b'0').count();
    &d[z..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v: Vec<NaturalKey> = ["sub-10", "sub-2", "sub-1", "sub-01", "ses-b", "ses-a"]
            .iter()
            .map(|s| NaturalKey::new(s.to_string()))
            .collect();
        v.sort();
        let got: Vec<&str> = v.iter().map(|k| k.0.as_str()).collect();
        assert_eq!(got, ["ses-a", "ses-b", "sub-01", "sub-1", "sub-2", "sub-10"]);
    }

    #[test]
    fn approximate_mode_floors_then_remainders() {
        let mut rng = SplitMix64::new(0);
        // 3 draws over [10, 7, 5, 12] (total 34): continuous 0.88, 0.62, 0.44, 1.06.
        assert_eq!(approximate_mode(&[10, 7, 5, 12], 3, &mut rng), [1, 1, 0, 1]);
        assert_eq!(approximate_mode(&[4, 4], 8, &mut rng), [4, 4]);
        // Two equal remainders, one slot: either class, never both.
        let r = approximate_mode(&[5, 5], 3, &mut rng);
        assert!(r == [2, 1] || r == [1, 2], "{r:?}");
    }

    #[test]
    fn entry_matching() {
        let t = TrialMeta {
            subject: "sub-01".into(),
            session: "ses-01".into(),
            run: "run-1".into(),
            recording: 0,
            trial: 0,
            class: 0,
        };
        assert!(entry_matches("run-1", &t));
        assert!(entry_matches("sub-01/ses-01/run-1", &t));
        assert!(!entry_matches("sub-02/ses-01/run-1", &t));
        assert!(!entry_matches("ses-01/run-1", &t));
        assert!(!entry_matches("run-2", &t));
    }
}
