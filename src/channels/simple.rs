//! SimpleSocket (docs/protocol.md §9.5): a context with one publisher and one subscriber, both on slot base
//! "text" with TEXT messages — the original's convenience node.

use std::time::Duration;

use super::{Channel, Message, MessageType};
use crate::context::Context;
use crate::error::Result;

/// A context plus a TEXT publisher and subscriber on base "text".
#[derive(Clone, Debug)]
pub struct SimpleSocket {
    context: Context,
    publisher: Channel,
    subscriber: Channel,
}

impl SimpleSocket {
    pub fn new() -> Result<SimpleSocket> {
        let context = Context::new();
        let publisher = Channel::publisher(&context, "text", MessageType::Text)?;
        let subscriber = Channel::subscriber(&context, "text", MessageType::Text)?;
        Ok(SimpleSocket {
            context,
            publisher,
            subscriber,
        })
    }

    /// The context, to bind or connect.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Publish a text.
    pub fn send(&self, text: &str) -> Result<()> {
        self.publisher.send(text.as_bytes())
    }

    /// Receive a text, waiting up to `timeout` (None: until one arrives).
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Message> {
        self.subscriber.recv(timeout)
    }
}
