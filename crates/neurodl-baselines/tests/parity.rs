//! Parity with MNE 1.13.2 / scikit-learn 1.9.1 / pyRiemann 0.12 on real EEG.
//!
//! Input: 60 epochs of PhysioNet eegmmidb S001 runs 4 and 8 (16 sensorimotor
//! channels, 8-30 Hz, 0.5-2.5 s after each T0/T1/T2 onset), stored with the
//! goldens; see `tests/reference/generate_baseline_goldens.py`. Binary cases
//! (T1 vs T2, 30 epochs) fit on the first 20; multi-class cases (T0/T1/T2,
//! 60 epochs) on the first 40; outputs are compared on all epochs. Each pipeline
//! is also cross-validated on sklearn's `StratifiedKFold(5, shuffle=True,
//! random_state=42)` folds (stored in the goldens).
//!
//! Run with `--nocapture` to see every measured error next to its tolerance.
//!
//! Tolerances, and what sets them:
//!
//! - Covariances, features, LDA outputs: relative to the reference's largest
//!   entry. Both sides compute the same formulas in f64; they differ by
//!   summation order (BLAS vs nalgebra/ndarray loops) and by the eigen-solver
//!   (LAPACK `sygvd`/`syevd` vs nalgebra's implicit QR). The eigen-solver sets
//!   the floor: a generalised eigenvector is perturbed by about
//!   `eps * cond(C0 + C1) / gap`, with eigenvalue gaps down to ~0.01 here, so
//!   1e-12 to 1e-10 relative on filters; features (log-power) inherit it.
//! - CSP filters/patterns are compared row by row up to sign (the solver's
//!   choice); their scale is fixed by the normalisation `w^T (C0 + C1) w = 1`
//!   (two classes) or `w^T mean(C_k) w = 1` (multi-class), so it is compared too.
//! - Logistic regression: scikit-learn's lbfgs cannot reach the optimum below a
//!   gradient of ~1e-8 (binary) / 4e-7 (3 classes), however tight `tol` is
//!   (it also stops on a `64 eps` relative change of the objective), so ours
//!   (Newton, gradient ~1e-15) is compared tightly against `lr_optimum` --
//!   sklearn's `newton-cholesky` solver on the same objective at `tol=1e-12` --
//!   and loosely (bounded by the gradient sklearn's lbfgs left) against the
//!   default lbfgs fit made with `tol=1e-10, max_iter=10000`.
//! - Cross-validation: per-fold predictions must equal sklearn's exactly, and
//!   so the accuracies.

mod common;

use common::*;
use ndarray::{Array2, Axis, s};
use neurodl_baselines::riemann::{mean_riemann, tangent_space};
use neurodl_baselines::{CspConfig, CspLda, Decoder, TangentSpaceConfig, TangentSpaceLr, covariance};
use serde_json::Value;

// Measured maxima (see the README's parity table) are 10-100x below these.
/// Relative error allowed on CSP filters, patterns and eigenvalues (eigen-solver floor,
/// see above; measured up to 1e-11).
const TOL_FILTERS: f64 = 1e-10;
/// Relative error allowed on CSP log-power features and on LDA coefficients, decisions,
/// probabilities (measured up to 6e-13).
const TOL_FEATURES: f64 = 1e-11;
/// Relative error on SCM covariances, the Riemannian mean and tangent vectors (measured up to 4e-13).
const TOL_RIEMANN: f64 = 1e-11;
/// Relative error against sklearn's Newton solution, both at the optimum (measured up to 1.4e-12).
const TOL_LR_OPTIMUM: f64 = 1e-10;
/// Absolute error against sklearn's lbfgs solution, which stops with a gradient of
/// `gradient_max_abs`: its parameters are off the optimum by `H^-1 g`, where the
/// Hessian's eigenvalues are at least 1 in the coefficient directions (the L2
/// penalty); allowed: 10 x that gradient for coefficients, intercepts, decision
/// values and probabilities (measured: 0.1-0.5 x).
fn tol_lbfgs(g: &Value) -> f64 {
    10.0 * g["gradient_max_abs"].as_f64().unwrap()
}

fn features_of(x: &ndarray::Array3<f64>, idx: &[usize]) -> ndarray::Array3<f64> {
    x.select(Axis(0), idx)
}

fn csp_cfg(g: &Value) -> CspConfig {
    CspConfig {
        n_components: g["csp_kwargs"]["n_components"].as_u64().unwrap() as usize,
        reg: g["csp_kwargs"].get("reg").and_then(|v| v.as_f64()),
    }
}

fn check_csp_lda(case: &str, x: &ndarray::Array3<f64>, y: &[usize], n_classes: usize) {
    let g = golden(case);
    let n_train = g["n_train"].as_u64().unwrap() as usize;
    let cfg = csp_cfg(&g);
    let model = CspLda::fit(x.slice(s![..n_train, .., ..]), &y[..n_train], n_classes, &cfg).unwrap();
    assert_eq!(
        model.csp().rank(),
        g["rank"].as_u64().unwrap() as usize,
        "{case}: data rank"
    );

    let (e, signs) = rows_up_to_sign(model.filters(), arr2(&g["filters"]).view());
    check(case, "filters (up to sign)", e, TOL_FILTERS);
    let patterns = flip_rows(model.patterns(), &signs);
    check(
        case,
        "patterns (same signs)",
        rel_err(patterns.view(), arr2(&g["patterns"]).view()),
        TOL_FILTERS,
    );
    if let Some(ev) = g.get("evals") {
        let ours = model.csp().eigenvalues().expect("two-class CSP has eigenvalues");
        let e = ours
            .iter()
            .zip(arr1(ev).iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        check(case, "eigenvalues (abs)", e, TOL_FILTERS);
    }
    let f = model.features(x.view()).unwrap();
    check(
        case,
        "features",
        rel_err(f.view(), arr2(&g["features"]).view()),
        TOL_FEATURES,
    );

    let lda = &g["lda"];
    check(
        case,
        "lda coef",
        rel_err(model.lda().coef(), arr2(&lda["coef"]).view()),
        TOL_FEATURES,
    );
    let ic = model.lda().intercept().clone().insert_axis(Axis(0));
    let ic_ref = arr1(&lda["intercept"]).insert_axis(Axis(0));
    check(
        case,
        "lda intercept",
        rel_err(ic.view(), ic_ref.view()),
        TOL_FEATURES,
    );
    let dec = model.decision_function(x.view()).unwrap();
    check(
        case,
        "lda decision",
        rel_err(dec.view(), arr2(&lda["decision"]).view()),
        TOL_FEATURES,
    );
    let p = model.predict_proba(x.view()).unwrap();
    check(
        case,
        "lda proba (abs)",
        abs_err(p.view(), arr2(&lda["proba"]).view()),
        TOL_FEATURES,
    );

    check_cv(case, &g["cv"], x, y, |tx, ty| {
        Box::new(CspLda::fit(tx.view(), ty, n_classes, &cfg).unwrap())
    });
}

fn check_cv(
    case: &str,
    cv: &Value,
    x: &ndarray::Array3<f64>,
    y: &[usize],
    fit: impl Fn(&ndarray::Array3<f64>, &[usize]) -> Box<dyn Decoder>,
) {
    let mut accs = Vec::new();
    for (fold, (test, preds)) in cv["folds_test"]
        .as_array()
        .unwrap()
        .iter()
        .zip(cv["predictions"].as_array().unwrap())
        .enumerate()
    {
        let test = usizes(test);
        let train = train_of(y.len(), &test);
        let ty: Vec<usize> = train.iter().map(|&i| y[i]).collect();
        let model = fit(&features_of(x, &train), &ty);
        let pred = model.predict(features_of(x, &test).view()).unwrap();
        assert_eq!(
            pred,
            usizes(preds),
            "{case}: fold {fold} predictions differ from sklearn's"
        );
        accs.push(pred.iter().zip(&test).filter(|(p, i)| **p == y[**i]).count() as f64 / test.len() as f64);
    }
    let ref_acc = arr1(&cv["accuracy"]);
    assert_eq!(accs, ref_acc.to_vec(), "{case}: fold accuracies");
    println!(
        "{case:<22} {:<34} {:>10.4}  (sklearn {:.4})",
        "5-fold CV accuracy",
        accs.iter().sum::<f64>() / 5.0,
        cv["mean_accuracy"]
    );
}

#[test]
fn csp_lda_binary() {
    let (x, y) = dataset(true);
    check_csp_lda("csp_lda_binary", &x, &y, 2);
}

#[test]
fn csp_lda_multiclass_joint_diagonalisation() {
    let (x, y) = dataset(false);
    check_csp_lda("csp_lda_multiclass", &x, &y, 3);
}

#[test]
fn csp_shrinkage_regularised() {
    let (x, y) = dataset(true);
    check_csp_lda("csp_reg_binary", &x, &y, 2);
}

#[test]
fn csp_rank_deficient_common_average_reference() {
    let (x, y) = dataset(true);
    let mean = x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    let car = &x - &mean;
    check_csp_lda("csp_car_binary", &car, &y, 2);
}

fn check_ts_lr(case: &str, x: &ndarray::Array3<f64>, y: &[usize], n_classes: usize) {
    let g = golden(case);
    let n_train = g["n_train"].as_u64().unwrap() as usize;
    let cfg = TangentSpaceConfig::default();

    let covs = covariance::scm_trials(x.view());
    let e = rel_err(
        covs.slice(s![..3, .., ..]).to_shape((3 * 16, 16)).unwrap().view(),
        arr3(&g["covariances_first3"])
            .to_shape((3 * 16, 16))
            .unwrap()
            .view(),
    );
    check(case, "scm covariances (3 trials)", e, TOL_RIEMANN);
    let mean = mean_riemann(covs.slice(s![..n_train, .., ..]), cfg.mean_tol, cfg.mean_max_iter).unwrap();
    assert!(mean.converged);
    println!(
        "{case:<22} {:<34} {:>10}",
        "Riemannian mean iterations", mean.n_iter
    );
    check(
        case,
        "Riemannian mean",
        rel_err(mean.mean.view(), arr2(&g["reference"]).view()),
        TOL_RIEMANN,
    );
    let t = tangent_space(covs.view(), arr2(&g["reference"]).view()).unwrap();
    check(
        case,
        "tangent vectors (at sklearn's ref)",
        rel_err(t.view(), arr2(&g["tangent_vectors"]).view()),
        TOL_RIEMANN,
    );

    let model = TangentSpaceLr::fit(x.slice(s![..n_train, .., ..]), &y[..n_train], n_classes, &cfg).unwrap();
    let tv = model.tangent_vectors(x.view()).unwrap();
    check(
        case,
        "tangent vectors (pipeline)",
        rel_err(tv.view(), arr2(&g["tangent_vectors"]).view()),
        TOL_RIEMANN,
    );
    let lr = model.logistic();
    println!(
        "{case:<22} {:<34} {:>10.3e}  ({} Newton iterations)",
        "our LR gradient max |g|",
        lr.gradient_max_abs(),
        lr.n_iter()
    );
    let dec = model.decision_function(x.view()).unwrap();
    let p = model.predict_proba(x.view()).unwrap();
    let intercept: Array2<f64> = lr.intercept().clone().insert_axis(Axis(0));
    for (key, tol_rel, tol_abs) in [
        ("lr_optimum", TOL_LR_OPTIMUM, TOL_LR_OPTIMUM),
        ("lr", f64::INFINITY, tol_lbfgs(&g["lr"])),
    ] {
        let r = &g[key];
        let what = |w: &str| format!("{w} vs sklearn {key}");
        let ri = arr1(&r["intercept"]).insert_axis(Axis(0));
        if tol_rel.is_finite() {
            check(
                case,
                &what("coef"),
                rel_err(lr.coef(), arr2(&r["coef"]).view()),
                tol_rel,
            );
            check(
                case,
                &what("intercept"),
                rel_err(intercept.view(), ri.view()),
                tol_rel,
            );
            check(
                case,
                &what("decision"),
                rel_err(dec.view(), arr2(&r["decision"]).view()),
                tol_rel,
            );
        } else {
            check(
                case,
                &what("coef (abs)"),
                abs_err(lr.coef(), arr2(&r["coef"]).view()),
                tol_abs,
            );
            check(
                case,
                &what("intercept (abs)"),
                abs_err(intercept.view(), ri.view()),
                tol_abs,
            );
            check(
                case,
                &what("decision (abs)"),
                abs_err(dec.view(), arr2(&r["decision"]).view()),
                tol_abs,
            );
        }
        check(
            case,
            &what("proba (abs)"),
            abs_err(p.view(), arr2(&r["proba"]).view()),
            tol_abs,
        );
    }

    check_cv(case, &g["cv"], x, y, |tx, ty| {
        Box::new(TangentSpaceLr::fit(tx.view(), ty, n_classes, &cfg).unwrap())
    });
}

#[test]
fn tangent_space_lr_binary() {
    let (x, y) = dataset(true);
    check_ts_lr("ts_lr_binary", &x, &y, 2);
}

#[test]
fn tangent_space_lr_multiclass() {
    let (x, y) = dataset(false);
    check_ts_lr("ts_lr_multiclass", &x, &y, 3);
}
