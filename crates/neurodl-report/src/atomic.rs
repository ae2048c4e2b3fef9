//! Atomic file writes: a reader of the target sees the old file or the complete new one,
//! never a half-written report, even if the process dies mid-write.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ReportError;

/// Writes `bytes` to `path` through a temporary file in the same folder (so the final
/// rename stays on one file system), flushed to disk before it is renamed into place.
/// On failure the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source: std::io::Error| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // pid + a process-wide counter: concurrent writers (threads or processes) of the same
    // target never share a temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp_name);

    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io(e));
    }
    // The rename itself is durable only once the folder entry is on disk.
    #[cfg(unix)]
    fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// Writes PNG bytes (e.g. from [`crate::line_plot_png`]) to `path` atomically: a temporary
/// file in the same folder, synced to disk, then renamed over `path`.
///
/// # Errors
/// [`ReportError::InvalidInput`] when `png` does not start with the PNG signature (a guard
/// against writing some other buffer under a `.png` name); [`ReportError::Io`] when the
/// folder does not exist or cannot be written.
pub fn write_png(path: &Path, png: &[u8]) -> Result<(), ReportError> {
    if !png.starts_with(PNG_SIGNATURE) {
        return Err(ReportError::InvalidInput {
            what: "PNG file",
            reason: format!(
                "{}: the bytes do not start with the PNG signature",
                path.display()
            ),
        });
    }
    write_atomic(path, png)
}

/// The eight bytes every PNG file starts with.
pub(crate) const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
