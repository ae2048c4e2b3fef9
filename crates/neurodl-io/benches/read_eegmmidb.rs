//! Read-speed benchmark: neurodl vs MNE-Python on the PhysioNet eegmmidb EDF+ runs.
//!
//! `cargo bench -p neurodl-io --bench read_eegmmidb` reads every `S*.edf` in
//! `shared/data/eeg/eegmmidb` fully into memory (`read_all`, like MNE's
//! `preload=True`), one file after another and dropping each, for `REPEATS`
//! passes; then runs `benches/python/read_eegmmidb_mne.py` (MNE's
//! `read_raw_edf(preload=True)` on the same files, same protocol) in the same run
//! and prints both, with the speed ratio and each process's peak memory.
//!
//! Python: `$NEURODL_PYTHON`, else `.venv-ref/bin/python` at the repository root,
//! else `python3`; without MNE the Rust numbers are printed alone.
//! neurodl is measured single-threaded (the same work as MNE) and with one file
//! per core (`std::thread::scope`), since reading independent files in parallel
//! is what a data pipeline does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use neurodl_io::open_recording;
use neurodl_io::testdata::{median, peak_rss_mib, run_reference_script, shared_data_dir};

// The allocator the `neurodl` binary ships with. With glibc's malloc, whether each
// file's 10 MB output reuses freed memory or is page-faulted afresh varied from run to
// run (8.7 vs 14 ms per pass), which is a property of the allocator, not the reader.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REPEATS: usize = 7;

fn read_file(path: &Path) -> usize {
    let mut reader = open_recording(path).expect("open");
    let rec = reader.read_all().expect("read");
    rec.data.len()
}

fn time_passes(files: &[PathBuf], threads: usize) -> (Vec<f64>, usize) {
    let mut seconds = Vec::new();
    let mut samples = 0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        samples = if threads == 1 {
            files.iter().map(|f| read_file(f)).sum()
        } else {
            std::thread::scope(|s| {
                let chunks: Vec<&[PathBuf]> = files.chunks(files.len().div_ceil(threads)).collect();
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|chunk| s.spawn(move || chunk.iter().map(|f| read_file(f)).sum::<usize>()))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            })
        };
        seconds.push(start.elapsed().as_secs_f64());
    }
    (seconds, samples)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let Some(data) = shared_data_dir() else { return };
    let folder = data.join("eeg/eegmmidb");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("eegmmidb folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "edf"))
        .collect();
    files.sort();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Warm the page cache so both tools read from memory, not disk.
    for f in &files {
        std::hint::black_box(std::fs::read(f).unwrap());
    }
    let (single, samples) = time_passes(&files, 1);
    let (parallel, _) = time_passes(&files, threads);
    let rss = peak_rss_mib();
    let ours_1 = median(single);
    let ours_n = median(parallel);
    println!(
        "neurodl-io: {} files, {} channel samples per pass, {REPEATS} passes",
        files.len(),
        samples
    );
    println!("  1 thread : {:8.2} ms per pass (median)", ours_1 * 1e3);
    println!("  {threads} threads: {:8.2} ms per pass (median)", ours_n * 1e3);
    println!(
        "  peak RSS : {:8.1} MiB (whole bench process)",
        rss.unwrap_or(f64::NAN)
    );

    let mne = run_reference_script(
        "benches/python/read_eegmmidb_mne.py",
        &[
            "--data".as_ref(),
            data.as_os_str(),
            "--repeats".as_ref(),
            REPEATS.to_string().as_ref(),
        ],
        "MNE",
    );
    let Some(mne) = mne else {
        println!("(no MNE comparison: install tests/reference/requirements.txt into .venv-ref)");
        return;
    };
    let mne_s = mne["seconds_per_pass_median"].as_f64().unwrap();
    println!(
        "MNE {} : {:8.2} ms per pass (median), peak RSS {:.1} MiB (interpreter + mne + data)",
        mne["version"].as_str().unwrap_or("?"),
        mne_s * 1e3,
        mne["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "speed-up over MNE: {:.1}x single-threaded, {:.1}x with {threads} threads",
        mne_s / ours_1,
        mne_s / ours_n
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "read_eegmmidb",
            "files": files.len(),
            "channel_samples_per_pass": samples,
            "neurodl_ms_1_thread": ours_1 * 1e3,
            "neurodl_ms_all_threads": ours_n * 1e3,
            "threads": threads,
            "neurodl_peak_rss_mib": rss,
            "mne_ms": mne_s * 1e3,
            "mne_peak_rss_mib": mne["peak_rss_mb"],
            "speedup_1_thread": mne_s / ours_1,
            "speedup_all_threads": mne_s / ours_n,
        })
    );
}
