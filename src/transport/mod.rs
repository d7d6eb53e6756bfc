//! Transports. Only TCP exists (the original ignores the protocol part of addresses too).
//!
//! - `tcp`: sockets, addresses, the connecting side's handshake;
//! - `wire`: bytes on a non-blocking socket (batched writes, the package decoder);
//! - `reactor`: the one I/O thread of a context, serving all of its sockets.

pub(crate) mod reactor;
pub mod tcp;
pub(crate) mod wire;
