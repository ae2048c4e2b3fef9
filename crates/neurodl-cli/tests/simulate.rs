//! `neurodl simulate` end to end: a tiny dataset written, summarised, read back by
//! `neurodl info`, reproduced bit for bit from its seed, and protected from accidental
//! overwrites; bad flags are errors naming the flag.

use std::path::Path;
use std::process::{Command, Output};

fn neurodl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(args)
        .output()
        .expect("run neurodl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tiny(out: &Path, seed: &str, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "simulate",
        out,
        "--subjects",
        "2",
        "--runs",
        "2",
        "--trials-per-class",
        "2",
        "--sfreq",
        "128",
        "--seed",
        seed,
    ];
    args.extend_from_slice(extra);
    neurodl(&args)
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn simulate_writes_a_dataset_that_info_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sim");
    let run = tiny(&out, "5", &[]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let summary = text(&run.stdout);
    for needle in [
        "seed 5",
        "subjects     2",
        "recordings   4 (1 session(s) x 2 run(s) per subject)",
        "trials       16 (8 left_hand, 8 right_hand",
        "25 channels (22 EEG + 3 EOG) at 128 Hz",
        "neurodl info",
    ] {
        assert!(summary.contains(needle), "missing {needle:?} in:\n{summary}");
    }
    assert!(
        out.join("sub-01/eeg/sub-01_task-motorimagery_run-02_eeg.edf")
            .is_file()
    );
    assert!(out.join("sub-02/eeg/sub-02_electrodes.tsv").is_file());

    let info = neurodl(&["info", out.to_str().unwrap(), "--json"]);
    assert!(info.status.success(), "{}", text(&info.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&info.stdout)).unwrap();
    assert_eq!(v["format"], "BIDS");
    assert_eq!(v["n_subjects"], 2);
    assert_eq!(v["n_recordings"], 4);
    for rec in v["recordings"].as_array().unwrap() {
        assert_eq!(rec["format"], "EDF+");
        assert_eq!(rec["n_channels"], 25);
        assert_eq!(rec["sfreq"], 128.0);
        assert_eq!(rec["annotation_counts"]["left_hand"], 2);
        assert_eq!(rec["annotation_counts"]["right_hand"], 2);
        let types: Vec<&str> = rec["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types.iter().filter(|t| **t == "eog").count(), 3);
        assert!(rec["warnings"].is_null(), "{}", rec["warnings"]);
    }
    let participants = std::fs::read_to_string(out.join("participants.tsv")).unwrap();
    assert!(participants.starts_with("participant_id\t") && participants.contains("sim_erd_depth"));
    assert_eq!(participants.lines().count(), 3);

    // Plain-text info works on it too.
    let plain = neurodl(&["info", out.to_str().unwrap()]);
    assert!(plain.status.success());
    assert!(text(&plain.stdout).contains("2 subject(s), 4 EEG recording(s)"));
}

#[test]
fn same_seed_same_bytes_and_no_silent_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(tiny(&a, "5", &["--no-eog"]).status.success());
    assert!(tiny(&b, "5", &["--no-eog"]).status.success());
    assert_eq!(files_under(&a), files_under(&b), "same seed, same files");

    let again = tiny(&a, "5", &["--no-eog"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("pass --overwrite"),
        "{}",
        text(&again.stderr)
    );
    let replaced = tiny(&a, "6", &["--no-eog", "--overwrite"]);
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    assert_ne!(files_under(&a), files_under(&b), "another seed, other samples");
}

#[test]
fn bad_flags_are_errors_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    for (flags, needle) in [
        (&["--sfreq", "20"][..], "--sfreq"),
        (&["--line-freq", "55"][..], "--line-freq"),
        (&["--subjects", "0"][..], "--subjects"),
        (&["--trials-per-class", "0"][..], "--trials-per-class"),
    ] {
        let mut args = vec!["simulate", out.to_str().unwrap()];
        args.extend_from_slice(flags);
        let o = neurodl(&args);
        assert!(!o.status.success(), "{flags:?} should fail");
        let err = text(&o.stderr);
        assert!(err.contains(needle), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!out.exists(), "nothing written for refused flags");
    let help = neurodl(&["simulate", "--help"]);
    let help = text(&help.stdout);
    for needle in [
        "--trials-per-class",
        "--seed",
        "--no-eog",
        "--overwrite",
        "Examples:",
    ] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
}
