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
//! The volume is read with `neurodl_io::open_volume`; reading is not timed.

use std::time::Instant;

use ndarray::Array4;
use neurodl_io::testdata::{median, peak_rss_mib, run_reference_script, shared_data_dir};
use neurodl_volume::{Pipeline, SeededRng, Subject, Transform};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let volume = match neurodl_io::open_volume(&path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipped: cannot read {}: {e}", path.display());
            return;
        }
    };
    let image = volume.to_f32();
    let label = image.index_axis(ndarray::Axis(0), 0).mapv(|v| u16::from(v > 0.0));
    let shape = label.dim();
    let subject = Subject::new("bet", image, Some(label), volume.affine).expect("valid case");
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
