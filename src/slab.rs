//! Slabs: read buffers whose small packages are handed out in place.
//!
//! The reactor reads a connection's bytes into its current slab, and every complete small
//! package in them becomes a message right where it lies: the 56-byte wire header is rewritten
//! in place into the entry described below, the body stays where `recv` put it, and the byte
//! after the body is set to NUL (the C-string guarantee of `yoton_message_data`). No package
//! object is filled and no body copied per message. Filling recycled package objects was the
//! largest cost of a busy subscriber (`pool::package`, 17-24 %: each one's lines were last
//! touched by the reading thread on the other core); a slab is written front to back, by the
//! kernel's copy and then a few stores into lines that copy just brought in.
//!
//! A slab is one `SLAB_BYTES` allocation aligned to its size, so an entry finds its slab's
//! head (the reference count) by masking its address. The count is the number of `PackageRef`s
//! into the slab plus one while the reactor still reads into it. The reactor adds the
//! references of a whole read at once, so the count's line moves between the reactor's and the
//! reader's cores about once per read, not once per message. A slab whose count drops to zero
//! goes to a small process-wide free list (the rest are freed).
//!
//! Memory bound: one message kept by the application keeps its whole slab. So packages stay
//! in place only while fewer than `LIVE_MAX` slabs are in use (the free list aside); above
//! that, they are copied out into pooled package objects as before (`pool::package`), and each
//! reactor keeps reusing its one current slab. What is kept long by the library itself (a
//! state channel's current state) is copied out (`PackageRef::detached`).
//!
//! Entry layout (at the entry's address `p`, where its wire header was; offsets in bytes):
//! `p+0` 0 (marks a slab entry, and is the NUL after the previous body); `p+4..8` the body
//! length (u32, native order); `p+8..48` slot, source id and seq, destination id and seq (the
//! wire's little-endian u64s, left as they came); `p+48..56` the receive order (`recv_seq`,
//! native u64); `p+56..` the body, followed by a NUL byte. Nothing is aligned: fields are read
//! and written unaligned.

use parking_lot::Mutex;
use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

use crate::protocol::header::{Header, HEADER_SIZE};

/// Size (and alignment) of a slab: as much as one `recv` may read.
const SLAB_BYTES: usize = 256 * 1024;
/// The head (the reference count) has a cache line of its own.
const HEAD_BYTES: usize = 64;
/// Bytes of a slab that hold data.
const DATA_BYTES: usize = SLAB_BYTES - HEAD_BYTES;
/// Slabs in use (read into or holding messages) at most, process-wide: 64 MiB. Enough for
/// every loss-free queue of a busy process (a queue of 10000 64-byte messages spans 5 slabs);
/// a bound for applications that keep messages for long.
const LIVE_MAX: usize = 256;
/// Free slabs kept for reuse, process-wide (4 MiB). Reused oldest first: a slab freed long
/// ago has left the reading core's caches, and the kernel's copy into it does not have to
/// take each line back from there (first freed first: 64 B pairs -7 % CPU per message, 1 KiB
/// -3 %, against most recent first with 8 kept).
const FREE_MAX: usize = 16;
/// Bodies below this size stay in place; bigger ones are copied out (they are few, and each
/// would keep a slab for itself).
pub(crate) const BODY_IN_PLACE_MAX: usize = 16 * 1024;

/// Value of an entry's first byte (a package object's first byte is never 0).
pub(crate) const ENTRY_MARK: u8 = 0;

struct Head {
    refs: AtomicUsize,
}

/// A slab's address (raw: it is shared by the entries handed out).
struct SlabPtr(NonNull<u8>);
// SAFETY: a slab's memory is owned by its reference count, not by a thread; the free list only
// holds slabs nobody refers to.
#[allow(unsafe_code)]
unsafe impl Send for SlabPtr {}

static FREE: Mutex<VecDeque<SlabPtr>> = Mutex::new(VecDeque::new());
/// Slabs not on the free list.
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn layout() -> Layout {
    Layout::from_size_align(SLAB_BYTES, SLAB_BYTES).expect("a valid layout")
}

/// Whether packages may stay in slabs now (fewer than `LIVE_MAX` slabs in use).
pub(crate) fn in_place_allowed() -> bool {
    LIVE.load(Ordering::Relaxed) < LIVE_MAX
}

/// The reactor's slab: where it reads next. Holds one reference.
struct Slab {
    base: NonNull<u8>,
}

// SAFETY: as for `SlabPtr`; the reactor writes only into the part of the slab no entry covers.
#[allow(unsafe_code)]
unsafe impl Send for Slab {}

impl Slab {
    /// A slab from the free list, or a new one (zeroed: every byte is initialised).
    #[allow(unsafe_code)]
    fn new() -> Slab {
        let kept = FREE.lock().pop_front();
        let base = match kept {
            Some(SlabPtr(base)) => base,
            None => {
                // SAFETY: the layout has a non-zero size.
                let raw = unsafe { alloc::alloc_zeroed(layout()) };
                NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout()))
            }
        };
        LIVE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the head lies within the allocation and is aligned; nobody else refers to
        // this slab yet.
        unsafe {
            base.cast::<Head>().as_ptr().write(Head {
                refs: AtomicUsize::new(1),
            })
        };
        Slab { base }
    }

    /// The data bytes from `from` on (none of them covered by an entry handed out), and the
    /// slab's reference count for the entries made in them (`Refs`).
    #[allow(unsafe_code)]
    fn split(&mut self, from: usize) -> (Refs<'_>, &mut [u8]) {
        assert!(from <= DATA_BYTES);
        // SAFETY: the head was written by `new` and lives while our reference does. The data
        // part lies within the allocation after the head, is initialised (zeroed when
        // allocated, then only ever written with bytes), and entries only ever cover bytes
        // before `from` (the reactor's contract: it advances `from` past every entry made).
        unsafe {
            let head = self.base.cast::<Head>().as_ref();
            let data = std::slice::from_raw_parts_mut(
                self.base.as_ptr().add(HEAD_BYTES + from),
                DATA_BYTES - from,
            );
            (
                Refs {
                    refs: &head.refs,
                    made: 0,
                },
                data,
            )
        }
    }
}

/// Where a reactor reads next: its current slab and the offset of its free part. Reads of all
/// the reactor's connections go there one after the other (a connection's incomplete rest is
/// kept by its decoder and put back in front of its next read).
pub(crate) struct Cursor {
    slab: Slab,
    at: usize,
}

impl Cursor {
    pub(crate) fn new() -> Cursor {
        Cursor {
            slab: Slab::new(),
            at: 0,
        }
    }

    /// The free part, at least `need` bytes (from a new slab when the current one has less
    /// left; the old one lives on while entries in it do).
    pub(crate) fn room(&mut self, need: usize) -> &mut [u8] {
        assert!(need <= DATA_BYTES);
        if DATA_BYTES - self.at < need {
            *self = Cursor::new();
        }
        self.slab.split(self.at).1
    }

    /// The free part and the count for entries made in it (see `Slab::split`).
    pub(crate) fn split(&mut self) -> (Refs<'_>, &mut [u8]) {
        self.slab.split(self.at)
    }

    /// Entries now cover the next `used` bytes.
    pub(crate) fn advance(&mut self, used: usize) {
        assert!(used <= DATA_BYTES - self.at);
        self.at += used;
    }
}

/// Counts the entries made in a slab and adds their references when dropped (one atomic add
/// for a whole read: the count's line then moves between the reactor's and the reader's
/// cores about once per read, not once per message).
pub(crate) struct Refs<'a> {
    refs: &'a AtomicUsize,
    made: usize,
}

impl Refs<'_> {
    pub(crate) fn made(&mut self) {
        self.made += 1;
    }
}

impl Drop for Refs<'_> {
    fn drop(&mut self) {
        if self.made > 0 {
            self.refs.fetch_add(self.made, Ordering::Relaxed);
        }
    }
}

impl Drop for Slab {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the reactor's reference, given up once.
        unsafe { release_slab(self.base) }
    }
}

/// Make an entry of the package whose header starts at `region[at]` (`region` is a slab's
/// free part, see `Slab::split` and the module documentation): the header was decoded
/// already, the body of `len` bytes follows it. The caller writes the NUL after the body (it
/// is the next header's first byte, still to be read) and counts the reference (`Refs`).
/// Returns the entry's address.
pub(crate) fn make_entry(region: &mut [u8], at: usize, len: usize) -> NonNull<u8> {
    let len32 = u32::try_from(len).expect("an in-place body is small");
    assert!(at + HEADER_SIZE + len < region.len(), "no room for the NUL");
    region[at] = ENTRY_MARK;
    region[at + 4..at + 8].copy_from_slice(&len32.to_ne_bytes());
    region[at + 48..at + 56].copy_from_slice(&0u64.to_ne_bytes());
    NonNull::from(&mut region[at])
}

/// The head of the slab holding the entry at `entry`.
#[allow(unsafe_code)]
fn head_of(entry: NonNull<u8>) -> NonNull<Head> {
    let base = (entry.as_ptr() as usize) & !(SLAB_BYTES - 1);
    // SAFETY: entries lie within their slab, whose base is the address rounded down.
    unsafe { NonNull::new_unchecked(base as *mut Head) }
}

/// One more reference to the entry at `entry`.
///
/// # Safety
/// `entry` is an entry some live reference holds.
#[allow(unsafe_code)]
pub(crate) unsafe fn acquire(entry: NonNull<u8>) {
    // SAFETY: the slab lives while that reference does.
    unsafe { head_of(entry).as_ref() }
        .refs
        .fetch_add(1, Ordering::Relaxed);
}

/// Give up a reference to the entry at `entry` (the slab is recycled with the last one).
///
/// # Safety
/// The caller owns one reference to `entry` and gives it up.
#[allow(unsafe_code)]
pub(crate) unsafe fn release(entry: NonNull<u8>) {
    // SAFETY: the caller's contract.
    unsafe { release_slab(head_of(entry).cast()) }
}

#[allow(unsafe_code)]
unsafe fn release_slab(base: NonNull<u8>) {
    // SAFETY: the slab lives until this reference is given up (the Arc protocol: release on
    // the decrement, acquire before reuse).
    let head = unsafe { base.cast::<Head>().as_ref() };
    if head.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    LIVE.fetch_sub(1, Ordering::Relaxed);
    let mut free = FREE.lock();
    if free.len() < FREE_MAX {
        free.push_back(SlabPtr(base));
        return;
    }
    drop(free);
    // SAFETY: allocated by `Slab::new` with this layout; nobody refers to it any more.
    unsafe { alloc::dealloc(base.as_ptr(), layout()) }
}

/// An entry's fields (see the module documentation), borrowed for as long as the reference
/// it was read through (`'a`).
pub(crate) struct Entry<'a> {
    at: NonNull<u8>,
    borrowed: PhantomData<&'a [u8]>,
}

#[allow(unsafe_code)]
impl<'a> Entry<'a> {
    /// The entry at `at`.
    ///
    /// # Safety
    /// `at` is an entry that a reference living for `'a` holds.
    pub(crate) unsafe fn new(at: NonNull<u8>) -> Entry<'a> {
        Entry {
            at,
            borrowed: PhantomData,
        }
    }

    pub(crate) fn addr(&self) -> NonNull<u8> {
        self.at
    }

    fn word(&self, offset: usize) -> u64 {
        // SAFETY: offset + 8 <= HEADER_SIZE, within the entry.
        u64::from_le_bytes(unsafe { self.at.as_ptr().add(offset).cast::<[u8; 8]>().read() })
    }

    fn len(&self) -> usize {
        // SAFETY: within the entry, written by `make_entry`.
        unsafe { self.at.as_ptr().add(4).cast::<u32>().read_unaligned() as usize }
    }

    pub(crate) fn header(&self) -> Header {
        Header {
            slot: self.word(8),
            source_id: self.word(16),
            source_seq: self.word(24),
            dest_id: self.word(32),
            dest_seq: self.word(40),
            length: self.len() as u64,
        }
    }

    pub(crate) fn slot(&self) -> u64 {
        self.word(8)
    }

    pub(crate) fn source_id(&self) -> u64 {
        self.word(16)
    }

    pub(crate) fn source_seq(&self) -> u64 {
        self.word(24)
    }

    pub(crate) fn dest_id(&self) -> u64 {
        self.word(32)
    }

    pub(crate) fn dest_seq(&self) -> u64 {
        self.word(40)
    }

    pub(crate) fn body(&self) -> &'a [u8] {
        // SAFETY: the body follows the header within the slab, initialised, and never written
        // again while a reference holds the entry (for `'a`, see `new`).
        unsafe { std::slice::from_raw_parts(self.at.as_ptr().add(HEADER_SIZE), self.len()) }
    }

    pub(crate) fn recv_seq(&self) -> u64 {
        // SAFETY: within the entry.
        unsafe { self.at.as_ptr().add(48).cast::<u64>().read_unaligned() }
    }

    /// Set by routing before the package is delivered anywhere (as for package objects).
    pub(crate) fn set_recv_seq(&self, seq: u64) {
        // SAFETY: within the entry; only routing writes it, before any other thread can see
        // the entry (delivery goes through a queue's lock).
        unsafe { self.at.as_ptr().add(48).cast::<u64>().write_unaligned(seq) }
    }
}

/// The reference count of the slab holding `entry` (tests).
#[cfg(test)]
#[allow(unsafe_code)]
pub(crate) fn refs_of(entry: &crate::package::PackageRef) -> usize {
    let base = entry.addr() & !(SLAB_BYTES - 1);
    // SAFETY: `entry` is an entry (the caller checks `in_slab`), alive: its slab is too.
    unsafe { &*(base as *const Head) }
        .refs
        .load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_stay_in_place_only_while_few_slabs_are_in_use() {
        // Other tests hold a few slabs at a time at most; this one holds the maximum.
        let held: Vec<Cursor> = (0..LIVE_MAX).map(|_| Cursor::new()).collect();
        assert!(!in_place_allowed());
        drop(held);
        assert!(in_place_allowed());
    }

    #[test]
    fn a_cursor_moves_to_a_new_slab_when_room_runs_short() {
        let mut cursor = Cursor::new();
        let first = cursor.room(1).as_ptr() as usize & !(SLAB_BYTES - 1);
        cursor.advance(DATA_BYTES - 100);
        assert_eq!(cursor.room(100).len(), 100);
        let same = cursor.room(100).as_ptr() as usize & !(SLAB_BYTES - 1);
        assert_eq!(same, first);
        let room = cursor.room(101);
        assert_eq!(room.len(), DATA_BYTES);
        assert_eq!(room.as_ptr() as usize % SLAB_BYTES, HEAD_BYTES);
    }
}
