//! The wire protocol, pure and I/O-free: everything a peer controls is parsed here
//! (and fuzzed here). No allocation is ever sized by a peer's number before the bytes exist.

/// Longest slot base name or address accepted, in bytes. The slot and port hashes must be
/// exact, and their value grows with the name (docs/protocol.md §5.4): a 1 MiB name took
/// seconds to hash; 8 KiB takes well under a millisecond, far beyond any real name (and beyond
/// the 4300-digit integers CPython still parses as port numbers).
pub const MAX_NAME_BYTES: usize = 8192;

pub mod address;
pub mod handshake;
pub mod hash;
pub mod header;
pub mod object;
