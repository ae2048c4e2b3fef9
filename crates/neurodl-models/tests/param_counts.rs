//! Trainable parameter counts equal braindecode 1.8.1's, for the two reference shapes of issue 4
//! (22 ch x 1125 samples at 250 Hz and 64 ch x 480 samples at 160 Hz, 4 outputs) and a few
//! non-default configurations (`tests/golden/models/param_counts.json`).

mod common;

use common::*;
use neurodl_models::*;

fn counts() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(golden_dir().join("param_counts.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["counts"].as_array().unwrap().clone()
}

#[test]
fn counts_equal_braindecode() {
    let counts = counts();
    assert!(counts.len() >= 10);
    let mut failures = Vec::new();
    for c in &counts {
        let model = c["model"].as_str().unwrap();
        let got = count_with(model, &signal(&c["signal"]), &c["kwargs"]);
        let want = c["trainable_params"].as_u64().unwrap() as usize;
        if got != want {
            failures.push(format!(
                "{model} {} {}: {got} != braindecode {want}",
                c["signal"], c["kwargs"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn registry_counts_and_metadata_agree_with_braindecode() {
    let counts = counts();
    for info in models() {
        let golden = counts
            .iter()
            .find(|c| {
                c["model"] == info.name
                    && c["signal"]["n_chans"] == 22
                    && c["kwargs"].as_object().unwrap().is_empty()
            })
            .unwrap();
        let want = golden["trainable_params"].as_u64().unwrap() as usize;
        assert_eq!(info.reference_params, want, "{} metadata", info.name);
        assert_eq!(
            param_count(info.name, &REFERENCE_SHAPE).unwrap(),
            want,
            "{}",
            info.name
        );
    }
    // Both reference shapes go through the registry too.
    let other = SignalShape::new(64, 4, 480).with_sfreq(160.0);
    for c in counts.iter().filter(|c| c["signal"]["n_chans"] == 64) {
        let name = c["model"].as_str().unwrap();
        assert_eq!(
            param_count(name, &other).unwrap() as u64,
            c["trainable_params"].as_u64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn burn_num_params_would_overcount_batch_norm_statistics() {
    // Burn's own count includes BatchNorm running mean/var; ours must not.
    let m = EEGNetConfig::default()
        .init(&REFERENCE_SHAPE, &Device::default())
        .unwrap();
    use burn::module::Module;
    let bn_stats = 2 * (8 + 16 + 16);
    assert_eq!(m.num_params(), m.num_trainable_params() + bn_stats);
}
