//! Message types (docs/protocol.md §8.1) and received messages.

use crate::error::{Error, Result};
use crate::package::PackageRef;
use crate::protocol::object;
use crate::value::Value;

/// How messages turn into body bytes. The type name is part of the slot name, so channels of
/// different types never see each other's traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// UTF-8 text (`txt`), checked both ways. The default.
    Text,
    /// Raw bytes (`bin`).
    Binary,
    /// The OBJECT value encoding (`obj`).
    Object,
    /// A user-defined type name; bodies are raw bytes both ends agree on.
    Custom(String),
}

impl MessageType {
    /// `txt`, `bin` and `obj` are the built-in types; any other non-empty name without dots or
    /// whitespace is a custom type.
    pub fn from_name(name: &str) -> Result<MessageType> {
        Ok(match name {
            "txt" => MessageType::Text,
            "bin" => MessageType::Binary,
            "obj" => MessageType::Object,
            _ if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) => {
                return Err(Error::invalid(format!(
                    "invalid message type name {name:?}: must be non-empty, without dots or spaces"
                )))
            }
            _ => MessageType::Custom(name.to_string()),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            MessageType::Text => "txt",
            MessageType::Binary => "bin",
            MessageType::Object => "obj",
            MessageType::Custom(name) => name,
        }
    }

    /// Check that `bytes` is a valid body of this type.
    pub fn validate(&self, bytes: &[u8]) -> Result<()> {
        match self {
            MessageType::Text => std::str::from_utf8(bytes)
                .map(|_| ())
                .map_err(|e| Error::encoding(format!("Text channel requires UTF-8 text: {e}"))),
            MessageType::Object => object::decode(bytes)
                .map(|_| ())
                .map_err(|e| Error::encoding(format!("invalid OBJECT value: {}", e.0))),
            MessageType::Binary | MessageType::Custom(_) => Ok(()),
        }
    }
}

/// A received message: a shared reference to the package (no copy of the body).
#[derive(Clone, Debug)]
pub struct Message {
    pub(crate) pkg: PackageRef,
}

impl Message {
    pub(crate) fn new(pkg: PackageRef) -> Message {
        Message { pkg }
    }

    /// The body bytes (followed in memory by a NUL byte, see `Package::body`).
    pub fn data(&self) -> &[u8] {
        self.pkg.body()
    }

    /// The body as text (fails on invalid UTF-8).
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(self.data())
            .map_err(|e| Error::encoding(format!("message is not valid UTF-8: {e}")))
    }

    /// The body decoded as an OBJECT value.
    pub fn value(&self) -> Result<Value> {
        Message::decode_value(self.data())
    }

    /// Decode an OBJECT body.
    pub(crate) fn decode_value(body: &[u8]) -> Result<Value> {
        object::decode(body).map_err(|e| Error::encoding(format!("invalid OBJECT value: {}", e.0)))
    }

    /// Id of the context that sent it.
    pub fn source_id(&self) -> u64 {
        self.pkg.source_id()
    }

    /// The sender's sequence number of this message.
    pub fn source_seq(&self) -> u64 {
        self.pkg.source_seq()
    }

    /// Local arrival order across all channels of the receiving context.
    pub fn recv_seq(&self) -> u64 {
        self.pkg.recv_seq()
    }
}
