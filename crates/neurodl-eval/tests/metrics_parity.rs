//! Metrics against scikit-learn 1.9.1 (`tests/golden/eval/metrics.json`, made by
//! `tests/reference/generate_eval_goldens.py`), plus the error paths.
//!
//! Tolerance: 1e-12 absolute. Counts are integers and every metric is a ratio
//! of small integers or a mean of a few such ratios, so the only difference from
//! scikit-learn is the floating summation order (and NumPy's float arithmetic in
//! the ROC trapezoid, where this crate sums exactly in integers) — errors of a
//! few ulps on values in [-1, 1].

use neurodl_eval::{
    ConfusionMatrix, EvalError, MeanSd, Scores, aggregate_trials, mean_sd, roc_auc_binary, score,
};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

const TOL: f64 = 1e-12;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/golden/eval/metrics.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("metrics golden")).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn labels(k: usize) -> Vec<String> {
    (0..k).map(|i| format!("class{i}")).collect()
}

/// Largest |ours - scikit-learn's| seen, as f64 bits (non-negative floats order
/// like their bits), printed for the record.
static MAX_ERR: AtomicU64 = AtomicU64::new(0);

/// `expected` is a number, or null for scikit-learn's NaN.
fn assert_close(name: &str, what: &str, got: f64, expected: &Value) {
    match expected.as_f64() {
        Some(e) => {
            assert!((got - e).abs() <= TOL, "{name}: {what} = {got}, scikit-learn {e}");
            MAX_ERR.fetch_max((got - e).abs().to_bits(), Ordering::Relaxed);
        }
        None => assert!(got.is_nan(), "{name}: {what} = {got}, scikit-learn NaN"),
    }
}

#[test]
fn confusion_matrix_and_metrics_match_sklearn() {
    let g = golden();
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 12, "{} cases", cases.len());
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let k = c["n_labels"].as_u64().unwrap() as usize;
        let cm = ConfusionMatrix::new(labels(k), &usizes(&c["y_true"]), &usizes(&c["y_pred"])).unwrap();
        let expected_counts: Vec<Vec<u64>> = c["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(cm.counts, expected_counts, "{name}: confusion matrix");
        assert_eq!(cm.n(), c["y_true"].as_array().unwrap().len() as u64);
        assert_close(name, "accuracy", cm.accuracy(), &c["accuracy"]);
        assert_close(
            name,
            "balanced_accuracy",
            cm.balanced_accuracy(),
            &c["balanced_accuracy"],
        );
        assert_close(name, "cohen_kappa", cm.cohen_kappa(), &c["cohen_kappa"]);
        assert_close(name, "f1_macro", cm.f1_macro(), &c["f1_macro"]);
        assert_close(
            name,
            "f1_macro_present",
            cm.f1_macro_present(),
            &c["f1_macro_present"],
        );
        let per = cm.per_class();
        for (field, want) in [
            ("precision", &c["precision"]),
            ("recall", &c["recall"]),
            ("f1", &c["f1"]),
        ] {
            for (i, e) in want.as_array().unwrap().iter().enumerate() {
                let got = match field {
                    "precision" => per[i].precision,
                    "recall" => per[i].recall,
                    _ => per[i].f1,
                };
                assert_close(name, &format!("{field}[{i}]"), got, e);
            }
        }
        let support: Vec<u64> = per.iter().map(|p| p.support).collect();
        assert_eq!(
            support,
            usizes(&c["support"])
                .iter()
                .map(|&s| s as u64)
                .collect::<Vec<_>>(),
            "{name}"
        );
        if !c["score"].is_null() {
            let auc = roc_auc_binary(&usizes(&c["y_true"]), &f64s(&c["score"]));
            match c["roc_auc"].as_f64() {
                Some(_) => assert_close(name, "roc_auc", auc.unwrap(), &c["roc_auc"]),
                // scikit-learn returns NaN (with a warning) for one class; this crate errors.
                None => assert!(
                    matches!(auc, Err(EvalError::SingleClass { .. })),
                    "{name}: {auc:?}"
                ),
            }
        }
    }
    eprintln!(
        "largest difference from scikit-learn: {:e}",
        f64::from_bits(MAX_ERR.load(Ordering::Relaxed))
    );
}

#[test]
fn score_from_probabilities_matches_sklearn() {
    let g = golden();
    let mut n_checked = 0;
    for c in g["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["proba"].is_null())
    {
        let name = c["name"].as_str().unwrap();
        let k = c["n_labels"].as_u64().unwrap() as usize;
        let proba: Vec<Vec<f64>> = c["proba"].as_array().unwrap().iter().map(f64s).collect();
        let (s, cm) = score(&labels(k), &usizes(&c["y_true"]), &proba).unwrap();
        // Argmax (ties to the lowest class) reproduces NumPy's predictions.
        let pred: Vec<usize> = usizes(&c["y_pred"]);
        let recount = ConfusionMatrix::new(labels(k), &usizes(&c["y_true"]), &pred).unwrap();
        assert_eq!(cm, recount, "{name}");
        assert_eq!(s.n, pred.len());
        assert_close(name, "accuracy", s.accuracy, &c["accuracy"]);
        assert_close(
            name,
            "balanced_accuracy",
            s.balanced_accuracy,
            &c["balanced_accuracy"],
        );
        assert_close(name, "cohen_kappa", s.cohen_kappa, &c["cohen_kappa"]);
        assert_close(name, "f1_macro", s.f1_macro, &c["f1_macro"]);
        if k == 2 {
            assert_close(name, "roc_auc", s.roc_auc.unwrap(), &c["roc_auc"]);
        } else {
            assert_eq!(s.roc_auc, None, "{name}");
        }
        n_checked += 1;
    }
    assert!(n_checked >= 6, "{n_checked}");
}

#[test]
fn roc_auc_handles_ties_as_sklearn() {
    // Hand-computed: one positive/negative tie at 0.5 earns half credit.
    // pairs (pos, neg): (0.9 > 0.5), (0.9 > 0.1), (0.5 = 0.5 → ½), (0.5 > 0.1) → 3.5/4.
    let auc = roc_auc_binary(&[1, 1, 0, 0], &[0.9, 0.5, 0.5, 0.1]).unwrap();
    assert_eq!(auc, 0.875);
    // -0.0 and 0.0 are one threshold.
    let auc = roc_auc_binary(&[1, 0], &[0.0, -0.0]).unwrap();
    assert_eq!(auc, 0.5);
    // Reversed scores give 1 - AUC.
    let y = [0, 1, 1, 0, 1, 0, 1, 1];
    let s = [0.2, 0.3, 0.3, 0.8, 0.6, 0.3, 0.9, 0.1];
    let neg: Vec<f64> = s.iter().map(|v| -v).collect();
    let a = roc_auc_binary(&y, &s).unwrap();
    let b = roc_auc_binary(&y, &neg).unwrap();
    assert!((a + b - 1.0).abs() < 1e-15, "{a} {b}");
}

#[test]
fn metric_errors_name_what_is_wrong() {
    let l = labels(2);
    let e = ConfusionMatrix::new(l.clone(), &[0, 1], &[0]).unwrap_err();
    assert_eq!(e.to_string(), "y_pred has 1 entries but y_true has 2");
    let e = ConfusionMatrix::new(l.clone(), &[], &[]).unwrap_err();
    assert_eq!(e, EvalError::Empty { what: "y_true" });
    let e = ConfusionMatrix::new(l.clone(), &[0, 1, 2], &[0, 1, 1]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "y_true[2] = 2 is not a class index below the 2 labels"
    );
    let e = ConfusionMatrix::new(l.clone(), &[0, 1], &[0, 5]).unwrap_err();
    assert!(e.to_string().starts_with("y_pred[1] = 5"), "{e}");
    let e = ConfusionMatrix::new(vec!["a".into(), "b".into(), "a".into()], &[0], &[0]).unwrap_err();
    assert!(e.to_string().contains("\"a\" appears twice"), "{e}");
    assert_eq!(
        ConfusionMatrix::new(vec![], &[0], &[0]).unwrap_err(),
        EvalError::Empty { what: "labels" }
    );

    let e = roc_auc_binary(&[1, 1, 1], &[0.1, 0.2, 0.3]).unwrap_err();
    assert!(e.to_string().contains("only class 1 is present"), "{e}");
    let e = roc_auc_binary(&[0, 1, 2], &[0.1, 0.2, 0.3]).unwrap_err();
    assert_eq!(e, EvalError::NotBinary { index: 2, value: 2 });
    let e = roc_auc_binary(&[0, 1, 0], &[0.1, f64::NAN, 0.3]).unwrap_err();
    assert_eq!(e.to_string(), "score_pos row 1 contains a non-finite value (NaN)");
    assert!(roc_auc_binary(&[0, 1], &[0.1]).is_err());

    let e = score(&l, &[0, 1], &[vec![0.5, 0.5], vec![f64::NAN, 0.5]]).unwrap_err();
    assert_eq!(e.to_string(), "proba row 1 contains a non-finite value (NaN)");
    let e = score(&l, &[0, 1], &[vec![0.5, 0.5], vec![0.2, 0.3, 0.5]]).unwrap_err();
    assert_eq!(e.to_string(), "proba row 1 has 3 columns, expected 2");
    let e = score(&l, &[0, 1], &[vec![0.5, 0.5], vec![2.3, -0.4]]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("proba row 1 is not a probability distribution"),
        "{e}"
    );
    let e = score(&l, &[0, 1], &[vec![0.5, 0.5]]).unwrap_err();
    assert_eq!(e.to_string(), "proba has 1 entries but y_true has 2");
    // f32 softmax rounding is accepted.
    assert!(score(&l, &[0, 1], &[vec![0.3, 0.700_000_1], vec![0.5, 0.5]]).is_ok());
}

#[test]
fn score_gives_no_auc_for_one_true_class_and_nan_kappa_roundtrips() {
    let l = labels(2);
    let (s, _) = score(&l, &[0, 0], &[vec![0.9, 0.1], vec![0.8, 0.2]]).unwrap();
    assert_eq!(s.roc_auc, None);
    assert!(s.cohen_kappa.is_nan());
    let text = serde_json::to_string(&s).unwrap();
    assert!(text.contains("\"cohen_kappa\":null"), "{text}");
    let back: Scores = serde_json::from_str(&text).unwrap();
    assert!(back.cohen_kappa.is_nan());
    assert_eq!((back.n, back.accuracy, back.roc_auc), (2, 1.0, None));
}

#[test]
fn trial_aggregation_averages_windows() {
    let trials = [(0u32, 1u32), (0, 1), (0, 2), (1, 1), (0, 2), (0, 1)];
    let y = [1, 1, 0, 1, 0, 1];
    let p = [
        vec![0.2, 0.8],
        vec![0.6, 0.4],
        vec![0.9, 0.1],
        vec![0.3, 0.7],
        vec![0.5, 0.5],
        vec![0.7, 0.3],
    ];
    let (ids, classes, proba) = aggregate_trials(&trials, &y, &p).unwrap();
    assert_eq!(ids, [(0, 1), (0, 2), (1, 1)]);
    assert_eq!(classes, [1, 0, 1]);
    let want = [[0.5, 0.5], [0.7, 0.3], [0.3, 0.7]];
    for (got, want) in proba.iter().zip(want) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{proba:?}");
        }
    }
    let e = aggregate_trials(&trials, &[1, 0, 0, 1, 0, 1], &p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "windows 0 and 1 belong to the same trial but have true classes 1 and 0"
    );
    let bad = [vec![0.2, 0.8], vec![f64::NAN, 0.4]];
    let e = aggregate_trials(&trials[..2], &y[..2], &bad).unwrap_err();
    assert_eq!(e.to_string(), "proba row 1 contains a non-finite value (NaN)");
    assert!(aggregate_trials(&trials[..2], &y[..3], &p[..2]).is_err());
    let none: (Vec<u8>, Vec<usize>, Vec<Vec<f64>>) = aggregate_trials::<u8>(&[], &[], &[]).unwrap();
    assert!(none.0.is_empty() && none.1.is_empty() && none.2.is_empty());
}

#[test]
fn mean_sd_is_pandas_ddof_1() {
    // numpy: np.mean / np.std(ddof=1) of [0.7, 0.8, 0.65, 0.9] = 0.7625, 0.11086778913041724.
    let m = mean_sd(&[0.7, 0.8, 0.65, 0.9]);
    assert!((m.mean - 0.7625).abs() < 1e-15);
    assert!((m.sd.unwrap() - 0.110_867_789_130_417_24).abs() < 1e-15, "{m:?}");
    assert_eq!(m.n, 4);
    assert_eq!(
        mean_sd(&[0.5]),
        MeanSd {
            mean: 0.5,
            sd: None,
            n: 1
        }
    );
    let empty = mean_sd(&[]);
    assert!(empty.mean.is_nan() && empty.sd.is_none() && empty.n == 0);
    assert!(mean_sd(&[0.5, f64::NAN]).mean.is_nan());
    let text = serde_json::to_string(&empty).unwrap();
    assert_eq!(text, r#"{"mean":null,"sd":null,"n":0}"#);
}
