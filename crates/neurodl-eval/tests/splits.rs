//! Splits: stratified k-fold and validation allocation against scikit-learn
//! 1.9.1 (`tests/golden/eval/splits.json`), the protocols, determinism, and the
//! leakage guard fed folds that leak in each way it refuses. All comparisons
//! are exact (integers).

use std::collections::BTreeSet;

use neurodl_eval::{
    EvalError, Fold, Protocol, TrialMeta, check_no_leakage, make_folds, split_validation, stratified_kfold,
};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/golden/eval/splits.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("splits golden")).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn allocation(y: &[usize], folds: &[usize], k: usize) -> Vec<Vec<usize>> {
    let n_classes = y.iter().max().unwrap() + 1;
    (0..k)
        .map(|f| {
            (0..n_classes)
                .map(|c| {
                    y.iter()
                        .zip(folds)
                        .filter(|&(&yc, &fo)| yc == c && fo == f)
                        .count()
                })
                .collect()
        })
        .collect()
}

#[test]
fn stratified_kfold_matches_sklearn() {
    let g = golden();
    for c in g["stratified_kfold"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let y = usizes(&c["y"]);
        let k = c["n_splits"].as_u64().unwrap() as usize;
        let want_alloc: Vec<Vec<usize>> = c["allocation"].as_array().unwrap().iter().map(usizes).collect();
        // Unshuffled: scikit-learn's exact assignment.
        let plain = stratified_kfold(&y, k, false, 0).unwrap();
        assert_eq!(plain, usizes(&c["test_folds_no_shuffle"]), "{name}");
        // Shuffled: other members, same sizes and per-class counts, for any seed.
        for seed in [0, 1, 42, u64::MAX] {
            let folds = stratified_kfold(&y, k, true, seed).unwrap();
            assert_eq!(allocation(&y, &folds, k), want_alloc, "{name} seed {seed}");
            let sizes: Vec<usize> = (0..k)
                .map(|f| folds.iter().filter(|&&x| x == f).count())
                .collect();
            assert_eq!(sizes, usizes(&c["fold_sizes"]), "{name} seed {seed}");
        }
        let a = stratified_kfold(&y, k, true, 3).unwrap();
        assert_eq!(
            a,
            stratified_kfold(&y, k, true, 3).unwrap(),
            "{name}: same seed, same folds"
        );
        if y.len() > 2 * k {
            assert_ne!(a, plain, "{name}: shuffling changed nothing");
        }
    }
}

#[test]
fn stratified_kfold_errors() {
    let e = stratified_kfold(&[0, 0, 0, 1, 1, 0, 0], 3, true, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "y: class 1 has only 2 trial(s), fewer than 3 (n_folds = 3: every test fold needs one trial of each class)"
    );
    assert!(matches!(
        stratified_kfold(&[0, 1, 0, 1], 1, true, 0),
        Err(EvalError::InvalidParameter { name: "n_folds", .. })
    ));
    assert_eq!(
        stratified_kfold(&[], 2, true, 0).unwrap_err(),
        EvalError::Empty { what: "y" }
    );
}

fn trials_from_y(y: &[usize]) -> Vec<TrialMeta> {
    y.iter()
        .enumerate()
        .map(|(i, &c)| TrialMeta {
            subject: "sub-01".into(),
            session: "ses-01".into(),
            run: format!("run-{}", i % 3),
            recording: (i % 3) as u32,
            trial: i as u32,
            class: c,
        })
        .collect()
}

#[test]
fn validation_split_allocation_matches_sklearn() {
    let g = golden();
    for c in g["validation"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let y = usizes(&c["y"]);
        let trials = trials_from_y(&y);
        let train: Vec<usize> = (0..y.len()).collect();
        let frac = c["fraction"].as_f64().unwrap();
        if !c["error"].is_null() {
            let e = split_validation(&trials, &train, frac, 0).unwrap_err();
            let sk = c["error"].as_str().unwrap();
            // Same condition as scikit-learn's refusal, in this crate's words.
            if sk.contains("least populated") {
                assert!(
                    matches!(
                        e,
                        EvalError::ClassTooSmall {
                            count: 1,
                            needed: 2,
                            ..
                        }
                    ),
                    "{name}: {e}"
                );
            } else {
                assert!(
                    e.to_string().contains("at least the number of classes, 3"),
                    "{name}: {e}"
                );
            }
            continue;
        }
        let seen: BTreeSet<Vec<usize>> = c["val_counts_seen"]
            .as_array()
            .unwrap()
            .iter()
            .map(usizes)
            .collect();
        let mut outcomes = BTreeSet::new();
        for seed in 0..40 {
            let (kept, val) = split_validation(&trials, &train, frac, seed).unwrap();
            assert_eq!(val.len(), c["n_val"].as_u64().unwrap() as usize, "{name}");
            assert_eq!(kept.len() + val.len(), y.len());
            let all: BTreeSet<usize> = kept.iter().chain(&val).copied().collect();
            assert_eq!(all.len(), y.len(), "{name}: a trial on both sides or lost");
            assert!(kept.windows(2).all(|w| w[0] < w[1]) && val.windows(2).all(|w| w[0] < w[1]));
            let n_classes = seen.iter().next().unwrap().len();
            let counts: Vec<usize> = (0..n_classes)
                .map(|k| val.iter().filter(|&&i| trials[i].class == k).count())
                .collect();
            assert!(
                seen.contains(&counts),
                "{name} seed {seed}: {counts:?} not among scikit-learn's {seen:?}"
            );
            outcomes.insert(counts);
        }
        // Where scikit-learn's tie-break is random, ours is too.
        assert_eq!(
            outcomes.len() > 1,
            seen.len() > 1,
            "{name}: {outcomes:?} vs {seen:?}"
        );
    }
}

#[test]
fn validation_split_is_deterministic_and_checks_input() {
    let y: Vec<usize> = (0..30).map(|i| i % 3).collect();
    let trials = trials_from_y(&y);
    let train: Vec<usize> = (0..30).filter(|i| i % 5 != 0).collect();
    let a = split_validation(&trials, &train, 0.25, 9).unwrap();
    assert_eq!(a, split_validation(&trials, &train, 0.25, 9).unwrap());
    assert_ne!(a, split_validation(&trials, &train, 0.25, 10).unwrap());
    assert!(a.0.iter().chain(&a.1).all(|i| train.contains(i)));
    // 24 trials, 8 per class: ceil(6) = 6 validation trials, 2 per class.
    for k in 0..3 {
        assert_eq!(a.1.iter().filter(|&&i| trials[i].class == k).count(), 2);
    }
    for bad in [0.0, 1.0, -0.1, f64::NAN] {
        let e = split_validation(&trials, &train, bad, 0).unwrap_err();
        assert!(
            matches!(e, EvalError::InvalidParameter { name: "fraction", .. }),
            "{bad}: {e}"
        );
    }
    let e = split_validation(&trials, &[1, 2, 40], 0.2, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid parameter train: index 40 is out of range for 30 trials"
    );
    let e = split_validation(&trials, &[1, 2, 2], 0.2, 0).unwrap_err();
    assert_eq!(e.to_string(), "invalid parameter train: index 2 is listed twice");
    assert_eq!(
        split_validation(&trials, &[], 0.2, 0).unwrap_err(),
        EvalError::Empty { what: "train" }
    );
}

/// Two subjects × two sessions × two runs × 10 trials, classes 0..2 alternating;
/// ids in natural order that string order would get wrong (`sub-2` < `sub-10`).
fn dataset() -> Vec<TrialMeta> {
    let mut out = Vec::new();
    let mut recording = 0;
    for subject in ["sub-10", "sub-2"] {
        for session in ["ses-01", "ses-02"] {
            for run in ["run-0", "run-1"] {
                for t in 0..10 {
                    out.push(TrialMeta {
                        subject: subject.into(),
                        session: session.into(),
                        run: run.into(),
                        recording,
                        trial: t,
                        class: (t as usize + recording as usize) % 2,
                    });
                }
                recording += 1;
            }
        }
    }
    out
}

#[test]
fn within_session_folds() {
    let trials = dataset();
    let p = Protocol::WithinSession {
        n_folds: 5,
        shuffle: true,
    };
    let folds = make_folds(&p, &trials, 7).unwrap();
    assert_eq!(folds.len(), 4 * 5);
    assert_eq!(folds[0].name, "sub-2/ses-01/fold-1");
    assert_eq!(folds[0].group, "sub-2/ses-01");
    assert_eq!(folds[19].name, "sub-10/ses-02/fold-5");
    for group in folds.chunks(5) {
        let mut tested = BTreeSet::new();
        for f in group {
            assert_eq!(f.test.len(), 4, "{}", f.name);
            assert_eq!(f.train.len(), 16, "{}", f.name);
            // 20 trials, 10 per class, 5 folds: 2 of each class per test fold.
            assert_eq!(
                f.test.iter().filter(|&&i| trials[i].class == 0).count(),
                2,
                "{}",
                f.name
            );
            assert!(
                f.test
                    .iter()
                    .chain(&f.train)
                    .all(|&i| format!("{}/{}", trials[i].subject, trials[i].session) == f.group)
            );
            assert!(f.test.windows(2).all(|w| w[0] < w[1]) && f.train.windows(2).all(|w| w[0] < w[1]));
            tested.extend(f.test.iter().copied());
        }
        assert_eq!(tested.len(), 20, "every trial of the session is tested once");
    }
    assert_eq!(
        folds,
        make_folds(&p, &trials, 7).unwrap(),
        "same seed, same folds"
    );
    assert_ne!(folds, make_folds(&p, &trials, 8).unwrap());
    // The input order of groups does not matter, and one group's folds depend
    // only on its own trials: reversing the list of trials by subject keeps each
    // session's fold membership (in terms of trial ids).
    let mut swapped: Vec<TrialMeta> = trials[40..].to_vec();
    swapped.extend_from_slice(&trials[..40]);
    let folds2 = make_folds(&p, &swapped, 7).unwrap();
    let ids = |ts: &[TrialMeta], f: &Fold| -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = f.test.iter().map(|&i| (ts[i].recording, ts[i].trial)).collect();
        v.sort();
        v
    };
    for (a, b) in folds.iter().zip(&folds2) {
        assert_eq!(a.name, b.name);
        assert_eq!(ids(&trials, a), ids(&swapped, b), "{}", a.name);
    }
    // Unshuffled folds do not depend on the seed.
    let plain = Protocol::WithinSession {
        n_folds: 5,
        shuffle: false,
    };
    assert_eq!(
        make_folds(&plain, &trials, 1).unwrap(),
        make_folds(&plain, &trials, 2).unwrap()
    );
}

#[test]
fn within_session_refuses_small_classes() {
    let trials = dataset();
    let p = Protocol::WithinSession {
        n_folds: 11,
        shuffle: true,
    };
    let e = make_folds(&p, &trials, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sub-2/ses-01: class 0 has only 10 trial(s), fewer than 11 (n_folds = 11: every test fold needs one trial of each class)"
    );
    let e = make_folds(
        &Protocol::WithinSession {
            n_folds: 1,
            shuffle: true,
        },
        &trials,
        0,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid parameter n_folds: must be at least 2, got 1"
    );
}

#[test]
fn cross_session_and_cross_subject_folds() {
    let trials = dataset();
    let folds = make_folds(&Protocol::CrossSession, &trials, 0).unwrap();
    let names: Vec<&str> = folds.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sub-2/test-ses-01",
            "sub-2/test-ses-02",
            "sub-10/test-ses-01",
            "sub-10/test-ses-02"
        ]
    );
    for f in &folds {
        assert_eq!((f.train.len(), f.test.len()), (20, 20), "{}", f.name);
        assert!(
            f.train
                .iter()
                .chain(&f.test)
                .all(|&i| trials[i].subject == f.group)
        );
    }
    let folds = make_folds(&Protocol::CrossSubject, &trials, 0).unwrap();
    let names: Vec<&str> = folds.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["test-sub-2", "test-sub-10"]);
    assert_eq!(folds[0].test, (40..80).collect::<Vec<_>>());
    assert_eq!(folds[0].train, (0..40).collect::<Vec<_>>());
    assert!(folds.iter().all(|f| f.group == "all"));

    let one_subject: Vec<TrialMeta> = trials[..40].to_vec();
    let e = make_folds(&Protocol::CrossSubject, &one_subject, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cross-subject needs at least 2 subjects; all 40 trials belong to subject \"sub-10\""
    );
    let mut one_session = trials.clone();
    for t in one_session.iter_mut().filter(|t| t.subject == "sub-2") {
        t.session = "ses-01".into();
    }
    let e = make_folds(&Protocol::CrossSession, &one_session, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cross-session needs at least 2 sessions per subject; 1 subject(s) have a single session: sub-2 (\"ses-01\")"
    );
}

#[test]
fn train_test_folds_and_matching() {
    let trials = dataset();
    let p = Protocol::TrainTest {
        train: vec!["run-0".into()],
        test: vec!["sub-2/ses-02/run-1".into()],
    };
    let folds = make_folds(&p, &trials, 0).unwrap();
    assert_eq!(folds.len(), 1);
    assert_eq!(
        (folds[0].name.as_str(), folds[0].group.as_str()),
        ("train-test", "all")
    );
    assert_eq!(folds[0].train.len(), 40, "run-0 of every subject and session");
    assert_eq!(folds[0].test, (70..80).collect::<Vec<_>>());

    let p = Protocol::TrainTest {
        train: vec!["run-0".into(), "run-7".into()],
        test: vec!["run-1".into()],
    };
    let e = make_folds(&p, &trials, 0).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("train-test: train entry \"run-7\" matches no trial"),
        "{e}"
    );
    let p = Protocol::TrainTest {
        train: vec!["run-0".into()],
        test: vec!["sub-10/ses-01/run-0".into()],
    };
    let e = make_folds(&p, &trials, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold train-test: 1 run(s) on both train and test sides: sub-10/ses-01/run-0"
    );
    let p = Protocol::TrainTest {
        train: vec![],
        test: vec!["run-1".into()],
    };
    assert!(matches!(
        make_folds(&p, &trials, 0),
        Err(EvalError::InvalidParameter { name: "train", .. })
    ));
}

#[test]
fn make_folds_refuses_bad_trial_lists() {
    let mut trials = dataset();
    trials[5].trial = 4;
    let e = make_folds(&Protocol::CrossSubject, &trials, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "trials[4] and trials[5] are both (recording 0, trial 4); one entry per trial is expected, not per window"
    );
    let mut trials = dataset();
    trials[3].run = "run-9".into();
    let e = make_folds(&Protocol::CrossSubject, &trials, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "recording 0 is sub-10/ses-01/run-0 in trials[0] but sub-10/ses-01/run-9 in trials[3]"
    );
    assert_eq!(
        make_folds(&Protocol::CrossSubject, &[], 0).unwrap_err(),
        EvalError::Empty { what: "trials" }
    );
}

#[test]
fn protocol_serde() {
    let p: Protocol = serde_json::from_str(r#"{"kind":"within-session"}"#).unwrap();
    assert_eq!(
        p,
        Protocol::WithinSession {
            n_folds: 5,
            shuffle: true
        }
    );
    let p: Protocol =
        serde_json::from_str(r#"{"kind":"within-session","n_folds":3,"shuffle":false}"#).unwrap();
    assert_eq!(
        p,
        Protocol::WithinSession {
            n_folds: 3,
            shuffle: false
        }
    );
    let p: Protocol = serde_json::from_str(r#"{"kind":"cross-subject"}"#).unwrap();
    assert_eq!((p.name(), p), ("cross-subject", Protocol::CrossSubject));
    let p = Protocol::TrainTest {
        train: vec!["0train".into()],
        test: vec!["1test".into()],
    };
    let text = serde_json::to_string(&p).unwrap();
    assert_eq!(
        text,
        r#"{"kind":"train-test","train":["0train"],"test":["1test"]}"#
    );
    assert_eq!(serde_json::from_str::<Protocol>(&text).unwrap(), p);
    assert!(serde_json::from_str::<Protocol>(r#"{"kind":"within-session","n_fold":3}"#).is_err());
    assert!(serde_json::from_str::<Protocol>(r#"{"kind":"leave-one-out"}"#).is_err());
}

// ---- the leakage guard, fed folds that leak ----

fn fold(train: Vec<usize>, test: Vec<usize>) -> Fold {
    Fold {
        name: "bad".into(),
        group: "all".into(),
        train,
        test,
    }
}

const WITHIN: Protocol = Protocol::WithinSession {
    n_folds: 5,
    shuffle: true,
};

#[test]
fn guard_accepts_every_fold_make_folds_builds() {
    let trials = dataset();
    let tt = Protocol::TrainTest {
        train: vec!["run-0".into()],
        test: vec!["run-1".into()],
    };
    for p in [WITHIN, Protocol::CrossSession, Protocol::CrossSubject, tt] {
        for f in make_folds(&p, &trials, 0).unwrap() {
            check_no_leakage(&p, &trials, &f).unwrap();
        }
    }
}

#[test]
fn guard_refuses_bad_indices() {
    let trials = dataset();
    let e = check_no_leakage(&WITHIN, &trials, &fold(vec![0, 1, 80, 95], vec![2])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 2 train index(es) out of range for 80 trials: 80, 95"
    );
    let e = check_no_leakage(&WITHIN, &trials, &fold(vec![0, 1], vec![2, 3, 2])).unwrap_err();
    assert_eq!(e.to_string(), "fold bad: 1 test index(es) listed twice: 2");
    let e = check_no_leakage(&WITHIN, &trials, &fold((0..10).collect(), (3..12).collect())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 7 index(es) on both train and test sides: 3, 4, 5, 6, 7 and 2 more"
    );
    let e = check_no_leakage(&WITHIN, &trials, &fold(vec![], vec![1])).unwrap_err();
    assert_eq!(e.to_string(), "fold bad: the train side is empty");
}

#[test]
fn guard_refuses_a_trial_on_both_sides() {
    // The same (recording, trial) under two indices: what passing windows as
    // trials would produce.
    let mut trials = dataset();
    trials[1].trial = 0;
    trials[12].trial = 3;
    trials[12].recording = 0;
    let e = check_no_leakage(&WITHIN, &trials, &fold(vec![0, 3, 5], vec![1, 12, 7])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 2 trial(s) on both train and test sides: (recording 0, trial 0), (recording 0, trial 3)"
    );
    assert!(matches!(
        e,
        EvalError::Leakage {
            unit: "trial",
            count: 2,
            ..
        }
    ));
}

#[test]
fn guard_refuses_units_the_protocol_keeps_whole() {
    let trials = dataset();
    // Within-session folds may share subjects, sessions, runs and recordings.
    let mixed = fold(vec![0, 2, 40], vec![1, 3, 41]);
    check_no_leakage(&WITHIN, &trials, &mixed).unwrap();

    let e = check_no_leakage(&Protocol::CrossSubject, &trials, &mixed).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 2 subject(s) on both train and test sides: sub-10, sub-2"
    );

    // Session: sub-10/ses-01 on both sides; different recordings (runs) so
    // only the session rule fires.
    let e = check_no_leakage(&Protocol::CrossSession, &trials, &fold(vec![0, 20], vec![10])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 1 session(s) on both train and test sides: sub-10/ses-01"
    );
    // Same subject, different sessions: allowed.
    check_no_leakage(&Protocol::CrossSession, &trials, &fold(vec![0, 1], vec![20, 21])).unwrap();

    let tt = Protocol::TrainTest {
        train: vec!["run-0".into()],
        test: vec!["run-1".into()],
    };
    let e = check_no_leakage(&tt, &trials, &fold(vec![0, 10], vec![1, 20])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 1 run(s) on both train and test sides: sub-10/ses-01/run-0"
    );
    check_no_leakage(&tt, &trials, &fold(vec![0, 1], vec![10, 11])).unwrap();

    // A recording whose trials claim two runs: the run rule passes, the
    // recording rule catches it.
    let mut inconsistent = trials.clone();
    inconsistent[1].run = "run-1".into();
    let e = check_no_leakage(&tt, &inconsistent, &fold(vec![0], vec![1])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 1 recording(s) on both train and test sides: 0"
    );
}

#[test]
fn guard_lists_the_first_few_ids_and_the_count() {
    let trials = dataset();
    let many: Vec<TrialMeta> = (0..12u32)
        .map(|s| TrialMeta {
            subject: format!("sub-{s}"),
            recording: 100 + s,
            ..trials[0].clone()
        })
        .chain((0..12u32).map(|s| TrialMeta {
            subject: format!("sub-{s}"),
            recording: 200 + s,
            ..trials[0].clone()
        }))
        .collect();
    let e = check_no_leakage(
        &Protocol::CrossSubject,
        &many,
        &fold((0..12).collect(), (12..24).collect()),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "fold bad: 12 subject(s) on both train and test sides: sub-0, sub-1, sub-2, sub-3, sub-4 and 7 more"
    );
}
