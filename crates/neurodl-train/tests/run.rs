//! End to end on a small simulated BIDS dataset: determinism, resumption after a kill, the run
//! record's contents, and the leakage guard.

use std::path::Path;

use neurodl_signal::simulate::{MotorImageryConfig, write_bids};
use neurodl_train::{Experiment, RunOptions, RunSummary, TrainError, run_experiment};

fn simulate(root: &Path) {
    let cfg = MotorImageryConfig {
        n_subjects: 2,
        n_runs: 1,
        trials_per_class_per_run: 9,
        sfreq: 128.0,
        with_eog: false,
        seed: 3,
        ..MotorImageryConfig::default()
    };
    write_bids(&cfg, root, false).expect("simulated dataset");
}

fn experiment(root: &Path, protocol: &str) -> Experiment {
    let text = format!(
        r#"
name = "tiny"
seed = 11
[dataset]
bids_root = "{}"
[events]
left_hand = "left_hand"
right_hand = "right_hand"
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
[windows]
trial_start_offset_s = 0.5
window_size_s = 1.5
window_stride_s = 0.5
drop_last_window = false
[[decoder]]
model = "ShallowFBCSPNet"
[[decoder]]
baseline = "csp-lda"
[training]
epochs = 3
batch_size = 16
lr = 0.001
[evaluation]
protocol = {protocol}
"#,
        root.display()
    );
    Experiment::from_toml_str(&text, "tiny.toml").expect("experiment parses")
}

fn run(
    exp: &Experiment,
    dir: &Path,
    resume: bool,
    interrupt: Option<usize>,
) -> Result<RunSummary, TrainError> {
    run_experiment(
        exp,
        &RunOptions {
            out_dir: dir.to_path_buf(),
            resume,
            interrupt_after_epochs: interrupt,
            progress: &|_| {},
        },
    )
}

#[test]
fn runs_are_deterministic_resumable_and_fully_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    simulate(&data);
    let exp = experiment(&data, r#"{ kind = "within-session", n_folds = 3 }"#);

    let a = run(&exp, &tmp.path().join("a"), false, None).unwrap();
    assert!(a.complete);
    // 2 subjects x 3 folds x 2 decoders.
    assert_eq!(a.folds.len(), 12);
    let metrics_a = std::fs::read_to_string(tmp.path().join("a/metrics.json")).unwrap();

    // Same config, data and seed: identical metrics, curves included.
    let b = run(&exp, &tmp.path().join("b"), false, None).unwrap();
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("b/metrics.json")).unwrap(),
        metrics_a
    );
    assert_eq!(a.folds.len(), b.folds.len());

    // Killed in the middle of the second fold's training (3 + 1 epochs), then resumed.
    let c_dir = tmp.path().join("c");
    let c = run(&exp, &c_dir, false, Some(4)).unwrap();
    assert!(!c.complete);
    assert_eq!(c.folds.len(), 1, "only the first fold finished");
    assert!(!c_dir.join("metrics.json").exists());
    let ck = std::fs::read_dir(c_dir.join("checkpoints/shallowfbcspnet"))
        .unwrap()
        .count();
    assert_eq!(ck, 1, "one fold has a checkpoint");
    // A half-written checkpoint of a later epoch (killed while writing) must be ignored.
    let fold_ck = std::fs::read_dir(c_dir.join("checkpoints/shallowfbcspnet"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::create_dir_all(fold_ck.join("epoch-0002.partial")).unwrap();
    assert!(fold_ck.join("epoch-0001").is_dir());
    let c = run(&exp, &c_dir, true, None).unwrap();
    assert!(c.complete);
    assert_eq!(
        std::fs::read_to_string(c_dir.join("metrics.json")).unwrap(),
        metrics_a
    );

    // Resuming with a different experiment is refused.
    let mut other = exp.clone();
    other.training.epochs = 4;
    let err = run(&other, &c_dir, true, None).unwrap_err().to_string();
    assert!(err.contains("differs"), "{err}");
    // Starting over into a used folder is refused.
    let err = run(&exp, &c_dir, false, None).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");

    // The record.
    let dir = tmp.path().join("a");
    for f in [
        "config.toml",
        "environment.json",
        "data.json",
        "split.json",
        "metrics.json",
        "metrics.csv",
        "summary.csv",
        "timings.csv",
        "report.html",
        "plots/accuracy.png",
        "plots/confusion-shallowfbcspnet.png",
        "plots/confusion-csp-lda.png",
        "plots/loss-shallowfbcspnet.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let weights = std::fs::read_dir(dir.join("weights")).unwrap().count();
    assert_eq!(weights, 6, "one weights file per deep-model fold");
    assert!(
        !dir.join("checkpoints/shallowfbcspnet")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert_eq!(Experiment::from_toml_str(&config, "config.toml").unwrap(), exp);
    let data_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    let recs = data_json["recordings"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["sha256"].as_str().unwrap().len(), 64);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.matches("data:image/png;base64,").count() >= 5);
    assert!(!html.contains("src=\"http"));
    assert!(html.contains("ShallowFBCSPNet") && html.contains("CSP+LDA"));
    // The split names trials, and no trial is on both sides of a fold.
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("split.json")).unwrap()).unwrap();
    for fold in split.as_array().unwrap() {
        let train: Vec<&str> = fold["train"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for t in fold["test"].as_array().unwrap() {
            assert!(!train.contains(&t.as_str().unwrap()));
        }
    }
    // Windows overlap within trials (stride < size), but scores are per trial: each fold's test
    // set is a third of a subject's 18 trials.
    for f in &a.folds {
        assert_eq!(f.n_test_trials, 6);
        assert_eq!(f.scores.n, 6);
    }
}

#[test]
fn leaky_or_impossible_protocols_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    simulate(&data);
    // The same recording listed for training and testing.
    let exp = experiment(
        &data,
        r#"{ kind = "train-test", train = ["01/0/task-motorimagery"], test = ["task-motorimagery"] }"#,
    );
    let err = run(&exp, &tmp.path().join("leak"), false, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("01"), "{err}");
    // Cross-session with one session per subject.
    let exp = experiment(&data, r#"{ kind = "cross-session" }"#);
    let err = run(&exp, &tmp.path().join("xs"), false, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("session"), "{err}");
    // Cross-subject works: each fold tests one subject it never trained on.
    let mut exp = experiment(&data, r#"{ kind = "cross-subject" }"#);
    exp.decoders.remove(0);
    let s = run(&exp, &tmp.path().join("xsub"), false, None).unwrap();
    assert_eq!(s.folds.len(), 2);
    for f in &s.folds {
        assert_eq!(f.test_subjects.len(), 1);
        assert_eq!(f.n_train_trials, 18);
    }
}

#[test]
fn early_stopping_and_cross_session_folds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = MotorImageryConfig {
        n_subjects: 1,
        n_sessions: 2,
        n_runs: 1,
        trials_per_class_per_run: 8,
        sfreq: 128.0,
        with_eog: false,
        seed: 9,
        ..MotorImageryConfig::default()
    };
    write_bids(&cfg, &data, false).expect("simulated dataset");
    let mut exp = experiment(&data, r#"{ kind = "cross-session" }"#);
    exp.training.epochs = 30;
    exp.training.early_stopping = Some(neurodl_train::experiment::EarlyStopping {
        validation_fraction: 0.25,
        patience: 2,
    });
    exp.training.class_weighting = true;
    let s = run(&exp, &tmp.path().join("run"), false, None).unwrap();
    // One fold per session, each testing on the session it did not train on.
    assert_eq!(
        s.folds.iter().filter(|f| f.decoder == "ShallowFBCSPNet").count(),
        2
    );
    for f in s.folds.iter().filter(|f| f.decoder == "ShallowFBCSPNet") {
        assert_eq!(f.n_test_trials, 16);
        assert_eq!(f.n_train_trials + f.n_valid_trials, 16);
        assert_eq!(f.n_valid_trials, 4, "a stratified quarter of the training trials");
        assert!(f.history.iter().all(|r| r.valid_loss.is_some()));
        let best = f.history[f.best_epoch - 1].valid_loss.unwrap();
        assert!(
            f.history.iter().all(|r| r.valid_loss.unwrap() >= best),
            "best epoch has the lowest validation loss"
        );
        if f.stopped_early {
            assert_eq!(
                f.history.len(),
                f.best_epoch + 2,
                "stopped after `patience` epochs without improvement"
            );
        }
    }
    // The baseline gets the whole training session (no validation split).
    for f in s.folds.iter().filter(|f| f.decoder == "CSP+LDA") {
        assert_eq!((f.n_train_trials, f.n_valid_trials), (16, 0));
    }
}

/// The committed example experiments stay valid, and point at the shared PhysioNet runs.
#[test]
fn example_experiments_parse_and_name_the_shared_runs() {
    let root = neurodl_io::testdata::repo_root().join("examples/experiments");
    for (file, runs) in [
        ("eegmmidb_imagery_fists_feet.toml", ["S001R06.edf", "S001R10.edf"]),
        ("eegmmidb_imagery_left_right.toml", ["S001R04.edf", "S001R08.edf"]),
    ] {
        let exp = Experiment::from_file(&root.join(file)).unwrap();
        let names: Vec<String> = exp.decoders_display_names();
        assert_eq!(names, ["ShallowFBCSPNet", "EEGNet", "CSP+LDA", "TS+LR"], "{file}");
        let files: Vec<String> = exp
            .dataset
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, runs, "{file}");
        if neurodl_io::testdata::shared_data_dir().is_some() {
            for f in &exp.dataset.files {
                assert!(f.is_file(), "{file}: {} not found", f.display());
            }
        }
    }
}
