//! Shared helpers for the golden-fixture tests: reading the committed braindecode fixtures and
//! building neurodl models from the keyword arguments the generator recorded.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use neurodl_models::*;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/models")
}

pub fn index() -> Value {
    let text = std::fs::read_to_string(golden_dir().join("INDEX.json")).expect("INDEX.json");
    serde_json::from_str(&text).expect("INDEX.json parses")
}

/// A tensor of a fixture file: shape and values (integers widened to f64 for targets).
pub struct Fixture {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub ints: Vec<i64>,
}

pub fn read_fixture(name: &str) -> HashMap<String, Fixture> {
    let bytes = std::fs::read(golden_dir().join(name)).expect("fixture file");
    let st = SafeTensors::deserialize(&bytes).expect("fixture parses");
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let data = v.data();
            let (values, ints) = match v.dtype() {
                Dtype::F32 => (
                    data.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                    vec![],
                ),
                Dtype::I64 => (
                    vec![],
                    data.chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
                other => panic!("unexpected dtype {other:?}"),
            };
            (
                k,
                Fixture {
                    shape: v.shape().to_vec(),
                    values,
                    ints,
                },
            )
        })
        .collect()
}

pub fn signal(v: &Value) -> SignalShape {
    let s = SignalShape::new(
        v["n_chans"].as_u64().unwrap() as usize,
        v["n_outputs"].as_u64().unwrap() as usize,
        v["n_times"].as_u64().unwrap() as usize,
    );
    match v.get("sfreq").and_then(Value::as_f64) {
        Some(f) => s.with_sfreq(f),
        None => s,
    }
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("integer kwarg") as usize
}

fn pool(v: &Value) -> PoolMode {
    match v.as_str().unwrap() {
        "mean" => PoolMode::Mean,
        "max" => PoolMode::Max,
        other => panic!("pool mode {other}"),
    }
}

pub fn shallow_config(kwargs: &Value) -> ShallowFBCSPNetConfig {
    let mut c = ShallowFBCSPNetConfig::default();
    for (k, v) in kwargs.as_object().unwrap() {
        match k.as_str() {
            "final_conv_length" => c.final_conv_length = FinalConvLength::Fixed(usize_of(v)),
            "batch_norm" => c.batch_norm = v.as_bool().unwrap(),
            "pool_mode" => c.pool_mode = pool(v),
            "drop_prob" => c.drop_prob = v.as_f64().unwrap(),
            other => panic!("ShallowFBCSPNet kwarg {other} not mapped in the test"),
        }
    }
    c
}

pub fn eegnet_config(kwargs: &Value) -> EEGNetConfig {
    let mut c = EEGNetConfig::default();
    for (k, v) in kwargs.as_object().unwrap() {
        match k.as_str() {
            "final_layer_with_constraint" => c.final_layer_with_constraint = v.as_bool().unwrap(),
            "pool_mode" => c.pool_mode = pool(v),
            "drop_prob" => c.drop_prob = v.as_f64().unwrap(),
            "F1" => c.f1 = usize_of(v),
            "D" => c.d = usize_of(v),
            "F2" => c.f2 = Some(usize_of(v)),
            other => panic!("EEGNet kwarg {other} not mapped in the test"),
        }
    }
    c
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn deep4_config(kwargs: &Value) -> Deep4NetConfig {
    let mut c = Deep4NetConfig::default();
    for (k, v) in kwargs.as_object().unwrap() {
        match k.as_str() {
            "final_conv_length" => c.final_conv_length = FinalConvLength::Fixed(usize_of(v)),
            "n_filters_time" => c.n_filters_time = usize_of(v),
            "n_filters_spat" => c.n_filters_spat = usize_of(v),
            "n_filters_2" => c.n_filters_2 = usize_of(v),
            "n_filters_3" => c.n_filters_3 = usize_of(v),
            "n_filters_4" => c.n_filters_4 = usize_of(v),
            "batch_norm" => c.batch_norm = v.as_bool().unwrap(),
            "stride_before_pool" => c.stride_before_pool = v.as_bool().unwrap(),
            "drop_prob" => c.drop_prob = v.as_f64().unwrap(),
            other => panic!("Deep4Net kwarg {other} not mapped in the test"),
        }
    }
    c
}

pub fn conformer_config(kwargs: &Value) -> EEGConformerConfig {
    let mut c = EEGConformerConfig::default();
    for (k, v) in kwargs.as_object().unwrap() {
        match k.as_str() {
            "n_filters_time" => c.n_filters_time = usize_of(v),
            "num_layers" => c.num_layers = usize_of(v),
            "num_heads" => c.num_heads = usize_of(v),
            "drop_prob" => c.drop_prob = v.as_f64().unwrap(),
            "att_drop_prob" => c.att_drop_prob = v.as_f64().unwrap(),
            other => panic!("EEGConformer kwarg {other} not mapped in the test"),
        }
    }
    c
}

pub fn atcnet_config(kwargs: &Value) -> ATCNetConfig {
    let mut c = ATCNetConfig::default();
    for (k, v) in kwargs.as_object().unwrap() {
        match k.as_str() {
            "n_windows" => c.n_windows = usize_of(v),
            "tcn_depth" => c.tcn_depth = usize_of(v),
            "conv_block_dropout" => c.conv_block_dropout = v.as_f64().unwrap(),
            "att_drop_prob" => c.att_drop_prob = v.as_f64().unwrap(),
            "tcn_drop_prob" => c.tcn_drop_prob = v.as_f64().unwrap(),
            other => panic!("ATCNet kwarg {other} not mapped in the test"),
        }
    }
    c
}

/// Trainable parameter count of `model` built with `kwargs` for `signal`.
pub fn count_with(model: &str, signal: &SignalShape, kwargs: &Value) -> usize {
    let d = neurodl_models::Device::default();
    match model {
        "ShallowFBCSPNet" => shallow_config(kwargs)
            .init(signal, &d)
            .unwrap()
            .num_trainable_params(),
        "Deep4Net" => deep4_config(kwargs)
            .init(signal, &d)
            .unwrap()
            .num_trainable_params(),
        "EEGNet" => eegnet_config(kwargs)
            .init(signal, &d)
            .unwrap()
            .num_trainable_params(),
        "EEGConformer" => conformer_config(kwargs)
            .init(signal, &d)
            .unwrap()
            .num_trainable_params(),
        "ATCNet" => atcnet_config(kwargs)
            .init(signal, &d)
            .unwrap()
            .num_trainable_params(),
        other => panic!("model {other}"),
    }
}
