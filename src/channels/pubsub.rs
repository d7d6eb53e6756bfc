//! Publish/subscribe (§9.2): `send` broadcasts on `B.T.pub-sub`; every subscriber on that slot
//! anywhere in the network queues it.

use std::time::Duration;

use super::{Channel, ChannelKind, Message, MessageType};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::package::body_from;
use crate::protocol::object;
use crate::value::Value;

impl Channel {
    /// A publisher on slot base `base`.
    pub fn publisher(context: &Context, base: &str, msg_type: MessageType) -> Result<Channel> {
        Channel::new(context, ChannelKind::Pub, base, msg_type)
    }

    /// A subscriber on slot base `base`.
    pub fn subscriber(context: &Context, base: &str, msg_type: MessageType) -> Result<Channel> {
        Channel::new(context, ChannelKind::Sub, base, msg_type)
    }

    /// Publish raw body bytes, checked against the message type (UTF-8 for TEXT, a valid
    /// value for OBJECT). An empty message is skipped silently, as in the original (§2.2).
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.expect_kind(&[ChannelKind::Pub], "send")?;
        self.check_open()?;
        self.shared.msg_type.validate(data)?;
        self.shared.context.send(self.shared.slot_out.hash, 0, 0, body_from(data))
    }

    /// Publish an OBJECT value (OBJECT channels only).
    pub fn send_value(&self, value: &Value) -> Result<()> {
        self.expect_kind(&[ChannelKind::Pub], "send_value")?;
        if self.shared.msg_type != MessageType::Object {
            return Err(Error::invalid("send_value needs an OBJECT channel"));
        }
        self.check_open()?;
        let mut body = Vec::new();
        object::encode_into(value, &mut body).map_err(|e| Error::encoding(e.0))?;
        self.shared.context.send(self.shared.slot_out.hash, 0, 0, body)
    }

    /// Receive the oldest message: wait up to `timeout` (`Some(ZERO)`: do not wait; `None`:
    /// until one arrives or the channel closes). TEXT messages that are not valid UTF-8 are
    /// taken off the queue and reported as an `Encoding` error.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Message> {
        self.expect_kind(&[ChannelKind::Sub], "recv")?;
        let pkg = self.shared.pop_wait(timeout)?;
        let message = Message::new(pkg);
        if self.shared.msg_type == MessageType::Text {
            message.text()?;
        }
        Ok(message)
    }

    /// Iterate over the pending messages without waiting (the original's iteration), ending
    /// when the queue is empty.
    pub fn try_iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || loop {
            match self.recv(Some(Duration::ZERO)) {
                Ok(m) => return Some(m),
                Err(e) if e.kind() == crate::ErrorKind::Encoding => continue,
                Err(_) => return None,
            }
        })
    }

    /// Every pending message, without waiting. Invalid TEXT messages are skipped.
    pub fn recv_all(&self) -> Result<Vec<Message>> {
        self.expect_kind(&[ChannelKind::Sub], "recv_all")?;
        Ok(self.try_iter().collect())
    }
}
