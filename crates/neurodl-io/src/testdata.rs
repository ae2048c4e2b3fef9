//! Where tests, examples and benchmarks find the project's real data.
//!
//! Real recordings live outside the repository, in `../shared/data/` beside the
//! checkout (override with `NEURODL_SHARED_DATA`). Tests that need them call
//! [`shared_data_dir`] and skip, printing why, when it returns `None`.

use std::path::PathBuf;

/// The `shared/data` folder: `$NEURODL_SHARED_DATA`, else `<repo root>/../shared/data`.
/// Returns `None` (and prints the reason to stderr, as a skipped test should) when absent.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NEURODL_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => repo_root().join("../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: real data folder {} is absent (set NEURODL_SHARED_DATA to its location)",
            dir.display()
        );
        None
    }
}

/// The repository root (two levels above this crate's manifest).
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The Python interpreter benchmarks run the reference tools with: `$NEURODL_PYTHON`,
/// else `.venv-ref/bin/python` at the repository root, else `python3`.
pub fn reference_python() -> PathBuf {
    if let Some(p) = std::env::var_os("NEURODL_PYTHON") {
        return p.into();
    }
    let venv = repo_root().join(".venv-ref/bin/python");
    if venv.exists() { venv } else { "python3".into() }
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The median of timings (upper median for an even count). Panics on an empty list.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Decodes the run-length code the golden generators write for label maps:
/// `[value, run, value, run, ...]` over the C-order flattening.
pub fn run_length_decode(code: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for pair in code.chunks(2) {
        out.extend(std::iter::repeat_n(
            pair[0],
            pair.get(1).copied().unwrap_or(0) as usize,
        ));
    }
    out
}

/// Runs the Python half of a benchmark (`script`, relative to the repository root) with
/// [`reference_python`] and `args`, and parses the one JSON document it prints. On failure
/// prints why, naming `baseline` (e.g. "MNE"), and returns `None`, so the Rust side can
/// still report its own numbers.
pub fn run_reference_script(
    script: &str,
    args: &[&std::ffi::OsStr],
    baseline: &str,
) -> Option<serde_json::Value> {
    let python = reference_python();
    match std::process::Command::new(&python)
        .arg(repo_root().join(script))
        .args(args)
        .output()
    {
        Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("{baseline} baseline printed no JSON ({e})");
                None
            }
        },
        Ok(o) => {
            eprintln!(
                "{baseline} baseline failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("{baseline} baseline not run ({}): {e}", python.display());
            None
        }
    }
}
