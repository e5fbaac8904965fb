//! This process's id, cheaply: `getpid()` is a system call on every use (glibc stopped caching
//! it), and the engine asks on every command (a connection or a lease that belongs to the
//! parent of a `pcntl_fork()` child must never be used by the child).
//!
//! The id is kept in a page marked `MADV_WIPEONFORK`: the kernel hands a forked child that
//! page zeroed, so the child sees 0 and asks `getpid()` once. No fork handler is registered
//! (nothing to dangle if the extension is unloaded). Where the kernel lacks `MADV_WIPEONFORK`
//! (Linux < 4.14), every call asks `getpid()`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The page, or `None` when it could not be set up.
fn page() -> Option<&'static AtomicU32> {
    static PAGE: OnceLock<Option<usize>> = OnceLock::new();
    let address = (*PAGE.get_or_init(|| {
        // SAFETY: an anonymous private mapping of one page, checked for failure; the advice
        // applies to that mapping only.
        unsafe {
            let size = 4096;
            let p = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return None;
            }
            if libc::madvise(p, size, libc::MADV_WIPEONFORK) != 0 {
                libc::munmap(p, size);
                return None;
            }
            Some(p as usize)
        }
    }))?;
    // SAFETY: a live, page-aligned, zero-initialised mapping that is never unmapped; an
    // AtomicU32 has no invalid bit patterns.
    Some(unsafe { &*(address as *const AtomicU32) })
}

/// This process's id.
pub fn current() -> u32 {
    match page() {
        Some(cached) => match cached.load(Ordering::Relaxed) {
            0 => {
                let pid = std::process::id();
                cached.store(pid, Ordering::Relaxed);
                pid
            }
            pid => pid,
        },
        None => std::process::id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_sees_its_own_id() {
        let parent = current();
        assert_eq!(parent, std::process::id());
        assert_eq!(current(), parent, "cached");
        // SAFETY: the child only calls async-signal-safe-enough code (getpid, a page read, a
        // write to a pipe) and leaves with _exit.
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let child = unsafe { libc::fork() };
        if child == 0 {
            let ok = current() == std::process::id() && current() != parent;
            let byte = [u8::from(ok)];
            unsafe {
                libc::write(fds[1], byte.as_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        let mut byte = [0u8];
        unsafe {
            libc::read(fds[0], byte.as_mut_ptr().cast(), 1);
            libc::waitpid(child, std::ptr::null_mut(), 0);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert_eq!(byte[0], 1, "the child saw its own id, not the parent's");
        assert_eq!(current(), parent);
    }
}
