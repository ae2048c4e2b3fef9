//! Speed on a 256³ pair (ignored by default; run with
//! `cargo test --release -p neurodl-eval --test segmentation_speed -- --ignored --nocapture`).
//! The assertions check the geometry (concentric balls: every surface distance is
//! about the radius difference), so a fast wrong answer fails.

use std::time::Instant;

use ndarray::Array3;
use neurodl_eval::{SegmentationConfig, evaluate_case};

fn balls(n: usize, r1: f64, r2: f64, spacing: [f64; 3]) -> Array3<u16> {
    let c = n as f64 / 2.0;
    Array3::from_shape_fn((n, n, n), |(i, j, k)| {
        let d = |x: usize, s: f64, off: f64| (x as f64 - c - off) * s;
        let big =
            d(i, spacing[0], 0.0).powi(2) + d(j, spacing[1], 0.0).powi(2) + d(k, spacing[2], 0.0).powi(2);
        let small =
            d(i, spacing[0], 60.0).powi(2) + d(j, spacing[1], 0.0).powi(2) + d(k, spacing[2], 0.0).powi(2);
        if small <= r2 * r2 {
            2
        } else if big <= r1 * r1 {
            1
        } else {
            0
        }
    })
}

#[test]
#[ignore = "timing; run in release with --ignored"]
fn evaluate_256_cubed_pair() {
    let spacing = [1.0, 0.9, 1.2];
    let pred = balls(256, 100.0, 20.0, spacing);
    let reference = balls(256, 96.0, 18.0, spacing);
    let config = SegmentationConfig::new(vec![1, 2]);
    let _ = evaluate_case(pred.view(), reference.view(), spacing, &config).unwrap();
    let reps = 3;
    let t = Instant::now();
    let mut m = Vec::new();
    for _ in 0..reps {
        m = evaluate_case(pred.view(), reference.view(), spacing, &config).unwrap();
    }
    let per = t.elapsed().as_secs_f64() / reps as f64;
    eprintln!(
        "256^3 pair, labels 1 and 2, {} threads: {:.3} s per case; label 1 HD {:.3} HD95 {:.3} ASSD {:.3}; label 2 HD {:.3}",
        rayon::current_num_threads(),
        per,
        m[0].hausdorff_mm,
        m[0].hd95_mm,
        m[0].assd_mm,
        m[1].hausdorff_mm
    );
    // Label 1 is the big ball minus the small one; its outer surfaces are 4 mm apart,
    // the inner (around label 2) 2 mm: distances lie within a voxel diagonal of those.
    assert!(
        m[0].hausdorff_mm > 3.0 && m[0].hausdorff_mm < 5.8,
        "{}",
        m[0].hausdorff_mm
    );
    assert!(m[0].assd_mm > 2.0 && m[0].assd_mm < 4.5, "{}", m[0].assd_mm);
    assert!(
        m[1].hausdorff_mm > 1.0 && m[1].hausdorff_mm < 3.8,
        "{}",
        m[1].hausdorff_mm
    );
}
