//! The wire protocol, pure and I/O-free: everything a peer controls is parsed here
//! (and fuzzed here). No allocation is ever sized by a peer's number before the bytes exist.

pub mod address;
pub mod handshake;
pub mod hash;
pub mod header;
pub mod object;
