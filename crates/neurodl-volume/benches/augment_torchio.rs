//! Benchmark: random affine + elastic deformation of a 1 mm brain, neurodl (fused, one
//! interpolation) vs TorchIO 0.20.17 (`RandomAffine` then `RandomElasticDeformation`,
//! SimpleITK resampling twice), same case, same thread count, in the same run.
//!
//! `NEURODL_PYTHON=/work/venv-torch/bin/python cargo bench -p neurodl-volume [-- --runs N]`
//!
//! Case: `mri/single_subject/bet.nii.gz` (142 × 178 × 142, 1 mm, oblique affine) with a
//! label map `image > 0`. Both sides use TorchIO's default parameters (scales 0.9–1.1,
//! ±10°, 7 control points, 7.5 mm, 2 locked borders, image linear, label nearest), run
//! once to warm up, then N times (default 5); reported: median wall time per augmented
//! case and peak resident memory of each process. The Python half is
//! `benches/python/augment_torchio.py`.
//!
//! The volume is read by a minimal NIfTI-1 reader below (single-file `.nii.gz`, sform,
//! integer or float voxels): neurodl-io's `open_volume` is being written in parallel and
//! replaces it once merged.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array3, Array4};
use neurodl_io::Affine;
use neurodl_io::testdata::{median, peak_rss_mib, run_reference_script, shared_data_dir};
use neurodl_volume::{Pipeline, SeededRng, Subject, Transform};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads a single-file gzipped NIfTI-1 scalar volume (sform affine) as `f32`, C order.
fn read_nifti_gz(path: &Path) -> Result<(Array3<f32>, Affine), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 352 || i32::from_le_bytes(bytes[0..4].try_into().unwrap()) != 348 {
        return Err("not a little-endian NIfTI-1 file".into());
    }
    let i16_at = |o: usize| i16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let dims: Vec<usize> = (0..4).map(|i| i16_at(40 + 2 * i) as usize).collect();
    let (nx, ny, nz) = (dims[1], dims[2], dims[3]);
    if i16_at(254) <= 0 {
        return Err("no sform".into());
    }
    let mut rows = [[0.0; 4]; 3];
    for (r, row) in rows.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = f32_at(280 + 16 * r + 4 * c) as f64;
        }
    }
    let offset = (f32_at(108) as usize).max(352);
    let n = nx * ny * nz;
    let raw = &bytes[offset..];
    let values: Vec<f32> = match i16_at(70) {
        2 => raw[..n].iter().map(|v| *v as f32).collect(),
        4 => raw[..2 * n]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32)
            .collect(),
        16 => raw[..4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        other => return Err(format!("datatype {other} not handled by the benchmark's reader")),
    };
    // NIfTI stores x fastest (Fortran order).
    let data = Array3::from_shape_vec((nz, ny, nx), values)
        .map_err(|e| e.to_string())?
        .reversed_axes()
        .as_standard_layout()
        .into_owned();
    Ok((data, Affine::from_rows(rows)))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let Some(data) = shared_data_dir() else {
        return;
    };
    let path = data.join("mri/single_subject/bet.nii.gz");
    let (image, affine) = match read_nifti_gz(&path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipped: cannot read {}: {e}", path.display());
            return;
        }
    };
    let label = image.mapv(|v| u16::from(v > 0.0));
    let shape = image.dim();
    let subject =
        Subject::new("bet", image.insert_axis(ndarray::Axis(0)), Some(label), affine).expect("valid case");
    let augment: Pipeline =
        toml::from_str("[[transform]]\nop = \"random_affine_elastic\"\n").expect("pipeline");
    assert!(matches!(
        augment.transforms[0],
        Transform::RandomAffineElastic { .. }
    ));
    let threads = rayon::current_num_threads();
    let mut out = augment.apply(&subject, &mut SeededRng::new(0)).expect("warm-up");
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let t = Instant::now();
        out = augment
            .apply(&subject, &mut SeededRng::new(run as u64 + 1))
            .expect("augment");
        times.push(t.elapsed().as_secs_f64());
    }
    let _: &Array4<f32> = out.image();
    let rust = median(times.clone());
    let rss = peak_rss_mib().unwrap_or(f64::NAN);
    println!(
        "neurodl fused affine + elastic ({threads} threads, {shape:?}, image linear + label nearest): median {rust:.3} s over {runs} runs {times:.3?}, peak RSS {rss:.0} MiB"
    );
    let reference = run_reference_script(
        "benches/python/augment_torchio.py",
        &[
            "--volume".as_ref(),
            path.as_os_str(),
            "--threads".as_ref(),
            threads.to_string().as_ref(),
            "--runs".as_ref(),
            runs.to_string().as_ref(),
        ],
        "TorchIO (set NEURODL_PYTHON to a venv with torchio 0.20.17)",
    );
    let Some(reference) = reference else {
        return;
    };
    let py = reference["seconds_median"].as_f64().unwrap_or(f64::NAN);
    let py_rss = reference["peak_rss_mib"].as_f64().unwrap_or(f64::NAN);
    println!(
        "TorchIO RandomAffine + RandomElasticDeformation ({threads} threads): median {py:.3} s over {runs} runs (+{:.2} s imports), peak RSS {py_rss:.0} MiB",
        reference["seconds_import"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "speed-up TorchIO / neurodl: {:.1}x; peak memory neurodl / TorchIO: {:.2}x",
        py / rust,
        rss / py_rss
    );
}
