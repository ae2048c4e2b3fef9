//! Output parity with braindecode 1.8.1 (PyTorch 2.11, CPU, float32): braindecode's own
//! `state_dict`s (random weights, BatchNorm statistics included) are imported and the eval-mode
//! outputs compared on a fixed batch, and one AdamW training step from the same weights is
//! compared by its losses. Fixtures: `tests/golden/models/`, written by
//! `tests/reference/generate_model_goldens.py`.
//!
//! Tolerances. Eval outputs: max abs error <= 1e-4 (issue 4's target); float32 with different
//! summation orders (merged kernels, im2col vs. direct convolution) typically lands at 1e-6.
//! Training step: the loss before the step (train-mode BatchNorm, batch statistics) within
//! 1e-4; after one AdamW step (lr 1e-3) within 5e-4 and moving by the same amount within 2 %.
//! Measured differences are below 1e-6; the margin is for Adam's first step being about
//! lr * sign(gradient), so a gradient that is zero up to rounding may take the other sign in
//! one framework. A wrong gradient moves the loss by far more (the steps here move it by
//! 0.04 to 0.8).

mod common;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use neurodl_models::*;
use serde_json::Value;

const EVAL_TOL: f32 = 1e-4;

fn case(name: &str) -> Value {
    let index = index();
    index["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == name)
        .cloned()
        .expect("case in INDEX.json")
}

fn train_case(name: &str) -> Value {
    let index = index();
    index["train"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == name)
        .cloned()
        .expect("train case")
}

fn input(f: &Fixture, device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(f.values.clone(), f.shape.clone()), device)
}

/// Imports the case's braindecode weights into `build`'s model and compares `run`'s output with
/// braindecode's.
fn check_eval<M: EegModel>(
    name: &str,
    build: impl Fn(&SignalShape, &Value, &Device) -> M,
    run: impl Fn(&M, Tensor<3>) -> Tensor<3>,
) {
    let device = Device::default();
    let case = case(name);
    let model = build(&signal(&case["signal"]), &case["kwargs"], &device);
    assert_eq!(
        model.num_trainable_params() as u64,
        case["trainable_params"].as_u64().unwrap(),
        "{name}: params"
    );
    let model = model
        .load_braindecode(golden_dir().join(format!("{name}.safetensors")))
        .expect("import");
    let io = read_fixture(&format!("{name}.io.safetensors"));
    let y = run(&model, input(&io["x"], &device));
    let expected = &io["y"];
    let dims = y.dims();
    let got_shape: Vec<usize> = if expected.shape.len() == 2 {
        dims[..2].to_vec()
    } else {
        dims.to_vec()
    };
    assert_eq!(got_shape, expected.shape, "{name}: output shape");
    let got = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let err = max_abs_diff(&got, &expected.values);
    eprintln!("{name}: max abs error {err:.3e}");
    assert!(err <= EVAL_TOL, "{name}: max abs error {err} > {EVAL_TOL}");
}

fn trialwise<M: EegModel>(m: &M, x: Tensor<3>) -> Tensor<3> {
    m.forward(x).unwrap().unsqueeze_dim(2)
}

fn cross_entropy(logits: Tensor<2>, target: &[i64]) -> Tensor<1> {
    let [b, _] = logits.dims();
    let device = logits.device();
    let idx: Tensor<2, Int> = Tensor::from_data(TensorData::new(target.to_vec(), [b, 1]), &device);
    let picked = log_softmax(logits, 1).gather(1, idx);
    picked.mean().neg()
}

/// One AdamW step from braindecode's weights, with dropout off, compared by the losses.
fn check_train_step<M: EegModel>(name: &str, build: impl Fn(&SignalShape, &Value, &Device) -> M) {
    let device = Device::default().autodiff();
    let tc = train_case(&format!("train_{name}"));
    let model = build(&signal(&tc["signal"]), &tc["kwargs"], &device);
    let model = model
        .load_braindecode(golden_dir().join(tc["weights"].as_str().unwrap()))
        .expect("import");
    let model = without_dropout(model);
    let io = read_fixture(&format!("train_{name}.io.safetensors"));
    let x = input(&io["x"], &device);
    let target = &io["target"].ints;
    let loss = cross_entropy(model.forward(x.clone()).unwrap(), target);
    let before = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init();
    let model = optim.step(1e-3, model, grads);
    let after = cross_entropy(model.forward(x).unwrap(), target).into_scalar::<f32>();
    let (ref_before, ref_after) = (io["loss_before"].values[0], io["loss_after"].values[0]);
    eprintln!("{name}: loss {before} -> {after}, braindecode {ref_before} -> {ref_after}");
    assert!(
        (before - ref_before).abs() <= 1e-4,
        "{name}: loss before {before} vs {ref_before}"
    );
    assert!(
        (after - ref_after).abs() <= 5e-4,
        "{name}: loss after {after} vs {ref_after}"
    );
    let (delta, ref_delta) = (after - before, ref_after - ref_before);
    assert!(
        (delta - ref_delta).abs() <= 0.02 * ref_delta.abs(),
        "{name}: loss moved {delta} vs {ref_delta}"
    );
}

fn shallow(s: &SignalShape, kw: &Value, d: &Device) -> ShallowFBCSPNet {
    shallow_config(kw).init(s, d).unwrap()
}

fn eegnet(s: &SignalShape, kw: &Value, d: &Device) -> EEGNet {
    eegnet_config(kw).init(s, d).unwrap()
}

#[test]
fn shallow_matches_braindecode() {
    check_eval("shallow", shallow, trialwise);
}

#[test]
fn shallow_dense_matches_braindecode() {
    check_eval("shallow_dense", shallow, |m, x| m.forward_dense(x).unwrap());
}

#[test]
fn shallow_without_batch_norm_max_pool_matches_braindecode() {
    check_eval("shallow_nobn_max", shallow, trialwise);
}

#[test]
fn eegnet_matches_braindecode() {
    check_eval("eegnet", eegnet, trialwise);
}

#[test]
fn eegnet_constrained_linear_head_matches_braindecode() {
    check_eval("eegnet_constraint", eegnet, trialwise);
}

#[test]
fn shallow_training_step_matches_pytorch() {
    check_train_step("shallow", shallow);
}

#[test]
fn eegnet_training_step_matches_pytorch() {
    check_train_step("eegnet", eegnet);
}

fn deep4(s: &SignalShape, kw: &Value, d: &Device) -> Deep4Net {
    deep4_config(kw).init(s, d).unwrap()
}

fn conformer(s: &SignalShape, kw: &Value, d: &Device) -> EEGConformer {
    conformer_config(kw).init(s, d).unwrap()
}

fn atcnet(s: &SignalShape, kw: &Value, d: &Device) -> ATCNet {
    atcnet_config(kw).init(s, d).unwrap()
}

#[test]
fn deep4_matches_braindecode() {
    check_eval("deep4", deep4, trialwise);
}

#[test]
fn deep4_dense_matches_braindecode() {
    check_eval("deep4_dense", deep4, |m, x| m.forward_dense(x).unwrap());
}

#[test]
fn conformer_matches_braindecode() {
    check_eval("conformer", conformer, trialwise);
}

#[test]
fn atcnet_matches_braindecode() {
    check_eval("atcnet", atcnet, trialwise);
}

#[test]
fn atcnet_scaled_for_short_input_matches_braindecode() {
    check_eval("atcnet_scaled", atcnet, trialwise);
}

#[test]
fn deep4_training_step_matches_pytorch() {
    check_train_step("deep4", deep4);
}

#[test]
fn conformer_training_step_matches_pytorch() {
    check_train_step("conformer", conformer);
}

#[test]
fn atcnet_training_step_matches_pytorch() {
    check_train_step("atcnet", atcnet);
}

/// Every fixture case of INDEX.json is exercised by one of the tests above.
#[test]
fn every_fixture_case_is_tested() {
    let source = include_str!("braindecode_parity.rs");
    for c in index()["cases"].as_array().unwrap() {
        let name = c["case"].as_str().unwrap();
        assert!(
            source.contains(&format!("check_eval(\"{name}\"")),
            "fixture case {name} has no test"
        );
    }
    for c in index()["train"].as_array().unwrap() {
        let name = c["case"].as_str().unwrap().trim_start_matches("train_");
        assert!(
            source.contains(&format!("check_train_step(\"{name}\"")),
            "train case {name} has no test"
        );
    }
}
