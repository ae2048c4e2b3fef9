//! Bad input gives an error naming the problem, never a panic.

use burn::tensor::{Device, Tensor};
use neurodl_models::*;

fn reason(r: Result<impl std::fmt::Debug, ModelError>) -> String {
    match r {
        Err(e @ ModelError::InvalidConfig { .. }) => e.to_string(),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn wrong_input_shapes_are_errors() {
    let device = Device::default();
    let signal = SignalShape::new(4, 2, 700);
    for info in models() {
        let m = AnyModel::new(info.name, &signal, &device).unwrap();
        for shape in [[2, 5, 700], [2, 4, 699], [0, 4, 700]] {
            let err = m.forward(Tensor::zeros(shape, &device)).unwrap_err();
            assert!(
                matches!(err, ModelError::InputShape { .. }),
                "{}: {err}",
                info.name
            );
            assert!(err.to_string().contains("[batch, 4, 700]"), "{err}");
        }
    }
}

#[test]
fn too_short_inputs_are_config_errors() {
    let d = Device::default();
    let s = SignalShape::new(4, 2, 50);
    assert!(reason(ShallowFBCSPNetConfig::default().init(&s, &d)).contains("n_times = 50 is too short"));
    assert!(reason(EEGConformerConfig::default().init(&s, &d)).contains("too short"));
    assert!(reason(EEGNetConfig::default().init(&SignalShape::new(4, 2, 20), &d)).contains("too short"));
    // Deep4Net and ATCNet scale their kernels down first, as braindecode does, but not forever.
    assert!(reason(Deep4NetConfig::default().init(&SignalShape::new(4, 2, 5), &d)).contains("too short"));
    // ATCNet scales down to one-sample kernels and pools, so even 5 samples build and run, as in
    // braindecode.
    let tiny = ATCNetConfig::default()
        .init(&SignalShape::new(4, 2, 5), &d)
        .unwrap();
    assert_eq!(tiny.forward(Tensor::zeros([1, 4, 5], &d)).unwrap().dims(), [1, 2]);
}

#[test]
fn invalid_hyper_parameters_are_config_errors() {
    let d = Device::default();
    let s = SignalShape::new(4, 2, 1000);
    assert!(
        reason(
            ShallowFBCSPNetConfig {
                drop_prob: 1.0,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("drop_prob")
    );
    assert!(
        reason(
            ShallowFBCSPNetConfig {
                batch_norm_alpha: 2.0,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("momentum")
    );
    assert!(
        reason(
            ShallowFBCSPNetConfig {
                final_conv_length: FinalConvLength::Fixed(500),
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("final_conv_length 500")
    );
    assert!(
        reason(
            EEGConformerConfig {
                num_heads: 3,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("must divide")
    );
    assert!(
        reason(
            EEGNetConfig {
                f1: 0,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("F1")
    );
    assert!(
        reason(
            EEGNetConfig {
                conv_spatial_max_norm: -1.0,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("positive")
    );
    assert!(
        reason(
            Deep4NetConfig {
                n_filters_4: 0,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("n_filters_4")
    );
    assert!(
        reason(
            ATCNetConfig {
                tcn_drop_prob: -0.1,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("tcn_drop_prob")
    );
    assert!(
        reason(
            ATCNetConfig {
                tcn_depth: 40,
                ..Default::default()
            }
            .init(&s, &d)
        )
        .contains("tcn_depth")
    );
    for bad in [
        SignalShape::new(0, 2, 1000),
        SignalShape::new(4, 0, 1000),
        SignalShape::new(4, 2, 0),
    ] {
        assert!(reason(EEGNetConfig::default().init(&bad, &d)).contains("at least 1"));
    }
    assert!(
        reason(EEGNetConfig::default().init(&SignalShape::new(4, 2, 1000).with_sfreq(f64::NAN), &d))
            .contains("sfreq")
    );
}

#[test]
fn window_seconds_give_n_times_as_braindecode_rounds() {
    assert_eq!(SignalShape::from_window(22, 4, 4.5, 250.0).unwrap().n_times, 1125);
    assert_eq!(SignalShape::from_window(64, 4, 3.0, 160.0).unwrap().n_times, 480);
    assert!(SignalShape::from_window(22, 4, -1.0, 250.0).is_err());
    assert!(SignalShape::from_window(22, 4, 1.0, f64::INFINITY).is_err());
}

#[test]
fn unknown_model_names_list_the_known_ones() {
    let err = AnyModel::new("ResNet", &SignalShape::new(4, 2, 1000), &Device::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ResNet") && text.contains("ShallowFBCSPNet, Deep4Net, EEGNet, EEGConformer, ATCNet"),
        "{text}"
    );
    // braindecode's alias and any case work.
    assert!(AnyModel::new("eegnetv4", &SignalShape::new(4, 2, 1000), &Device::default()).is_ok());
}

#[test]
fn hyper_parameters_from_a_config_object() {
    use neurodl_models::{AnyModel, Device, EEGNetConfig, SignalShape, check_config};
    let device = Device::default();
    let signal = SignalShape::new(22, 4, 1125);
    // braindecode's names (F1, D) and defaults for everything not given.
    let config = serde_json::json!({"F1": 16, "D": 2, "drop_prob": 0.5});
    let model = AnyModel::with_config("eegnetv4", &signal, &device, &config).unwrap();
    let expected = EEGNetConfig {
        f1: 16,
        drop_prob: 0.5,
        ..EEGNetConfig::default()
    }
    .init(&signal, &device)
    .unwrap();
    assert_eq!(
        model.num_trainable_params(),
        neurodl_models::trainable_params(&expected)
    );
    let default = AnyModel::new("EEGNet", &signal, &device).unwrap();
    assert_ne!(model.num_trainable_params(), default.num_trainable_params());
    // Unknown keys, wrong types and bad values are refused, naming the model and the key.
    let err = check_config("EEGNet", &serde_json::json!({"dropout": 0.5}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("EEGNet") && err.contains("dropout"), "{err}");
    let err = check_config("ShallowFBCSPNet", &serde_json::json!({"pool_mode": "median"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("median"), "{err}");
    let err = check_config("Deep4Net", &serde_json::json!({"final_conv_length": "full"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("auto"), "{err}");
    assert!(check_config("Deep4Net", &serde_json::json!({"final_conv_length": 2})).is_ok());
    let err = AnyModel::with_config(
        "ShallowFBCSPNet",
        &signal,
        &device,
        &serde_json::json!({"drop_prob": 1.5}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("drop_prob") || err.contains("[0, 1)"), "{err}");
    assert!(check_config("ShallowNet", &serde_json::json!({})).is_err());
}
