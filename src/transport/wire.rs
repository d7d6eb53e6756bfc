//! Bytes on a non-blocking socket: the write side (batches of packages in as few `writev`
//! calls as possible, resumable after `WouldBlock`) and the read side (a decoder that turns
//! arriving bytes into packages without ever allocating what a peer merely announces).

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use std::time::{Duration, Instant};

use socket2::SockRef;

use crate::package::{Package, PackageRef};
use crate::protocol::header::{ConnectionSignal, Header, HEADER_SIZE};
use crate::slab;

/// Bodies up to this size are copied into the staging buffer instead of their own iovec.
const STAGE_LIMIT: usize = 2048;
/// Upper bounds of one write batch (IOV_MAX is 1024 on Linux).
pub(crate) const BATCH_PACKAGES: usize = 500;
pub(crate) const BATCH_BYTES: usize = 8 << 20;
/// A body at least this big that is not complete yet gets its own buffer at once and the rest
/// is read straight into it (copying it through the shared read buffer cost more than the
/// kernel's copy for 64 KiB messages).
const DIRECT_BODY_MIN: usize = 16 * 1024;
/// Initial and minimum growth step when reading a big body.
const BODY_CHUNK: usize = 1 << 20;

/// Write a package from the caller's buffers (`header` with `data` as its body) as far as the
/// socket takes it. With `finish` None it never waits; with `finish` Some, a full socket is
/// waited for (`wait_writable`, in slices of at most `WAIT_SLICE`) until everything is written,
/// the deadline passes, or `finish`'s check says to give up (the connection is closing).
/// Returns the bytes written, or None if the socket failed before a byte went out.
pub(crate) fn write_parts(
    stream: &TcpStream,
    header: &Header,
    data: &[u8],
    finish: Option<(Instant, &dyn Fn() -> bool)>,
) -> Option<usize> {
    let mut h = *header;
    h.length = data.len() as u64;
    let head = h.encode();
    let total = HEADER_SIZE + data.len();
    let sock = SockRef::from(stream);
    let mut written = 0;
    while written < total {
        let slices: [IoSlice<'_>; 2] = if written < HEADER_SIZE {
            [IoSlice::new(&head[written..]), IoSlice::new(data)]
        } else {
            [
                IoSlice::new(&data[written - HEADER_SIZE..]),
                IoSlice::new(&[]),
            ]
        };
        match sock.send_vectored_with_flags(&slices, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let Some((deadline, keep_going)) = finish else {
                    break;
                };
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !keep_going() {
                    break;
                }
                if !wait_writable(stream, left.min(WAIT_SLICE)) && !keep_going() {
                    break;
                }
            }
            Err(_) => return (written > 0).then_some(written),
        }
    }
    Some(written)
}

/// Longest single wait of `write_parts` for a full socket before it checks again whether to
/// go on (a close elsewhere must not wait for a whole send timeout).
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Wait at most `timeout` until `stream` can take more bytes (or has failed: the next write
/// says how). False if the time ran out.
#[allow(unsafe_code)]
fn wait_writable(stream: &TcpStream, timeout: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, for a socket `stream` keeps open during the call.
    unsafe { libc::poll(&mut fd, 1, ms) > 0 }
}

/// Small packages already encoded back to back, header and body, as they go on the wire: a
/// sender copies a small publication straight into the run of its connection's bulk lane, so
/// no package object is filled, queued, staged and recycled per message (each of those was a
/// store into memory last touched on the other core), and the reactor writes the whole run as
/// one iovec.
#[derive(Default)]
pub(crate) struct Run {
    bytes: Vec<u8>,
    /// Where the oldest package still queued starts (older ones were evicted).
    start: usize,
    /// Packages from `start` on.
    count: usize,
}

impl Run {
    /// Bytes a run holds at most (a sender starts a new one beyond it).
    pub(crate) const CAPACITY: usize = 64 * 1024;

    /// Encode a package (`header` with `data` as body) at the end. The caller checks `fits`.
    pub(crate) fn push(&mut self, header: &Header, data: &[u8]) {
        if self.bytes.capacity() == 0 {
            // A warm buffer from the pool: a stream has up to a lane's soft limit of runs in
            // flight, and fresh 64 KiB buffers were page faults on every one of them.
            self.bytes = crate::pool::big_buffer(Self::CAPACITY);
        }
        let mut h = *header;
        h.length = data.len() as u64;
        self.bytes.extend_from_slice(&h.encode());
        self.bytes.extend_from_slice(data);
        self.count += 1;
    }

    /// Room for a package with a body of `len` bytes.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.bytes.len() + HEADER_SIZE + len <= Self::CAPACITY
    }

    /// Packages in the run.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Bytes of the packages in the run.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// Drop the oldest package; returns its bytes (header included), 0 when empty.
    pub(crate) fn evict_oldest(&mut self) -> usize {
        if self.count == 0 {
            return 0;
        }
        let head: &[u8; HEADER_SIZE] = self.bytes[self.start..self.start + HEADER_SIZE]
            .try_into()
            .expect("a whole header");
        let len = HEADER_SIZE + Header::decode(head).expect("encoded by us").length as usize;
        self.start += len;
        self.count -= 1;
        len
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.bytes.capacity() > 0 {
            crate::pool::keep_big(std::mem::take(&mut self.bytes));
        }
    }
}

/// What a write batch is made of.
pub(crate) enum Chunk {
    Package(PackageRef),
    Run(Run),
}

impl Chunk {
    /// Packages in it.
    pub(crate) fn count(&self) -> usize {
        match self {
            Chunk::Package(_) => 1,
            Chunk::Run(run) => run.count(),
        }
    }

    /// Bytes it puts on the wire.
    pub(crate) fn cost(&self) -> usize {
        match self {
            Chunk::Package(pkg) => pkg.cost(),
            Chunk::Run(run) => run.len(),
        }
    }
}

/// The `source_seq` of every package in `chunks`, in order (runs decoded): for tests.
#[cfg(test)]
pub(crate) fn chunk_seqs<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Vec<u64> {
    let mut seqs = Vec::new();
    for chunk in chunks {
        match chunk {
            Chunk::Package(pkg) => seqs.push(pkg.source_seq()),
            Chunk::Run(run) => {
                let mut out = Vec::new();
                Decoder::default()
                    .feed(
                        &mut crate::slab::Cursor::new(),
                        run.as_slice(),
                        false,
                        1 << 20,
                        &mut out,
                    )
                    .expect("a run decodes");
                assert_eq!(out.len(), run.count());
                seqs.extend(out.iter().map(|p| p.source_seq()));
            }
        }
    }
    seqs
}

/// Where a segment of the outgoing bytes is.
enum Seg {
    /// `staging[a..b]`
    Staged(usize, usize),
    /// The body of the package `chunks[i]`, written in place.
    Body(usize),
    /// The run `chunks[i]`, written in place.
    Run(usize),
}

/// The bytes the reactor is writing to one connection: a batch of packages and runs, small
/// packages staged, and how far the socket took them. Survives `WouldBlock` until the socket
/// is writable again.
#[derive(Default)]
pub(crate) struct Outgoing {
    chunks: Vec<Chunk>,
    staging: Vec<u8>,
    segs: Vec<Seg>,
    /// Bytes of this batch already written.
    written: usize,
    total: usize,
    /// The batch came from the connection's lanes (counted as done once written), not from
    /// the reactor itself (heartbeats, the close package).
    from_lanes: bool,
}

/// The outcome of `Outgoing::write`.
pub(crate) enum Wrote {
    /// Everything went out.
    All,
    /// The socket is full; wait for it to be writable.
    Blocked,
}

impl Outgoing {
    pub(crate) fn is_empty(&self) -> bool {
        self.written == self.total
    }

    /// Bytes of the current batch written so far.
    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// The chunks of the batch (to take them back when it is done), and whether they came
    /// from the lanes.
    pub(crate) fn take_chunks(&mut self) -> (Vec<Chunk>, bool) {
        (
            std::mem::take(&mut self.chunks),
            std::mem::take(&mut self.from_lanes),
        )
    }

    /// Stage `batch` (headers and small bodies copied, big bodies and runs referenced),
    /// skipping the first `skip` bytes (already written by a direct write).
    pub(crate) fn load(&mut self, batch: Vec<Chunk>, skip: usize, from_lanes: bool) {
        debug_assert!(self.is_empty());
        self.staging.clear();
        self.segs.clear();
        let mut staged_from = 0;
        for (i, chunk) in batch.iter().enumerate() {
            // Packages were filled on the sender's core: start loading the ones coming up.
            if let Some(Chunk::Package(ahead)) = batch.get(i + 2) {
                ahead.prefetch(true);
            }
            let pkg = match chunk {
                Chunk::Package(pkg) => pkg,
                Chunk::Run(_) => {
                    self.segs.push(Seg::Staged(staged_from, self.staging.len()));
                    staged_from = self.staging.len();
                    self.segs.push(Seg::Run(i));
                    continue;
                }
            };
            self.staging.extend_from_slice(&pkg.header().encode());
            let body = pkg.body();
            if body.len() <= STAGE_LIMIT {
                self.staging.extend_from_slice(body);
            } else {
                self.segs.push(Seg::Staged(staged_from, self.staging.len()));
                staged_from = self.staging.len();
                self.segs.push(Seg::Body(i));
            }
        }
        self.segs.push(Seg::Staged(staged_from, self.staging.len()));
        self.total = batch.iter().map(Chunk::cost).sum();
        self.written = skip.min(self.total);
        self.chunks = batch;
        self.from_lanes = from_lanes;
    }

    /// Write as much as the socket takes. Errors are the socket's (the connection is lost).
    pub(crate) fn write(&mut self, stream: &TcpStream) -> io::Result<Wrote> {
        let sock = SockRef::from(stream);
        while !self.is_empty() {
            let mut skip = self.written;
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(self.segs.len());
            for seg in &self.segs {
                let bytes: &[u8] = match *seg {
                    Seg::Staged(a, b) => &self.staging[a..b],
                    Seg::Body(i) | Seg::Run(i) => match &self.chunks[i] {
                        Chunk::Package(pkg) => pkg.body(),
                        Chunk::Run(run) => run.as_slice(),
                    },
                };
                if skip >= bytes.len() {
                    skip -= bytes.len();
                    continue;
                }
                slices.push(IoSlice::new(&bytes[skip..]));
                skip = 0;
                if slices.len() == 1024 {
                    break;
                }
            }
            match sock.send_vectored_with_flags(&slices, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "socket accepted no bytes",
                    ))
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Wrote::Blocked),
                Err(e) => return Err(e),
            }
        }
        Ok(Wrote::All)
    }
}

/// Why a connection's input ended.
#[derive(Debug)]
pub(crate) enum InputEnd {
    /// The peer sent a close package.
    PeerClosed,
    /// The stream cannot be followed any more (garbage, or a body above the maximum).
    LostTrack(String),
}

/// Turns a connection's incoming bytes into packages. Keeps only what belongs to an
/// incomplete package between reads: a short tail, or the body being read (grown as bytes
/// arrive, never sized by the peer's length field alone).
#[derive(Default)]
pub(crate) struct Decoder {
    tail: Vec<u8>,
    big: Option<(Header, Vec<u8>)>,
}

impl Decoder {
    /// Bytes kept for an incomplete package.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.tail.len() + self.big.as_ref().map_or(0, |(_, b)| b.len())
    }

    /// A big body is being read: where the next bytes go (its spare capacity, grown as
    /// needed), or None when the decoder is between packages.
    pub(crate) fn big_body_room(&mut self) -> Option<&mut [MaybeUninit<u8>]> {
        let (header, body) = self.big.as_mut()?;
        let len = header.length as usize;
        if body.len() == body.capacity() {
            let grow = (len - body.len()).min(body.len().max(BODY_CHUNK));
            body.reserve_exact(grow + 1);
        }
        let want = (len - body.len()).min(body.capacity() - body.len());
        Some(&mut body.spare_capacity_mut()[..want])
    }

    /// `n` bytes were received into `big_body_room`: the package, if now complete.
    pub(crate) fn big_body_received(&mut self, n: usize) -> Option<PackageRef> {
        let (header, body) = self.big.as_mut()?;
        commit_received(body, n);
        if body.len() < header.length as usize {
            return None;
        }
        let (header, body) = self.big.take().expect("checked");
        Some(PackageRef::new(Package::new(&header, body)))
    }

    /// Move the kept tail to the front of `buf` (where the next read goes); returns its length.
    /// The caller reads after it and then calls `decode` on the whole.
    pub(crate) fn restore_tail(&mut self, buf: &mut [u8]) -> usize {
        let n = self.tail.len();
        buf[..n].copy_from_slice(&self.tail);
        self.tail.clear();
        if self.tail.capacity() > 64 * 1024 {
            self.tail = Vec::new();
        }
        n
    }

    /// Keep `tail` again (a read after `restore_tail` brought nothing).
    pub(crate) fn keep_tail(&mut self, tail: &[u8]) {
        self.tail.extend_from_slice(tail);
    }

    /// Bytes kept for an incomplete small package (`restore_tail` puts them back).
    pub(crate) fn tail_len(&self) -> usize {
        self.tail.len()
    }

    /// Parse every complete package in the `filled` bytes at the start of `input`'s free part
    /// (there is at least one byte more: the NUL after the last body) into `out`; keep an
    /// incomplete rest. With `in_place`, complete small packages stay in the slab as entries
    /// (`slab::make_entry`, and `input` advances past them); otherwise, and for bigger bodies,
    /// they are copied out. Stops at a big incomplete body (read in place from then on:
    /// `big_body_room`).
    pub(crate) fn decode(
        &mut self,
        input: &mut slab::Cursor,
        filled: usize,
        in_place: bool,
        max_body: u64,
        out: &mut Vec<PackageRef>,
    ) -> Result<(), InputEnd> {
        let (mut refs, region) = input.split();
        assert!(filled < region.len(), "no room for the last NUL");
        let mut at = 0;
        let mut used = 0;
        // The byte after the last entry's body: the next header's first byte, zeroed once that
        // header has been read.
        let mut nul_at = None;
        let end = loop {
            if filled - at < HEADER_SIZE {
                self.tail.extend_from_slice(&region[at..filled]);
                break Ok(());
            }
            let raw: [u8; HEADER_SIZE] = region[at..at + HEADER_SIZE].try_into().expect("56 bytes");
            if nul_at.take() == Some(at) {
                region[at] = 0;
            }
            let Ok(header) = Header::decode(&raw) else {
                break Err(InputEnd::LostTrack(
                    crate::connection::reasons::LOST_TRACK.into(),
                ));
            };
            if let Some(signal) = header.connection_signal() {
                at += HEADER_SIZE;
                match signal {
                    ConnectionSignal::Close => break Err(InputEnd::PeerClosed),
                    ConnectionSignal::Heartbeat | ConnectionSignal::Ignored => continue,
                }
            }
            if header.length > max_body {
                break Err(InputEnd::LostTrack(format!(
                    "Lost track of the stream: a package announced {} bytes, above the maximum message size of {max_body} bytes.",
                    header.length
                )));
            }
            let len = header.length as usize;
            let body_at = at + HEADER_SIZE;
            let have = filled - body_at;
            if have >= len {
                if in_place && len < slab::BODY_IN_PLACE_MAX {
                    let entry = slab::make_entry(region, at, len);
                    refs.made();
                    // SAFETY: made just now; counted by `refs` (added when it drops, before
                    // this function returns).
                    #[allow(unsafe_code)]
                    out.push(unsafe { PackageRef::from_entry(entry) });
                    nul_at = Some(body_at + len);
                    used = body_at + len + 1;
                } else {
                    out.push(crate::pool::package(
                        &header,
                        &region[body_at..body_at + len],
                    ));
                }
                at = body_at + len;
            } else if len >= DIRECT_BODY_MIN {
                let mut body = crate::pool::big_buffer(len.min(BODY_CHUNK.max(have)) + 1);
                body.extend_from_slice(&region[body_at..filled]);
                self.big = Some((header, body));
                break Ok(());
            } else {
                // (Its first byte may be the NUL after the last entry by now.)
                self.tail.extend_from_slice(&raw);
                self.tail.extend_from_slice(&region[body_at..filled]);
                break Ok(());
            }
        };
        // (The tail was copied out first: the NUL may overwrite its first byte.)
        if let Some(nul) = nul_at {
            region[nul] = 0;
        }
        drop(refs);
        input.advance(used);
        end
    }

    /// Put `bytes` after what is kept, as the reactor's read does, and decode (tests).
    #[cfg(test)]
    pub(crate) fn feed(
        &mut self,
        input: &mut slab::Cursor,
        bytes: &[u8],
        in_place: bool,
        max_body: u64,
        out: &mut Vec<PackageRef>,
    ) -> Result<(), InputEnd> {
        let room = input.room(self.tail_len() + bytes.len() + 1);
        let kept = self.restore_tail(room);
        room[kept..kept + bytes.len()].copy_from_slice(bytes);
        self.decode(input, kept + bytes.len(), in_place, max_body, out)
    }
}

/// `recv` wrote `n` bytes at the start of `body`'s spare capacity: make them part of it.
#[allow(unsafe_code)]
fn commit_received(body: &mut Vec<u8>, n: usize) {
    assert!(
        n <= body.capacity() - body.len(),
        "recv reported more bytes than it was given room for"
    );
    // SAFETY: within capacity (checked), and those bytes were initialised by recv.
    unsafe { body.set_len(body.len() + n) }
}

/// View initialised bytes as the `MaybeUninit` buffer socket2's `recv` takes.
#[allow(unsafe_code)]
pub(crate) fn as_uninit(bytes: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; recv only ever writes initialised bytes into the slice, so it stays
    // initialised for the `&mut [u8]` it came from.
    unsafe { &mut *(bytes as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::testing;

    fn encoded(header: &Header, body: &[u8]) -> Vec<u8> {
        let mut h = *header;
        h.length = body.len() as u64;
        let mut v = h.encode().to_vec();
        v.extend_from_slice(body);
        v
    }

    /// The byte after a body (the C-string guarantee).
    #[allow(unsafe_code)]
    fn byte_after(body: &[u8]) -> u8 {
        // SAFETY: every received body is followed by a NUL byte in memory (what is checked).
        unsafe { *body.as_ptr().add(body.len()) }
    }

    #[test]
    fn decoder_reassembles_packages_split_at_every_byte() {
        let header = Header {
            slot: 7,
            source_id: 9,
            source_seq: 1,
            dest_id: 3,
            dest_seq: 4,
            ..Header::default()
        };
        let mut stream = encoded(&header, b"hello");
        stream.extend(encoded(&Header::HEARTBEAT, b""));
        stream.extend(encoded(
            &Header {
                source_seq: 2,
                ..header
            },
            &[5u8; 3000],
        ));
        stream.extend(encoded(
            &Header {
                source_seq: 3,
                ..header
            },
            b"x",
        ));
        for in_place in [true, false] {
            let mut input = slab::Cursor::new();
            for cut in 0..stream.len() {
                let mut d = Decoder::default();
                let mut out = Vec::new();
                d.feed(&mut input, &stream[..cut], in_place, 1 << 20, &mut out)
                    .unwrap();
                d.feed(&mut input, &stream[cut..], in_place, 1 << 20, &mut out)
                    .unwrap();
                assert_eq!(out.len(), 3, "cut at {cut}");
                assert_eq!(out[0].body(), b"hello");
                assert_eq!(out[1].body(), &[5u8; 3000][..]);
                assert_eq!(out[2].body(), b"x");
                for (pkg, seq) in out.iter().zip(1..) {
                    assert_eq!(pkg.in_slab(), in_place, "cut at {cut}");
                    assert_eq!(byte_after(pkg.body()), 0, "cut at {cut}");
                    let h = pkg.header();
                    assert_eq!(
                        (h.slot, h.source_id, h.source_seq, h.dest_id, h.dest_seq),
                        (7, 9, seq, 3, 4)
                    );
                    assert_eq!(h.length as usize, pkg.body().len());
                    assert_eq!(pkg.recv_seq(), 0);
                    pkg.set_recv_seq(seq + 100);
                }
                let seqs: Vec<u64> = out.iter().map(PackageRef::recv_seq).collect();
                assert_eq!(seqs, [101, 102, 103]);
                assert_eq!(d.buffered(), 0);
            }
        }
    }

    #[test]
    fn packages_in_place_keep_their_slab_until_the_last_reference_goes() {
        let mut stream = Vec::new();
        for seq in 1..=3 {
            stream.extend(encoded(&testing::header(seq), b"abc"));
        }
        let mut input = slab::Cursor::new();
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(&mut input, &stream, true, 1 << 20, &mut out)
            .unwrap();
        assert!(out.iter().all(PackageRef::in_slab));
        // The cursor's reference and one per package.
        assert_eq!(slab::refs_of(&out[0]), 4);
        let copy = out[1].clone();
        assert_eq!(slab::refs_of(&copy), 5);
        drop(out.drain(..2));
        assert_eq!(slab::refs_of(&copy), 3);
        // The reactor moves on to another slab: what is held stays readable.
        drop(input);
        assert_eq!(slab::refs_of(&copy), 2);
        assert_eq!(copy.body(), b"abc");
        assert_eq!(copy.source_seq(), 2);
        // A detached copy is an object of its own: it does not keep the slab.
        let kept = copy.clone().detached();
        assert!(!kept.in_slab());
        assert_eq!(slab::refs_of(&copy), 2);
        assert_eq!(
            (kept.body(), kept.source_seq(), kept.slot()),
            (&b"abc"[..], 2, 7)
        );
        assert_eq!(byte_after(kept.body()), 0);
        // A handle handed to C and taken back is the same reference.
        let raw = copy.into_raw();
        #[allow(unsafe_code)]
        let back = unsafe { PackageRef::from_raw(raw) };
        assert_eq!(back.source_seq(), 2);
        assert_eq!(slab::refs_of(&back), 2);
    }

    #[test]
    fn big_bodies_are_copied_out_of_the_slab() {
        let big = vec![7u8; slab::BODY_IN_PLACE_MAX];
        let stream = encoded(&testing::header(1), &big);
        let mut input = slab::Cursor::new();
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(&mut input, &stream, true, 1 << 20, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert!(!out[0].in_slab());
        assert_eq!(out[0].body(), &big[..]);
        assert_eq!(byte_after(out[0].body()), 0);
    }

    #[test]
    fn decoder_never_allocates_an_announced_length() {
        let header = Header {
            slot: 7,
            source_id: 9,
            source_seq: 1,
            length: 200 << 20,
            ..Header::default()
        };
        let mut input = slab::Cursor::new();
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(&mut input, &header.encode(), true, 256 << 20, &mut out)
            .unwrap();
        assert!(out.is_empty());
        let room = d.big_body_room().unwrap().len();
        assert!(room <= BODY_CHUNK + 1, "{room}");
        let mut d = Decoder::default();
        let too_big = Header {
            length: 300 << 20,
            ..header
        };
        assert!(matches!(
            d.feed(&mut input, &too_big.encode(), true, 256 << 20, &mut out),
            Err(InputEnd::LostTrack(_))
        ));
    }
}
