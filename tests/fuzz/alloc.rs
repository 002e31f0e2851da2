//! A counting global allocator for the fuzz binary: each thread that asks for it gets
//! its live and peak heap bytes tracked, so a harness can say how much memory one input
//! took. A thread past its hard cap has its current input written to a file (with raw
//! system calls, since the allocator must not allocate) before the allocation fails and
//! the process aborts, so even an out-of-memory crash leaves its input behind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::CString;
use std::sync::atomic::{AtomicIsize, Ordering};

pub struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live and peak bytes of all threads in shared mode (a server runtime's workers).
static SHARED_LIVE: AtomicIsize = AtomicIsize::new(0);
static SHARED_PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
    static SHARED: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static HARD_CAP: Cell<isize> = const { Cell::new(isize::MAX) };
    /// The input being run and where to dump it: set by the runner, read on a cap hit.
    static DUMP: Cell<(*const u8, usize, *const libc::c_char)> =
        const { Cell::new((std::ptr::null(), 0, std::ptr::null())) };
}

fn account(size: usize, grow: bool) -> bool {
    // `try_with` because thread-locals may be gone while a thread exits.
    TRACKED
        .try_with(|t| {
            if !t.get() {
                if SHARED.with(Cell::get) {
                    let size = size as isize;
                    if grow {
                        let live = SHARED_LIVE.fetch_add(size, Ordering::Relaxed) + size;
                        SHARED_PEAK.fetch_max(live, Ordering::Relaxed);
                    } else {
                        SHARED_LIVE.fetch_sub(size, Ordering::Relaxed);
                    }
                }
                return true;
            }
            let size = size as isize;
            let live = LIVE.with(|l| {
                let v = if grow { l.get() + size } else { l.get() - size };
                l.set(v);
                v
            });
            if grow {
                PEAK.with(|p| p.set(p.get().max(live)));
                if live > HARD_CAP.with(Cell::get) {
                    dump_current();
                    return false;
                }
            }
            true
        })
        .unwrap_or(true)
}

/// Writes the registered input to the registered path without allocating.
fn dump_current() {
    let (data, len, path) = DUMP.with(Cell::get);
    if data.is_null() || path.is_null() {
        return;
    }
    const MSG: &[u8] = b"fuzz: memory cap hit; input written to the crash folder\n";
    // SAFETY: the runner keeps `data[..len]` and `path` alive while the input runs.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
        let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
        if fd >= 0 {
            libc::write(fd, data.cast(), len);
            libc::close(fd);
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !account(layout.size(), true) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(layout.size(), false);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !account(layout.size(), true) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            if !account(new_size - layout.size(), true) {
                return std::ptr::null_mut();
            }
        } else {
            account(layout.size() - new_size, false);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts tracking this thread, failing allocations past `hard_cap` live bytes.
pub fn track_this_thread(hard_cap: usize) {
    HARD_CAP.with(|c| c.set(hard_cap as isize));
    TRACKED.with(|t| t.set(true));
}

/// Registers the input about to run (and the file it goes to on a cap hit); the peak is
/// reset to the bytes live now. Returns that baseline.
pub fn begin(input: &[u8], dump_path: &CString) -> isize {
    DUMP.with(|d| d.set((input.as_ptr(), input.len(), dump_path.as_ptr())));
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

/// The most bytes held at once since [`begin`], above its baseline.
pub fn peak_since(baseline: isize) -> usize {
    DUMP.with(|d| d.set((std::ptr::null(), 0, std::ptr::null())));
    (PEAK.with(Cell::get) - baseline).max(0) as usize
}

/// Counts this thread's heap in the shared tally (for a runtime's worker threads).
pub fn track_shared() {
    SHARED.with(|s| s.set(true));
}

/// Resets the shared peak to the bytes live now, and returns that baseline.
pub fn shared_begin() -> isize {
    let live = SHARED_LIVE.load(Ordering::Relaxed);
    SHARED_PEAK.store(live, Ordering::Relaxed);
    live
}

/// The most bytes the shared threads held at once since [`shared_begin`].
pub fn shared_peak_since(baseline: isize) -> usize {
    (SHARED_PEAK.load(Ordering::Relaxed) - baseline).max(0) as usize
}
