//! yoton: a fast, robust messaging library, wire-compatible with the original Python yoton 2.2.
//!
//! Layers (data flows one way: channel → context → connection → reactor; what arrives goes
//! back up through the `Upcalls` trait):
//! - [`protocol`]: pure wire formats (headers, handshake, hashing, addresses, OBJECT codec);
//! - [`transport`]: TCP sockets, the wire I/O, and the one I/O reactor thread per context;
//! - [`connection`]: a connection's state and properties;
//! - [`context`]: node identity, channel registry, routing, queues;
//! - [`channels`]: the user-facing channel patterns and message types;
//! - `ffi`: the C API. `unsafe` is denied everywhere else but item by item, each with its
//!   reason: the package reference and slabs (`package`, `slab`), prefetch hints, and reads
//!   into a buffer's spare capacity (`transport::wire`).
#![deny(unsafe_code)]

pub mod channels;
pub mod clientserver;
pub mod connection;
pub mod context;
pub mod error;
pub mod events;
pub mod future;
mod lane;
pub mod package;
mod pool;
pub mod protocol;
pub mod queue;
mod slab;
pub mod transport;
mod unprintable;
pub mod value;
mod value_repr;

#[allow(unsafe_code)]
pub mod ffi;

pub use channels::reqrep::{Handler, RepMode};
pub use channels::simple::SimpleSocket;
pub use channels::{Channel, ChannelKind, Message, MessageType};
pub use connection::{Connection, Status};
pub use context::{Context, Discard, QueueParams, RouteObserver, RoutedPackage};
pub use error::{Error, ErrorKind, Result};
pub use future::{Future, FutureStatus};
pub use value::Value;

/// The library version, `MAJOR.MINOR.PATCH`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long releasing a replier or a request server waits for a handler still running on
/// another thread before it returns anyway (the handler's data is then released right after
/// the handler returns, on its thread). Bounded, so no release can hang on a user handler.
pub const HANDLER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
