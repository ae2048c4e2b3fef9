//! `neurodl seg plan|train|predict|evaluate` end to end on the tiny synthetic dataset of
//! `neurodl-train/tests/seg_support` (6 cases of about 16 × 16 × 12 voxels), the errors a user
//! sees, and `seg plan` on the first cases of MSD Hippocampus when the shared data is present.

#[path = "../../neurodl-train/tests/seg_support/mod.rs"]
mod seg_support;

use std::path::Path;
use std::process::{Command, Output};

use neurodl_io::open_volume;
use neurodl_train::seg::plan::Plan;
use seg_support::{NO_AUGMENTATION, experiment_toml, write_dataset};

fn neurodl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neurodl"))
        .args(args)
        .output()
        .expect("run neurodl")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean failure: exit status 1, no panic, and returns stderr.
fn failure(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected a failure: {}{err}", stdout(o));
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn read_plan(path: &Path) -> Plan {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn seg_help_lists_its_subcommands() {
    let o = neurodl(&["seg", "--help"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for sub in ["plan", "train", "predict", "evaluate"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "`seg --help` does not list {sub}:\n{text}"
        );
    }
}

#[test]
fn plan_train_predict_evaluate_on_a_tiny_dataset() {
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_dataset(&dir.join("data"));
    // A relative dataset root is resolved against the experiment file's folder, not the
    // working directory (which is the crate's here).
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, experiment_toml(Path::new("data"), NO_AUGMENTATION)).unwrap();

    // seg plan
    let plan_path = dir.join("plan.json");
    let o = neurodl(&["seg", "plan", s(&exp), "--out", s(&plan_path)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("patch"), "{}", stdout(&o));
    let plan = read_plan(&plan_path);
    assert_eq!(plan.spacing, [1.2, 1.0, 1.5]);
    assert_eq!(plan.in_channels, 1);
    assert_eq!(plan.labels.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);

    // seg train: the run uses the plan `seg plan` wrote and packages fold 1.
    let run = dir.join("run");
    let o = neurodl(&["seg", "train", s(&exp), "--out", s(&run)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Dice") && text.contains("run record"), "{text}");
    assert_eq!(read_plan(&run.join("plan.json")), plan);
    let model = run.join("fold-1/model");
    assert!(model.join("model.safetensors").is_file());
    assert!(run.join("report.html").is_file());
    // Training into an existing run without --resume is refused with the way out.
    let err = failure(&neurodl(&["seg", "train", s(&exp), "--out", s(&run)]));
    assert!(err.contains("--resume"), "{err}");
    // An edited plan is used as written.
    let mut edited = plan.clone();
    edited.batch_size = 1;
    let edited_path = dir.join("edited.json");
    std::fs::write(&edited_path, serde_json::to_string(&edited).unwrap()).unwrap();
    let run2 = dir.join("run2");
    let o = neurodl(&[
        "seg",
        "train",
        s(&exp),
        "--out",
        s(&run2),
        "--plan",
        s(&edited_path),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_plan(&run2.join("fold-1/model/plan.json")), edited);

    // seg predict, one file: the LPS-stored case keeps its shape and affine exactly.
    let image_path = dir.join("data/images/case002.nii.gz");
    let one = dir.join("one");
    let o = neurodl(&[
        "seg",
        "predict",
        s(&model),
        s(&image_path),
        "--out",
        s(&one),
        "--no-mirror",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let image = open_volume(&image_path).unwrap();
    let predicted = open_volume(&one.join("case002.nii.gz")).unwrap();
    assert_eq!(predicted.shape(), image.shape());
    assert_eq!(predicted.affine, image.affine);
    assert!(predicted.to_labels().unwrap().iter().all(|v| *v <= 2));

    // seg predict, a dataset folder: every case, each on its own grid.
    let all = dir.join("all");
    let o = neurodl(&[
        "seg",
        "predict",
        s(&model),
        s(&dir.join("data")),
        "--out",
        s(&all),
        "--no-mirror",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for i in 0..seg_support::N_CASES {
        let name = format!("case{i:03}.nii.gz");
        let image = open_volume(&dir.join("data/images").join(&name)).unwrap();
        let predicted = open_volume(&all.join(&name)).unwrap();
        assert_eq!(predicted.shape(), image.shape(), "{name}");
        assert_eq!(predicted.affine, image.affine, "{name}");
    }
    // The run folder predicts with its trained folds (here fold 1 alone): the same maps.
    let from_run = dir.join("from-run");
    let o = neurodl(&[
        "seg",
        "predict",
        s(&run),
        s(&image_path),
        "--out",
        s(&from_run),
        "--no-mirror",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        open_volume(&from_run.join("case002.nii.gz"))
            .unwrap()
            .to_labels()
            .unwrap(),
        predicted.to_labels().unwrap()
    );
    // The single-file prediction is the same scan's prediction within the folder run.
    assert_eq!(
        open_volume(&all.join("case002.nii.gz"))
            .unwrap()
            .to_labels()
            .unwrap(),
        predicted.to_labels().unwrap()
    );

    // seg evaluate: a table with Dice, a CSV row per case and label.
    let csv = dir.join("m.csv");
    let labels = dir.join("data/labels");
    let o = neurodl(&[
        "seg",
        "evaluate",
        s(&all),
        s(&labels),
        "--labels",
        "1,2",
        "--csv",
        s(&csv),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("Dice"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with('1')),
        "no row for label 1:\n{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with('2')),
        "no row for label 2:\n{table}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), seg_support::N_CASES * 2, "{text}");
    for i in 0..seg_support::N_CASES {
        for label in ["1", "2"] {
            let id = format!("case{i:03}");
            assert!(
                rows.iter().any(|r| r[0] == id && r[1] == label),
                "no row for {id} label {label}:\n{text}"
            );
        }
    }

    // A reference without a prediction: a clean error naming the case.
    std::fs::remove_file(all.join("case003.nii.gz")).unwrap();
    let err = failure(&neurodl(&[
        "seg",
        "evaluate",
        s(&all),
        s(&labels),
        "--labels",
        "1,2",
    ]));
    assert!(err.contains("case003"), "{err}");
    // A prediction on another grid than its reference: refused, naming the case and shapes.
    let (mismatch, references) = (dir.join("mismatch"), dir.join("ref0"));
    std::fs::create_dir_all(&mismatch).unwrap();
    std::fs::create_dir_all(&references).unwrap();
    std::fs::copy(all.join("case004.nii.gz"), mismatch.join("case000.nii.gz")).unwrap();
    std::fs::copy(labels.join("case000.nii.gz"), references.join("case000.nii.gz")).unwrap();
    let err = failure(&neurodl(&["seg", "evaluate", s(&mismatch), s(&references)]));
    assert!(err.contains("case000") && err.contains("[19, 15, 9]"), "{err}");
    // A model folder that is not one.
    let err = failure(&neurodl(&[
        "seg",
        "predict",
        s(&dir.join("data")),
        s(&image_path),
        "--out",
        s(&dir.join("x")),
    ]));
    assert!(err.contains("plan.json"), "{err}");
    eprintln!("seg CLI end to end: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn seg_plan_on_msd_hippocampus_is_isotropic_with_small_patches() {
    let Some(shared) = neurodl_io::testdata::shared_data_dir() else {
        return;
    };
    let root = shared.join("mri/msd_hippocampus");
    if !root.join("images").is_dir() {
        eprintln!("skipped: {} is absent", root.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("hippocampus.toml");
    std::fs::write(
        &exp,
        format!(
            r#"
name = "msd-hippocampus-10"
[dataset]
root = "{}"
channels = ["MRI"]
labels = {{ 0 = "background", 1 = "anterior", 2 = "posterior" }}
max_cases = 10
"#,
            root.display().to_string().replace('\\', "/")
        ),
    )
    .unwrap();
    let out = tmp.path().join("plan.json");
    let o = neurodl(&["seg", "plan", s(&exp), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = read_plan(&out);
    eprintln!(
        "hippocampus (10 cases): spacing {:?}, median shape {:?}, patch {:?}, batch {}",
        plan.spacing, plan.median_shape, plan.patch_size, plan.batch_size
    );
    assert_eq!(plan.spacing, [1.0, 1.0, 1.0]);
    assert!(
        plan.patch_size.iter().all(|p| p % 8 == 0 && *p <= 64),
        "patch {:?}",
        plan.patch_size
    );
    assert_eq!(plan.in_channels, 1);
    assert_eq!(plan.labels[&2], "posterior");

    // The 2-D configuration of the same cases: slices across Z (isotropic data: ties go to Z),
    // nnU-Net's 40×56 in-plane patch (its published 56×40, axes reversed), 2-D kernels.
    let out_2d = tmp.path().join("plan-2d.json");
    let o = neurodl(&[
        "seg",
        "plan",
        s(&exp),
        "--out",
        s(&out_2d),
        "--configuration",
        "2d",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2d, slices across axis 2"));
    let plan_2d = read_plan(&out_2d);
    eprintln!(
        "hippocampus 2-D (10 cases): patch {:?}, batch {}",
        plan_2d.patch_size, plan_2d.batch_size
    );
    assert_eq!(plan_2d.slice_axis, Some(2));
    assert_eq!(plan_2d.patch_size, [40, 56, 1]);
    assert_eq!(plan_2d.network.kernel_sizes, vec![[3, 3, 1]; 4]);

    // A prediction of a real scan keeps its nibabel-written header geometry: train the tiny
    // synthetic model (its plan's spacing differs, so the scan is resampled there and back).
    let dir = tmp.path();
    write_dataset(&dir.join("data"));
    let tiny = dir.join("tiny.toml");
    std::fs::write(&tiny, experiment_toml(Path::new("data"), NO_AUGMENTATION)).unwrap();
    let o = neurodl(&["seg", "train", s(&tiny), "--out", s(&dir.join("run"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let scan = root.join("images/hippocampus_001.nii.gz");
    let o = neurodl(&[
        "seg",
        "predict",
        s(&dir.join("run/fold-1/model")),
        s(&scan),
        "--out",
        s(&dir.join("pred")),
        "--no-mirror",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let image = open_volume(&scan).unwrap();
    let predicted = open_volume(&dir.join("pred/hippocampus_001.nii.gz")).unwrap();
    assert_eq!(predicted.shape(), image.shape());
    assert_eq!(predicted.affine, image.affine);
    for key in [
        "nifti.qform_code",
        "nifti.sform_code",
        "nifti.quatern",
        "nifti.qoffset",
        "nifti.pixdim",
    ] {
        assert_eq!(
            predicted.meta.extras.get(key),
            Some(&image.meta.extras[key]),
            "{key}"
        );
    }
}

/// `seg predict` means to list every file it writes (`bar.println`), but indicatif drops
/// `println` on a hidden bar, so when stdout/stderr are not a terminal (scripts, CI logs,
/// this test) it prints nothing at all. Fails until `commands/seg.rs::predict` prints the
/// line itself when the bar is hidden, as `seg train` does with `say`.
#[test]
fn seg_predict_names_what_it_writes_when_not_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_dataset(&dir.join("data"));
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, experiment_toml(Path::new("data"), NO_AUGMENTATION)).unwrap();
    let run = dir.join("run");
    let o = neurodl(&["seg", "train", s(&exp), "--out", s(&run)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("pred");
    let o = neurodl(&[
        "seg",
        "predict",
        s(&run.join("fold-1/model")),
        s(&dir.join("data/images/case001.nii.gz")),
        "--out",
        s(&out),
        "--no-mirror",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("case001.nii.gz").is_file());
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("case001.nii.gz"),
        "nothing names the written file: {said:?}"
    );
}

#[test]
fn info_summarises_a_volume_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let images = write_dataset(dir.path());
    // case002 is stored LPS-like at 1.2 × 1 × 1.5 mm.
    let out = neurodl(&["info", s(&images[2])]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("16 x 16 x 12"), "{text}");
    assert!(text.contains("1.2000 x 1.0000 x 1.5000 mm"), "{text}");
    assert!(text.contains("LPS"), "{text}");
    let out = neurodl(&["info", s(&images[2]), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["shape"], serde_json::json!([1, 16, 16, 12]));
    assert_eq!(json["axis_codes"], "LPS");
    // NIfTI stores the affine in float32.
    assert!((json["affine"][0][0].as_f64().unwrap() + 1.2).abs() < 1e-6);
    assert_eq!(json["affine"][2][3], -7.0);
    // A truncated file: a clear error naming it, no panic.
    let bytes = std::fs::read(&images[0]).unwrap();
    let broken = dir.path().join("broken.nii.gz");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let err = failure(&neurodl(&["info", s(&broken)]));
    assert!(err.contains("broken.nii.gz"), "{err}");
}
