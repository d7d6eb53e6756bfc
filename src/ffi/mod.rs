//! The C API. The only module with `unsafe`: each exported function guards its arguments,
//! converts them, calls the safe Rust API and maps the error (the contract in include/yoton.h's preamble). Panics are caught
//! in `guard` and become `YOTON_ERR_INTERNAL`; they never cross the boundary.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod channel;
pub mod clientserver;
pub mod connection;
pub mod context;
pub mod error;
pub mod events;
pub mod future;
pub mod message;
pub mod reqrep;
pub mod simple;
pub mod util;
pub mod value;

pub use error::*;
