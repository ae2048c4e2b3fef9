//! `neurodl preprocess` end to end: flags in order, pipeline files, EDF+/BDF+
//! output with annotations, and clear errors.

use std::path::Path;
use std::process::Command;

use neurodl_io::open_recording;
use neurodl_io::testdata::shared_data_dir;
use neurodl_signal::pipeline::Pipeline;

fn neurodl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(args)
        .output()
        .expect("run neurodl")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn flags_match_the_library_pipeline_and_keep_annotations() {
    let Some(data) = shared_data_dir() else { return };
    let input = data.join("eeg/eegmmidb/S001R03.edf");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bdf");
    let o = neurodl(&[
        "preprocess",
        s(&input),
        s(&out),
        "--pick-types",
        "eeg",
        "--bandpass",
        "4",
        "38",
        "--resample",
        "100",
        "--reference",
        "average",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = open_recording(&out).unwrap().read_all().unwrap();
    assert_eq!(written.info.sfreq, 100.0);
    assert_eq!(written.info.n_samples, 12500);
    assert_eq!(written.info.channels.len(), 64);

    let mut expected = open_recording(&input).unwrap().read_all().unwrap();
    let pipeline = Pipeline::from_toml_str(
        "[[step]]\nop = \"pick_types\"\ntypes = [\"eeg\"]\n[[step]]\nop = \"filter\"\nl_freq = 4.0\nh_freq = 38.0\n\
         [[step]]\nop = \"resample\"\nsfreq = 100.0\n[[step]]\nop = \"average_reference\"\n",
        "<test>",
    )
    .unwrap();
    pipeline.apply(&mut expected).unwrap();
    assert_eq!(written.info.annotations.len(), expected.info.annotations.len());
    for (a, b) in written.info.annotations.iter().zip(&expected.info.annotations) {
        assert_eq!(a.description, b.description);
        assert!((a.onset - b.onset).abs() < 1e-6);
    }
    // BDF+ keeps ~24 bits of each channel's range.
    for (w, e) in written.data.outer_iter().zip(expected.data.outer_iter()) {
        let range = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = w
            .iter()
            .zip(e.iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= range * 1e-6, "error {err} for range {range}");
    }
}

#[test]
fn flag_order_is_kept_and_pipeline_files_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, "[[step]]\nop = \"zscore\"\n").unwrap();
    let o = neurodl(&[
        "preprocess",
        "in.edf",
        "out.edf",
        "--pipeline",
        s(&p),
        "--resample",
        "100",
        "--bandpass",
        "1",
        "40",
        "--iir",
        "4",
        "--notch",
        "50",
        "--print-pipeline",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed = Pipeline::from_toml_str(&String::from_utf8(o.stdout).unwrap(), "<stdout>").unwrap();
    let names: Vec<&str> = printed.steps.iter().map(|s| s.name()).collect();
    assert_eq!(names, vec!["zscore", "resample", "filter", "notch"]);
}

#[test]
fn bad_input_gives_errors_naming_the_problem() {
    let Some(data) = shared_data_dir() else { return };
    let input = data.join("eeg/eegmmidb/S001R03.edf");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.edf");
    let o = neurodl(&["preprocess", s(&input), s(&out), "--bandpass", "4", "90"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("h_freq = 90") && err.contains("Nyquist"),
        "{err}"
    );
    assert_eq!(err.matches("Nyquist").count(), 1, "printed once: {err}");
    let o = neurodl(&[
        "preprocess",
        s(&input),
        s(&out),
        "--bandpass",
        "38",
        "4",
        "--iir",
        "4",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("LOW (38) must be below HIGH (4)"),
        "{err}"
    );
    let o = neurodl(&[
        "preprocess",
        s(&input),
        s(&dir.path().join("x.fif")),
        "--resample",
        "100",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains(".fif"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[step]]\nop = \"resample\"\nsfreq = \"fast\"\n").unwrap();
    let o = neurodl(&["preprocess", s(&input), s(&out), "--pipeline", s(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bad.toml") && err.contains("sfreq"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bids_dataset_is_written_under_the_output_folder() {
    let Some(data) = shared_data_dir() else { return };
    let root = data.join("eeg/eeglab/test_data/BIDS_test");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("derivatives");
    let o = neurodl(&[
        "preprocess",
        s(&root),
        s(&out),
        "--bandpass",
        "1",
        "30",
        "--resample",
        "100",
        "--format",
        "bdf",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = out.join("sub-S1/ses-01/eeg/sub-S1_ses-01_task-Experiment_run-01_eeg.bdf");
    let rec = open_recording(&written).unwrap();
    assert_eq!(rec.info().sfreq, 100.0);
    // A second run refuses to overwrite without --overwrite.
    let o = neurodl(&[
        "preprocess",
        s(&root),
        s(&out),
        "--resample",
        "100",
        "--format",
        "bdf",
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
}
