//! Bad input gives a clear error (never a panic), on the real EEG epochs of the goldens.

mod common;

use common::dataset;
use ndarray::{Array3, Axis, s};
use neurodl_baselines::{BaselineError, CspConfig, CspLda, Decoder, TangentSpaceConfig, TangentSpaceLr};

fn binary() -> (Array3<f64>, Vec<usize>) {
    dataset(true)
}

#[test]
fn decoders_are_thread_safe_trait_objects() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CspLda>();
    send_sync::<TangentSpaceLr>();
    let (x, y) = binary();
    let models: Vec<Box<dyn Decoder>> = vec![
        Box::new(CspLda::fit(x.view(), &y, 2, &CspConfig::default()).unwrap()),
        Box::new(TangentSpaceLr::fit(x.view(), &y, 2, &TangentSpaceConfig::default()).unwrap()),
    ];
    for m in &models {
        let p = m.predict_proba(x.view()).unwrap();
        assert_eq!(p.dim(), (30, 2), "{}", m.name());
        assert!(p.outer_iter().all(|r| (r.sum() - 1.0).abs() < 1e-12));
    }
    assert_eq!(models[0].name(), "csp_lda");
    assert_eq!(models[1].name(), "tangent_space_lr");
}

#[test]
fn non_finite_samples_are_located() {
    let (mut x, y) = binary();
    x[[7, 3, 100]] = f64::NAN;
    let want = |e: BaselineError| {
        assert!(
            matches!(e, BaselineError::NonFinite { trial: 7, channel: 3, sample: 100, value } if value.is_nan()),
            "{e}"
        );
        assert!(e.to_string().contains("trial 7, channel 3, sample 100"), "{e}");
    };
    want(CspLda::fit(x.view(), &y, 2, &CspConfig::default()).unwrap_err());
    want(TangentSpaceLr::fit(x.view(), &y, 2, &TangentSpaceConfig::default()).unwrap_err());
    // and at prediction time
    let (clean, _) = binary();
    let m = CspLda::fit(clean.view(), &y, 2, &CspConfig::default()).unwrap();
    x[[7, 3, 100]] = f64::INFINITY;
    let e = m.predict_proba(x.view()).unwrap_err();
    assert!(
        matches!(
            e,
            BaselineError::NonFinite {
                trial: 7,
                channel: 3,
                sample: 100,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_shapes_and_labels() {
    let (x, y) = binary();
    let cfg = CspConfig::default();
    // labels shorter than the trials
    assert!(matches!(
        CspLda::fit(x.view(), &y[..10], 2, &cfg),
        Err(BaselineError::Shape { what: "labels", .. })
    ));
    // a label outside 0..n_classes
    let mut bad = y.clone();
    bad[4] = 5;
    assert!(matches!(
        TangentSpaceLr::fit(x.view(), &bad, 2, &TangentSpaceConfig::default()),
        Err(BaselineError::LabelOutOfRange {
            trial: 4,
            label: 5,
            n_classes: 2
        })
    ));
    // one class only
    assert!(matches!(
        CspLda::fit(x.view(), &y, 1, &cfg),
        Err(BaselineError::TooFewClasses { n_classes: 1 })
    ));
    // a class with a single trial (class 2 of 3 appears once)
    let mut three = y.clone();
    three[0] = 2;
    assert!(matches!(
        CspLda::fit(x.view(), &three, 3, &cfg),
        Err(BaselineError::TooFewTrials {
            class: 2,
            n_trials: 1,
            min: 2
        })
    ));
    // a class with no trials
    assert!(matches!(
        CspLda::fit(x.view(), &y, 3, &cfg),
        Err(BaselineError::TooFewTrials {
            class: 2,
            n_trials: 0,
            ..
        })
    ));
    // empty input
    let empty = x.slice(s![..0, .., ..]);
    assert!(matches!(
        CspLda::fit(empty, &[], 2, &cfg),
        Err(BaselineError::Shape { what: "trials", .. })
    ));
    // predicting on other channels than were fitted
    let m = CspLda::fit(x.view(), &y, 2, &cfg).unwrap();
    let fewer = x.slice(s![.., ..8, ..]);
    assert!(matches!(
        m.predict_proba(fewer),
        Err(BaselineError::Shape { what: "trials", .. })
    ));
    let t = TangentSpaceLr::fit(x.view(), &y, 2, &TangentSpaceConfig::default()).unwrap();
    assert!(matches!(
        t.tangent_vectors(fewer),
        Err(BaselineError::Shape { what: "trials", .. })
    ));
}

#[test]
fn singular_trial_covariance_names_the_trial_and_suggests_regularisation() {
    // Common-average reference makes every trial covariance singular (rank 15 of 16).
    // CSP copes (MNE's rank handling); the tangent space needs SPD matrices.
    let (x, y) = binary();
    let car = &x - &x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    assert!(CspLda::fit(car.view(), &y, 2, &CspConfig::default()).is_ok());
    let e = TangentSpaceLr::fit(car.view(), &y, 2, &TangentSpaceConfig::default()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, BaselineError::NotSpd { .. }), "{e}");
    assert!(msg.contains("trial 0") && msg.contains("regularise"), "{msg}");
    // a single flat channel in one trial only
    let mut flat = x.clone();
    flat.slice_mut(s![12, 5, ..]).fill(0.0);
    let e = TangentSpaceLr::fit(flat.view(), &y, 2, &TangentSpaceConfig::default()).unwrap_err();
    assert!(e.to_string().contains("trial 12"), "{e}");
    // fewer samples than channels
    let short = x.slice(s![.., .., ..10]);
    assert!(matches!(
        TangentSpaceLr::fit(short, &y, 2, &TangentSpaceConfig::default()),
        Err(BaselineError::NotSpd { .. })
    ));
}

#[test]
fn bad_configuration_and_non_convergence() {
    let (x, y) = binary();
    for cfg in [
        CspConfig {
            n_components: 0,
            reg: None,
        },
        CspConfig {
            n_components: 17,
            reg: None,
        },
        CspConfig {
            n_components: 4,
            reg: Some(f64::NAN),
        },
    ] {
        assert!(
            matches!(CspLda::fit(x.view(), &y, 2, &cfg), Err(BaselineError::Config(_))),
            "{cfg:?}"
        );
    }
    let bad = TangentSpaceConfig {
        c: 0.0,
        ..Default::default()
    };
    assert!(matches!(
        TangentSpaceLr::fit(x.view(), &y, 2, &bad),
        Err(BaselineError::Config(_))
    ));
    let bad = TangentSpaceConfig {
        mean_tol: -1.0,
        ..Default::default()
    };
    assert!(matches!(
        TangentSpaceLr::fit(x.view(), &y, 2, &bad),
        Err(BaselineError::Config(_))
    ));
    // the Riemannian mean needs ~8 iterations on these data
    let short = TangentSpaceConfig {
        mean_max_iter: 2,
        ..Default::default()
    };
    let e = TangentSpaceLr::fit(x.view(), &y, 2, &short).unwrap_err();
    assert!(
        matches!(
            e,
            BaselineError::NotConverged {
                algorithm: "Riemannian mean",
                iterations: 2,
                ..
            }
        ),
        "{e}"
    );
    let short = TangentSpaceConfig {
        lr_max_iter: 1,
        ..Default::default()
    };
    let e = TangentSpaceLr::fit(x.view(), &y, 2, &short).unwrap_err();
    assert!(
        matches!(e, BaselineError::NotConverged { iterations: 1, .. }),
        "{e}"
    );
}

#[test]
fn configs_deserialise_with_defaults_and_reject_unknown_fields() {
    let c: CspConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(
        c,
        CspConfig {
            n_components: 4,
            reg: None
        }
    );
    let c: CspConfig = serde_json::from_str(r#"{"reg": 0.1}"#).unwrap();
    assert_eq!(c.reg, Some(0.1));
    assert!(serde_json::from_str::<CspConfig>(r#"{"n_comp": 4}"#).is_err());
    let t: TangentSpaceConfig = serde_json::from_str(r#"{"c": 0.5}"#).unwrap();
    assert_eq!(
        t,
        TangentSpaceConfig {
            c: 0.5,
            ..Default::default()
        }
    );
    assert_eq!(TangentSpaceConfig::default().mean_tol, 1e-8);
    assert!(serde_json::from_str::<TangentSpaceConfig>(r#"{"C": 1.0}"#).is_err());
}

#[test]
fn more_classes_than_three() {
    // four classes: T0 split in two by time, plus T1 and T2
    let (x, y) = dataset(false);
    let y4: Vec<usize> = y
        .iter()
        .enumerate()
        .map(|(i, &c)| if c == 0 && i >= 30 { 3 } else { c })
        .collect();
    let m = CspLda::fit(x.view(), &y4, 4, &CspConfig::default()).unwrap();
    assert_eq!(m.decision_function(x.view()).unwrap().dim(), (60, 4));
    let t = TangentSpaceLr::fit(x.view(), &y4, 4, &TangentSpaceConfig::default()).unwrap();
    let p = t.predict_proba(x.view()).unwrap();
    assert_eq!(p.dim(), (60, 4));
    assert!(t.logistic().intercept().sum().abs() < 1e-10);
}
