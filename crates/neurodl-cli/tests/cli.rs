//! The `neurodl` binary end to end: `info` (text and JSON), `convert`, and the
//! errors a user sees for bad input (exit status 1, a message naming the file, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neurodl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(args)
        .output()
        .expect("run neurodl")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample() -> String {
    repo().join("examples/data/sample_eeg.edf").display().to_string()
}

fn shared(rel: &str) -> Option<PathBuf> {
    let dir = neurodl_io::testdata::shared_data_dir()?;
    let p = dir.join(rel);
    p.exists().then_some(p)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn info_prints_a_readable_summary() {
    let out = neurodl(&["info", &sample()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "EDF+",
        "20.000 s",
        "2560 samples at 128 Hz",
        "EEG     8",
        "EOG     1",
        "\"blink\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn info_json_has_the_documented_keys() {
    let out = neurodl(&["info", &sample(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["format"], "EDF+");
    assert_eq!(v["n_channels"], 10);
    assert_eq!(v["n_samples"], 2560);
    assert_eq!(v["duration_s"], 20.0);
    assert_eq!(v["channels"][8]["name"], "EOG V");
    assert_eq!(v["channels"][8]["type"], "eog");
    assert_eq!(v["channels"][0]["unit"], "V");
    assert_eq!(v["channels"][0]["sfreq"], 128.0);
    assert_eq!(v["annotations"].as_array().unwrap().len(), 12);
    assert_eq!(v["annotations"][0]["description"], "stimulus/right");
    assert_eq!(v["annotation_counts"]["blink"], 3);
}

#[test]
fn info_works_on_every_supported_real_file_and_the_bids_folder() {
    let Some(data) = neurodl_io::testdata::shared_data_dir() else {
        return;
    };
    let mut files = Vec::new();
    collect(&data.join("eeg"), &mut files);
    let mut checked = 0;
    for f in files {
        let supported = matches!(
            f.extension().and_then(|e| e.to_str()),
            Some("edf" | "bdf" | "vhdr" | "set")
        );
        let out = neurodl(&["info", f.to_str().unwrap(), "--json"]);
        if supported {
            assert!(out.status.success(), "{}: {}", f.display(), stderr(&out));
            let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
            assert!(v["n_channels"].as_u64().unwrap() > 0, "{}", f.display());
            checked += 1;
        } else if f
            .extension()
            .is_some_and(|e| ["cnt", "xdf", "avr", "csv"].contains(&e.to_str().unwrap()))
        {
            // Formats neurodl does not read yet: a clear refusal, not a crash.
            assert_eq!(out.status.code(), Some(1), "{}", f.display());
            assert!(
                stderr(&out).contains("unsupported"),
                "{}: {}",
                f.display(),
                stderr(&out)
            );
        }
    }
    assert!(checked >= 14, "only {checked} files checked");
    if let Some(bids) = shared("eeg/eeglab/test_data/BIDS_test") {
        let out = neurodl(&["info", bids.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["format"], "BIDS");
        assert_eq!(v["n_recordings"], 1);
        assert_eq!(v["recordings"][0]["entities"]["subject"], "S1");
        assert_eq!(v["recordings"][0]["session"], "01");
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.extension().is_none_or(|e| e != "mff") {
                collect(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

#[test]
fn convert_writes_edf_and_bdf_that_read_back() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["edf", "bdf"] {
        let target = dir.path().join(format!("copy.{ext}"));
        let out = neurodl(&["convert", &sample(), target.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("largest quantisation error"));
        let info = neurodl(&["info", target.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
        assert_eq!(v["n_samples"], 2560);
        assert_eq!(v["annotations"].as_array().unwrap().len(), 12);
        // Refuses to overwrite unless asked.
        let again = neurodl(&["convert", &sample(), target.to_str().unwrap()]);
        assert_eq!(again.status.code(), Some(1));
        assert!(stderr(&again).contains("--overwrite"));
        assert!(
            neurodl(&["convert", &sample(), target.to_str().unwrap(), "--overwrite"])
                .status
                .success()
        );
    }
}

#[test]
fn bad_input_gives_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("cut.edf");
    std::fs::write(&truncated, &std::fs::read(sample()).unwrap()[..3000]).unwrap();
    let garbage = dir.path().join("garbage.vhdr");
    std::fs::write(&garbage, "not a header\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["info".into(), "/no/such/file.edf".into()], "no such file"),
        (vec!["info".into(), truncated.display().to_string()], "cut.edf"),
        (vec!["info".into(), garbage.display().to_string()], "garbage.vhdr"),
        (
            vec!["info".into(), dir.path().display().to_string()],
            "dataset_description.json",
        ),
        (
            vec![
                "convert".into(),
                sample(),
                dir.path().join("x.wav").display().to_string(),
            ],
            "use .edf (EDF+) or .bdf (BDF+)",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = neurodl(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
