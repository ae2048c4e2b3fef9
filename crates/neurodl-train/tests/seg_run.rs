//! The segmentation study end to end on a tiny synthetic dataset (6 cases of about
//! 16 × 16 × 12 voxels, see `seg_support`): the run record's files, predictions back on each
//! input's own grid bit for bit, the post-processing's scores against a fresh evaluation of
//! the post-processed label maps, the plan file round trip, resumption after an interrupt
//! reproducing an uninterrupted run exactly, and the errors on bad input.

mod seg_support;

use std::path::Path;
use std::sync::Mutex;

use neurodl_eval::segmentation::{SegMetric, SegmentationEvaluation};
use neurodl_io::{open_volume, write_volume};
use neurodl_train::TrainError;
use neurodl_train::seg::plan::{Fingerprint, Plan, plan};
use neurodl_train::seg::predict::window_config;
use neurodl_train::seg::{
    SegExperiment, SegProgress, SegRunOptions, SegRunSummary, Segmenter, run_seg_experiment,
};
use seg_support::{NO_AUGMENTATION, experiment_toml, write_dataset};

fn experiment(root: &Path, augmentation: &str) -> SegExperiment {
    SegExperiment::from_toml_str(&experiment_toml(root, augmentation), "tiny-seg.toml")
        .expect("experiment parses")
}

fn run(
    exp: &SegExperiment,
    out: &Path,
    resume: bool,
    interrupt: Option<usize>,
    progress: &(dyn Fn(SegProgress<'_>) + Sync),
) -> Result<SegRunSummary, TrainError> {
    run_seg_experiment(
        exp,
        &SegRunOptions {
            out_dir: out.to_path_buf(),
            resume,
            plan_file: None,
            interrupt_after_epochs: interrupt,
            progress,
        },
    )
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The epoch records without their wall-clock `seconds`, the one field allowed to differ.
fn history_without_time(path: &Path) -> serde_json::Value {
    let mut history = json(path);
    for record in history.as_array_mut().expect("a list of epochs") {
        record.as_object_mut().expect("an epoch record").remove("seconds");
    }
    history
}

#[test]
fn one_fold_trains_predicts_on_the_original_grids_and_resumes_exactly() {
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    // nnU-Net's default augmentation: resumption must reproduce its random draws too.
    let exp = experiment(&data, "");

    // B: uninterrupted.
    let b = tmp.path().join("B");
    let summary = run(&exp, &b, false, None, &|_| {}).expect("the run succeeds");
    assert_eq!(summary.folds, vec![1]);
    assert!(!summary.interrupted);
    let evaluation = summary.evaluation.expect("fold 1 is scored");

    // The held-out cases are fold 1's test list, none of which it trained on.
    let split = json(&b.join("split.json"));
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let test = ids(&split[0]["test"]);
    let train = ids(&split[0]["train"]);
    eprintln!("fold 1 holds out {test:?}");
    assert_eq!(test.len(), 2, "6 cases in 3 folds");
    assert_eq!(train.len(), 4);
    assert!(test.iter().all(|t| !train.contains(t)));
    let scored: Vec<&str> = evaluation.cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(scored, test.iter().map(String::as_str).collect::<Vec<_>>());

    for file in [
        "config.toml",
        "fingerprint.json",
        "plan.json",
        "split.json",
        "environment.json",
        "metrics.csv",
        "summary.csv",
        "summary.json",
        "metrics_raw.csv",
        "summary_raw.csv",
        "postprocessing.json",
        "report.html",
        "plots/curves-fold-1.png",
        "plots/overlay-best.png",
        "plots/overlay-median.png",
        "plots/overlay-worst.png",
        "fold-1/history.csv",
        "fold-1/history.json",
        "fold-1/metrics.csv",
        "fold-1/evaluation.json",
        "fold-1/model/plan.json",
        "fold-1/model/model.safetensors",
        "fold-1/model/postprocessing.json",
        "fold-1/postprocessing_scores_faces.json",
        "fold-1/checkpoints",
    ] {
        assert!(b.join(file).exists(), "{file} is missing from the run record");
    }
    assert!(!b.join("fold-2").exists(), "only fold 1 was asked for");
    // Only the newest checkpoint is kept (a 1000-epoch run must not keep 1000 of them).
    let checkpoints: Vec<String> = std::fs::read_dir(b.join("fold-1/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(checkpoints, vec!["epoch-0002"]);
    let report = std::fs::read_to_string(b.join("report.html")).unwrap();
    assert!(
        report.contains("tiny-seg") && report.contains("Dice"),
        "report.html lacks the results"
    );

    // metrics.csv: a header and one row per held-out case and foreground label.
    let csv = std::fs::read_to_string(b.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("case_id,label,status"), "{}", rows[0]);
    assert_eq!(rows.len(), 1 + 2 * 2, "{csv}");
    let summary_csv = std::fs::read_to_string(b.join("summary.csv")).unwrap();
    assert!(
        summary_csv.lines().any(|l| l.starts_with("1,body,dice,2,")),
        "{summary_csv}"
    );
    assert!(
        summary_csv.lines().any(|l| l.starts_with("2,blob,dice,2,")),
        "{summary_csv}"
    );

    // Every metric is finite: overlaps are defined for every status and distances of a missed
    // or spurious structure are the (finite) image diagonal.
    for case in &evaluation.cases {
        assert_eq!(
            case.labels.iter().map(|l| l.label).collect::<Vec<_>>(),
            vec![1, 2]
        );
        for l in &case.labels {
            for m in SegMetric::ALL {
                let v = l.value(m);
                assert!(
                    v.is_finite(),
                    "case {} label {} {}: {v}",
                    case.case_id,
                    l.label,
                    m.name()
                );
            }
            assert!((0.0..=1.0).contains(&l.value(SegMetric::Dice)));
        }
    }
    let fold_eval: SegmentationEvaluation =
        serde_json::from_value(json(&b.join("fold-1/evaluation.json"))).unwrap();
    assert_eq!(
        Some(&fold_eval),
        summary.evaluation_raw.as_ref(),
        "one fold: its evaluation is the run's before post-processing"
    );
    let post = summary
        .postprocessing
        .clone()
        .expect("post-processing is on by default");
    assert_eq!(
        post.decisions.len(),
        3,
        "the foreground step and one per label: {post:?}"
    );
    let post_file: neurodl_train::seg::Postprocessing =
        serde_json::from_value(json(&b.join("fold-1/model/postprocessing.json"))).unwrap();
    assert_eq!(post_file, post);
    // The run's post-processed scores are what a fresh evaluation of the post-processed label
    // maps gives (the four variants per label were computed without writing any of them).
    let predictions = if post.changes_anything() {
        "fold-1/predictions_postprocessed"
    } else {
        "fold-1/predictions"
    };
    let mut fresh = SegmentationEvaluation::new(evaluation.config.clone()).unwrap();
    for id in &test {
        let predicted = open_volume(&b.join(predictions).join(format!("{id}.nii.gz")))
            .unwrap()
            .to_labels()
            .unwrap();
        let reference_volume = open_volume(&data.join("labels").join(format!("{id}.nii.gz"))).unwrap();
        let reference = reference_volume.to_labels().unwrap();
        fresh
            .add_case(
                id,
                predicted.view(),
                reference.view(),
                reference_volume.affine.spacing(),
            )
            .unwrap();
    }
    assert_eq!(
        fresh, evaluation,
        "post-processed scores differ from a fresh evaluation"
    );

    // The plan file parses back to the plan the fingerprint gives, and the packaged model
    // carries the same plan.
    let plan_file: Plan = serde_json::from_value(json(&b.join("plan.json"))).unwrap();
    let fingerprint: Fingerprint = serde_json::from_value(json(&b.join("fingerprint.json"))).unwrap();
    assert_eq!(fingerprint.cases.len(), seg_support::N_CASES);
    assert_eq!(plan(&fingerprint, &exp.plan).unwrap(), plan_file);
    let model_plan: Plan = serde_json::from_value(json(&b.join("fold-1/model/plan.json"))).unwrap();
    assert_eq!(model_plan, plan_file);
    assert_eq!(plan_file.spacing, [1.2, 1.0, 1.5]);
    assert_eq!(plan_file.network.features_per_stage.first(), Some(&4));
    assert!(plan_file.network.features_per_stage.iter().all(|f| *f <= 8));
    assert!(plan_file.batch_size <= 2);
    assert!(
        plan_file
            .patch_size
            .iter()
            .zip(&plan_file.median_shape)
            .all(|(p, m)| p <= &(m + 8)),
        "patch {:?} vs median shape {:?}",
        plan_file.patch_size,
        plan_file.median_shape
    );

    // Predictions: on each input's own grid (shape, affine and header geometry, exactly), and
    // what the packaged model predicts for the same scan (with its post-processing, the
    // post-processed prediction).
    let with_post = Segmenter::load(&b.join("fold-1/model")).expect("the packaged model loads");
    assert_eq!(with_post.postprocessing.as_ref(), Some(&post));
    let mut segmenter = Segmenter::load(&b.join("fold-1/model")).unwrap();
    segmenter.postprocessing = None;
    let window = window_config(&segmenter.plan, exp.evaluation.tile_step_size, false);
    for id in &test {
        let image = open_volume(&data.join("images").join(format!("{id}.nii.gz"))).unwrap();
        let prediction = open_volume(&b.join("fold-1/predictions").join(format!("{id}.nii.gz"))).unwrap();
        assert_eq!(prediction.shape(), image.shape(), "case {id}");
        assert_eq!(prediction.affine, image.affine, "case {id}: the affine changed");
        for key in [
            "nifti.qform_code",
            "nifti.sform_code",
            "nifti.quatern",
            "nifti.qoffset",
        ] {
            assert_eq!(
                prediction.meta.extras.get(key),
                Some(&image.meta.extras[key]),
                "case {id}: {key}"
            );
        }
        let predicted = prediction.to_labels().unwrap();
        assert!(
            predicted.iter().all(|v| *v <= 2),
            "case {id}: labels outside the plan"
        );
        let again = segmenter
            .segment(id, std::slice::from_ref(&image), &window, &mut |_, _| {})
            .unwrap();
        assert_eq!(
            again.to_labels().unwrap(),
            predicted,
            "case {id}: seg predict disagrees with the run"
        );
        let post_processed = open_volume(&b.join(predictions).join(format!("{id}.nii.gz")))
            .unwrap()
            .to_labels()
            .unwrap();
        let again = with_post.segment(id, &[image], &window, &mut |_, _| {}).unwrap();
        assert_eq!(
            again.to_labels().unwrap(),
            post_processed,
            "case {id}: seg predict with post-processing disagrees with the run"
        );
    }

    // Whichever cases fold 1 holds out, every geometry (flipped, resampled, cropped) must come
    // back exactly: segment all six scans with the packaged model, write and re-read them.
    let written = tmp.path().join("all");
    std::fs::create_dir_all(&written).unwrap();
    for i in 0..seg_support::N_CASES {
        let path = data.join("images").join(format!("case{i:03}.nii.gz"));
        let image = open_volume(&path).unwrap();
        let volume = segmenter
            .segment("x", std::slice::from_ref(&image), &window, &mut |_, _| {})
            .unwrap();
        let out = written.join(format!("case{i:03}.nii.gz"));
        write_volume(&out, &volume).unwrap();
        let back = open_volume(&out).unwrap();
        assert_eq!(back.shape(), image.shape(), "case{i:03}");
        assert_eq!(back.affine, image.affine, "case{i:03}: the affine changed");
        assert_eq!(back.affine.axis_codes(), image.affine.axis_codes());
    }

    // The same scan stored another way (x flipped, then axes permuted, the affine adjusted so
    // every voxel keeps its world position) is the same RAS grid after reorientation, so its
    // prediction must be the original prediction stored that way, exactly.
    let image = open_volume(&data.join("images/case000.nii.gz")).unwrap();
    let original = segmenter
        .segment("a", std::slice::from_ref(&image), &window, &mut |_, _| {})
        .unwrap()
        .to_labels()
        .unwrap();
    let foreground = original.iter().filter(|v| **v > 0).count();
    eprintln!(
        "case000: {foreground} of {} voxels predicted as foreground",
        original.len()
    );
    assert!(
        foreground > 0 && foreground < original.len(),
        "a constant prediction cannot show a misplaced voxel"
    );
    let restore = |a: ndarray::Array3<f32>| {
        let mut flipped = a;
        flipped.invert_axis(ndarray::Axis(0));
        flipped.permuted_axes([2, 0, 1]).as_standard_layout().into_owned()
    };
    let m = image.affine.matrix;
    let n0 = image.spatial_shape()[0] as f64;
    // Flip x: column 0 negated, origin moved to the old last voxel; then B[k, i, j] = A[i, j, k].
    let col = |c: usize, sign: f64| [m[0][c] * sign, m[1][c] * sign, m[2][c] * sign];
    let (c0, c1, c2) = (col(0, -1.0), col(1, 1.0), col(2, 1.0));
    let t: Vec<f64> = (0..3).map(|r| m[r][3] + m[r][0] * (n0 - 1.0)).collect();
    let affine = neurodl_io::Affine::from_rows([
        [c2[0], c0[0], c1[0], t[0]],
        [c2[1], c0[1], c1[1], t[1]],
        [c2[2], c0[2], c1[2], t[2]],
    ]);
    let stored = neurodl_io::Volume::from_f32(
        restore(image.to_f32().index_axis_move(ndarray::Axis(0), 0)),
        affine,
    );
    assert_eq!(stored.affine.axis_codes(), "SLA");
    let again = segmenter
        .segment("b", &[stored], &window, &mut |_, _| {})
        .unwrap()
        .to_labels()
        .unwrap();
    let expected = restore(original.mapv(f32::from)).mapv(|v| v as u16);
    assert_eq!(
        again, expected,
        "a re-stored scan's prediction is not the re-stored prediction"
    );

    // A: interrupted after one epoch, then resumed.
    let a = tmp.path().join("A");
    let interrupted = run(&exp, &a, false, Some(1), &|_| {}).unwrap();
    assert!(interrupted.interrupted);
    assert!(interrupted.evaluation.is_none());
    assert!(a.join("fold-1/checkpoints/epoch-0001").is_dir());
    assert!(!a.join("fold-1/evaluation.json").exists());
    assert_eq!(
        history_without_time(&a.join("fold-1/history.json"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let err = run(&exp, &a, false, None, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    let resumed_at = Mutex::new(Vec::new());
    let progress = |p: SegProgress<'_>| {
        if let SegProgress::FoldStarted { fold, epochs, .. } = p {
            resumed_at.lock().unwrap().push((fold, epochs));
        }
    };
    let resumed = run(&exp, &a, true, None, &progress).unwrap();
    assert_eq!(
        *resumed_at.lock().unwrap(),
        vec![(1, 1)],
        "fold 1 resumes after epoch 1"
    );
    assert!(!resumed.interrupted);
    assert_eq!(resumed.evaluation.as_ref(), Some(&evaluation));
    assert_eq!(
        json(&a.join("fold-1/evaluation.json")),
        json(&b.join("fold-1/evaluation.json"))
    );
    assert_eq!(
        history_without_time(&a.join("fold-1/history.json")),
        history_without_time(&b.join("fold-1/history.json"))
    );
    assert_eq!(
        std::fs::read(a.join("fold-1/model/model.safetensors")).unwrap(),
        std::fs::read(b.join("fold-1/model/model.safetensors")).unwrap(),
        "resumed weights differ from uninterrupted ones"
    );
    for id in &test {
        let p =
            |run: &Path| std::fs::read(run.join("fold-1/predictions").join(format!("{id}.nii.gz"))).unwrap();
        assert_eq!(p(&a), p(&b), "case {id}: predictions differ");
    }
    // A complete run resumed again redoes nothing and reports the same.
    let again = run(&exp, &a, true, None, &|_| {}).unwrap();
    assert_eq!(again.evaluation.as_ref(), Some(&evaluation));
    // Resumed with other post-processing settings, it re-chooses from the saved predictions
    // without training, and with post-processing off reports the raw scores.
    let mut full = exp.clone();
    full.evaluation.postprocessing_connectivity = neurodl_volume::Connectivity::Full;
    let rechosen = run(&full, &a, true, None, &|_| {}).unwrap();
    assert!(a.join("fold-1/postprocessing_scores_full.json").exists());
    assert_eq!(rechosen.evaluation_raw, summary.evaluation_raw);
    assert_eq!(
        rechosen.postprocessing.map(|p| p.connectivity),
        Some(neurodl_volume::Connectivity::Full)
    );
    let mut off = exp.clone();
    off.evaluation.postprocessing = false;
    let raw_only = run(&off, &a, true, None, &|_| {}).unwrap();
    assert!(raw_only.postprocessing.is_none());
    assert!(
        !a.join("fold-1/model/postprocessing.json").exists(),
        "a model must not keep post-processing its run no longer reports"
    );
    assert_eq!(raw_only.evaluation, summary.evaluation_raw);
    eprintln!(
        "end to end + resumption: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Two folds' models predict as one ensemble: the softmax of their mean sliding-window logits
/// (nnU-Net's fold ensembling); models of another plan are refused, naming their folder.
#[test]
fn folds_predict_as_an_ensemble_of_mean_logits() {
    use neurodl_models::burn::tensor::activation::softmax;
    use neurodl_train::seg::data::prepare_case;
    use neurodl_train::seg::predict::predict_logits;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let mut exp = experiment(&data, NO_AUGMENTATION);
    exp.evaluation.folds = vec![1, 2];
    let out = tmp.path().join("run");
    run(&exp, &out, false, None, &|_| {}).unwrap();
    let dirs = Segmenter::model_dirs(&out).unwrap();
    assert_eq!(dirs, vec![out.join("fold-1/model"), out.join("fold-2/model")]);
    assert_eq!(
        Segmenter::model_dirs(&dirs[1]).unwrap(),
        vec![dirs[1].clone()],
        "a model folder is itself"
    );
    let ensemble = Segmenter::load_ensemble(&dirs).unwrap();
    assert_eq!(ensemble.models.len(), 2);

    let image = open_volume(&data.join("images/case000.nii.gz")).unwrap();
    let case = prepare_case("case000", &[image], None, &ensemble.plan).unwrap();
    let window = window_config(&ensemble.plan, 0.5, false);
    let got = ensemble.probabilities(&case, &window, &mut |_, _| {}).unwrap();
    let logits: Vec<_> = ensemble
        .models
        .iter()
        .map(|m| predict_logits(m, &case, &window, &mut |_, _| {}).unwrap())
        .collect();
    let to_vec = |t: neurodl_models::burn::tensor::Tensor<4>| -> Vec<f32> {
        softmax(t, 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let mean = to_vec((logits[0].clone() + logits[1].clone()) / 2.0);
    let first = to_vec(logits[0].clone());
    let got: Vec<f32> = got.iter().copied().collect();
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(
        max_diff(&got, &mean) <= 1e-6,
        "ensemble vs mean logits: {}",
        max_diff(&got, &mean)
    );
    assert!(
        max_diff(&got, &first) > 1e-4,
        "the two folds' models agree everywhere: the test cannot tell an ensemble from one model"
    );

    // A model of another plan is refused by folder.
    let other = tmp.path().join("other-model");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["model.safetensors", "postprocessing.json"] {
        std::fs::copy(dirs[1].join(f), other.join(f)).unwrap();
    }
    let mut plan: Plan = serde_json::from_value(json(&dirs[1].join("plan.json"))).unwrap();
    plan.batch_size += 1;
    std::fs::write(other.join("plan.json"), serde_json::to_string(&plan).unwrap()).unwrap();
    let err = Segmenter::load_ensemble(&[dirs[0].clone(), other.clone()])
        .err()
        .expect("models of two plans are refused");
    assert!(
        err.to_string().contains("other-model") && err.to_string().contains("plan.json"),
        "{err}"
    );
}

#[test]
fn bad_datasets_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let exp = experiment(&data, NO_AUGMENTATION);

    // Fewer cases than folds.
    let mut few = exp.clone();
    few.dataset.max_cases = Some(2);
    let err = run(&few, &tmp.path().join("few"), false, None, &|_| {}).unwrap_err();
    assert!(
        err.to_string().contains("2 labelled cases cannot make 3 folds"),
        "{err}"
    );
    assert!(
        !tmp.path().join("few").exists(),
        "nothing is written for a refused dataset"
    );

    // A label value that is not declared.
    let label_path = data.join("labels/case004.nii.gz");
    let label = open_volume(&label_path).unwrap();
    let mut labels = label.to_labels().unwrap();
    labels[(9, 7, 4)] = 3;
    write_volume(
        &label_path,
        &neurodl_io::Volume::from_labels(labels.view(), label.affine),
    )
    .unwrap();
    let err = run(&exp, &tmp.path().join("bad-label"), false, None, &|_| {}).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("case004") && message.contains("label value 3"),
        "{message}"
    );

    // A label map on another grid than its image.
    let image = open_volume(&data.join("images/case001.nii.gz")).unwrap();
    let small = neurodl_io::Volume::from_labels(labels.view(), image.affine);
    write_volume(&label_path, &label).unwrap();
    write_volume(&data.join("labels/case001.nii.gz"), &small).unwrap();
    let err = run(&exp, &tmp.path().join("bad-shape"), false, None, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("case001"), "{err}");
}

/// `neurodl_train::run_experiment` (EEG) refuses to resume a run folder with an experiment
/// other than the one it was started with; the segmentation run does not look: it overwrites
/// `config.toml` and continues the checkpoints under the new settings (here a longer poly
/// schedule, so the resumed epochs follow a learning-rate curve no uninterrupted run has).
#[test]
fn resuming_with_another_experiment_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let exp = experiment(&data, NO_AUGMENTATION);
    let out = tmp.path().join("run");
    assert!(run(&exp, &out, false, Some(1), &|_| {}).unwrap().interrupted);
    let mut longer = exp.clone();
    longer.training.epochs = 3;
    let err = run(&longer, &out, true, None, &|_| {})
        .expect_err("resuming with 3 epochs a run started with 2 must be refused");
    assert!(err.to_string().contains("config.toml"), "{err}");
}

/// Fields of one CSV line, honouring RFC 4180 quotes.
fn csv_fields(line: &str) -> usize {
    let (mut fields, mut quoted) = (1, false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields += 1,
            _ => {}
        }
    }
    fields
}

/// `summary.csv` writes label names unquoted, so a name with a comma (label names come from
/// the experiment or `dataset.json`, e.g. "hippocampus, anterior") shifts every later column
/// of its rows. `metrics.csv` quotes its text fields; `summary.csv` should too.
#[test]
fn summary_csv_quotes_label_names() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let text = experiment_toml(&data, NO_AUGMENTATION).replace("\"blob\"", "\"blob, small\"");
    let exp = SegExperiment::from_toml_str(&text, "tiny-seg.toml").unwrap();
    let out = tmp.path().join("run");
    run(&exp, &out, false, None, &|_| {}).unwrap();
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header = csv_fields(lines.next().unwrap());
    for line in lines {
        assert_eq!(csv_fields(line), header, "{line}");
    }
}

/// The committed hippocampus experiment stays valid and points at the shared MSD data.
#[test]
fn the_example_segmentation_experiments_parse_and_name_the_shared_data() {
    use neurodl_train::seg::plan::Configuration;
    for (file, configuration) in [
        ("msd_hippocampus.toml", Configuration::FullRes3d),
        ("msd_hippocampus_2d.toml", Configuration::Slices2d),
    ] {
        let path = neurodl_io::testdata::repo_root()
            .join("examples/experiments")
            .join(file);
        let exp = neurodl_train::seg::SegExperiment::from_file(&path).unwrap();
        assert_eq!(exp.plan.configuration, configuration, "{file}");
        assert_eq!(exp.evaluation.n_folds, 5);
        assert_eq!(exp.declared_labels().unwrap().len(), 3);
        assert!(
            exp.dataset.root.ends_with("shared/data/mri/msd_hippocampus"),
            "{}",
            exp.dataset.root.display()
        );
        match neurodl_io::testdata::shared_data_dir() {
            Some(_) => assert!(
                exp.dataset.root.join("images").is_dir(),
                "{}",
                exp.dataset.root.display()
            ),
            None => eprintln!("skipping the data check: ../shared/data is absent"),
        }
    }
}

/// The safetensors header: tensor name → shape.
fn tensor_shapes(path: &Path) -> std::collections::BTreeMap<String, Vec<usize>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (k.clone(), shape)
        })
        .collect()
}

/// nnU-Net's `2d` configuration end to end: planned across the coarsest axis, trained on
/// one-slice patches with the in-plane augmentation, saved with 2-D kernels when slicing along
/// Z, and predicting each slice from that slice alone (for a slice axis along Z and along X),
/// back on every input's own grid.
#[test]
fn the_2d_configuration_trains_on_slices_and_predicts_slice_by_slice() {
    use neurodl_models::burn::tensor::Tensor;
    use neurodl_train::seg::data::prepare_case;
    use neurodl_train::seg::plan::Configuration;
    use neurodl_train::seg::predict::predict_logits;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    for (target_spacing, slice_axis) in [([1.2, 1.0, 1.5], 2usize), ([2.0, 1.0, 1.0], 0)] {
        let mut exp = experiment(&data, "");
        exp.plan.configuration = Configuration::Slices2d;
        exp.plan.target_spacing = Some(target_spacing);
        let out = tmp.path().join(format!("run-{slice_axis}"));
        run(&exp, &out, false, None, &|_| {}).expect("the 2-D run succeeds");

        let plan: Plan = serde_json::from_value(json(&out.join("plan.json"))).unwrap();
        assert_eq!(plan.configuration, Configuration::Slices2d);
        assert_eq!(plan.slice_axis, Some(slice_axis));
        assert_eq!(plan.patch_size[slice_axis], 1, "patch {:?}", plan.patch_size);
        // The run record spells out the augmentation the plan implied.
        let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
        let recorded = SegExperiment::from_toml_str(&config, "config.toml").unwrap();
        assert_eq!(
            recorded.augmentation,
            Some(neurodl_volume::Pipeline::nnunet_default_2d(slice_axis, plan.patch_size).unwrap())
        );
        // Resuming the finished run with the experiment as written (augmentation implied) is
        // the same experiment.
        run(&exp, &out, true, None, &|_| {}).expect("resume accepts the resolved config.toml");

        let convs: Vec<Vec<usize>> = tensor_shapes(&out.join("fold-1/model/model.safetensors"))
            .into_iter()
            .filter(|(k, _)| k.ends_with("conv.weight"))
            .map(|(_, s)| s)
            .collect();
        assert!(!convs.is_empty());
        let dims = if slice_axis == 2 { 4 } else { 5 };
        assert!(
            convs.iter().all(|s| s.len() == dims),
            "slice axis {slice_axis}: kernels {convs:?}"
        );
        if slice_axis == 0 {
            assert!(
                convs.iter().all(|s| s[2] == 1),
                "unit kernels across X: {convs:?}"
            );
        }

        // Changing one slice of the input changes the logits of that slice only.
        let segmenter = Segmenter::load(&out.join("fold-1/model")).unwrap();
        let window = window_config(&segmenter.plan, 0.5, true);
        assert_eq!(
            window.mirror_axes,
            segmenter.plan.spatial_axes(),
            "mirroring stays in-plane"
        );
        let image = open_volume(&data.join("images/case001.nii.gz")).unwrap();
        let case = prepare_case("case001", std::slice::from_ref(&image), None, &segmenter.plan).unwrap();
        let before = predict_logits(&segmenter.models[0], &case, &window, &mut |_, _| {}).unwrap();
        let mut changed = case.clone();
        let k = changed.subject.spatial_shape()[slice_axis] / 2;
        changed
            .subject
            .image_mut()
            .index_axis_mut(ndarray::Axis(1 + slice_axis), k)
            .mapv_inplace(|v| 3.0 - 2.0 * v);
        let after = predict_logits(&segmenter.models[0], &changed, &window, &mut |_, _| {}).unwrap();
        let per_slice = |t: Tensor<4>| -> Vec<f32> {
            let diff = t.abs();
            let n = diff.dims()[1 + slice_axis];
            (0..n)
                .map(|i| {
                    diff.clone()
                        .narrow(1 + slice_axis, i, 1)
                        .max()
                        .into_scalar::<f32>()
                })
                .collect()
        };
        let diff = per_slice(after - before);
        for (i, d) in diff.iter().enumerate() {
            if i == k {
                assert!(
                    *d > 1e-3,
                    "slice axis {slice_axis}: the changed slice {k} did not change"
                );
            } else {
                assert!(
                    *d <= 1e-5,
                    "slice axis {slice_axis}: slice {i} changed by {d} (slice {k} was edited)"
                );
            }
        }

        // Predictions come back on each input's own grid.
        let prediction = segmenter
            .segment("case001", std::slice::from_ref(&image), &window, &mut |_, _| {})
            .unwrap();
        assert_eq!(prediction.shape(), image.shape());
        assert_eq!(prediction.affine, image.affine);
    }
}
