//! Behaviour of the segmentation module without fixtures: configuration and shape errors,
//! weight-file mismatches, loss properties, and sliding-window invariants with trivial
//! predictors whose correct output is known exactly.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use neurodl_models::segmentation::{
    DeepSupervisionLoss, DiceCeLoss, DiceCeLossConfig, Importance, PlainConvUNetConfig, SegmentationError,
    SlidingWindowConfig, compute_steps, deep_supervision_weights, downsample_labels, gaussian_importance_map,
    sliding_window_inference,
};

fn small3d() -> PlainConvUNetConfig {
    let mut c = PlainConvUNetConfig::nnunet(
        1,
        2,
        vec![vec![3, 3, 3]; 3],
        vec![vec![1, 1, 1], vec![2, 2, 2], vec![2, 2, 2]],
    );
    c.features_per_stage = vec![2, 4, 4];
    c
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

#[test]
fn nnunet_defaults_follow_the_plans() {
    let c = PlainConvUNetConfig::nnunet(1, 3, vec![vec![3, 3, 3]; 6], vec![vec![2, 2, 2]; 6]);
    assert_eq!(c.features_per_stage, [32, 64, 128, 256, 320, 320]);
    let c2 = PlainConvUNetConfig::nnunet(1, 3, vec![vec![3, 3]; 6], vec![vec![2, 2]; 6]);
    assert_eq!(c2.features_per_stage, [32, 64, 128, 256, 512, 512]);
    assert_eq!(c.n_conv_per_stage, [2; 6]);
    assert_eq!(c.n_conv_per_stage_decoder, [2; 5]);
    // A plan's JSON (defaults for the optional fields) parses.
    let json = r#"{"in_channels": 1, "n_classes": 3, "n_stages": 2, "features_per_stage": [4, 8],
        "kernel_sizes": [[3, 3, 3], [3, 3, 3]], "strides": [[1, 1, 1], [2, 2, 2]],
        "n_conv_per_stage": [2, 2], "n_conv_per_stage_decoder": [2]}"#;
    let parsed: PlainConvUNetConfig = serde_json::from_str(json).unwrap();
    assert!(parsed.deep_supervision && parsed.conv_bias);
    assert_eq!((parsed.norm_eps, parsed.negative_slope), (1e-5, 1e-2));
}

#[test]
fn bad_configurations_are_refused() {
    let device = Device::default();
    type Edit = Box<dyn Fn(&mut PlainConvUNetConfig)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("n_stages", Box::new(|c| c.n_stages = 1)),
        (
            "features_per_stage",
            Box::new(|c| c.features_per_stage.pop().map(|_| ()).unwrap()),
        ),
        ("odd", Box::new(|c| c.kernel_sizes[1] = vec![2, 3, 3])),
        ("axes", Box::new(|c| c.strides[2] = vec![2, 2])),
        ("strides must be >= 1", Box::new(|c| c.strides[1] = vec![0, 2, 2])),
        (
            "n_conv_per_stage_decoder",
            Box::new(|c| c.n_conv_per_stage_decoder = vec![2]),
        ),
    ];
    for (needle, edit) in cases {
        let mut c = small3d();
        edit(&mut c);
        match c.init(&device) {
            Err(SegmentationError::InvalidConfig(msg)) => assert!(msg.contains(needle), "{needle}: {msg}"),
            other => panic!("{needle}: expected InvalidConfig, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn input_shapes_are_checked() {
    let device = Device::default();
    let model = small3d().init(&device).unwrap();
    assert_eq!(model.size_divisor(), [4, 4, 4]);
    let bad = [[1, 2, 8, 8, 8], [1, 1, 8, 8, 6], [0, 1, 8, 8, 8]];
    for dims in bad {
        let err = model.forward(Tensor::zeros(dims, &device)).unwrap_err();
        assert!(matches!(err, SegmentationError::Shape { .. }), "{dims:?}: {err}");
    }
    let outs = model.forward(Tensor::zeros([2, 1, 8, 12, 4], &device)).unwrap();
    let shapes: Vec<[usize; 5]> = outs.iter().map(|t| t.dims()).collect();
    assert_eq!(shapes, [[2, 2, 8, 12, 4], [2, 2, 4, 6, 2]]);
    assert_eq!(model.output_sizes([8, 12, 4]), vec![[8, 12, 4], [4, 6, 2]]);
    assert!(model.forward_2d(Tensor::zeros([1, 1, 8, 8], &device)).is_err());
    let mut model = model;
    model.set_deep_supervision(false);
    assert_eq!(
        model
            .forward(Tensor::zeros([1, 1, 8, 8, 8], &device))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn weight_mismatches_are_listed_in_full() {
    let device = Device::default();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("w.safetensors");
    small3d().init(&device).unwrap().save_pytorch(&path).unwrap();
    // One more class: every head is mis-shaped; fewer stages: tensors missing and unexpected.
    let mut other = small3d();
    other.n_classes = 3;
    let err = other
        .init(&device)
        .unwrap()
        .load_pytorch(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mis-shaped: decoder.seg_layers.0.weight"), "{err}");
    assert!(err.contains("mis-shaped: decoder.seg_layers.1.bias"), "{err}");
    let mut bigger = small3d();
    bigger.n_stages = 4;
    bigger.features_per_stage.push(4);
    bigger.kernel_sizes.push(vec![3, 3, 3]);
    bigger.strides.push(vec![2, 2, 2]);
    bigger.n_conv_per_stage.push(2);
    bigger.n_conv_per_stage_decoder.push(2);
    let err = bigger
        .init(&device)
        .unwrap()
        .load_pytorch(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing") && err.contains("encoder.stages.3.0.convs.0.conv.weight"),
        "{err}"
    );
    // Round trip restores the outputs.
    let a = small3d().init(&device).unwrap();
    a.save_pytorch(&path).unwrap();
    let b = small3d().init(&device).unwrap().load_pytorch(&path).unwrap();
    let x: Tensor<5> = Tensor::random([1, 1, 8, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(
        values(a.forward(x.clone()).unwrap().remove(0)),
        values(b.forward(x).unwrap().remove(0))
    );
    assert!(a.num_params() > 0);
}

fn labels(v: Vec<i64>, shape: [usize; 4], device: &Device) -> Tensor<4, Int> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

#[test]
fn loss_rewards_the_right_answer_and_checks_labels() {
    let device = Device::default();
    let target: Vec<i64> = (0..2 * 4 * 4 * 2).map(|i| (i / 3 % 3) as i64).collect();
    let t = labels(target.clone(), [2, 4, 4, 2], &device);
    // Confident logits for the true classes: CE ~ 0, Dice ~ 1, loss ~ -1.
    let onehot: Tensor<5> = t.clone().float().one_hot_fill(3, 20.0, -20.0, 1);
    let loss = DiceCeLoss::new(DiceCeLossConfig::default()).unwrap();
    let good = loss
        .forward(onehot.clone(), t.clone())
        .unwrap()
        .into_scalar::<f32>();
    assert!((good + 1.0).abs() < 1e-4, "{good}");
    let bad = loss
        .forward(onehot.neg(), t.clone())
        .unwrap()
        .into_scalar::<f32>();
    assert!(bad > 1.0, "{bad}");
    let out_of_range = labels(vec![3; 32], [2, 4, 4, 1], &device);
    assert!(
        loss.forward(Tensor::zeros([2, 3, 4, 4, 1], &device), out_of_range)
            .is_err()
    );
    assert!(
        loss.forward(Tensor::zeros([2, 3, 4, 4, 1], &device), t).is_err(),
        "shape mismatch"
    );
}

#[test]
fn deep_supervision_weights_and_wrapper() {
    assert_eq!(deep_supervision_weights(1), [1.0]);
    let w = deep_supervision_weights(4);
    let expected = [1.0, 0.5, 0.25, 0.0].map(|v| v / 1.75);
    assert!(w.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-15));
    let device = Device::default();
    let base = DiceCeLoss::new(DiceCeLossConfig::default()).unwrap();
    let ds = DeepSupervisionLoss::new(base, 2).unwrap();
    let t = labels((0..16).map(|i| i % 2).collect(), [1, 4, 4, 1], &device);
    let x: Tensor<5> = Tensor::random([1, 2, 4, 4, 1], Distribution::Normal(0.0, 1.0), &device);
    let lo = labels(vec![0, 1, 0, 1], [1, 2, 2, 1], &device);
    // Two outputs: the lowest resolution has weight 0, so the total is the first output's loss.
    let total = ds
        .forward(
            vec![x.clone(), Tensor::zeros([1, 2, 2, 2, 1], &device)],
            vec![t.clone(), lo],
        )
        .unwrap()
        .into_scalar::<f32>();
    let single = base.forward(x.clone(), t.clone()).unwrap().into_scalar::<f32>();
    assert!((total - single).abs() < 1e-6);
    assert!(ds.forward(vec![x], vec![t]).is_err(), "count mismatch");
}

#[test]
fn label_downsampling_takes_the_nearest_exact_voxel() {
    let device = Device::default();
    let t = labels((0..8).collect(), [1, 8, 1, 1], &device);
    let d = downsample_labels(t.clone(), [4, 1, 1]).unwrap();
    assert_eq!(
        d.into_data().convert::<i64>().try_into_vec::<i64>().unwrap(),
        [1, 3, 5, 7]
    );
    let d = downsample_labels(t, [3, 1, 1]).unwrap();
    // floor((i + 0.5) * 8 / 3) = 1, 4, 6
    assert_eq!(
        d.into_data().convert::<i64>().try_into_vec::<i64>().unwrap(),
        [1, 4, 6]
    );
}

#[test]
fn steps_and_gaussian_follow_nnunet() {
    let s = compute_steps([24, 18, 16], [16, 8, 8], 0.5).unwrap();
    assert_eq!(s, [vec![0, 8], vec![0, 3, 7, 10], vec![0, 4, 8]]);
    assert_eq!(
        compute_steps([8, 8, 8], [8, 8, 8], 0.5).unwrap(),
        [vec![0], vec![0], vec![0]]
    );
    assert!(compute_steps([4, 8, 8], [8, 8, 8], 0.5).is_err());
    assert!(compute_steps([8, 8, 8], [8, 8, 8], 0.0).is_err());
    let g = gaussian_importance_map([9, 5, 1], 0.125);
    assert_eq!(g.len(), 45);
    let max = g.iter().copied().fold(0.0, f32::max);
    assert_eq!(max, g[4 * 5 + 2]);
    assert_eq!(max, 1.0);
    assert!(
        g.iter().all(|&v| v > 0.0),
        "zeros are replaced by the smallest non-zero value"
    );
}

/// A predictor whose per-voxel output depends only on the voxel's value: any correct tiling,
/// weighting and mirroring returns exactly that function of the volume.
fn pointwise(batch: Tensor<5>) -> Result<Tensor<5>, SegmentationError> {
    Ok(Tensor::cat(vec![batch.clone().mul_scalar(2.0), batch.exp()], 1))
}

#[test]
fn sliding_window_is_exact_for_pointwise_predictors() {
    let device = Device::default();
    let vol: Tensor<4> = Tensor::random([1, 13, 10, 7], Distribution::Normal(0.0, 1.0), &device);
    let want = values(Tensor::cat(
        vec![vol.clone().mul_scalar(2.0), vol.clone().exp()],
        0,
    ));
    for (importance, mirror, batch) in [
        (Importance::Gaussian { sigma_scale: 0.125 }, vec![], 1),
        (Importance::Constant, vec![0, 2], 4),
        (Importance::Gaussian { sigma_scale: 0.25 }, vec![0, 1, 2], 2),
    ] {
        let mut cfg = SlidingWindowConfig::new([8, 12, 4]); // Y smaller than the patch: padded
        cfg.importance = importance;
        cfg.mirror_axes = mirror.clone();
        cfg.batch_size = batch;
        let mut last = (0, 0);
        let out = sliding_window_inference(vol.clone(), &cfg, pointwise, |d, t| last = (d, t)).unwrap();
        assert_eq!(out.dims(), [2, 13, 10, 7]);
        let got = values(out);
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "{importance:?} {mirror:?}: {err}");
        // X: 13 vs 8 -> 3 windows; Y padded to 12 -> 1; Z: 7 vs 4 -> 3.
        assert_eq!(last, (9, 9));
    }
}

#[test]
fn sliding_window_mirroring_averages_flipped_predictions() {
    let device = Device::default();
    // A predictor that sees position: output = x-coordinate inside the window. Mirroring along X
    // averages c and (p-1-c): every voxel gets (p-1)/2.
    let vol: Tensor<4> = Tensor::zeros([1, 6, 4, 4], &device);
    let ramp = |batch: Tensor<5>| -> Result<Tensor<5>, SegmentationError> {
        let [n, _, x, y, z] = batch.dims();
        let r: Tensor<1> = Tensor::arange(0..x as i64, &batch.device()).float();
        Ok(r.reshape([1, 1, x, 1, 1]).expand([n, 1, x, y, z]))
    };
    let mut cfg = SlidingWindowConfig::new([6, 4, 4]);
    cfg.mirror_axes = vec![0];
    let out = values(sliding_window_inference(vol.clone(), &cfg, ramp, |_, _| {}).unwrap());
    assert!(out.iter().all(|&v| (v - 2.5).abs() < 1e-6));
    cfg.mirror_axes = vec![1];
    let out = values(sliding_window_inference(vol, &cfg, ramp, |_, _| {}).unwrap());
    assert_eq!(out[0], 0.0);
    assert_eq!(out[5 * 16], 5.0);
}

#[test]
fn sliding_window_rejects_bad_settings_and_predictors() {
    let device = Device::default();
    let vol: Tensor<4> = Tensor::zeros([1, 8, 8, 8], &device);
    let mut cfg = SlidingWindowConfig::new([4, 4, 4]);
    cfg.mirror_axes = vec![0, 0];
    assert!(sliding_window_inference(vol.clone(), &cfg, pointwise, |_, _| {}).is_err());
    cfg.mirror_axes = vec![3];
    assert!(sliding_window_inference(vol.clone(), &cfg, pointwise, |_, _| {}).is_err());
    let mut cfg = SlidingWindowConfig::new([4, 4, 4]);
    cfg.batch_size = 0;
    assert!(sliding_window_inference(vol.clone(), &cfg, pointwise, |_, _| {}).is_err());
    let cfg = SlidingWindowConfig::new([4, 4, 4]);
    let wrong = |b: Tensor<5>| -> Result<Tensor<5>, SegmentationError> { Ok(b.narrow(2, 0, 2)) };
    let err = sliding_window_inference(vol, &cfg, wrong, |_, _| {}).unwrap_err();
    assert!(matches!(err, SegmentationError::Shape { .. }), "{err}");
}
