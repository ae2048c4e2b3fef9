//! `neurodl models`: the table, the JSON counts (equal to braindecode's, from the committed
//! goldens) and the errors.

use std::path::Path;
use std::process::Command;

fn neurodl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(args)
        .output()
        .expect("run neurodl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn golden_counts() -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/models/param_counts.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["counts"].as_array().unwrap().clone()
}

#[test]
fn table_lists_every_model_with_reference_counts() {
    let (ok, stdout, stderr) = neurodl(&["models"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("22 channels x 1125 samples at 250 Hz, 4 outputs"),
        "{stdout}"
    );
    for (name, count) in [
        ("ShallowFBCSPNet", "47,364"),
        ("Deep4Net", "284,479"),
        ("EEGNet", "3,700"),
        ("EEGConformer", "871,492"),
        ("ATCNet", "113,732"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.contains(count), "{line}");
    }
    assert!(stdout.contains("doi:10.1002/hbm.23730"), "{stdout}");
}

#[test]
fn json_counts_equal_braindecode_for_both_reference_shapes() {
    for (c, t, f) in [("22", "1125", "250"), ("64", "480", "160")] {
        let (ok, stdout, stderr) = neurodl(&[
            "models",
            "--n-chans",
            c,
            "--n-times",
            t,
            "--sfreq",
            f,
            "--n-outputs",
            "4",
            "--json",
        ]);
        assert!(ok, "{stderr}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
        assert_eq!(rows.len(), 5);
        for row in rows {
            let golden = golden_counts()
                .into_iter()
                .find(|g| {
                    g["model"] == row["name"]
                        && g["signal"]["n_chans"].as_u64() == c.parse().ok()
                        && g["kwargs"].as_object().unwrap().is_empty()
                })
                .unwrap_or_else(|| panic!("no golden for {row}"));
            assert_eq!(row["trainable_params"], golden["trainable_params"], "{row}");
            assert_eq!(row["n_times"].as_u64(), t.parse().ok());
        }
    }
}

#[test]
fn window_seconds_and_sfreq_give_n_times() {
    let (ok, stdout, _) = neurodl(&[
        "models",
        "--n-chans",
        "64",
        "--window-seconds",
        "3",
        "--sfreq",
        "160",
        "--json",
    ]);
    assert!(ok);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert!(rows.iter().all(|r| r["n_times"] == 480));
}

#[test]
fn models_that_cannot_take_the_shape_are_reported_per_model() {
    let (ok, stdout, _) = neurodl(&["models", "--n-chans", "4", "--n-times", "40", "--json"]);
    assert!(ok);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let shallow = rows.iter().find(|r| r["name"] == "ShallowFBCSPNet").unwrap();
    assert!(shallow["trainable_params"].is_null());
    assert!(
        shallow["error"].as_str().unwrap().contains("too short"),
        "{shallow}"
    );
    let eegnet = rows.iter().find(|r| r["name"] == "EEGNet").unwrap();
    assert!(eegnet["trainable_params"].as_u64().unwrap() > 0);
}

#[test]
fn bad_shapes_are_errors() {
    for args in [
        &["models", "--n-chans", "0"][..],
        &["models", "--sfreq", "-5", "--n-times", "100"][..],
        &["models", "--window-seconds", "2"][..],
        &[
            "models",
            "--n-times",
            "100",
            "--window-seconds",
            "2",
            "--sfreq",
            "100",
        ][..],
        &["models", "--n-chans", "abc"][..],
    ] {
        let (ok, _, stderr) = neurodl(args);
        assert!(!ok, "{args:?} should fail");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}
