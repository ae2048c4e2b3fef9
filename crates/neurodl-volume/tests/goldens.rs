//! Parity with SciPy, nibabel and TorchIO on the committed fixtures in
//! `tests/golden/volume_transforms/` (made by
//! `tests/reference/generate_volume_transform_goldens.py` from a crop of real hippocampus
//! data, stored in the fixtures, so these tests need no shared data).
//!
//! Tolerances: the references compute in `f64`; neurodl interpolates `f32` data with
//! `f32` weights, so values agree to ~1e-6 of the data's magnitude. We assert
//! `|a − b| ≤ 2e-5 · max|input|` for every interpolated value (the cubic prefilter's
//! coefficients are rounded to `f32` once, which is the largest term), and exact
//! equality for nearest-neighbour images and labels and for affines to 1e-9.

#![allow(clippy::needless_range_loop)] // matrix index loops read like the formulas

use ndarray::{Array3, Array4};
use neurodl_io::Affine;
use neurodl_volume::interp::{
    affine_transform, map_coordinates, spline_coefficients, zoom_shape, zoom_to_shape,
};
use neurodl_volume::{
    AffineParams, Boundary, ControlGrid, Geometry, Interpolation, Subject, intensity, spatial,
};
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = neurodl_io::testdata::repo_root()
        .join("tests/golden/volume_transforms")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("golden present")).expect("golden parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn shape3(v: &Value) -> [usize; 3] {
    let s: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    [s[0], s[1], s[2]]
}

fn array3(shape: [usize; 3], v: &Value) -> Array3<f32> {
    Array3::from_shape_vec(shape, floats(v).into_iter().map(|x| x as f32).collect()).unwrap()
}

fn labels3(shape: [usize; 3], v: &Value) -> Array3<u16> {
    Array3::from_shape_vec(shape, floats(v).into_iter().map(|x| x as u16).collect()).unwrap()
}

fn matrix4(v: &Value) -> [[f64; 4]; 4] {
    let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(floats).collect();
    let mut m = [[0.0; 4]; 4];
    for r in 0..rows.len() {
        for c in 0..4 {
            m[r][c] = rows[r][c];
        }
    }
    if rows.len() == 3 {
        m[3][3] = 1.0;
    }
    m
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (*g as f64 - w).abs();
        if d > worst.0 {
            worst = (d, i);
        }
    }
    assert!(
        worst.0 <= tol,
        "{what}: max |diff| {} at {} (got {}, want {}), tolerance {tol}",
        worst.0,
        worst.1,
        got[worst.1],
        want[worst.1]
    );
}

fn assert_affine(what: &str, got: &Affine, want: &[[f64; 4]; 4]) {
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (got.matrix[r][c] - want[r][c]).abs() < 1e-9,
                "{what}: [{r}][{c}] {} vs {}",
                got.matrix[r][c],
                want[r][c]
            );
        }
    }
}

fn boundary(mode: &str, cval: f64) -> Boundary {
    match mode {
        "constant" => Boundary::Constant(cval as f32),
        "mirror" => Boundary::Mirror,
        "nearest" => Boundary::Nearest,
        other => panic!("mode {other}"),
    }
}

fn order(o: u64) -> Interpolation {
    match o {
        0 => Interpolation::Nearest,
        1 => Interpolation::Linear,
        3 => Interpolation::Cubic,
        other => panic!("order {other}"),
    }
}

#[test]
fn scipy_interpolation_parity() {
    let g = golden("interp_scipy.json");
    let shape = shape3(&g["shape"]);
    let input = array3(shape, &g["input"]);
    let scale = input.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
    let tol = 2e-5 * scale;
    let coords: Vec<Vec<f64>> = g["coordinates"].as_array().unwrap().iter().map(floats).collect();
    let n = coords.len();
    let coord_array = Array4::from_shape_fn((3, n, 1, 1), |(a, i, _, _)| coords[i][a]);
    let mut checked = 0;
    for case in g["cases"].as_array().unwrap() {
        let kind = case["kind"].as_str().unwrap();
        let mode = case["mode"].as_str().unwrap_or("mirror");
        let what = format!("{kind} order {} mode {mode}", case["order"]);
        let want = floats(&case["output"]);
        let got: Vec<f32> = match kind {
            "affine_transform" => {
                let m = matrix4(&case["matrix"]);
                let out = affine_transform(
                    input.view(),
                    [m[0], m[1], m[2]],
                    shape3(&case["output_shape"]),
                    order(case["order"].as_u64().unwrap()),
                    boundary(mode, case["cval"].as_f64().unwrap()),
                )
                .unwrap();
                out.iter().copied().collect()
            }
            "map_coordinates" => map_coordinates(
                input.view(),
                coord_array.view(),
                order(case["order"].as_u64().unwrap()),
                boundary(mode, case["cval"].as_f64().unwrap()),
            )
            .unwrap()
            .iter()
            .copied()
            .collect(),
            "zoom" => {
                let z = floats(&case["zoom"]);
                let out_shape = zoom_shape(shape, [z[0], z[1], z[2]]).unwrap();
                assert_eq!(out_shape, shape3(&case["output_shape"]), "{what}: shape");
                zoom_to_shape(
                    input.view(),
                    out_shape,
                    order(case["order"].as_u64().unwrap()),
                    Boundary::Mirror,
                )
                .unwrap()
                .iter()
                .copied()
                .collect()
            }
            "spline_filter" => spline_coefficients(input.view()).iter().copied().collect(),
            "gaussian_filter" => {
                let s = floats(&case["sigma"]);
                let mut a = input.clone();
                intensity::gaussian_blur(a.view_mut(), [s[0], s[1], s[2]]).unwrap();
                a.iter().copied().collect()
            }
            other => panic!("unknown case {other}"),
        };
        // Nearest-neighbour picks a voxel: exact.
        let t = if case["order"].as_u64() == Some(0) {
            0.0
        } else {
            tol
        };
        assert_close(&what, &got, &want, t);
        checked += 1;
    }
    assert_eq!(checked, 18, "every golden case ran");
}

fn crop_subject(g: &Value) -> Subject {
    let shape = shape3(&g["shape"]);
    let image = array3(shape, &g["image"]).insert_axis(ndarray::Axis(0));
    let label = labels3(shape, &g["label"]);
    Subject::new(
        "hippocampus_001-crop",
        image,
        Some(label),
        Affine {
            matrix: matrix4(&g["affine"]),
        },
    )
    .unwrap()
}

#[test]
fn flip_and_reorient_match_torchio_and_nibabel() {
    let g = golden("spatial_torchio.json");
    let s = crop_subject(&g);
    let f = spatial::flip(&s, [true, false, true]);
    assert_close(
        "flip image",
        f.image().as_slice().unwrap(),
        &floats(&g["flip"]["image"]),
        0.0,
    );
    let want_l: Vec<u16> = floats(&g["flip"]["label"]).iter().map(|v| *v as u16).collect();
    assert_eq!(f.label().unwrap().as_slice().unwrap(), want_l.as_slice());
    assert_eq!(f.affine(), s.affine(), "TorchIO's Flip keeps the affine");

    for case in g["reorient"].as_array().unwrap() {
        let shape = shape3(&case["shape"]);
        let data = array3(shape, &case["data"]);
        let labels = data.mapv(|v| v as u16);
        let sub = Subject::new(
            "r",
            data.insert_axis(ndarray::Axis(0)),
            Some(labels),
            Affine {
                matrix: matrix4(&case["affine"]),
            },
        )
        .unwrap();
        let (can, record) = spatial::reorient_to_canonical(&sub);
        assert_eq!(can.spatial_shape(), shape3(&case["out_shape"]));
        assert_affine("canonical affine", can.affine(), &matrix4(&case["out_affine"]));
        assert_eq!(can.affine().axis_codes(), "RAS");
        assert_close(
            "canonical data",
            can.image().as_slice().unwrap(),
            &floats(&case["out_data"]),
            0.0,
        );
        // And back.
        assert_eq!(record.undo_image(can.image().view()).unwrap(), *sub.image());
        assert_eq!(
            record.undo_labels(can.label().unwrap().view()).unwrap(),
            *sub.label().unwrap()
        );
    }
}

#[test]
fn resample_matches_torchio() {
    let g = golden("spatial_torchio.json");
    let s = crop_subject(&g);
    let r = &g["resample"];
    let sp = floats(&r["spacing"]);
    let out = spatial::resample_to_spacing(&s, [sp[0], sp[1], sp[2]], Interpolation::Linear).unwrap();
    assert_eq!(out.spatial_shape(), shape3(&r["out_shape"]));
    assert_affine("resampled affine", out.affine(), &matrix4(&r["out_affine"]));
    let scale = s.image().iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
    // SimpleITK's linear interpolator: same trilinear weights, f64 arithmetic.
    assert_close(
        "resampled image",
        out.image().as_slice().unwrap(),
        &floats(&r["image"]),
        2e-5 * scale,
    );
    let want_l: Vec<u16> = floats(&r["label"]).iter().map(|v| *v as u16).collect();
    let got_l = out.label().unwrap().as_slice().unwrap();
    let bad: Vec<usize> = (0..want_l.len()).filter(|i| got_l[*i] != want_l[*i]).collect();
    assert!(
        bad.is_empty(),
        "resampled label: {} of {} differ, first at {:?}",
        bad.len(),
        want_l.len(),
        bad.first()
    );
}

#[test]
fn fixed_affine_matches_torchio() {
    let g = golden("spatial_torchio.json");
    let s = crop_subject(&g);
    let scale = s.image().iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
    for case in g["affine_fixed"].as_array().unwrap() {
        let f3 = |k: &str| {
            let v = floats(&case[k]);
            [v[0], v[1], v[2]]
        };
        let params = AffineParams {
            scales: f3("scales"),
            degrees: f3("degrees"),
            translation: f3("translation"),
        };
        let centre = neurodl_volume::augment::grid_centre(&s.geometry());
        let m = params.output_to_input(centre).unwrap();
        assert_affine(
            "output→input world matrix",
            &Affine { matrix: m },
            &matrix4(&case["output_to_input_ras"]),
        );
        let pad = case["default_pad_value"].as_f64().unwrap() as f32;
        // SimpleITK's resampler = Boundary::HalfVoxel.
        let lin = neurodl_volume::spatial_transform(
            &s,
            &s.geometry(),
            Some(&params),
            None,
            Interpolation::Linear,
            Boundary::HalfVoxel(pad),
        )
        .unwrap();
        assert_close(
            "affine linear",
            lin.image().as_slice().unwrap(),
            &floats(&case["linear"]),
            2e-5 * scale,
        );
        let want_l: Vec<u16> = floats(&case["label_nearest"]).iter().map(|v| *v as u16).collect();
        assert_eq!(
            lin.label().unwrap().as_slice().unwrap(),
            want_l.as_slice(),
            "affine label (nearest)"
        );
        let near = neurodl_volume::spatial_transform(
            &s,
            &s.geometry(),
            Some(&params),
            None,
            Interpolation::Nearest,
            Boundary::HalfVoxel(pad),
        )
        .unwrap();
        assert_close(
            "affine nearest",
            near.image().as_slice().unwrap(),
            &floats(&case["nearest"]),
            0.0,
        );
    }
}

#[test]
fn fixed_elastic_matches_torchio() {
    let g = golden("spatial_torchio.json");
    let s = crop_subject(&g);
    let e = &g["elastic_fixed"];
    let n = shape3(&e["num_control_points"]);
    let cp = floats(&e["control_points_ras"]);
    let mut displacements =
        Array4::from_shape_vec((n[0], n[1], n[2], 3), cp.iter().map(|v| *v as f32).collect()).unwrap();
    // SimpleITK's BSplineTransformInitializer runs a grid axis backwards when the image
    // axis's direction (LPS) has a negative dominant component (observed: it starts the
    // grid at the corner with the smallest coordinates). neurodl's ControlGrid index always
    // grows with the voxel index, so reverse those axes of TorchIO's control points.
    let m = s.affine().matrix;
    for a in 0..3 {
        let lps = [-m[0][a], -m[1][a], m[2][a]];
        let dominant = lps
            .iter()
            .copied()
            .fold(0.0f64, |acc, v| if v.abs() > acc.abs() { v } else { acc });
        if dominant < 0.0 {
            displacements.invert_axis(ndarray::Axis(a));
        }
    }
    let grid = ControlGrid {
        displacements: displacements.as_standard_layout().into_owned(),
    };
    let pad = e["pad"].as_f64().unwrap() as f32;
    let out = neurodl_volume::spatial_transform(
        &s,
        &s.geometry(),
        None,
        Some(&grid),
        Interpolation::Linear,
        Boundary::HalfVoxel(pad),
    )
    .unwrap();
    let scale = s.image().iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
    // The displacement is summed in f32 (SimpleITK: f64); a 1e-6-voxel coordinate shift moves
    // a linear sample by ≤ 1e-6 · (largest neighbour difference) — inside 2e-5 · scale.
    assert_close(
        "elastic linear",
        out.image().as_slice().unwrap(),
        &floats(&e["linear"]),
        2e-5 * scale,
    );
    let want_l: Vec<u16> = floats(&e["label_nearest"]).iter().map(|v| *v as u16).collect();
    assert_eq!(
        out.label().unwrap().as_slice().unwrap(),
        want_l.as_slice(),
        "elastic label (nearest)"
    );
}

#[test]
fn bias_field_matches_torchio() {
    let g = golden("spatial_torchio.json");
    let s = crop_subject(&g);
    let b = &g["bias_field"];
    let mut img = s.image().index_axis(ndarray::Axis(0), 0).to_owned();
    intensity::bias_field(
        img.view_mut(),
        &floats(&b["coefficients"]),
        b["order"].as_u64().unwrap() as usize,
    )
    .unwrap();
    let scale = floats(&b["image"]).iter().fold(0f64, |a, v| a.max(v.abs()));
    // exp of a 20-term polynomial in f64, one f32 rounding of the product.
    assert_close(
        "bias field",
        img.as_slice().unwrap(),
        &floats(&b["image"]),
        1e-6 * scale,
    );
}

#[test]
fn normalisation_matches_nnunet_formulas() {
    let g = golden("intensity_numpy.json");
    let shape = shape3(&g["shape"]);
    let mut x = array3(shape, &g["zeroed_input"]).insert_axis(ndarray::Axis(0));
    intensity::zscore(x.view_mut(), intensity::ZScoreRegion::NonZero).unwrap();
    // z-scores are O(1); f64 statistics, one f32 rounding.
    assert_close(
        "z-score (non-zero)",
        x.as_slice().unwrap(),
        &floats(&g["zscore_nonzero"]),
        1e-6,
    );
    let img = array3(shape, &g["image"]);
    let lab = labels3(shape, &g["label"]);
    let stats =
        intensity::CtStats::from_values(&intensity::foreground_values(img.view(), lab.view()).unwrap())
            .unwrap();
    let want = &g["ct_stats"];
    for (k, v) in [
        ("mean", stats.mean),
        ("std", stats.std),
        ("lower", stats.lower),
        ("upper", stats.upper),
    ] {
        assert!(
            (v - want[k].as_f64().unwrap()).abs() < 1e-9 * want[k].as_f64().unwrap().abs().max(1.0),
            "{k}: {v} vs {}",
            want[k]
        );
    }
    let mut ct = img.clone();
    intensity::ct_normalize(ct.view_mut(), &stats);
    assert_close(
        "CT normalisation",
        ct.as_slice().unwrap(),
        &floats(&g["ct"]),
        1e-5,
    );
    let _ = Geometry {
        shape,
        affine: Affine::identity(),
    };
}

/// Decodes `[value, run, value, run, ...]` (C order) into `n` values.
fn unrle(v: &Value, n: usize) -> Vec<u64> {
    let flat: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let out = neurodl_io::testdata::run_length_decode(&flat);
    assert_eq!(out.len(), n, "run-length code covers the shape");
    out
}

fn connectivity(name: &str) -> neurodl_volume::Connectivity {
    match name {
        "faces" => neurodl_volume::Connectivity::Faces,
        "full" => neurodl_volume::Connectivity::Full,
        other => panic!("unknown connectivity {other}"),
    }
}

/// Connected components: label maps identical to `scipy.ndimage.label` (numbering
/// included) for face and full connectivity, and nnU-Net's keep-largest-component rule on a
/// real hippocampus label map with spurious islands, voxel for voxel.
#[test]
fn connected_components_match_scipy_label_and_keep_largest_matches_nnunet() {
    let g = golden("components.json");
    for case in g["label_cases"].as_array().unwrap() {
        let shape = shape3(&case["shape"]);
        let n: usize = shape.iter().product();
        let mask = Array3::from_shape_vec(
            shape,
            unrle(&case["mask_rle"], n).into_iter().map(|v| v != 0).collect(),
        )
        .unwrap();
        for conn in ["faces", "full"] {
            let got = neurodl_volume::label_components(mask.view(), connectivity(conn)).unwrap();
            let want = unrle(&case[conn]["labels_rle"], n);
            assert_eq!(
                got.sizes.len() as u64,
                case[conn]["n"].as_u64().unwrap(),
                "{shape:?} {conn}: count"
            );
            let got_flat: Vec<u64> = got.labels.iter().map(|&l| l as u64).collect();
            assert_eq!(got_flat, want, "{shape:?} {conn}: label maps differ");
        }
    }
    for case in g["largest_cases"].as_array().unwrap() {
        let shape = shape3(&case["shape"]);
        let n: usize = shape.iter().product();
        let noisy = Array3::from_shape_vec(
            shape,
            unrle(&case["labels_rle"], n)
                .into_iter()
                .map(|v| v as u16)
                .collect(),
        )
        .unwrap();
        for e in case["expected"].as_array().unwrap() {
            let classes: Vec<u16> = e["classes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap() as u16)
                .collect();
            let conn = e["connectivity"].as_str().unwrap();
            let mut got = noisy.clone();
            let removed =
                neurodl_volume::keep_largest_component(&mut got, &classes, connectivity(conn)).unwrap();
            let want = unrle(&e["labels_rle"], n);
            let got_flat: Vec<u64> = got.iter().map(|&l| l as u64).collect();
            assert_eq!(got_flat, want, "keep largest of {classes:?} ({conn})");
            assert!(removed > 0, "the islands of {classes:?} are removed ({conn})");
        }
    }
}
