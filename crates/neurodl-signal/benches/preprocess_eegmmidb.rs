//! Preprocessing benchmark: neurodl vs MNE-Python + braindecode on the
//! PhysioNet eegmmidb runs.
//!
//! `cargo bench -p neurodl-signal --bench preprocess_eegmmidb` runs, for every
//! `S*.edf` in `shared/data/eeg/eegmmidb`: read → band-pass 4–38 Hz (MNE-default
//! FIR) → resample to 100 Hz (MNE's FFT method) → ×1e6 and exponential moving
//! standardisation (braindecode, `factor_new = 1e-3`, `init_block_size = 1000`)
//! → events T1/T2 → windows (trial start −0.5 s, 2 s windows, 1 s stride).
//! Every file's result is kept until the pass ends (a preloaded dataset).
//! Then it runs `benches/python/preprocess_eegmmidb_mne.py`, the same work in
//! MNE + braindecode, in the same run and prints time and peak-memory ratios.
//! It does so in three rounds (neurodl's passes, then the reference's), takes
//! each round's ratio, and reports their median: on a shared machine a slow
//! minute then hits both sides of one round or one round only.
//!
//! Python: `$NEURODL_PYTHON`, else `.venv-ref/bin/python` at the repository
//! root, else `python3`. neurodl reads and preprocesses each file with
//! [`Pipeline::read_and_apply`], under the `mimalloc` allocator the `neurodl`
//! binary ships with and without transparent huge pages, as `neurodl preprocess`
//! runs (see `neurodl_signal::memory`), and is timed single-threaded (the same work as the Python
//! side) and with recordings processed in parallel (rayon). Its peak RSS is that
//! of a child process making one single-threaded pass (see `one_pass_peak_rss`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use neurodl_io::testdata::{median, peak_rss_mib, run_reference_script, shared_data_dir};
use neurodl_io::{Recording, open_recording};
use neurodl_signal::events::{
    EventMapping, EventWindowParams, WindowRef, create_windows_from_events, events_from_annotations,
};
use neurodl_signal::pipeline::Pipeline;
use rayon::prelude::*;

// The allocator the `neurodl` binary ships with, so the bench times what its users run;
// `--features bench-system-allocator` times the system allocator instead (what a library
// user gets by default: less resident memory, slower, see the crate README).
#[cfg(not(feature = "bench-system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REPEATS: usize = 5;
/// Rounds of (neurodl, reference) timings; ratios are taken within a round.
const ROUNDS: usize = 3;

const PIPELINE: &str = r#"
[[step]]
op = "filter"
l_freq = 4.0
h_freq = 38.0

[[step]]
op = "resample"
sfreq = 100.0

[[step]]
op = "scale"
factor = 1e6

[[step]]
op = "exponential_moving_standardize"
factor_new = 1e-3
init_block_size = 1000
"#;

fn preprocess(path: &Path, index: u32, pipeline: &Pipeline) -> (Recording, Vec<WindowRef>) {
    let mut reader = open_recording(path).expect("open");
    let rec = pipeline.read_and_apply(reader.as_mut()).expect("preprocess");
    let mapping = EventMapping::new([("T1", "left"), ("T2", "right")]);
    let events = events_from_annotations(&rec.info, &mapping).expect("events");
    let params = EventWindowParams {
        trial_start_offset_samples: -50,
        trial_stop_offset_samples: 0,
        window_size_samples: Some(200),
        window_stride_samples: Some(100),
        drop_last_window: false,
    };
    let windows = create_windows_from_events(&events, rec.info.n_samples, index, &params).expect("windows");
    (rec, windows)
}

fn time_passes(files: &[PathBuf], pipeline: &Pipeline, parallel: bool, repeats: usize) -> (f64, usize) {
    let mut seconds = Vec::new();
    let mut n_windows = 0;
    for _ in 0..repeats {
        let start = Instant::now();
        let results: Vec<(Recording, Vec<WindowRef>)> = if parallel {
            files
                .par_iter()
                .enumerate()
                .map(|(i, f)| preprocess(f, i as u32, pipeline))
                .collect()
        } else {
            files
                .iter()
                .enumerate()
                .map(|(i, f)| preprocess(f, i as u32, pipeline))
                .collect()
        };
        seconds.push(start.elapsed().as_secs_f64());
        n_windows = results.iter().map(|(_, w)| w.len()).sum();
        drop(std::hint::black_box(results));
    }
    (median(seconds), n_windows)
}

const ONE_PASS_FLAG: &str = "--one-pass-peak-rss";

/// Peak RSS of a fresh process that preprocesses the dataset once, as a user's
/// run would: what the Python side's peak measures too (NumPy returns each
/// pass's arrays to the system, so its peak after several passes is its peak
/// after one), whereas this process's allocator keeps freed pages for reuse
/// across the timed passes.
fn one_pass_peak_rss() -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe).arg(ONE_PASS_FLAG).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn main() {
    // As `neurodl preprocess` does (see `neurodl_signal::memory`).
    neurodl_signal::memory::disable_transparent_huge_pages();
    let Some(data) = shared_data_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("eeg/eegmmidb"))
        .expect("eegmmidb folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "edf"))
        .collect();
    files.sort();
    let pipeline = Pipeline::from_toml_str(PIPELINE, "<bench>").expect("pipeline");
    // Warm the page cache so both tools read from memory, not disk.
    for f in &files {
        std::hint::black_box(std::fs::read(f).unwrap());
    }
    if std::env::args().any(|a| a == ONE_PASS_FLAG) {
        // The child of `one_pass_peak_rss`: one single-threaded pass, then its peak RSS.
        time_passes(&files, &pipeline, false, 1);
        println!("{}", peak_rss_mib().unwrap_or(f64::NAN));
        return;
    }
    let rss = one_pass_peak_rss();
    let threads = rayon::current_num_threads();
    let mut rounds: Vec<Round> = Vec::new();
    let mut n_windows = 0;
    let mut reference_versions = None;
    for round in 1..=ROUNDS {
        let (ours_1, n) = time_passes(&files, &pipeline, false, REPEATS);
        let (ours_n, _) = time_passes(&files, &pipeline, true, REPEATS);
        n_windows = n;
        let reference = run_reference_script(
            "benches/python/preprocess_eegmmidb_mne.py",
            &[
                "--data".as_ref(),
                data.as_os_str(),
                "--repeats".as_ref(),
                REPEATS.to_string().as_ref(),
            ],
            "MNE + braindecode",
        );
        let reference_s = reference
            .as_ref()
            .and_then(|r| r["seconds_per_pass_median"].as_f64());
        if let Some(r) = &reference {
            if r["n_windows"].as_u64() != Some(n_windows as u64) {
                println!(
                    "WARNING: window counts differ (neurodl {n_windows}, reference {})",
                    r["n_windows"]
                );
            }
            reference_versions.get_or_insert_with(|| {
                (
                    r["mne"].as_str().unwrap_or("?").to_string(),
                    r["braindecode"].as_str().unwrap_or("?").to_string(),
                    r["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
                )
            });
        }
        println!(
            "round {round}/{ROUNDS}: neurodl {:7.2} ms (1 thread), {:7.2} ms ({threads} threads); reference {}",
            ours_1 * 1e3,
            ours_n * 1e3,
            reference_s.map_or("not run".to_string(), |r| format!(
                "{:7.2} ms: {:.1}x, {:.1}x",
                r * 1e3,
                r / ours_1,
                r / ours_n
            ))
        );
        rounds.push(Round {
            ours_1,
            ours_n,
            reference: reference_s,
        });
        if reference_s.is_none() {
            break;
        }
    }
    let rss_after_passes = peak_rss_mib();
    let ours_1 = median(rounds.iter().map(|r| r.ours_1).collect());
    let ours_n = median(rounds.iter().map(|r| r.ours_n).collect());
    println!(
        "neurodl-signal: {} files, {n_windows} windows per pass; medians of {REPEATS} passes per round, {} rounds",
        files.len(),
        rounds.len()
    );
    println!(
        "  1 thread : {:8.2} ms per pass (median over rounds)",
        ours_1 * 1e3
    );
    println!(
        "  {threads} threads: {:8.2} ms per pass (median over rounds)",
        ours_n * 1e3
    );
    println!(
        "  peak RSS : {:8.1} MiB (a process making one single-threaded pass; this process after all rounds: {:.1} MiB)",
        rss.unwrap_or(f64::NAN),
        rss_after_passes.unwrap_or(f64::NAN)
    );
    let Some((mne, braindecode, ref_rss)) = reference_versions else {
        println!(
            "(no comparison: install tests/reference/requirements.txt and requirements-nodeps.txt into .venv-ref)"
        );
        return;
    };
    let ref_s = median(rounds.iter().filter_map(|r| r.reference).collect());
    // Each round's ratio compares the two sides measured minutes apart; the median
    // over rounds resists a slow spell of the machine that hits one side only.
    let speedup_1 = median(
        rounds
            .iter()
            .filter_map(|r| r.reference.map(|t| t / r.ours_1))
            .collect(),
    );
    let speedup_n = median(
        rounds
            .iter()
            .filter_map(|r| r.reference.map(|t| t / r.ours_n))
            .collect(),
    );
    println!(
        "MNE {mne} + braindecode {braindecode}: {:8.2} ms per pass (median over rounds), peak RSS {ref_rss:.1} MiB (interpreter + modules + data)",
        ref_s * 1e3,
    );
    let rss_ratio = rss.map(|r| r / ref_rss);
    println!(
        "speed-up (median of the rounds' ratios): {speedup_1:.1}x single-threaded, {speedup_n:.1}x with {threads} threads; peak memory ratio {:.2}",
        rss_ratio.unwrap_or(f64::NAN)
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "preprocess_eegmmidb",
            "files": files.len(),
            "windows": n_windows,
            "rounds": rounds.iter().map(|r| serde_json::json!({
                "neurodl_ms_1_thread": r.ours_1 * 1e3,
                "neurodl_ms_all_threads": r.ours_n * 1e3,
                "reference_ms": r.reference.map(|t| t * 1e3),
            })).collect::<Vec<_>>(),
            "neurodl_ms_1_thread": ours_1 * 1e3,
            "neurodl_ms_all_threads": ours_n * 1e3,
            "threads": threads,
            "neurodl_peak_rss_mib": rss,
            "neurodl_peak_rss_mib_after_passes": rss_after_passes,
            "reference_ms": ref_s * 1e3,
            "reference_peak_rss_mib": ref_rss,
            "speedup_1_thread": speedup_1,
            "speedup_all_threads": speedup_n,
            "peak_rss_ratio": rss_ratio,
        })
    );
}

/// One round: both sides timed back to back.
struct Round {
    ours_1: f64,
    ours_n: f64,
    reference: Option<f64>,
}
