//! State channels (docs/protocol.md §9.4): one slot `B.T.state` both ways; the current state is the last one
//! sent or received, and it is re-sent when a new context joins the network.

use parking_lot::{Mutex, MutexGuard};

use super::{Channel, ChannelExt, ChannelKind, ChannelShared, Message, MessageType};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::package::{body_from, Package, PackageRef};
use crate::protocol::header::Header;
use crate::protocol::object;
use crate::value::Value;

pub(crate) struct StateExt {
    /// The current state; None until one was sent or received.
    current: Mutex<Option<PackageRef>>,
}

impl StateExt {
    pub(crate) fn new() -> StateExt {
        StateExt {
            current: Mutex::new(None),
        }
    }
    fn current(&self) -> MutexGuard<'_, Option<PackageRef>> {
        self.current.lock()
    }
}

impl ChannelShared {
    fn state_ext(&self) -> &StateExt {
        match &self.ext {
            ChannelExt::State(s) => s,
            _ => unreachable!("not a state channel"),
        }
    }

    /// A state arrived: it replaces ours unconditionally (last arrival wins, docs/protocol.md §9.4).
    pub(crate) fn state_deliver(&self, pkg: PackageRef) {
        // Kept until the next state arrives, maybe for hours: not in a read slab.
        let pkg = pkg.detached();
        *self.state_ext().current() = Some(pkg);
    }

    /// Re-broadcast the current state, if there is one (also on `NEW_CONNECTION`).
    pub(crate) fn state_send_last(&self) -> Result<()> {
        let current = self.state_ext().current().clone();
        match current {
            Some(pkg) if !self.is_closed() => {
                self.context
                    .send(self.slot_out.hash, 0, 0, body_from(pkg.body()))
            }
            _ => Ok(()),
        }
    }
}

impl Channel {
    /// A state channel on slot base `base`.
    pub fn state(context: &Context, base: &str, msg_type: MessageType) -> Result<Channel> {
        Channel::new(context, ChannelKind::State, base, msg_type)
    }

    /// Set and broadcast the state; nothing happens if it equals the current state (compared
    /// as bytes). An empty state cannot be sent once a state exists (it would read as a
    /// close package on the wire).
    pub fn send_state(&self, data: &[u8]) -> Result<()> {
        self.expect_kind(&[ChannelKind::State], "send_state")?;
        self.check_open()?;
        self.shared.msg_type.validate(data)?;
        let mut current = self.shared.state_ext().current();
        let same = match current.as_ref() {
            Some(pkg) => pkg.body() == data,
            None => {
                data.is_empty() || (self.shared.msg_type == MessageType::Object && data == b"n")
            }
        };
        if same {
            return Ok(());
        }
        if data.is_empty() {
            return Err(Error::invalid("an empty state cannot be sent"));
        }
        self.shared
            .context
            .send(self.shared.slot_out.hash, 0, 0, body_from(data))?;
        let header = Header {
            slot: self.shared.slot_in.hash,
            source_id: self.shared.context.id,
            ..Header::default()
        };
        *current = Some(PackageRef::new(Package::new(&header, body_from(data))));
        Ok(())
    }

    /// Set and broadcast an OBJECT state.
    pub fn send_state_value(&self, value: &Value) -> Result<()> {
        if self.shared.msg_type != MessageType::Object {
            return Err(Error::invalid("send_state_value needs an OBJECT channel"));
        }
        let body = object::encode(value).map_err(|e| Error::encoding(e.0))?;
        self.send_state(&body)
    }

    /// The current state, never blocking: the type's empty message (empty bytes) until a
    /// state was sent or received.
    pub fn recv_state(&self) -> Result<Message> {
        self.expect_kind(&[ChannelKind::State], "recv_state")?;
        let current = self.shared.state_ext().current().clone();
        let pkg = current
            .unwrap_or_else(|| PackageRef::new(Package::new(&Header::default(), Vec::new())));
        Ok(Message::new(pkg))
    }

    /// Broadcast the current state again (if there is one).
    pub fn send_last(&self) -> Result<()> {
        self.expect_kind(&[ChannelKind::State], "send_last")?;
        self.check_open()?;
        self.shared.state_send_last()
    }
}
