//! The one error type of the safe API. Every error has a kind (mapped 1:1 to a C status
//! code in `ffi`) and a human-readable message (the C thread-local "last error").

use std::fmt;

/// What went wrong, coarse enough to act on. The C status code is `kind as i32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorKind {
    /// A NULL pointer, a value out of range, a malformed address or slot name, a wrong channel kind.
    InvalidArgument = 1,
    /// The object (context, connection, channel, ...) is closed.
    Closed = 2,
    /// Nothing happened within the given time (also: non-blocking call found nothing).
    Timeout = 3,
    /// The operation was cancelled.
    Cancelled = 4,
    /// An operating-system I/O error (connect refused, socket error, ...).
    Io = 5,
    /// The address (port) is already in use.
    AddressInUse = 6,
    /// The peer is not a yoton peer, or presented our own id.
    Handshake = 7,
    /// A message above the configured maximum size.
    TooLarge = 8,
    /// Bytes that are not valid for the message type: invalid UTF-8, an undecodable OBJECT.
    Encoding = 9,
    /// The remote side reported an error (a failed request).
    Remote = 10,
    /// A bug inside yoton, including a caught panic.
    Internal = 11,
    /// A lookup found nothing: no such dict key, no connection of that name.
    NotFound = 12,
}

impl ErrorKind {
    /// A static description, the text of `yoton_strerror`.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Closed => "object is closed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Io => "I/O error",
            ErrorKind::AddressInUse => "address in use",
            ErrorKind::Handshake => "handshake failed",
            ErrorKind::TooLarge => "message too large",
            ErrorKind::Encoding => "invalid encoding",
            ErrorKind::Remote => "remote error",
            ErrorKind::Internal => "internal error",
            ErrorKind::NotFound => "not found",
        }
    }
}

/// An error with its kind and a detailed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }
    pub fn closed(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Closed, message)
    }
    pub fn timeout(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Timeout, message)
    }
    pub fn encoding(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Encoding, message)
    }
    pub fn io(context: &str, err: &std::io::Error) -> Error {
        let kind = if err.kind() == std::io::ErrorKind::AddrInUse {
            ErrorKind::AddressInUse
        } else {
            ErrorKind::Io
        };
        Error::new(kind, format!("{context}: {err}"))
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.description(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message of a caught panic ("" if it carried none).
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
