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
