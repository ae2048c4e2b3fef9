//! Properties that have no Python reference: reproducibility of the random transforms,
//! inverses of the preprocessing steps, fused = sequential warps, patch sampling and the
//! queue's determinism, and the errors bad input gets.

use std::sync::Arc;

use ndarray::{Array3, Array4, Axis};
use neurodl_io::Affine;
use neurodl_volume::augment::{AffineParams, random_control_grid};
use neurodl_volume::spatial::{self, Anchor, PadMode};
use neurodl_volume::{
    Boundary, Interpolation, PatchQueue, PatchSampler, Pipeline, QueueConfig, SeededRng, Subject, Transform,
    VolumeError, spatial_transform,
};

/// A smooth two-channel image with a label map of three classes, on an oblique grid.
fn case(shape: [usize; 3]) -> Subject {
    let [x, y, z] = shape;
    let image = Array4::from_shape_fn((2, x, y, z), |(c, i, j, k)| {
        let (fi, fj, fk) = (i as f32 / x as f32, j as f32 / y as f32, k as f32 / z as f32);
        100.0 + 50.0 * (3.0 * fi).sin() * (2.0 * fj + c as f32).cos() + 20.0 * fk
    });
    let label = Array3::from_shape_fn((x, y, z), |(i, j, k)| {
        let d = ((i as f32 - x as f32 / 2.0).powi(2)
            + (j as f32 - y as f32 / 2.0).powi(2)
            + (k as f32 - z as f32 / 2.0).powi(2))
        .sqrt();
        if d < 3.0 {
            2
        } else if d < 6.0 {
            1
        } else if i < 2 {
            5
        } else {
            0
        }
    });
    let affine = Affine::from_rows([
        [0.0, -1.2, 0.05, 10.0],
        [0.9, 0.0, 0.0, -4.0],
        [0.02, 0.0, 1.5, 3.0],
    ]);
    Subject::new("case", image, Some(label), affine).unwrap()
}

fn all_on() -> Pipeline {
    let mut p = Pipeline::nnunet_default();
    for t in &mut p.transforms {
        match t {
            Transform::RandomAffineElastic {
                p_affine, p_elastic, ..
            } => {
                *p_affine = 1.0;
                *p_elastic = 1.0;
            }
            Transform::Flip { .. } => {}
            Transform::GaussianNoise { p, .. }
            | Transform::GaussianBlur { p, .. }
            | Transform::Gamma { p, .. }
            | Transform::Brightness { p, .. }
            | Transform::Contrast { p, .. }
            | Transform::LowResolution { p, .. }
            | Transform::BiasField { p, .. } => *p = 1.0,
        }
    }
    p.transforms.push(Transform::BiasField {
        p: 1.0,
        coefficients: 0.3,
        order: 3,
    });
    p
}

#[test]
fn same_seed_same_output_different_seed_different_labels_stay_labels() {
    let s = case([20, 22, 18]);
    let p = all_on();
    let a = p.apply(&s, &mut SeededRng::new(11)).unwrap();
    let b = p.apply(&s, &mut SeededRng::new(11)).unwrap();
    let c = p.apply(&s, &mut SeededRng::new(12)).unwrap();
    assert_eq!(a, b, "same seed, same result");
    assert_ne!(a.image(), c.image(), "different seeds differ");
    assert_eq!(a.spatial_shape(), s.spatial_shape());
    let allowed = [0u16, 1, 2, 5];
    assert!(
        a.label().unwrap().iter().all(|v| allowed.contains(v)),
        "only labels that existed"
    );
    assert!(
        a.label().unwrap().iter().any(|v| *v == 2),
        "the core survives the warp"
    );
    assert!(a.image().iter().all(|v| v.is_finite()));
}

#[test]
fn pipeline_is_declared_in_toml_and_json() {
    let text = r#"
[[transform]]
op = "random_affine_elastic"
degrees = [15.0, 0.0, 0.0]
p_elastic = 0.5
image_interpolation = "cubic"
pad_value = { value = 0.0 }

[[transform]]
op = "flip"
axes = [0]

[[transform]]
op = "gamma"
p = 0.3
invert_image = true
"#;
    let p: Pipeline = toml::from_str(text).unwrap();
    p.validate().unwrap();
    match &p.transforms[0] {
        Transform::RandomAffineElastic {
            scales,
            num_control_points,
            image_interpolation,
            ..
        } => {
            assert_eq!(*scales, [0.9, 1.1], "TorchIO default");
            assert_eq!(*num_control_points, [7, 7, 7]);
            assert_eq!(*image_interpolation, Interpolation::Cubic);
        }
        other => panic!("{other:?}"),
    }
    let json = serde_json::to_string(&Pipeline::nnunet_default()).unwrap();
    let back: Pipeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back, Pipeline::nnunet_default());
    assert!(
        toml::from_str::<Pipeline>("[[transform]]\nop = \"flip\"\nprob = 0.5\n").is_err(),
        "unknown keys are refused"
    );
    let bad: Pipeline = toml::from_str("[[transform]]\nop = \"gaussian_noise\"\np = 1.5\n").unwrap();
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("gaussian_noise.p") && err.contains("1.5"), "{err}");
}

#[test]
fn crop_pad_and_reorient_undo_exactly_and_keep_world_positions() {
    let mut s = case([16, 15, 14]);
    // Zero border so the non-zero box is smaller than the grid.
    let (_, mut image, label, affine) = s.clone().into_parts();
    image.slice_mut(ndarray::s![.., ..3, .., ..]).fill(0.0);
    image.slice_mut(ndarray::s![.., .., 12.., ..]).fill(0.0);
    s = Subject::new("z", image, label, affine).unwrap();
    let (cropped, bbox) = spatial::crop_to_nonzero(&s).unwrap();
    assert_eq!(bbox.start, [3, 0, 0]);
    assert_eq!(bbox.stop, [16, 12, 14]);
    let w_old = s.affine().apply([5.0, 2.0, 7.0]);
    let w_new = cropped.affine().apply([2.0, 2.0, 7.0]);
    assert!(
        w_old.iter().zip(w_new).all(|(a, b)| (a - b).abs() < 1e-12),
        "world position kept"
    );
    assert_eq!(cropped.image()[(1, 2, 2, 7)], s.image()[(1, 5, 2, 7)]);
    let back = bbox.uncrop_labels(cropped.label().unwrap().view(), 0).unwrap();
    let mut expect = s.label().unwrap().clone();
    expect.slice_mut(ndarray::s![..3, .., ..]).fill(0);
    expect.slice_mut(ndarray::s![.., 12.., ..]).fill(0);
    assert_eq!(back, expect);

    for (shape, mode) in [
        ([20, 10, 15], PadMode::Constant(-7.0)),
        ([9, 21, 14], PadMode::Edge),
    ] {
        let (padded, record) = spatial::pad_or_crop(&s, shape, Anchor::Centre, mode).unwrap();
        assert_eq!(padded.spatial_shape(), shape);
        let o = record.offset;
        let i = [8isize, 7, 6];
        let t = [0, 1, 2].map(|a| (i[a] + o[a]) as f64);
        let w1 = s.affine().apply(i.map(|v| v as f64));
        let w2 = padded.affine().apply(t);
        assert!(w1.iter().zip(w2).all(|(a, b)| (a - b).abs() < 1e-12));
        let undone = record.undo_labels(padded.label().unwrap().view()).unwrap();
        let undone_img = record.undo_image(padded.image().view(), 0.0).unwrap();
        // Where the target cropped the original away, the undo fills 0; elsewhere exact.
        for ((x, y, z), v) in undone.indexed_iter() {
            let inside = [x, y, z].iter().zip(o).zip(shape).all(|((p, o), n)| {
                let t = *p as isize + o;
                t >= 0 && (t as usize) < n
            });
            if inside {
                assert_eq!(*v, s.label().unwrap()[(x, y, z)]);
                assert_eq!(undone_img[(0, x, y, z)], s.image()[(0, x, y, z)]);
            } else {
                assert_eq!(*v, 0);
            }
        }
    }
    if let PadMode::Constant(_) = PadMode::Constant(0.0) {
        let (p, _) = spatial::pad_or_crop(
            &s,
            [20, 20, 20],
            Anchor::Offset([1, 2, 3]),
            PadMode::Constant(-7.0),
        )
        .unwrap();
        assert_eq!(p.image()[(0, 0, 0, 0)], -7.0);
        assert_eq!(p.image()[(0, 1, 2, 3)], s.image()[(0, 0, 0, 0)]);
    }

    let (can, record) = spatial::reorient_to_canonical(&s);
    assert_eq!(can.affine().axis_codes(), "RAS");
    assert_eq!(s.affine().axis_codes(), "ALS");
    assert_eq!(
        record.undo_labels(can.label().unwrap().view()).unwrap(),
        *s.label().unwrap()
    );
}

#[test]
fn resampling_there_and_back_preserves_a_prediction() {
    let s = case([18, 16, 14]);
    let coarse = spatial::resample_to_spacing(&s, [2.0, 2.0, 2.0], Interpolation::Cubic).unwrap();
    let sp = coarse.affine().spacing();
    assert!(sp.iter().all(|v| (v - 2.0).abs() < 1e-12), "{sp:?}");
    assert_eq!(coarse.affine().axis_codes(), s.affine().axis_codes());
    // World centre kept (TorchIO's Resample).
    let c_old = s.affine().apply([8.5, 7.5, 6.5]);
    let n = coarse.spatial_shape();
    let c_new = coarse.affine().apply(n.map(|v| (v as f64 - 1.0) / 2.0));
    assert!(c_old.iter().zip(c_new).all(|(a, b)| (a - b).abs() < 1e-9));
    // Back onto the original grid (what prediction does): labels nearest, no new classes.
    let back = spatial::resample_labels_to(coarse.label().unwrap().view(), coarse.affine(), &s.geometry(), 0)
        .unwrap();
    assert_eq!(back.dim(), (18, 16, 14));
    let same = back
        .iter()
        .zip(s.label().unwrap())
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same as f64 > 0.8 * back.len() as f64,
        "only {same} of {} agree",
        back.len()
    );
    let probs = spatial::resample_image_to(
        coarse.image().view(),
        coarse.affine(),
        &s.geometry(),
        Interpolation::Linear,
        Boundary::Nearest,
    )
    .unwrap();
    assert_eq!(probs.shape(), &[2, 18, 16, 14]);
}

#[test]
fn fused_warp_equals_two_sequential_warps_in_the_interior() {
    let s = case([24, 24, 20]);
    let params = AffineParams {
        scales: [1.05, 0.95, 1.0],
        degrees: [4.0, -3.0, 6.0],
        translation: [0.5, 0.0, -0.3],
    };
    let grid = random_control_grid(&mut SeededRng::new(5), [6, 6, 6], [1.5, 1.5, 1.5], 1).unwrap();
    let g = s.geometry();
    let fused = spatial_transform(
        &s,
        &g,
        Some(&params),
        Some(&grid),
        Interpolation::Cubic,
        Boundary::Mirror,
    )
    .unwrap();
    let first = spatial_transform(
        &s,
        &g,
        Some(&params),
        None,
        Interpolation::Cubic,
        Boundary::Mirror,
    )
    .unwrap();
    let second = spatial_transform(
        &first,
        &g,
        None,
        Some(&grid),
        Interpolation::Cubic,
        Boundary::Mirror,
    )
    .unwrap();
    // Cubic interpolation of a smooth image twice vs once: interior values within 1 % of
    // the range (the second interpolation's smoothing, not a geometric error).
    let mut worst = 0.0f32;
    for ((c, x, y, z), v) in fused.image().indexed_iter() {
        if (5..19).contains(&x) && (5..19).contains(&y) && (5..15).contains(&z) {
            worst = worst.max((v - second.image()[(c, x, y, z)]).abs());
        }
    }
    assert!(worst < 1.5, "fused vs sequential differ by {worst}");
    assert_ne!(fused.image(), first.image());
}

#[test]
fn bad_input_is_refused_with_the_parameter_named() {
    let s = case([10, 10, 10]);
    let e = spatial::resample_to_spacing(&s, [1.0, 0.0, 1.0], Interpolation::Linear).unwrap_err();
    assert!(
        matches!(&e, VolumeError::Parameter { name: "spacing", .. }),
        "{e}"
    );
    let e = Subject::new(
        "x",
        Array4::zeros((1, 4, 4, 4)),
        Some(Array3::zeros((4, 4, 5))),
        Affine::identity(),
    )
    .unwrap_err();
    assert!(matches!(e, VolumeError::ShapeMismatch { .. }), "{e}");
    let e = Subject::new("x", Array4::zeros((1, 4, 0, 4)), None, Affine::identity()).unwrap_err();
    assert!(matches!(e, VolumeError::Empty { .. }), "{e}");
    let singular = Affine::from_rows([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]);
    assert!(matches!(
        Subject::new("x", Array4::zeros((1, 2, 2, 2)), None, singular).unwrap_err(),
        VolumeError::SingularAffine { .. }
    ));
    let sampler = PatchSampler {
        patch_size: [0, 8, 8],
        foreground_probability: 0.33,
    };
    assert!(
        sampler
            .validate(512)
            .unwrap_err()
            .to_string()
            .contains("patch_size")
    );
    let e = random_control_grid(&mut SeededRng::new(0), [4, 7, 7], [1.0; 3], 2).unwrap_err();
    assert!(e.to_string().contains("locked_borders"), "{e}");
    let bad_scale = AffineParams {
        scales: [1.0, -1.0, 1.0],
        ..AffineParams::identity()
    };
    assert!(
        spatial_transform(
            &s,
            &s.geometry(),
            Some(&bad_scale),
            None,
            Interpolation::Linear,
            Boundary::Nearest
        )
        .is_err()
    );
    let (cropped, bbox) = spatial::crop_to_nonzero(&s).unwrap();
    assert!(bbox.uncrop_labels(Array3::zeros((3, 3, 3)).view(), 0).is_err());
    assert_eq!(cropped.spatial_shape(), bbox.shape());
}

#[test]
fn patches_oversample_foreground_and_pad_small_cases() {
    let s = case([30, 30, 24]);
    let classes = neurodl_volume::ClassLocations::from_labels(s.label().unwrap());
    assert_eq!(
        classes.classes.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 2, 5]
    );
    let fg = PatchSampler {
        patch_size: [8, 8, 8],
        foreground_probability: 1.0,
    };
    let mut rng = SeededRng::new(3);
    for _ in 0..50 {
        let start = fg.draw_start(s.spatial_shape(), Some(&classes), &mut rng);
        let p = spatial::pad_or_crop(
            &s,
            [8, 8, 8],
            Anchor::Offset(start.map(|v| -v)),
            PadMode::Constant(0.0),
        )
        .unwrap()
        .0;
        assert!(
            p.label().unwrap().iter().any(|v| *v > 0),
            "forced-foreground patch at {start:?} has none"
        );
        assert!((0..3).all(|a| start[a] >= 0 && start[a] as usize + 8 <= s.spatial_shape()[a]));
    }
    // A case smaller than the patch: the patch is centred on it and padded.
    let small = case([6, 30, 5]);
    let big = PatchSampler {
        patch_size: [10, 8, 9],
        foreground_probability: 0.0,
    };
    let start = big.draw_start(small.spatial_shape(), None, &mut rng);
    assert_eq!(start[0], -2);
    assert_eq!(start[2], -2);
    let patch = Pipeline::default()
        .apply_to_patch(&small, start, [10, 8, 9], &mut rng)
        .unwrap();
    assert_eq!(patch.spatial_shape(), [10, 8, 9]);
    assert_eq!(patch.image()[(0, 0, 0, 0)], 0.0, "padding");
}

fn queue_config(workers: usize) -> QueueConfig {
    let mut augmentation = all_on();
    augmentation
        .transforms
        .retain(|t| !matches!(t, Transform::LowResolution { .. }));
    QueueConfig {
        sampler: PatchSampler {
            patch_size: [12, 12, 10],
            foreground_probability: 0.33,
        },
        samples_per_epoch: 12,
        workers,
        capacity: 2 * workers,
        seed: 99,
        augmentation,
    }
}

#[test]
fn queue_is_deterministic_for_any_worker_count_and_stops_cleanly() {
    let cases: Arc<Vec<Subject>> = Arc::new(vec![case([20, 22, 18]), case([16, 30, 14]), case([24, 18, 20])]);
    let loader_cases = Arc::clone(&cases);
    let loader: neurodl_volume::patch::CaseLoader = Arc::new(move |i| Ok(loader_cases[i].clone()));
    let run = |workers: usize, epoch: u64| -> Vec<neurodl_volume::Patch> {
        PatchQueue::new(queue_config(workers), cases.len(), Arc::clone(&loader), epoch)
            .unwrap()
            .map(|p| p.unwrap())
            .collect()
    };
    let one = run(1, 0);
    let three = run(3, 0);
    assert_eq!(one.len(), 12);
    assert_eq!(one, three, "content independent of worker count");
    assert!(
        one.iter().enumerate().all(|(i, p)| p.index == i),
        "in index order"
    );
    assert!(one.iter().all(|p| p.subject.spatial_shape() == [12, 12, 10]));
    let other_epoch = run(2, 1);
    assert_ne!(
        one[0].subject.image(),
        other_epoch[0].subject.image(),
        "epochs differ"
    );
    assert!(
        one.iter()
            .map(|p| p.case)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1
    );
    // Patch 5 alone reproduces the queue's patch 5.
    let alone =
        neurodl_volume::patch::make_patch(&queue_config(1), cases.len(), loader.as_ref(), 0, 5).unwrap();
    assert_eq!(alone, one[5]);
    // Dropping a queue mid-epoch joins its workers (this would hang otherwise).
    let mut q = PatchQueue::new(queue_config(2), cases.len(), Arc::clone(&loader), 0).unwrap();
    q.next().unwrap().unwrap();
    drop(q);
    // A failing loader surfaces as an error naming the case, and ends the epoch.
    let failing: neurodl_volume::patch::CaseLoader = Arc::new(|i| {
        Err(VolumeError::Load {
            index: i,
            message: "file missing".into(),
        })
    });
    let mut q = PatchQueue::new(queue_config(2), 3, failing, 0).unwrap();
    let e = q.next().unwrap().unwrap_err();
    assert!(e.to_string().contains("file missing"), "{e}");
    assert!(q.next().is_none());
    assert!(
        PatchQueue::new(
            QueueConfig {
                workers: 0,
                ..queue_config(1)
            },
            3,
            loader,
            0
        )
        .is_err()
    );
}

#[test]
fn intensity_kernels_keep_their_promises() {
    let s = case([12, 12, 12]);
    let ch = s.image().index_axis(Axis(0), 0).to_owned();
    let stats = |a: &Array3<f32>| {
        let n = a.len() as f64;
        let m = a.iter().map(|v| *v as f64).sum::<f64>() / n;
        (
            m,
            (a.iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>() / n).sqrt(),
        )
    };
    let (m0, s0) = stats(&ch);
    for invert in [false, true] {
        let mut g = ch.clone();
        neurodl_volume::intensity::gamma(g.view_mut(), 1.4, invert, true).unwrap();
        let (m1, s1) = stats(&g);
        assert!((m1 - m0).abs() < 1e-3 && (s1 - s0).abs() < 1e-3, "retain_stats");
        assert_ne!(g, ch);
    }
    let mut c = ch.clone();
    neurodl_volume::intensity::contrast(c.view_mut(), 1.5, true);
    let (lo, hi) = ch
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    assert!(c.iter().all(|v| *v >= lo && *v <= hi), "preserve_range");
    let low = neurodl_volume::intensity::simulate_low_resolution(
        ch.view(),
        [0.5; 3],
        Interpolation::Nearest,
        Interpolation::Cubic,
    )
    .unwrap();
    assert_eq!(low.dim(), ch.dim());
    assert!(
        neurodl_volume::intensity::simulate_low_resolution(
            ch.view(),
            [1.5; 3],
            Interpolation::Nearest,
            Interpolation::Cubic
        )
        .is_err()
    );
    let mut z = s.image().clone();
    neurodl_volume::intensity::zscore(z.view_mut(), neurodl_volume::intensity::ZScoreRegion::All).unwrap();
    let (m, sd) = stats(&z.index_axis(Axis(0), 1).to_owned());
    assert!(m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5);
}

#[test]
fn subjects_come_from_and_go_back_to_volumes() {
    use neurodl_io::{IntensityScaling, Volume, VoxelData};
    let affine = Affine::from_spacing([1.0, 1.2, 2.0]);
    let t1 = Volume {
        data: VoxelData::I16(Array4::from_shape_fn((1, 3, 4, 5), |(_, i, j, k)| {
            (i * 20 + j * 5 + k) as i16
        })),
        affine,
        scaling: Some(IntensityScaling {
            slope: 0.5,
            intercept: 1.0,
        }),
        meta: Default::default(),
    };
    let t2 = Volume::from_f32(Array3::from_elem((3, 4, 5), 7.0), affine);
    let label = Volume::from_labels(
        Array3::from_shape_fn((3, 4, 5), |(i, _, _)| i as u16).view(),
        affine,
    );
    let s = Subject::from_volumes("sub-01", &[t1.clone(), t2], Some(&label)).unwrap();
    assert_eq!(s.channels(), 2);
    assert_eq!(
        s.image()[(0, 2, 3, 4)],
        (40 + 15 + 4) as f32 * 0.5 + 1.0,
        "scaling applied"
    );
    assert_eq!(s.image()[(1, 0, 0, 0)], 7.0);
    let back = s.label_volume().unwrap();
    assert_eq!(back.to_labels().unwrap(), label.to_labels().unwrap());
    assert_eq!(back.affine, affine);
    assert_eq!(s.image_volume().to_f32(), *s.image());
    // A label on another grid is refused, naming the difference.
    let shifted = Volume {
        affine: Affine::from_spacing([1.0, 1.2, 2.1]),
        ..label.clone()
    };
    let e = Subject::from_volumes("x", std::slice::from_ref(&t1), Some(&shifted)).unwrap_err();
    assert!(matches!(e, VolumeError::AffineMismatch { .. }), "{e}");
    let frac = Volume::from_f32(Array3::from_elem((3, 4, 5), 0.5), affine);
    assert!(matches!(
        Subject::from_volumes("x", &[t1], Some(&frac)).unwrap_err(),
        VolumeError::Label(_)
    ));
}

/// nnU-Net's 2-D augmentation on one-slice patches never reads another slice: every label a
/// warped patch shows is the slice's own (or 0 from outside the case), for every slice axis;
/// the 3-D default, which also rotates about the in-plane axes, does mix slices.
#[test]
fn two_d_augmentation_stays_in_its_slice() {
    let shape = [24, 28, 20];
    let image = Array4::from_shape_fn((1, shape[0], shape[1], shape[2]), |(_, i, j, k)| {
        (i + 2 * j + 3 * k) as f32
    });
    for slice_axis in 0..3 {
        // Label = 1 + index along the slice axis.
        let label = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, j, k)| {
            1 + [i, j, k][slice_axis] as u16
        });
        let s = Subject::new("slices", image.clone(), Some(label), Affine::identity()).unwrap();
        let mut patch = shape;
        patch[slice_axis] = 1;
        let two_d = Pipeline::nnunet_default_2d(slice_axis, patch).unwrap();
        let three_d = Pipeline::nnunet_default();
        let mut mixed_3d = false;
        for seed in 0..40u64 {
            let mut start = [0isize; 3];
            start[slice_axis] = 7;
            let p = two_d
                .apply_to_patch(&s, start, patch, &mut SeededRng::new(seed))
                .unwrap();
            let own = 8u16;
            assert!(
                p.label().unwrap().iter().all(|v| *v == 0 || *v == own),
                "slice axis {slice_axis}, seed {seed}: a 2-D patch read another slice"
            );
            let q = three_d
                .apply_to_patch(&s, start, patch, &mut SeededRng::new(seed))
                .unwrap();
            mixed_3d |= q.label().unwrap().iter().any(|v| *v != 0 && *v != own);
        }
        assert!(
            mixed_3d,
            "slice axis {slice_axis}: the 3-D default should tilt some patches out of the slice"
        );
    }
    // nnU-Net's rotation rule: ±180° for near-square patches, ±15° past an aspect of 1.5.
    let degrees = |p: &Pipeline| match &p.transforms[0] {
        Transform::RandomAffineElastic { degrees, .. } => *degrees,
        other => panic!("first transform {other:?}"),
    };
    assert_eq!(
        degrees(&Pipeline::nnunet_default_2d(2, [40, 56, 1]).unwrap()),
        [0.0, 0.0, 180.0]
    );
    assert_eq!(
        degrees(&Pipeline::nnunet_default_2d(0, [1, 40, 80]).unwrap()),
        [15.0, 0.0, 0.0]
    );
    assert!(Pipeline::nnunet_default_2d(3, [1, 1, 1]).is_err());
}
