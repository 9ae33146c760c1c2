//! The process's allocator settings, which decide whether a bound on live data is also
//! a bound on resident memory.
//!
//! glibc serves large allocations with mmap and returns them to the system when freed,
//! but each such free raises its mmap threshold to that size (up to 32 MiB). After
//! that, buffers of a few MiB come from the heap, and freed ones stay resident as
//! fragments of differing sizes. Under many connections that grow large messages and
//! are then closed (what the read budget defends against), resident memory climbs
//! to twice the budget and more although live data stays within it. Fixing the
//! threshold at 1 MiB keeps smaller buffers on the fast heap path and gives larger
//! ones back to the system when freed.

/// The mmap threshold: buffers this large or larger are mapped and unmapped.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Fixes glibc's mmap threshold (see the module docs); elsewhere there is nothing to do.
pub fn bound_resident_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // other thread exists, and its result (0 on failure) leaves glibc's defaults.
        let applied = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if applied == 0 {
            tracing::debug!("glibc refused to fix its mmap threshold");
        }
    }
}
