//! Transports. Only TCP exists (the original ignores the protocol part of addresses too).

pub mod tcp;
