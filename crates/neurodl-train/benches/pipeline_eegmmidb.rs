//! End-to-end benchmark: the whole decoding pipeline on PhysioNet eegmmidb S001 runs 4 and 8
//! (imagined left vs right fist), neurodl vs MNE + braindecode (PyTorch CPU) in the same run.
//!
//! `cargo bench -p neurodl-train --bench pipeline_eegmmidb [-- --epochs N]` does, on both sides:
//! read both EDF+ runs → pick EEG (64 channels) → ×1e6 (V → µV) → band-pass 4–38 Hz (MNE's
//! default FIR) → exponential moving standardisation (factor 1e-3, init block 1000) → one
//! 640-sample (4 s) window per T1/T2 trial → stratified 5-fold cross-validation of
//! ShallowFBCSPNet (braindecode defaults; AdamW lr 6.25e-4, no weight decay, batch 16, cosine
//! annealing, N epochs, default 30) → test accuracy per fold. The Python half is
//! `benches/python/pipeline_eegmmidb_braindecode.py`; it runs after the Rust half in the same
//! process window, with the same thread count. Reported: wall time (ratio < 1: neurodl faster)
//! and peak resident memory of each process.
//!
//! neurodl's time includes writing its whole run record (metrics, plots, weights, report),
//! which the Python script does not do.

use std::time::Instant;

use neurodl_io::testdata::{peak_rss_mib, run_reference_script, shared_data_dir};
use neurodl_train::{Experiment, RunOptions, run_experiment};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args
        .iter()
        .position(|a| a == "--epochs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let Some(data) = shared_data_dir() else {
        return;
    };
    let eeg = data.join("eeg/eegmmidb");
    let text = format!(
        r#"
name = "bench-eegmmidb-left-right"
seed = 42
[dataset]
files = ["{r4}", "{r8}"]
[events]
T1 = "left_fist"
T2 = "right_fist"
[[preprocessing.step]]
op = "pick_types"
types = ["eeg"]
[[preprocessing.step]]
op = "scale"
factor = 1e6
[[preprocessing.step]]
op = "filter"
l_freq = 4.0
h_freq = 38.0
[[preprocessing.step]]
op = "exponential_moving_standardize"
factor_new = 1e-3
init_block_size = 1000
[windows]
window_size_s = 4.0
drop_last_window = true
[[decoder]]
model = "ShallowFBCSPNet"
[training]
epochs = {epochs}
batch_size = 16
lr = 0.000625
weight_decay = 0.0
schedule = "cosine"
[evaluation]
protocol = {{ kind = "within-session", n_folds = 5 }}
trial_level = true
"#,
        r4 = eeg.join("S001R04.edf").display(),
        r8 = eeg.join("S001R08.edf").display(),
    );
    let exp = Experiment::from_toml_str(&text, "<bench>").expect("benchmark experiment parses");
    let out = tempfile::tempdir().expect("temp dir");
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let summary = run_experiment(
        &exp,
        &RunOptions {
            out_dir: out.path().join("run"),
            resume: false,
            interrupt_after_epochs: None,
            progress: &|_| {},
        },
    )
    .expect("benchmark run");
    let seconds = t.elapsed().as_secs_f64();
    let accs: Vec<f64> = summary.folds.iter().map(|f| f.scores.accuracy).collect();
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    let rss = peak_rss_mib().unwrap_or(f64::NAN);
    println!(
        "neurodl ({threads} threads, {epochs} epochs): {seconds:.2} s, peak RSS {rss:.0} MiB, fold accuracies {accs:.3?} (mean {mean:.3})"
    );

    let reference = run_reference_script(
        "benches/python/pipeline_eegmmidb_braindecode.py",
        &[
            "--threads".as_ref(),
            threads.to_string().as_ref(),
            "--epochs".as_ref(),
            epochs.to_string().as_ref(),
            "--data-dir".as_ref(),
            eeg.as_os_str(),
        ],
        "braindecode",
    );
    let Some(reference) = reference else {
        return;
    };
    let py_seconds = reference["seconds_total"].as_f64().unwrap_or(f64::NAN);
    let py_rss = reference["peak_rss_mib"].as_f64().unwrap_or(f64::NAN);
    let py_mean = reference["mean_accuracy"].as_f64().unwrap_or(f64::NAN);
    println!(
        "MNE + braindecode ({threads} threads, {epochs} epochs): {py_seconds:.2} s (+{:.2} s imports), peak RSS {py_rss:.0} MiB, mean accuracy {py_mean:.3}",
        reference["seconds_import"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "ratio neurodl / Python: time {:.2}x, peak memory {:.2}x",
        seconds / py_seconds,
        rss / py_rss
    );
}
