//! The process memory policy of streaming preprocessing.
//!
//! [`Pipeline::read_and_apply`](crate::pipeline::Pipeline::read_and_apply) holds
//! a recording's output and blocks of about a megabyte in flight. Backed by
//! transparent huge pages, the allocator's arenas keep whole 2 MiB pages
//! resident around such blocks: on the eegmmidb preprocessing benchmark, under
//! mimalloc (the `neurodl` binary's allocator), peak RSS was 92.5 MiB with huge
//! pages and 70.5 MiB without, at the same speed. Training keeps huge pages
//! (its large tensors page-fault less with them), so only `neurodl preprocess`
//! (and the benchmark that measures it) opts out.

/// Asks the kernel not to back this process's memory with transparent huge
/// pages from now on (`prctl(PR_SET_THP_DISABLE)`, Linux only). Returns whether
/// the request was granted; elsewhere, or if the kernel refuses, nothing changes
/// but memory use.
pub fn disable_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes a
        // flag of this process; no memory is passed to the kernel.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}
