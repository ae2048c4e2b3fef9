//! Weight files: neurodl's own safetensors round trip, and the errors for files that do not
//! fit (wrong architecture, wrong shape, wrong dtype, corrupt, absent).

mod common;

use std::collections::HashMap;

use burn::tensor::{Device, Tensor};
use common::*;
use neurodl_models::*;

fn outputs<M: EegModel>(m: &M, x: Tensor<3>) -> Vec<f32> {
    m.forward(x)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap()
}

type Tensors = Vec<(String, Vec<usize>, Vec<u8>)>;

fn tensors(path: &std::path::Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn own_weights_round_trip_for_every_model() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let signal = SignalShape::new(4, 2, 700).with_sfreq(250.0);
    for info in models() {
        let a = AnyModel::new(info.name, &signal, &device).unwrap();
        let path = dir.path().join(format!("{}.safetensors", info.name));
        a.save_safetensors(&path).unwrap();
        // A fresh model has other random weights until it loads the file.
        let b = AnyModel::new(info.name, &signal, &device).unwrap();
        let x = Tensor::<3>::random([2, 4, 700], burn::tensor::Distribution::Default, &device);
        let ya: Vec<f32> = a.forward(x.clone()).unwrap().into_data().try_to_vec().unwrap();
        let yb: Vec<f32> = b.forward(x.clone()).unwrap().into_data().try_to_vec().unwrap();
        assert_ne!(ya, yb, "{}: two fresh models should differ", info.name);
        let b = b.load_safetensors(&path).unwrap();
        let yb: Vec<f32> = b.forward(x).unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(ya, yb, "{}: outputs after round trip", info.name);
        // Saving the loaded model writes the same tensors (metadata order in the header may vary).
        let again = dir.path().join("again.safetensors");
        b.save_safetensors(&again).unwrap();
        assert_eq!(tensors(&path), tensors(&again), "{}", info.name);
    }
}

#[test]
fn imported_braindecode_weights_survive_own_round_trip() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let io = read_fixture("eegnet.io.safetensors");
    let x = Tensor::from_data(
        burn::tensor::TensorData::new(io["x"].values.clone(), io["x"].shape.clone()),
        &device,
    );
    let signal = SignalShape::new(8, 3, 256);
    let m = EEGNetConfig::default().init(&signal, &device).unwrap();
    let m = m
        .load_braindecode(golden_dir().join("eegnet.safetensors"))
        .unwrap();
    let path = dir.path().join("w.safetensors");
    m.save_safetensors(&path).unwrap();
    let back = EEGNetConfig::default()
        .init(&signal, &device)
        .unwrap()
        .load_safetensors(&path)
        .unwrap();
    assert_eq!(outputs(&m, x.clone()), outputs(&back, x));
}

fn mismatch(err: ModelError) -> WeightMismatch {
    match err {
        ModelError::WeightMismatch { mismatch, .. } => *mismatch,
        other => panic!("expected a weight mismatch, got {other}"),
    }
}

#[test]
fn braindecode_weights_for_another_shape_are_listed_as_mis_shaped() {
    // shallow.safetensors was saved for 8 channels x 300 samples.
    let m = ShallowFBCSPNetConfig::default()
        .init(&SignalShape::new(6, 3, 300), &Device::default())
        .unwrap();
    let err = m
        .load_braindecode(golden_dir().join("shallow.safetensors"))
        .unwrap_err();
    let text = err.to_string();
    let mm = mismatch(err);
    assert!(mm.missing.is_empty() && mm.unexpected.is_empty(), "{mm}");
    assert_eq!(
        mm.mis_shaped,
        vec![(
            "conv_time_spat.conv_spat.weight".to_string(),
            vec![40, 40, 1, 6],
            vec![40, 40, 1, 8]
        )]
    );
    assert!(
        text.contains("conv_time_spat.conv_spat.weight: expected [40, 40, 1, 6], found [40, 40, 1, 8]"),
        "{text}"
    );
}

#[test]
fn braindecode_weights_of_another_architecture_list_missing_and_unexpected() {
    let m = ShallowFBCSPNetConfig::default()
        .init(&SignalShape::new(8, 3, 256), &Device::default())
        .unwrap();
    let mm = mismatch(
        m.load_braindecode(golden_dir().join("eegnet.safetensors"))
            .unwrap_err(),
    );
    assert!(
        mm.missing
            .contains(&"conv_time_spat.conv_time.weight".to_string()),
        "{mm}"
    );
    assert!(mm.missing.contains(&"bnorm.running_var".to_string()), "{mm}");
    assert!(
        mm.unexpected
            .contains(&"conv_spatial.parametrizations.weight.original".to_string()),
        "{mm}"
    );
    // The BatchNorm step counters PyTorch stores are not reported.
    assert!(
        !mm.unexpected.iter().any(|k| k.ends_with("num_batches_tracked")),
        "{mm}"
    );
}

#[test]
fn own_weights_of_another_model_are_rejected_with_names() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.safetensors");
    let signal = SignalShape::new(4, 2, 600);
    Deep4NetConfig::default()
        .init(&signal, &device)
        .unwrap()
        .save_safetensors(&path)
        .unwrap();
    let mm = mismatch(
        EEGNetConfig::default()
            .init(&signal, &device)
            .unwrap()
            .load_safetensors(&path)
            .unwrap_err(),
    );
    assert!(mm.missing.contains(&"conv_temporal.weight".to_string()), "{mm}");
    assert!(mm.unexpected.contains(&"conv_4.weight".to_string()), "{mm}");
}

#[test]
fn unsupported_dtypes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f16.safetensors");
    let bytes = std::fs::read(golden_dir().join("eegnet.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // Re-write one tensor as F16 (same byte pattern halved), the rest unchanged.
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        if name == "bnorm_1.weight" {
            let n: usize = view.shape().iter().product();
            owned.push((
                name,
                safetensors::Dtype::F16,
                view.shape().to_vec(),
                vec![0u8; 2 * n],
            ));
        } else {
            owned.push((name, view.dtype(), view.shape().to_vec(), view.data().to_vec()));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        &path,
        safetensors::serialize(views, None::<HashMap<String, String>>).unwrap(),
    )
    .unwrap();
    let m = EEGNetConfig::default()
        .init(&SignalShape::new(8, 3, 256), &Device::default())
        .unwrap();
    let mm = mismatch(m.load_braindecode(&path).unwrap_err());
    assert_eq!(
        mm.bad_dtype,
        vec![("bnorm_1.weight".to_string(), "F16".to_string())]
    );
    assert!(
        mm.missing.is_empty() && mm.unexpected.is_empty() && mm.mis_shaped.is_empty(),
        "{mm}"
    );
}

#[test]
fn corrupt_and_absent_files_give_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = || {
        EEGNetConfig::default()
            .init(&SignalShape::new(8, 3, 256), &Device::default())
            .unwrap()
    };
    let absent = dir.path().join("absent.safetensors");
    assert!(matches!(
        m().load_braindecode(&absent),
        Err(ModelError::Io { .. })
    ));
    let bytes = std::fs::read(golden_dir().join("eegnet.safetensors")).unwrap();
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let path = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = m().load_braindecode(&path).unwrap_err();
        assert!(matches!(err, ModelError::Format { .. }), "cut at {cut}: {err}");
    }
    let path = dir.path().join("garbage.safetensors");
    std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a header").unwrap();
    assert!(matches!(
        m().load_safetensors(&path),
        Err(ModelError::Format { .. })
    ));
}
