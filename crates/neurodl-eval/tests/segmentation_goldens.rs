//! Segmentation metrics against MONAI 1.5.1, scipy 1.17.1 and pymia 0.3.4
//! (`tests/golden/seg_metrics/`, made by
//! `tests/reference/generate_segmentation_metric_goldens.py`).
//!
//! Tolerances and why:
//! - voxel counts, border-voxel counts: exact (integers);
//! - overlap metrics vs pymia: 1e-12 absolute (the same integer ratios; rounding only);
//! - HD, HD95, ASSD vs the float64 scipy recipe of MONAI's convention: 1e-9 mm (exact EDT
//!   on both sides; only summation order differs), the percentile convention is the
//!   same definition, so HD95 is held to the same 1e-9;
//! - HD, HD95, ASSD vs MONAI itself: relative 1e-5 (MONAI rounds distances to f32);
//! - surface Dice vs the recipe: 1e-12 (a ratio of counts; the generator guarantees no
//!   distance lies within 1e-4 mm of the tolerance, so f32 vs f64 cannot flip a count);
//! - EDT vs `scipy.ndimage.distance_transform_edt(sampling=)`: 1e-9 mm.

use std::path::PathBuf;

use ndarray::Array3;
use neurodl_eval::{
    CaseStatus, EmptyDistance, SegmentationConfig, distance_transform_edt, evaluate_case, surface_distances,
};
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden/seg_metrics")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn shape3(v: &Value) -> (usize, usize, usize) {
    let s: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    (s[0], s[1], s[2])
}

fn unrle(v: &Value, shape: (usize, usize, usize)) -> Array3<u16> {
    let r: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let mut flat = Vec::with_capacity(shape.0 * shape.1 * shape.2);
    for pair in r.chunks(2) {
        flat.extend(std::iter::repeat_n(pair[0] as u16, pair[1] as usize));
    }
    Array3::from_shape_vec(shape, flat).unwrap()
}

/// A golden number: JSON number or "inf"/"-inf"/"NaN".
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => panic!("bad number {other}"),
        },
        other => panic!("bad number {other}"),
    }
}

fn spacing3(v: &Value) -> [f64; 3] {
    let s: Vec<f64> = v.as_array().unwrap().iter().map(num).collect();
    [s[0], s[1], s[2]]
}

fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (tolerance {tol})"
    );
}

#[test]
fn metrics_match_monai_recipe_and_pymia() {
    let g = golden("metrics.json");
    assert_eq!(
        num(&g["hd_percentile"]),
        neurodl_eval::segmentation::HD_PERCENTILE
    );
    let mut checked_distances = 0;
    let mut worst_vs_monai = 0.0f64;
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let shape = shape3(&case["shape"]);
        let spacing = spacing3(&case["spacing"]);
        let pred = unrle(&case["prediction_rle"], shape);
        let reference = unrle(&case["reference_rle"], shape);
        let labels: Vec<u16> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].as_u64().unwrap() as u16)
            .collect();
        let mut config = SegmentationConfig::new(labels);
        config.surface_dice_tolerance_mm = num(&case["surface_dice_tolerance_mm"]);
        config.empty_distance = EmptyDistance::Infinity;
        let got = evaluate_case(pred.view(), reference.view(), spacing, &config).unwrap();
        for (lm, want) in got.iter().zip(case["labels"].as_array().unwrap()) {
            let what = format!("{name} label {}", lm.label);
            let py = &want["pymia"];
            let rec = &want["recipe"];
            let mon = &want["monai"];
            let c = &lm.counts;
            assert_eq!(
                [
                    c.true_positive,
                    c.false_positive,
                    c.false_negative,
                    c.true_negative
                ],
                ["tp", "fp", "fn", "tn"].map(|k| py[k].as_u64().unwrap()),
                "{what}: voxel counts"
            );
            assert_eq!(
                lm.prediction_border_voxels as u64,
                rec["prediction_border_voxels"].as_u64().unwrap(),
                "{what}"
            );
            assert_eq!(
                lm.reference_border_voxels as u64,
                rec["reference_border_voxels"].as_u64().unwrap(),
                "{what}"
            );
            // Overlap metrics: pymia wherever pymia's value is defined and ours is the
            // formula (both present); the empty cases are checked in segmentation_empty.rs
            // and pymia's differing values there are asserted below.
            for (key, ours) in [
                ("dice", lm.dice),
                ("jaccard", lm.jaccard),
                ("sensitivity", lm.sensitivity),
                ("specificity", lm.specificity),
                ("precision", lm.precision),
                ("volume_similarity", lm.volume_similarity),
            ] {
                let theirs = num(&py[key]);
                if lm.status == CaseStatus::BothPresent && theirs.is_finite() {
                    close(&format!("{what} {key} vs pymia"), ours, theirs, 1e-12);
                }
            }
            if lm.status == CaseStatus::BothPresent {
                for (key, ours) in [
                    ("hausdorff_mm", lm.hausdorff_mm),
                    ("hd95_mm", lm.hd95_mm),
                    ("assd_mm", lm.assd_mm),
                ] {
                    close(&format!("{what} {key} vs recipe"), ours, num(&rec[key]), 1e-9);
                    let m = num(&mon[key]);
                    let rel = (ours - m).abs() / m.abs().max(1e-30);
                    assert!(
                        rel <= 1e-5 || (ours - m).abs() < 1e-6,
                        "{what} {key}: {ours} vs MONAI {m}"
                    );
                    worst_vs_monai = worst_vs_monai.max(if m == 0.0 { 0.0 } else { rel });
                }
                close(
                    &format!("{what} nsd vs recipe"),
                    lm.surface_dice,
                    num(&rec["surface_dice"]),
                    1e-12,
                );
                close(
                    &format!("{what} nsd vs MONAI"),
                    lm.surface_dice,
                    num(&mon["surface_dice"]),
                    1e-6,
                );
                checked_distances += 1;

                // The low-level API on boolean masks gives the same numbers.
                let pm = pred.mapv(|v| v == lm.label);
                let rm = reference.mapv(|v| v == lm.label);
                let d = surface_distances(pm.view(), rm.view(), spacing).unwrap();
                assert_eq!(d.hausdorff(), Some(lm.hausdorff_mm));
                assert_eq!(d.hausdorff_percentile(95.0).unwrap(), Some(lm.hd95_mm));
                assert_eq!(d.prediction_to_reference.len(), lm.prediction_border_voxels);
            } else {
                // Where the anchors disagree (module docs): MONAI gives NaN or inf for
                // distances of an empty side and NaN for HD95 of a one-sided case; ours
                // is the documented value, never NaN.
                for key in ["hausdorff_mm", "hd95_mm", "assd_mm"] {
                    assert!(
                        !num(&mon[key]).is_finite(),
                        "{what}: MONAI {key} was expected non-finite"
                    );
                }
                assert!(!lm.hausdorff_mm.is_nan() && !lm.hd95_mm.is_nan() && !lm.assd_mm.is_nan());
                match lm.status {
                    CaseStatus::BothEmpty => {
                        assert!(num(&mon["dice_ignore_empty"]).is_nan());
                        assert_eq!(num(&mon["dice_keep_empty"]), lm.dice);
                        assert_eq!(num(&py["dice"]), lm.dice);
                        assert_eq!(num(&py["sensitivity"]), f64::NEG_INFINITY);
                        assert_eq!(num(&py["precision"]), 0.0);
                        assert_eq!(lm.dice, 1.0);
                        assert_eq!(lm.hausdorff_mm, 0.0);
                    }
                    CaseStatus::Missed | CaseStatus::Spurious => {
                        assert!(
                            num(&mon["hd95_mm"]).is_nan(),
                            "{what}: MONAI's HD95 of a one-sided case is NaN"
                        );
                        assert_eq!(num(&mon["hausdorff_mm"]), f64::INFINITY);
                        assert_eq!(num(&mon["surface_dice"]), lm.surface_dice);
                        assert_eq!(lm.hausdorff_mm, f64::INFINITY);
                        assert_eq!(lm.hd95_mm, f64::INFINITY);
                        assert_eq!(num(&py["dice"]), lm.dice);
                    }
                    CaseStatus::BothPresent => unreachable!(),
                }
            }
        }
    }
    assert!(
        checked_distances >= 15,
        "only {checked_distances} label cases with distances"
    );
    eprintln!("worst relative difference to MONAI (f32): {worst_vs_monai:.2e}");
}

#[test]
fn edt_matches_scipy() {
    let g = golden("edt.json");
    let mut n = 0;
    for case in g["cases"].as_array().unwrap() {
        let shape = shape3(&case["shape"]);
        let sampling = spacing3(&case["sampling"]);
        let features = unrle(&case["features_rle"], shape).mapv(|v| v == 1);
        let got = distance_transform_edt(features.view(), sampling).unwrap();
        let want: Vec<f64> = case["distances"].as_array().unwrap().iter().map(num).collect();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            close(&format!("edt {shape:?} {sampling:?} voxel {i}"), *g, *w, 1e-9);
            n += 1;
        }
    }
    assert!(n > 1000);
}
