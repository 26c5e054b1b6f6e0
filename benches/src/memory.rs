//! Peak memory of one operation, for the in-process peers: a global
//! allocator that wraps the system one and, while tracking is on, keeps the
//! bytes live and their high-water mark. The runner turns it on for one
//! extra, untimed operation per peer and case (`measure`), so the timed
//! passes pay one relaxed load per allocation and nothing else.
//!
//! What it reports is the peak of heap bytes above what was live when the
//! operation began: rows, entities, identity map, statements, driver
//! buffers: what the peer itself allocated to do the work. Process RSS
//! (binary, runtime, connection pools, every peer's caches) would blur the
//! peers of one process together; the out-of-process peer (SQLAlchemy)
//! reports its process's own peak RSS instead (see `peers::sqlalchemy`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

pub struct Counting;

static TRACKING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: usize) {
    if TRACKING.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(bytes: usize) {
    if TRACKING.load(Ordering::Relaxed) {
        LIVE.fetch_sub(bytes as isize, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            shrank(layout.size() - new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `op` with tracking on and returns its result and the peak bytes it
/// held above where it started. Memory freed during the operation that was
/// allocated before it can make the live count dip below zero; the peak is
/// measured from the start, so that only lowers it (never inflates it).
pub async fn measure<T>(op: impl Future<Output = T>) -> (T, u64) {
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    TRACKING.store(true, Ordering::Relaxed);
    let out = op.await;
    TRACKING.store(false, Ordering::Relaxed);
    (out, PEAK.load(Ordering::Relaxed).max(0) as u64)
}

/// "12.3 MiB" / "850 KiB".
pub fn fmt_bytes(b: u64) -> String {
    let kib = b as f64 / 1024.0;
    if kib < 1024.0 { format!("{kib:.0} KiB") } else { format!("{:.1} MiB", kib / 1024.0) }
}
