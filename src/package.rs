//! A package in memory: the header fields plus an immutable body, shared by reference count
//! (`PackageRef`) between every queue it sits in (fan-out to connections and channels never
//! copies the body). A package is an object of its own, or lies in place in a read slab
//! (`slab`).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::protocol::header::Header;
use crate::slab;

/// Bytes owned elsewhere (a zero-copy send): released when the last package sharing them is
/// dropped, i.e. once every connection has written them.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A package body: our own bytes (always followed by a hidden NUL), or a caller's buffer.
pub(crate) enum Body {
    Owned(Vec<u8>),
    Shared(SharedBytes),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Owned(v) => v,
            Body::Shared(b) => (**b).as_ref(),
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.bytes().len())
    }
}

/// One package object. `recv_seq` is local only (the order of deposits in this context,
/// docs/protocol.md §6.6). (Small received packages are slab entries instead, see `slab`;
/// `PackageRef` covers both.)
#[derive(Debug)]
#[repr(C)]
pub struct Package {
    /// Never `slab::ENTRY_MARK`: first, so that a `PackageRef` tells the two kinds apart.
    mark: u8,
    pub slot: u64,
    pub source_id: u64,
    pub source_seq: u64,
    pub dest_id: u64,
    pub dest_seq: u64,
    /// Set by routing on the reactor thread while it holds the only reference: an atomic so
    /// that needs no `Arc::get_mut` (a locked instruction, which waits for the package's
    /// freshly written lines) per delivered package. Read with `recv_seq()`.
    recv_seq: AtomicU64,
    body: Body,
}

/// `Package::mark`.
const OBJECT_MARK: u8 = 1;

/// A shared reference to a package: what every queue, lane and channel holds, and what a C
/// message handle is (`into_raw`). One pointer, to either a package object in an `Arc`
/// (`Arc::into_raw`) or a package in place in a slab (`slab`); the first byte there tells
/// which. Cloning shares the package; the last reference frees it (or `pool::recycle` keeps
/// an object for reuse; a slab goes back to the free list with its last entry).
pub struct PackageRef(NonNull<u8>);

// SAFETY: both kinds are shared across threads by reference counts (atomic), and neither is
// written after it is shared (but `recv_seq`, by routing while it holds the only reference).
#[allow(unsafe_code)]
unsafe impl Send for PackageRef {}
#[allow(unsafe_code)]
unsafe impl Sync for PackageRef {}

/// What a `PackageRef` points to.
enum View<'a> {
    Object(&'a Package),
    Entry(slab::Entry<'a>),
}

#[allow(unsafe_code)]
impl PackageRef {
    pub fn new(package: Package) -> PackageRef {
        PackageRef::from_unique(Arc::new(package))
    }

    /// A reference to a slab entry just made.
    ///
    /// # Safety
    /// `entry` came from `slab::make_entry`, and this reference is counted in its slab.
    pub(crate) unsafe fn from_entry(entry: NonNull<u8>) -> PackageRef {
        PackageRef(entry)
    }

    fn view(&self) -> View<'_> {
        // SAFETY: the pointee lives while this reference does; its first byte is written before
        // the reference exists and never again.
        if unsafe { self.0.as_ptr().read() } == slab::ENTRY_MARK {
            // SAFETY: an entry, held by `self` for the borrow.
            View::Entry(unsafe { slab::Entry::new(self.0) })
        } else {
            // SAFETY: not an entry: an object from `Arc::into_raw`.
            View::Object(unsafe { self.0.cast::<Package>().as_ref() })
        }
    }

    pub fn slot(&self) -> u64 {
        match self.view() {
            View::Object(p) => p.slot,
            View::Entry(e) => e.slot(),
        }
    }

    pub fn source_id(&self) -> u64 {
        match self.view() {
            View::Object(p) => p.source_id,
            View::Entry(e) => e.source_id(),
        }
    }

    pub fn source_seq(&self) -> u64 {
        match self.view() {
            View::Object(p) => p.source_seq,
            View::Entry(e) => e.source_seq(),
        }
    }

    pub fn dest_id(&self) -> u64 {
        match self.view() {
            View::Object(p) => p.dest_id,
            View::Entry(e) => e.dest_id(),
        }
    }

    pub fn dest_seq(&self) -> u64 {
        match self.view() {
            View::Object(p) => p.dest_seq,
            View::Entry(e) => e.dest_seq(),
        }
    }

    /// See [`Package::body`] (a NUL byte follows it in memory for every received package).
    pub fn body(&self) -> &[u8] {
        match self.view() {
            View::Object(p) => p.body(),
            View::Entry(e) => e.body(),
        }
    }

    pub fn header(&self) -> Header {
        match self.view() {
            View::Object(p) => p.header(),
            View::Entry(e) => e.header(),
        }
    }

    /// The order of this package's deposit in the receiving context (0: not delivered).
    pub fn recv_seq(&self) -> u64 {
        match self.view() {
            View::Object(p) => p.recv_seq.load(Ordering::Relaxed),
            View::Entry(e) => e.recv_seq(),
        }
    }

    /// Set by routing (on the reactor thread, before the package is delivered anywhere).
    pub(crate) fn set_recv_seq(&self, seq: u64) {
        match self.view() {
            View::Object(p) => p.recv_seq.store(seq, Ordering::Relaxed),
            View::Entry(e) => e.set_recv_seq(seq),
        }
    }

    /// Bytes this package costs in a queue (for byte limits).
    pub fn cost(&self) -> usize {
        self.body().len() + crate::protocol::header::HEADER_SIZE
    }

    /// Start loading this package's memory (see [`prefetch`]).
    pub(crate) fn prefetch(&self, with_body: bool) {
        match self.view() {
            View::Object(p) => prefetch(p, with_body),
            View::Entry(e) => {
                prefetch_line(e.addr().as_ptr());
                if with_body {
                    prefetch_line(e.addr().as_ptr().wrapping_add(64));
                }
            }
        }
    }

    /// The same package as a package object of its own: for what is kept long (a state
    /// channel's current state), which would otherwise keep a whole slab.
    pub(crate) fn detached(self) -> PackageRef {
        match self.view() {
            View::Object(_) => self,
            View::Entry(e) => crate::pool::package(&e.header(), e.body()),
        }
    }

    /// Whether both refer to the same package.
    #[cfg(test)]
    pub(crate) fn ptr_eq(a: &PackageRef, b: &PackageRef) -> bool {
        a.addr() == b.addr()
    }

    /// Where the package is (tests: whether memory is reused).
    #[cfg(test)]
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Whether the package lies in place in a slab.
    #[cfg(test)]
    pub(crate) fn in_slab(&self) -> bool {
        matches!(self.view(), View::Entry(_))
    }

    /// The package object, if this is a package object's only reference (for reuse, see
    /// `pool`). Checked by loads alone (`Arc::get_mut` would write the counters): the thread
    /// letting go of a received message then stores nothing into the package, so the thread
    /// refilling it next finds its lines still cached (shared) instead of modified on the
    /// other core. Sound without the lock `get_mut` takes: with one strong and no weak
    /// reference, ours, nobody else can reach it.
    pub(crate) fn into_unique(self) -> Option<Arc<Package>> {
        if !matches!(self.view(), View::Object(_)) {
            return None;
        }
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: an object: our reference is an `Arc::into_raw`, taken back once (`this` is
        // not dropped).
        let arc = unsafe { Arc::from_raw(this.0.cast::<Package>().as_ptr()) };
        if Arc::strong_count(&arc) != 1 || Arc::weak_count(&arc) != 0 {
            return None;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        Some(arc)
    }

    /// A reference to a package object (one the pool kept, see `into_unique`).
    pub(crate) fn from_unique(package: Arc<Package>) -> PackageRef {
        let raw = Arc::into_raw(package).cast_mut().cast::<u8>();
        // SAFETY: Arc::into_raw is never null.
        PackageRef(unsafe { NonNull::new_unchecked(raw) })
    }

    /// The reference as a raw pointer (a C message handle); `from_raw` takes it back.
    pub(crate) fn into_raw(self) -> *const u8 {
        std::mem::ManuallyDrop::new(self).0.as_ptr()
    }

    /// # Safety
    /// `raw` came from `into_raw` and is taken back once.
    pub(crate) unsafe fn from_raw(raw: *const u8) -> PackageRef {
        // SAFETY: the caller's contract (`into_raw` never gives null).
        PackageRef(unsafe { NonNull::new_unchecked(raw.cast_mut()) })
    }

    /// The reference behind a raw pointer from `into_raw`, without taking it back (dropping
    /// the result does nothing).
    ///
    /// # Safety
    /// `raw` came from `into_raw` and is not taken back while the result is used.
    pub(crate) unsafe fn borrow_raw(raw: *const u8) -> std::mem::ManuallyDrop<PackageRef> {
        // SAFETY: the caller's contract; ManuallyDrop keeps the count unchanged.
        std::mem::ManuallyDrop::new(unsafe { PackageRef::from_raw(raw) })
    }
}

#[allow(unsafe_code)]
impl Clone for PackageRef {
    fn clone(&self) -> PackageRef {
        match self.view() {
            // SAFETY: an object from `Arc::into_raw`, alive while `self` is.
            View::Object(p) => unsafe { Arc::increment_strong_count(p as *const Package) },
            // SAFETY: an entry `self` holds.
            View::Entry(e) => unsafe { slab::acquire(e.addr()) },
        }
        PackageRef(self.0)
    }
}

#[allow(unsafe_code)]
impl Drop for PackageRef {
    fn drop(&mut self) {
        match self.view() {
            // SAFETY: our reference, given up once.
            View::Object(p) => unsafe { Arc::decrement_strong_count(p as *const Package) },
            // SAFETY: our reference, given up once.
            View::Entry(e) => unsafe { slab::release(e.addr()) },
        }
    }
}

impl std::fmt::Debug for PackageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackageRef({:?}, {} bytes)",
            self.header(),
            self.body().len()
        )
    }
}

impl Package {
    /// Build a package; the body is given a hidden NUL terminator (see [`Package::body`]).
    pub fn new(header: &Header, body: Vec<u8>) -> Package {
        Package::with_body(header, Body::Owned(nul_terminated(body)))
    }

    pub(crate) fn with_body(header: &Header, body: Body) -> Package {
        Package {
            mark: OBJECT_MARK,
            slot: header.slot,
            source_id: header.source_id,
            source_seq: header.source_seq,
            dest_id: header.dest_id,
            dest_seq: header.dest_seq,
            recv_seq: AtomicU64::new(0),
            body,
        }
    }

    /// A connection-level package (heartbeat or close): empty body.
    pub fn signal(header: Header) -> Package {
        Package::new(&header, Vec::new())
    }

    /// The body. For every received package a NUL byte follows it in memory (not part of the
    /// slice), so a C caller may use a TEXT body directly as a C string. (Zero-copy bodies are
    /// only ever sent, never delivered.)
    pub fn body(&self) -> &[u8] {
        self.body.bytes()
    }

    pub fn header(&self) -> Header {
        Header {
            slot: self.slot,
            source_id: self.source_id,
            source_seq: self.source_seq,
            dest_id: self.dest_id,
            dest_seq: self.dest_seq,
            length: self.body().len() as u64,
        }
    }

    /// Reuse this package for another message (see `pool`): new header, a copy of `data`.
    pub(crate) fn refill(&mut self, header: &Header, data: &[u8]) {
        self.slot = header.slot;
        self.source_id = header.source_id;
        self.source_seq = header.source_seq;
        self.dest_id = header.dest_id;
        self.dest_seq = header.dest_seq;
        *self.recv_seq.get_mut() = 0;
        let mut body = match std::mem::replace(&mut self.body, Body::Owned(Vec::new())) {
            Body::Owned(mut v) => {
                v.clear();
                v
            }
            Body::Shared(_) => Vec::new(),
        };
        body.extend_from_slice(data);
        self.body = Body::Owned(nul_terminated(body));
    }

    /// Take our own body buffer out (leaving an empty one); None for a zero-copy body.
    pub(crate) fn take_owned_body(&mut self) -> Option<Vec<u8>> {
        match &mut self.body {
            Body::Owned(v) => Some(std::mem::take(v)),
            Body::Shared(_) => None,
        }
    }

    /// The capacity of our own body buffer (None for a caller's zero-copy buffer).
    pub(crate) fn owned_capacity(&self) -> Option<usize> {
        match &self.body {
            Body::Owned(v) => Some(v.capacity()),
            Body::Shared(_) => None,
        }
    }
}

/// Ensure one spare byte of capacity holding 0 after the data (the C-string guarantee).
pub(crate) fn nul_terminated(mut body: Vec<u8>) -> Vec<u8> {
    if body.capacity() == body.len() {
        body.reserve_exact(1);
    }
    body.spare_capacity_mut()[0].write(0);
    body
}

/// Copy `data` into a body vector with room for the NUL terminator.
pub(crate) fn body_from(data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len() + 1);
    body.extend_from_slice(data);
    body
}

/// Ask the CPU to start loading `package`'s memory (its `Arc` block and, when `with_body`, the
/// start of its body) into the cache: the reader of a queue touches each package right after
/// another thread wrote it, and without a hint every one costs a few serial cache misses.
pub(crate) fn prefetch(package: &Package, with_body: bool) {
    let block = (package as *const Package).cast::<u8>();
    // (Package objects live in an `Arc`, whose counters sit just before the value.)
    prefetch_line(block.wrapping_sub(16));
    prefetch_line(block.wrapping_add(48));
    if with_body {
        if let Body::Owned(v) = &package.body {
            prefetch_line(v.as_ptr());
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn prefetch_line(p: *const u8) {
    // SAFETY: a prefetch never faults and has no effect on program state, whatever the
    // address; SSE is part of the x86_64 baseline.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_line(_p: *const u8) {}

/// Headers and packages for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Package, PackageRef};
    use crate::protocol::header::Header;

    /// A header on slot 7 from context 1 with sequence number `seq`.
    pub(crate) fn header(seq: u64) -> Header {
        Header {
            slot: 7,
            source_id: 1,
            source_seq: seq,
            ..Header::default()
        }
    }

    pub(crate) fn package(seq: u64, body: &[u8]) -> PackageRef {
        PackageRef::new(Package::new(&header(seq), body.to_vec()))
    }
}
