//! Empty-case rules, statistics that count every case, CSV/JSON output and input
//! errors of the segmentation metrics (values fixed by the rules in the module docs).

use ndarray::{Array3, s};
use neurodl_eval::{
    CaseStatus, EmptyDistance, EvalError, MetricSummary, SegMetric, SegmentationConfig,
    SegmentationEvaluation, VoxelCounts, evaluate_case,
};

const SPACING: [f64; 3] = [0.78, 0.78, 6.5];

fn volume() -> Array3<u16> {
    Array3::zeros((20, 22, 8))
}

/// Label 1 in both, 2 missed, 3 spurious, 4 in neither.
fn combinations() -> (Array3<u16>, Array3<u16>) {
    let mut p = volume();
    let mut r = volume();
    p.slice_mut(s![2..8, 2..8, 1..4]).fill(1);
    r.slice_mut(s![3..9, 2..8, 1..4]).fill(1);
    r.slice_mut(s![12..18, 12..18, 4..7]).fill(2);
    p.slice_mut(s![1..4, 15..20, 5..8]).fill(3);
    (p, r)
}

fn diagonal(shape: [usize; 3], spacing: [f64; 3]) -> f64 {
    (0..3)
        .map(|a| (shape[a] as f64 * spacing[a]).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn every_empty_combination_has_its_documented_values() {
    let (p, r) = combinations();
    let config = SegmentationConfig::new(vec![1, 2, 3, 4]);
    let m = evaluate_case(p.view(), r.view(), SPACING, &config).unwrap();
    let penalty = diagonal([20, 22, 8], SPACING);

    assert_eq!(m[0].status, CaseStatus::BothPresent);
    assert!(m[0].dice > 0.0 && m[0].dice < 1.0);
    assert!((m[0].hausdorff_mm - 0.78).abs() < 1e-12, "{}", m[0].hausdorff_mm);

    let missed = &m[1];
    assert_eq!(missed.status, CaseStatus::Missed);
    for metric in [
        SegMetric::Dice,
        SegMetric::Jaccard,
        SegMetric::Sensitivity,
        SegMetric::Precision,
        SegMetric::VolumeSimilarity,
        SegMetric::SurfaceDice,
    ] {
        assert_eq!(missed.value(metric), 0.0, "missed {metric:?}");
    }
    assert_eq!(missed.specificity, 1.0);
    for metric in [SegMetric::HausdorffMm, SegMetric::Hd95Mm, SegMetric::AssdMm] {
        assert_eq!(missed.value(metric), penalty, "missed {metric:?}");
    }
    assert_eq!(
        (
            missed.prediction_border_voxels,
            missed.reference_border_voxels > 0
        ),
        (0, true)
    );

    let spurious = &m[2];
    assert_eq!(spurious.status, CaseStatus::Spurious);
    for metric in [
        SegMetric::Dice,
        SegMetric::Jaccard,
        SegMetric::Sensitivity,
        SegMetric::Precision,
        SegMetric::VolumeSimilarity,
        SegMetric::SurfaceDice,
    ] {
        assert_eq!(spurious.value(metric), 0.0, "spurious {metric:?}");
    }
    let c = spurious.counts;
    assert_eq!(
        spurious.specificity,
        c.true_negative as f64 / (c.true_negative + c.false_positive) as f64
    );
    assert!(spurious.specificity < 1.0);
    assert_eq!(spurious.hd95_mm, penalty);

    let neither = &m[3];
    assert_eq!(neither.status, CaseStatus::BothEmpty);
    for metric in [
        SegMetric::Dice,
        SegMetric::Jaccard,
        SegMetric::Sensitivity,
        SegMetric::Specificity,
        SegMetric::Precision,
        SegMetric::VolumeSimilarity,
        SegMetric::SurfaceDice,
    ] {
        assert_eq!(neither.value(metric), 1.0, "both empty {metric:?}");
    }
    for metric in [SegMetric::HausdorffMm, SegMetric::Hd95Mm, SegMetric::AssdMm] {
        assert_eq!(neither.value(metric), 0.0, "both empty {metric:?}");
    }
}

#[test]
fn penalty_is_configurable() {
    let (p, r) = combinations();
    let mut config = SegmentationConfig::new(vec![2, 3]);
    config.empty_distance = EmptyDistance::Infinity;
    let m = evaluate_case(p.view(), r.view(), SPACING, &config).unwrap();
    assert!(
        m.iter()
            .all(|l| l.hausdorff_mm == f64::INFINITY && l.assd_mm == f64::INFINITY)
    );
    config.empty_distance = EmptyDistance::Fixed { mm: 50.0 };
    let m = evaluate_case(p.view(), r.view(), SPACING, &config).unwrap();
    assert!(m.iter().all(|l| l.hd95_mm == 50.0));
    // BraTS's 373.13 mm is the diagonal of 240×240×155 at 1 mm.
    let brats = EmptyDistance::ImageDiagonal.value([240, 240, 155], [1.0; 3]);
    assert!((brats - 373.1287).abs() < 1e-4, "{brats}");
}

#[test]
fn specificity_with_a_reference_filling_the_volume() {
    let full = Array3::from_elem((3, 4, 5), 1u16);
    let mut part = full.clone();
    part[[0, 0, 0]] = 0;
    let config = SegmentationConfig::new(vec![1]);
    // TN + FP = 0: 1 when the prediction fills the volume too, else 0.
    let same = evaluate_case(full.view(), full.view(), [1.0; 3], &config).unwrap();
    assert_eq!(same[0].specificity, 1.0);
    assert_eq!(same[0].hausdorff_mm, 0.0);
    let differs = evaluate_case(part.view(), full.view(), [1.0; 3], &config).unwrap();
    assert_eq!(differs[0].specificity, 0.0);
    assert_eq!(differs[0].precision, 1.0);
}

#[test]
fn statistics_count_every_case_and_name_the_misses() {
    let (p, r) = combinations();
    let mut eval = SegmentationEvaluation::new(SegmentationConfig::new(vec![1, 2, 3])).unwrap();
    eval.add_case("a", p.view(), r.view(), SPACING).unwrap();
    eval.add_case("b", r.view(), r.view(), SPACING).unwrap(); // perfect; label 3 both empty
    eval.add_case("c, quoted \"id\"", p.view(), p.view(), SPACING)
        .unwrap(); // label 2 both empty
    let stats = eval.statistics();
    assert_eq!(stats.len(), 3 * SegMetric::ALL.len());
    let get = |label: u16, metric: SegMetric| -> &MetricSummary {
        stats
            .iter()
            .find(|s| s.label == label && s.metric == metric)
            .unwrap()
    };
    let d2 = get(2, SegMetric::Dice);
    assert_eq!(
        (
            d2.n,
            d2.n_missed,
            d2.n_spurious,
            d2.n_both_empty,
            d2.n_both_present
        ),
        (3, 1, 0, 1, 1)
    );
    // The miss counts as 0: mean of (0, 1, 1), not of the two non-missed cases.
    assert!((d2.mean - 2.0 / 3.0).abs() < 1e-15);
    assert_eq!((d2.min, d2.max, d2.median), (0.0, 1.0, 1.0));
    let sd = d2.sd.unwrap();
    assert!((sd - (1.0f64 / 3.0).sqrt()).abs() < 1e-12, "{sd}");
    let h3 = get(3, SegMetric::Hd95Mm);
    assert_eq!((h3.n_spurious, h3.n_both_empty, h3.n_both_present), (1, 1, 1));
    assert_eq!(h3.max, diagonal([20, 22, 8], SPACING));
    assert_eq!(h3.median, 0.0);

    // CSV: header, one row per case and label, quoted ids.
    let csv = eval.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 3 * 3);
    assert_eq!(
        lines[0],
        "case_id,label,status,tp,fp,fn,tn,dice,jaccard,sensitivity,specificity,precision,volume_similarity,hausdorff_mm,hd95_mm,assd_mm,surface_dice"
    );
    assert!(lines[2].starts_with("a,2,missed,0,0,"), "{}", lines[2]);
    assert!(
        lines[7].starts_with("\"c, quoted \"\"id\"\"\",1,both-present,"),
        "{}",
        lines[7]
    );
    assert_eq!(lines[1].split(',').count(), 17);

    // JSON round trip, infinite values included.
    let mut config = SegmentationConfig::new(vec![2]);
    config.empty_distance = EmptyDistance::Infinity;
    let mut inf_eval = SegmentationEvaluation::new(config).unwrap();
    inf_eval.add_case("a", p.view(), r.view(), SPACING).unwrap();
    inf_eval.add_case("b", r.view(), r.view(), SPACING).unwrap();
    let json = serde_json::to_string(&inf_eval).unwrap();
    assert!(json.contains("\"hausdorff_mm\":\"inf\""), "{json}");
    let back: SegmentationEvaluation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, inf_eval);
    let st = inf_eval.statistics();
    let h = st.iter().find(|s| s.metric == SegMetric::HausdorffMm).unwrap();
    assert_eq!((h.mean, h.sd, h.n_missed), (f64::INFINITY, None, 1));
    let sj = serde_json::to_string(&st).unwrap();
    let st_back: Vec<MetricSummary> = serde_json::from_str(&sj).unwrap();
    assert_eq!(st_back, st);
}

#[test]
fn bad_inputs_are_errors_naming_the_problem() {
    let v = volume();
    let other = Array3::<u16>::zeros((20, 22, 9));
    let config = SegmentationConfig::new(vec![1]);
    let e = evaluate_case(v.view(), other.view(), SPACING, &config).unwrap_err();
    assert!(
        e.to_string().contains("[20, 22, 8]") && e.to_string().contains("[20, 22, 9]"),
        "{e}"
    );
    let e = evaluate_case(v.view(), v.view(), [0.78, -1.0, 6.5], &config).unwrap_err();
    assert!(e.to_string().contains("spacing[1]"), "{e}");
    let empty = Array3::<u16>::zeros((0, 4, 4));
    assert_eq!(
        evaluate_case(empty.view(), empty.view(), SPACING, &config).unwrap_err(),
        EvalError::Empty { what: "prediction" }
    );
    assert_eq!(
        SegmentationConfig::new(vec![]).validate().unwrap_err(),
        EvalError::Empty { what: "labels" }
    );
    assert!(matches!(
        SegmentationConfig::new(vec![1, 2, 1]).validate(),
        Err(EvalError::DuplicateLabel {
            first: 0,
            second: 2,
            ..
        })
    ));
    let mut c = SegmentationConfig::new(vec![1]);
    c.surface_dice_tolerance_mm = f64::NAN;
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("surface_dice_tolerance_mm")
    );
    c.surface_dice_tolerance_mm = 1.0;
    c.empty_distance = EmptyDistance::Fixed { mm: f64::INFINITY };
    assert!(c.validate().unwrap_err().to_string().contains("empty_distance"));
    let mut eval = SegmentationEvaluation::new(SegmentationConfig::new(vec![1])).unwrap();
    eval.add_case("x", v.view(), v.view(), SPACING).unwrap();
    let e = eval.add_case("x", v.view(), v.view(), SPACING).unwrap_err();
    assert!(e.to_string().contains("already added"), "{e}");
    assert_eq!(eval.cases.len(), 1);
    let d = neurodl_eval::surface_distances(v.mapv(|x| x == 0).view(), v.mapv(|x| x == 0).view(), SPACING)
        .unwrap();
    assert!(d.hausdorff_percentile(101.0).is_err());
    assert!(d.surface_dice(-1.0).is_err());
}

#[test]
fn voxel_counts_from_label_maps_match_the_case_evaluation() {
    let (p, r) = combinations();
    let config = SegmentationConfig::new(vec![1, 2, 3, 4]);
    let m = evaluate_case(p.view(), r.view(), SPACING, &config).unwrap();
    for lm in &m {
        let c = VoxelCounts::from_label_maps(p.view(), r.view(), lm.label).unwrap();
        assert_eq!(c, lm.counts);
        assert_eq!(c.total(), 20 * 22 * 8);
    }
    // Non-standard layout (a transposed view) gives the same answer as its copy.
    let pt = p.view().reversed_axes();
    let rt = r.view().reversed_axes();
    let a = evaluate_case(pt, rt, [6.5, 0.78, 0.78], &config).unwrap();
    let b = evaluate_case(
        pt.as_standard_layout().view(),
        rt.as_standard_layout().view(),
        [6.5, 0.78, 0.78],
        &config,
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].hausdorff_mm, m[0].hausdorff_mm);
}
