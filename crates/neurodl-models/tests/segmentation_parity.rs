//! Parity of the segmentation module with PyTorch 2.11 / MONAI 1.5.1 (CPU, float32). Fixtures:
//! `tests/golden/unet/`, written by `tests/reference/generate_unet_goldens.py`, whose reference
//! `PlainConvUNet` was checked to have the same `state_dict` and bit-identical outputs as
//! dynamic-network-architectures 0.4.4's.
//!
//! Tolerances:
//! * network outputs (random weights, eval mode, every deep-supervision head): max abs error
//!   <= 1e-4 (issue 6's target); float32 convolutions summed in another order land near 1e-6;
//! * losses: 1e-5 absolute on values near 1 (float32 sums over 8 192 voxels);
//! * one SGD step (lr 1e-2, momentum 0.99, Nesterov, weight decay 3e-5, nnU-Net's optimiser):
//!   loss after within 1e-4 and the decrease within 2 % of PyTorch's (it moves by ~8e-3; a wrong
//!   gradient changes it by far more);
//! * sliding window: 1e-4 max abs on the aggregated logits (the sums of up to 8 windows x 8
//!   mirrorings of the network above).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use neurodl_models::segmentation::{
    DeepSupervisionLoss, DiceCeLoss, DiceCeLossConfig, Importance, PlainConvUNet, PlainConvUNetConfig,
    SlidingWindowConfig, compute_steps, downsample_labels, gaussian_importance_map, sliding_window_inference,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

const TOL: f32 = 1e-4;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/unet")
}

fn index() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("INDEX.json")).unwrap()).unwrap()
}

struct Fixture {
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn read(name: &str) -> HashMap<String, Fixture> {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let values = match v.dtype() {
                Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                Dtype::U8 => v.data().iter().map(|&b| b as f32).collect(),
                other => panic!("unexpected dtype {other:?}"),
            };
            (
                k,
                Fixture {
                    shape: v.shape().to_vec(),
                    values,
                },
            )
        })
        .collect()
}

fn tensor<const D: usize>(f: &Fixture, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(f.values.clone(), f.shape.clone()), device)
}

fn labels(f: &Fixture, device: &Device) -> Tensor<4, Int> {
    let v: Vec<i64> = f.values.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(v, f.shape.clone()), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn config(case: &str) -> PlainConvUNetConfig {
    let idx = index();
    let net = idx["nets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["case"] == case)
        .unwrap();
    serde_json::from_value(net["config"].clone()).expect("the generator's config parses as ours")
}

fn load(case: &str, device: &Device) -> PlainConvUNet {
    config(case)
        .init(device)
        .unwrap()
        .load_pytorch(dir().join(format!("{case}.safetensors")))
        .expect("import")
}

#[test]
fn unet3d_matches_pytorch_on_every_head() {
    let device = Device::default();
    let idx = index();
    let model = load("unet3d", &device);
    assert_eq!(
        model.num_params() as u64,
        idx["nets"][0]["num_params"].as_u64().unwrap()
    );
    let io = read("unet3d.io.safetensors");
    let ys = model.forward(tensor(&io["x"], &device)).unwrap();
    assert_eq!(ys.len(), 3);
    for (i, y) in ys.into_iter().enumerate() {
        let expected = &io[&format!("y{i}")];
        assert_eq!(y.dims().to_vec(), expected.shape, "head {i} shape");
        let err = max_abs(&values(y), &expected.values);
        eprintln!("head {i}: max abs error {err:e}");
        assert!(err <= TOL, "head {i}: max abs error {err}");
    }
}

#[test]
fn unet2d_matches_pytorch_on_every_head() {
    let device = Device::default();
    let idx = index();
    let model = load("unet2d", &device);
    assert_eq!(
        model.num_params() as u64,
        idx["nets"][1]["num_params"].as_u64().unwrap()
    );
    let io = read("unet2d.io.safetensors");
    let ys = model.forward_2d(tensor(&io["x"], &device)).unwrap();
    assert_eq!(ys.len(), 2);
    for (i, y) in ys.into_iter().enumerate() {
        let expected = &io[&format!("y{i}")];
        assert_eq!(y.dims().to_vec(), expected.shape, "head {i} shape");
        let err = max_abs(&values(y), &expected.values);
        eprintln!("head {i}: max abs error {err:e}");
        assert!(err <= TOL, "head {i}: max abs error {err}");
    }
}

#[test]
fn saved_weights_round_trip_through_the_pytorch_layout() {
    let device = Device::default();
    for case in ["unet2d", "unet3d"] {
        let model = load(case, &device);
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("w.safetensors");
        model.save_pytorch(&path).unwrap();
        // Byte-for-byte the tensors the generator wrote (names, PyTorch shapes, values).
        let ours = read_abs(&path);
        let theirs = read(&format!("{case}.safetensors"));
        assert_eq!(ours.len(), theirs.len(), "{case}: tensor count");
        for (k, t) in &theirs {
            let o = ours.get(k).unwrap_or_else(|| panic!("{case}: {k} not written"));
            assert_eq!(o.shape, t.shape, "{case}: {k}");
            assert_eq!(o.values, t.values, "{case}: {k}");
        }
    }
}

fn read_abs(path: &Path) -> HashMap<String, Fixture> {
    let tmp_name = path.to_path_buf();
    let bytes = std::fs::read(tmp_name).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let values = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (
                k,
                Fixture {
                    shape: v.shape().to_vec(),
                    values,
                },
            )
        })
        .collect()
}

#[test]
fn label_downsampling_matches_torch_nearest_exact() {
    let device = Device::default();
    let io = read("train.io.safetensors");
    let full = labels(&io["labels"], &device);
    for i in 0..3 {
        let expected = &io[&format!("labels_ds{i}")];
        let size = [expected.shape[1], expected.shape[2], expected.shape[3]];
        let got = downsample_labels(full.clone(), size).unwrap();
        let got: Vec<f32> = got
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap()
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(got, expected.values, "scale {i}");
    }
}

#[test]
fn dice_ce_and_deep_supervision_losses_and_one_sgd_step_match_pytorch() {
    let device = Device::default();
    let idx = index();
    let train = &idx["train"];
    let io = read("train.io.safetensors");
    let model = load("unet3d", &device);
    let x: Tensor<5> = tensor(&io["x"], &device);
    let targets: Vec<Tensor<4, Int>> = (0..3)
        .map(|i| labels(&io[&format!("labels_ds{i}")], &device))
        .collect();

    for batch_dice in [false, true] {
        let loss = DiceCeLoss::new(DiceCeLossConfig {
            batch_dice,
            ..Default::default()
        })
        .unwrap();
        let outs = model.forward(x.clone()).unwrap();
        let expected = train[format!(
            "per_output_batch_dice_{}",
            if batch_dice { "True" } else { "False" }
        )]
        .as_array()
        .unwrap();
        for (i, (o, t)) in outs.into_iter().zip(targets.clone()).enumerate() {
            let got = loss.forward(o, t).unwrap().into_scalar::<f32>() as f64;
            let want = expected[i].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-5,
                "batch_dice {batch_dice}, output {i}: {got} vs {want}"
            );
        }
    }

    let ds = DeepSupervisionLoss::new(DiceCeLoss::new(DiceCeLossConfig::default()).unwrap(), 3).unwrap();
    let weights: Vec<f64> = train["ds_weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        ds.weights()
            .iter()
            .zip(&weights)
            .all(|(a, b)| (a - b).abs() < 1e-12)
    );

    let ad = device.autodiff();
    let model = load("unet3d", &ad);
    let x: Tensor<5> = tensor(&io["x"], &ad);
    let targets: Vec<Tensor<4, Int>> = (0..3)
        .map(|i| labels(&io[&format!("labels_ds{i}")], &ad))
        .collect();
    let loss = ds
        .forward(model.forward(x.clone()).unwrap(), targets.clone())
        .unwrap();
    let before = loss.clone().into_scalar::<f32>() as f64;
    let want_before = train["loss_before"].as_f64().unwrap();
    assert!(
        (before - want_before).abs() < 1e-5,
        "loss before: {before} vs {want_before}"
    );
    let sgd = &train["sgd"];
    let mut opt = SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: sgd["momentum"].as_f64().unwrap(),
            dampening: 0.0,
            nesterov: sgd["nesterov"].as_bool().unwrap(),
        }))
        .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
            sgd["weight_decay"].as_f64().unwrap() as f32,
        )))
        .init();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = opt.step(sgd["lr"].as_f64().unwrap(), model, grads);
    let after = ds
        .forward(model.forward(x).unwrap(), targets)
        .unwrap()
        .into_scalar::<f32>() as f64;
    let want_after = train["loss_after"].as_f64().unwrap();
    assert!(
        (after - want_after).abs() < 1e-4,
        "loss after: {after} vs {want_after}"
    );
    let (moved, want_moved) = (before - after, want_before - want_after);
    eprintln!("loss {before} -> {after}; PyTorch {want_before} -> {want_after}");
    assert!(moved > 0.0, "the step must lower the loss");
    assert!(
        (moved - want_moved).abs() <= 0.02 * want_moved.abs(),
        "decrease {moved} vs {want_moved}"
    );
}

#[test]
fn steps_and_gaussian_match_nnunet() {
    let idx = index();
    let sw = &idx["sliding_window"];
    for ex in sw["steps_examples"].as_array().unwrap() {
        let arr = |v: &Value| -> [usize; 3] {
            let a: Vec<usize> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            [a[0], a[1], a[2]]
        };
        let got = compute_steps(arr(&ex["image"]), arr(&ex["tile"]), 0.5).unwrap();
        let want: Vec<Vec<usize>> = serde_json::from_value(ex["steps"].clone()).unwrap();
        assert_eq!(got.to_vec(), want, "{ex}");
    }
    let g = gaussian_importance_map([16, 8, 8], 0.125);
    let at = |x: usize, y: usize, z: usize| g[(x * 8 + y) * 8 + z] as f64;
    let ref_g = &sw["gaussian_16_8_8"];
    for (got, key) in [
        (at(8, 4, 4), "center"),
        (at(0, 0, 0), "corner"),
        (at(0, 4, 4), "edge"),
    ] {
        let want = ref_g[key].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-6 * want.max(1e-30) + 1e-12,
            "{key}: {got} vs {want}"
        );
    }
}

#[test]
fn sliding_window_matches_nnunet_and_monai() {
    let device = Device::default();
    let idx = index();
    let mut model = load("unet3d", &device);
    model.set_deep_supervision(false);
    let io = read("sw.io.safetensors");
    for case in idx["sliding_window"]["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let mut cfg = SlidingWindowConfig::new([16, 8, 8]);
        cfg.importance = match case["importance"].as_str().unwrap() {
            "gaussian" => Importance::Gaussian { sigma_scale: 0.125 },
            _ => Importance::Constant,
        };
        cfg.mirror_axes = serde_json::from_value(case["mirror_axes"].clone()).unwrap();
        // Batching must not change the result (instance norm is per sample).
        cfg.batch_size = 3;
        let mut calls = Vec::new();
        let out = sliding_window_inference(
            tensor(&io[&format!("{name}_volume")], &device),
            &cfg,
            |batch| Ok(model.forward(batch)?.remove(0)),
            |done, total| calls.push((done, total)),
        )
        .unwrap();
        let expected = &io[&format!("{name}_logits")];
        assert_eq!(out.dims().to_vec(), expected.shape, "{name}");
        let err = max_abs(&values(out), &expected.values);
        eprintln!("{name}: max abs error {err:e}");
        assert!(err <= TOL, "{name}: max abs error {err}");
        let &(done, total) = calls.last().unwrap();
        assert_eq!(done, total, "{name}: progress ends at the total");
        if let Some(steps) = case.get("steps") {
            let n: usize = steps
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_array().unwrap().len())
                .product();
            assert_eq!(total, n, "{name}: windows");
            assert_eq!(calls.len(), n.div_ceil(3), "{name}: one call per batch");
        }
    }
}
