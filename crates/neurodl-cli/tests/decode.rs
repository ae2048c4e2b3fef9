//! `neurodl eeg evaluate|train|predict`, `neurodl run` and `neurodl demo` end to end on small
//! simulated datasets (no shared data needed).

use std::path::Path;
use std::process::Command;

fn neurodl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(args)
        .output()
        .expect("run neurodl")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn simulate(dir: &Path) {
    ok(&neurodl(&[
        "simulate",
        s(dir),
        "--subjects",
        "2",
        "--trials-per-class",
        "10",
        "--sfreq",
        "128",
        "--seed",
        "5",
    ]));
}

#[test]
fn evaluate_train_and_predict_from_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bids");
    simulate(&data);
    let common = [
        "--events",
        "left_hand=left_hand,right_hand=right_hand",
        "--bandpass",
        "4",
        "38",
        "--trial-start",
        "0.5",
        "--window",
        "2",
    ];

    // The flags make an experiment that `neurodl run` accepts unchanged.
    let mut args = vec!["eeg", "evaluate", s(&data)];
    args.extend(common);
    args.extend([
        "--baseline",
        "ts-lr",
        "--baseline",
        "csp-lda",
        "--folds",
        "3",
        "--print-experiment",
    ]);
    let toml_text = ok(&neurodl(&args));
    assert!(toml_text.contains("baseline = \"ts-lr\""), "{toml_text}");
    let exp_file = tmp.path().join("exp.toml");
    std::fs::write(&exp_file, &toml_text).unwrap();

    args.pop();
    let run_dir = tmp.path().join("eval");
    args.extend(["--out", s(&run_dir)]);
    let out = ok(&neurodl(&args));
    assert!(
        out.contains("TS+LR") && out.contains("CSP+LDA") && out.contains("report.html"),
        "{out}"
    );
    assert!(run_dir.join("report.html").is_file());
    let run2 = tmp.path().join("run2");
    ok(&neurodl(&["run", s(&exp_file), "--out", s(&run2)]));
    assert_eq!(
        std::fs::read_to_string(run_dir.join("metrics.json"))
            .unwrap()
            .replace("eeg-evaluate", "X"),
        std::fs::read_to_string(run2.join("metrics.json"))
            .unwrap()
            .replace("eeg-evaluate", "X"),
        "flags and the experiment they print give the same run"
    );

    // Train on subject 01's recording, predict on subject 02's.
    let model = tmp.path().join("model");
    let sub1 = data.join("sub-01/eeg/sub-01_task-motorimagery_eeg.edf");
    let sub2 = data.join("sub-02/eeg/sub-02_task-motorimagery_eeg.edf");
    let mut args = vec!["eeg", "train", s(&sub1)];
    args.extend(common);
    args.extend([
        "--model",
        "ShallowFBCSPNet",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--out",
        s(&model),
    ]);
    ok(&neurodl(&args));
    assert!(model.join("model.safetensors").is_file() && model.join("decoder.json").is_file());
    let csv = ok(&neurodl(&["eeg", "predict", s(&model), s(&sub2)]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "file,index,onset_s,true_label,predicted,p_left_hand,p_right_hand"
    );
    assert_eq!(lines.len(), 1 + 20, "one row per trial");
    for line in &lines[1..] {
        let f: Vec<&str> = line.split(',').collect();
        let p: f64 = f[5].parse::<f64>().unwrap() + f[6].parse::<f64>().unwrap();
        assert!((p - 1.0).abs() < 1e-5, "{line}");
        assert!(["left_hand", "right_hand"].contains(&f[3]) && ["left_hand", "right_hand"].contains(&f[4]));
    }
}

#[test]
fn experiment_errors_name_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("bad.toml");
    std::fs::write(
        &exp,
        "name = \"x\"\n[dataset]\nfiles = [\"a.edf\"]\n[events]\nT1 = \"a\"\n[[decoder]]\nmodel = \"EEGNet\"\n[training]\nepoch = 3\n",
    )
    .unwrap();
    let o = neurodl(&["run", s(&exp)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 9") && err.contains("epoch"),
        "{err}"
    );

    let o = neurodl(&["eeg", "evaluate", "x.edf", "--events", "T1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("DESC=LABEL"));
    // Reversed band edges are a typo here, not a band-stop (as in `neurodl preprocess`).
    let o = neurodl(&[
        "eeg",
        "evaluate",
        "x.edf",
        "--events",
        "T1=a",
        "--bandpass",
        "38",
        "4",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("must be below HIGH"));
}

#[test]
fn demo_runs_end_to_end_on_a_small_simulation() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = ok(&neurodl(&[
        "demo",
        "--out",
        s(&out_dir),
        "--subjects",
        "2",
        "--trials-per-class",
        "6",
        "--epochs",
        "2",
    ]));
    for name in ["ShallowFBCSPNet", "TS+LR", "CSP+LDA", "report.html"] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    assert!(out_dir.join("data/dataset_description.json").is_file());
    assert!(out_dir.join("run/report.html").is_file());
    // A second demo into the same folder needs --overwrite.
    let o = neurodl(&[
        "demo",
        "--out",
        s(&out_dir),
        "--subjects",
        "2",
        "--trials-per-class",
        "6",
        "--epochs",
        "2",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
}

/// A run killed with SIGKILL while training resumes with `--resume` to exactly the metrics of
/// an uninterrupted run.
#[test]
fn a_killed_run_resumes_to_the_same_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bids");
    simulate(&data);
    let exp = tmp.path().join("exp.toml");
    let text = format!(
        r#"
name = "kill"
seed = 3
[dataset]
bids_root = "{}"
subjects = ["01"]
[events]
left_hand = "left_hand"
right_hand = "right_hand"
[[preprocessing.step]]
op = "pick_types"
types = ["eeg"]
[[preprocessing.step]]
op = "scale"
factor = 1e6
[windows]
trial_start_offset_s = 0.5
window_size_s = 2.0
[[decoder]]
model = "ShallowFBCSPNet"
[training]
epochs = 40
batch_size = 4
[evaluation]
protocol = {{ kind = "within-session", n_folds = 2 }}
"#,
        data.display()
    );
    std::fs::write(&exp, text).unwrap();
    let whole = tmp.path().join("whole");
    ok(&neurodl(&["run", s(&exp), "--out", s(&whole)]));

    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(["run", s(&exp), "--out", s(&killed)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill as soon as the first fold has checkpointed a few epochs.
    let ck = killed.join("checkpoints/shallowfbcspnet/01_0_fold-1");
    let started = std::time::Instant::now();
    let mut saw_checkpoint = false;
    while started.elapsed() < std::time::Duration::from_secs(120) {
        let epochs_done = std::fs::read_dir(&ck)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_prefix("epoch-")?
                            .parse::<usize>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if epochs_done >= 3 {
            saw_checkpoint = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        saw_checkpoint,
        "the run finished or stalled before a checkpoint appeared"
    );
    assert!(!killed.join("metrics.json").exists(), "killed before the end");
    let out = ok(&neurodl(&["run", s(&exp), "--out", s(&killed), "--resume"]));
    assert!(out.contains("ShallowFBCSPNet"), "{out}");
    assert_eq!(
        std::fs::read_to_string(killed.join("metrics.json")).unwrap(),
        std::fs::read_to_string(whole.join("metrics.json")).unwrap()
    );
}
