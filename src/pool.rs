//! Recycled packages for small messages.
//!
//! A package is allocated on one thread and dropped on another (the sender's thread builds
//! it, the reactor drops it once written; the reactor builds it, the reader
//! drops it). glibc's malloc serialises such cross-thread frees on its arena lock: malloc and
//! free were about 30 % of a 64 B subscriber. Instead, packages whose last reference is let
//! go at a known point (written by the reactor, freed by `yoton_message_free`) are kept
//! — the `Arc` and its body buffer, one object — and refilled for the next small message.
//!
//! Each thread keeps a few in a local cache and exchanges them with a global pool in batches,
//! so the pool's lock is taken once per `LOCAL_MAX / 2` packages. The global pool is sized to
//! hold a whole channel queue's worth (the default queue limit is 10000 packages): in loss-free
//! mode a subscriber's queue swings between full (its reactor pauses reading) and nearly empty,
//! and with a pool of 4096 more than half of each swing went through malloc and a
//! cross-thread free (64 B pub/sub: 2.8-3.8 M msgs/s; with the whole swing recycled 4.7-5.8 M,
//! and the subscriber's CPU per message down by a quarter). Memory is bounded: at most
//! `GLOBAL_MAX` packages and `GLOBAL_MAX_BYTES` globally, plus `LOCAL_MAX` per thread, each
//! with a body capacity of at most `BODY_CAPACITY_MAX` bytes.

use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::Arc;

use crate::package::{Package, PackageRef};
use crate::protocol::header::Header;

/// Bodies up to this capacity (data plus the hidden NUL) are recycled.
const BODY_CAPACITY_MAX: usize = 2048 + 1;
/// Packages a thread keeps for itself; beyond it, half go to the global pool.
const LOCAL_MAX: usize = 64;
/// Packages the global pool keeps; the rest are freed.
const GLOBAL_MAX: usize = 16384;
/// Bytes (packages and their body buffers) the global pool keeps: 64 B messages fill it up to
/// `GLOBAL_MAX` with about 4 MiB, 1 KiB messages up to about 13,000 packages.
const GLOBAL_MAX_BYTES: usize = 16 << 20;

/// The global pool and what it holds in bytes. Each package's `footprint` is kept beside it,
/// counted by the thread that let go of it: the thread taking packages out then does not read
/// their lines (last touched on another core) just to keep the count.
struct Global {
    packages: Vec<(Arc<Package>, usize)>,
    bytes: usize,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global {
    packages: Vec::new(),
    bytes: 0,
});

/// Memory a pooled package holds: the package and its body buffer.
fn footprint(pkg: &Package) -> usize {
    std::mem::size_of::<Package>() + 16 + pkg.owned_capacity().unwrap_or(0)
}

/// Big body buffers (capacity `BIG_MIN..=BIG_MAX`) are kept too, a few of them, for the
/// reactor: a fresh big allocation is fresh pages (page faults, zeroing by the
/// kernel) on every message once glibc has returned the freed ones to the system.
const BIG_MIN: usize = 16 * 1024;
const BIG_MAX: usize = (2 << 20) + 1;
/// Bytes of big buffers kept (their capacities): a bulk lane or a loss-free channel queue
/// holds up to 2 MiB of big messages (and a socket's worth more are on their way), and with
/// only 4 buffers kept most of them were malloc'd fresh and freed on the other thread.
const BIG_KEPT_BYTES: usize = 16 << 20;

struct BigBuffers {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

static BIG: Mutex<BigBuffers> = Mutex::new(BigBuffers {
    buffers: Vec::new(),
    bytes: 0,
});

/// An empty buffer with room for at least `capacity` bytes, reused when one is kept (the most
/// recently kept that fits: the one most likely still in a cache).
pub(crate) fn big_buffer(capacity: usize) -> Vec<u8> {
    if (BIG_MIN..=BIG_MAX).contains(&capacity) {
        let mut kept = BIG.lock();
        if let Some(i) = kept.buffers.iter().rposition(|b| b.capacity() >= capacity) {
            let buffer = kept.buffers.remove(i);
            kept.bytes -= buffer.capacity();
            return buffer;
        }
    }
    Vec::with_capacity(capacity)
}

/// Keep a big body buffer for `big_buffer` if there is room; otherwise free it.
pub(crate) fn keep_big(mut buffer: Vec<u8>) {
    buffer.clear();
    let mut kept = BIG.lock();
    if kept.bytes + buffer.capacity() <= BIG_KEPT_BYTES {
        kept.bytes += buffer.capacity();
        kept.buffers.push(buffer);
    }
}

thread_local! {
    static LOCAL: RefCell<Vec<Arc<Package>>> = const { RefCell::new(Vec::new()) };
}

/// A package with `header` and a copy of `data`, recycled when one is available.
pub(crate) fn package(header: &Header, data: &[u8]) -> PackageRef {
    if data.len() < BODY_CAPACITY_MAX {
        if let Some(mut pkg) = take() {
            if let Some(p) = Arc::get_mut(&mut pkg) {
                p.refill(header, data);
                return PackageRef::from_unique(pkg);
            }
        }
    }
    let mut body = big_buffer(data.len() + 1);
    body.extend_from_slice(data);
    PackageRef::new(Package::new(header, body))
}

/// Let go of a package: kept for reuse if this was its last reference and its body is small
/// and ours; otherwise just dropped.
pub(crate) fn recycle(pkg: PackageRef) {
    let Some(mut pkg) = pkg.into_unique() else {
        return;
    };
    match pkg.owned_capacity() {
        Some(c) if c <= BODY_CAPACITY_MAX => {}
        Some(c) if (BIG_MIN..=BIG_MAX).contains(&c) => {
            if let Some(body) = Arc::get_mut(&mut pkg).and_then(|p| p.take_owned_body()) {
                keep_big(body);
            }
            return;
        }
        _ => return,
    }
    // (During thread exit the local cache is gone: the package is simply freed.)
    let _ = LOCAL.try_with(|local| {
        let spill = {
            let mut local = local.borrow_mut();
            local.push(pkg);
            if local.len() <= LOCAL_MAX {
                return;
            }
            local.split_off(LOCAL_MAX / 2)
        };
        let mut spill = spill.into_iter();
        let mut overflow = None;
        let mut global = GLOBAL.lock();
        for pkg in spill.by_ref() {
            let bytes = footprint(&pkg);
            if global.packages.len() >= GLOBAL_MAX || global.bytes + bytes > GLOBAL_MAX_BYTES {
                overflow = Some(pkg);
                break;
            }
            global.bytes += bytes;
            global.packages.push((pkg, bytes));
        }
        drop(global);
        // What did not fit is freed outside the lock.
        drop(overflow);
        drop(spill);
    });
}

/// A spare package from this thread's cache, refilled from the global pool when empty.
fn take() -> Option<Arc<Package>> {
    LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            if local.is_empty() {
                let mut global = GLOBAL.lock();
                let at = global.packages.len().saturating_sub(LOCAL_MAX / 2);
                let mut taken = 0;
                local.extend(global.packages.drain(at..).map(|(pkg, bytes)| {
                    taken += bytes;
                    pkg
                }));
                global.bytes -= taken;
            }
            let pkg = local.pop();
            // The next ones are refilled right after this one, and were last touched on
            // another core: start loading them (the body only for the next one, whose block the
            // previous call already asked for; reading it would otherwise stall).
            let n = local.len();
            if n >= 1 {
                crate::package::prefetch(&local[n - 1], true);
            }
            if n >= 2 {
                crate::package::prefetch(&local[n - 2], false);
            }
            pkg
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::testing::header;

    #[test]
    fn a_recycled_package_is_reused_with_new_contents() {
        let first = package(&header(1), b"hello");
        let address = first.addr();
        recycle(first);
        let second = package(&header(2), b"yo");
        assert_eq!(second.addr(), address, "the same allocation came back");
        assert_eq!(second.body(), b"yo");
        assert_eq!(second.source_seq(), 2);
        assert_eq!(second.recv_seq(), 0);
        assert_eq!(second.header().length, 2);
    }

    #[test]
    fn shared_and_big_packages_are_not_recycled() {
        let shared = package(&header(1), b"abc");
        let other = shared.clone();
        recycle(shared); // `other` still holds it: must not be reused
        let next = package(&header(2), b"xyz");
        assert!(!PackageRef::ptr_eq(&next, &other));
        assert_eq!(other.body(), b"abc");

        let big = vec![1u8; BODY_CAPACITY_MAX + 10];
        let pkg = package(&header(3), &big);
        let cached = || LOCAL.with(|l| l.borrow().len());
        let before = cached();
        recycle(pkg);
        assert_eq!(cached(), before, "a big body is freed, not kept");
    }

    #[test]
    fn big_bodies_are_kept_for_big_buffer() {
        let data = vec![7u8; BIG_MIN * 2];
        let mut body = big_buffer(data.len() + 1);
        body.extend_from_slice(&data);
        recycle(PackageRef::new(Package::new(&header(1), body)));
        let again = big_buffer(data.len() + 1);
        assert!(again.is_empty());
        assert!(again.capacity() > data.len());
        // Bounded in bytes: keeping far more than the bound's worth keeps at most the bound.
        for _ in 0..(BIG_KEPT_BYTES / BIG_MIN) * 2 {
            keep_big(Vec::with_capacity(BIG_MIN));
        }
        let kept = BIG.lock();
        assert!(
            kept.bytes <= BIG_KEPT_BYTES,
            "bounded: {} bytes",
            kept.bytes
        );
        let counted: usize = kept.buffers.iter().map(|b| b.capacity()).sum();
        assert_eq!(counted, kept.bytes, "the byte count matches what is kept");
        assert!(
            kept.buffers.len() > 4,
            "more than a handful of 16 KiB buffers are kept"
        );
    }

    #[test]
    fn local_caches_spill_into_a_bounded_global_pool() {
        let packages: Vec<PackageRef> = (0..(LOCAL_MAX * 3) as u64)
            .map(|i| package(&header(i), b"x"))
            .collect();
        for p in packages {
            recycle(p);
        }
        let local = LOCAL.with(|l| l.borrow().len());
        assert!(local <= LOCAL_MAX, "local cache bounded: {local}");
        {
            let global = GLOBAL.lock();
            assert!(global.packages.len() <= GLOBAL_MAX);
            assert!(global.bytes <= GLOBAL_MAX_BYTES);
        }
        // Another thread gets packages from the global pool.
        let reused = std::thread::spawn(|| {
            let p = package(&header(9), b"q");
            p.body() == b"q"
        })
        .join()
        .unwrap();
        assert!(reused);
    }

    #[test]
    fn the_global_pool_is_bounded_in_bytes() {
        // 10,000 packages of 2 KiB: about 21 MiB, more than the pool keeps in bytes although
        // fewer than it keeps in number.
        let data = vec![3u8; 2000];
        let packages: Vec<PackageRef> =
            (0..10_000u64).map(|i| package(&header(i), &data)).collect();
        for p in packages {
            recycle(p);
        }
        let global = GLOBAL.lock();
        assert!(
            global.bytes <= GLOBAL_MAX_BYTES,
            "{} bytes kept",
            global.bytes
        );
        assert!(
            global.packages.len() < 9_000,
            "the byte bound did not apply: {} packages of 2 KiB kept",
            global.packages.len()
        );
        assert!(global
            .packages
            .iter()
            .all(|(p, bytes)| footprint(p) == *bytes));
        let counted: usize = global.packages.iter().map(|(_, bytes)| bytes).sum();
        assert_eq!(counted, global.bytes, "the byte count matches what is kept");
    }
}
