//! The 56-byte package header (docs/protocol.md §2).

/// Size of a package header on the wire.
pub const HEADER_SIZE: usize = 56;
/// `b"YOTON   "` read as u64le.
pub const CONTROL: u64 = 0x2020_204E_4F54_4F59;
/// Slot carried by heartbeat and close packages.
pub const SLOT_DUMMY: u64 = 1;
/// Slot of context-to-context messages.
pub const SLOT_CONTEXT: u64 = 2;
/// Offset of pre-request traffic in `dest_seq` (req/rep, docs/protocol.md §9.3).
pub const REQREP_SEQ_REF: u64 = 1 << 63;

/// A decoded header (without the control word).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub slot: u64,
    pub source_id: u64,
    pub source_seq: u64,
    pub dest_id: u64,
    pub dest_seq: u64,
    pub length: u64,
}

/// What a zero-length package means (docs/protocol.md §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionSignal {
    Heartbeat,
    Close,
    /// Any other zero-length package: silently discarded.
    Ignored,
}

/// The control word was wrong: "Lost track of the stream."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadControl(pub u64);

/// Read the `index`-th u64le field of a header.
fn field(bytes: &[u8; HEADER_SIZE], index: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
    u64::from_le_bytes(word)
}

impl Header {
    /// The canonical heartbeat package header.
    pub const HEARTBEAT: Header = Header {
        slot: SLOT_DUMMY,
        source_id: 0,
        source_seq: 0,
        dest_id: 0,
        dest_seq: 0,
        length: 0,
    };
    /// The canonical close package header.
    pub const CLOSE: Header = Header {
        slot: SLOT_DUMMY,
        source_id: 0,
        source_seq: 1,
        dest_id: 0,
        dest_seq: 0,
        length: 0,
    };

    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let fields = [
            CONTROL,
            self.slot,
            self.source_id,
            self.source_seq,
            self.dest_id,
            self.dest_seq,
            self.length,
        ];
        let mut out = [0u8; HEADER_SIZE];
        for (chunk, value) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Decode; fails only on a bad control word.
    pub fn decode(bytes: &[u8; HEADER_SIZE]) -> Result<Header, BadControl> {
        let control = field(bytes, 0);
        if control != CONTROL {
            return Err(BadControl(control));
        }
        Ok(Header {
            slot: field(bytes, 1),
            source_id: field(bytes, 2),
            source_seq: field(bytes, 3),
            dest_id: field(bytes, 4),
            dest_seq: field(bytes, 5),
            length: field(bytes, 6),
        })
    }

    /// For `length == 0` packages: what the connection must do. `None` for data packages.
    /// Only `source_seq` matters; slot and ids of a zero-length package are ignored (docs/protocol.md §2.2).
    pub fn connection_signal(&self) -> Option<ConnectionSignal> {
        if self.length != 0 {
            return None;
        }
        Some(match self.source_seq {
            0 => ConnectionSignal::Heartbeat,
            1 => ConnectionSignal::Close,
            _ => ConnectionSignal::Ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn arr(v: &[u8]) -> [u8; HEADER_SIZE] {
        v.try_into().unwrap()
    }

    const SRC: u64 = 0x0123_4567_89ab_cdef;

    /// Encode `h`, compare with the docs/protocol.md §2.5 vector, and decode it back.
    fn check(h: Header, expected: &str) {
        let bytes = hex(expected);
        assert_eq!(h.encode().to_vec(), bytes);
        assert_eq!(Header::decode(&arr(&bytes)), Ok(h));
    }

    #[test]
    fn vector_chat_pub_sub() {
        let h = Header {
            slot: 0x0000_0fe1_5408_168f,
            source_id: SRC,
            source_seq: 1,
            dest_id: 0,
            dest_seq: 0,
            length: 5,
        };
        check(h, "594f544f4e202020 8f160854e10f0000 efcdab8967452301 0100000000000000 0000000000000000 0000000000000000 0500000000000000");
        assert_eq!(h.connection_signal(), None);
        assert_eq!(crate::protocol::hash::slot_hash("chat.txt.pub-sub"), h.slot);
    }

    #[test]
    fn vector_req_rep() {
        let h = Header {
            slot: 0x0000_2004_3b34_cba8,
            source_id: SRC,
            source_seq: 7,
            dest_id: 0,
            dest_seq: REQREP_SEQ_REF + 3,
            length: 4,
        };
        check(h, "594f544f4e202020 a8cb343b04200000 efcdab8967452301 0700000000000000 0000000000000000 0300000000000080 0400000000000000");
        assert_eq!(
            crate::protocol::hash::slot_hash("duplicate.obj.req-rep"),
            h.slot
        );
    }

    #[test]
    fn vector_context_message() {
        let h = Header {
            slot: SLOT_CONTEXT,
            source_id: SRC,
            source_seq: 1,
            dest_id: 0,
            dest_seq: 0,
            length: 14,
        };
        check(h, "594f544f4e202020 0200000000000000 efcdab8967452301 0100000000000000 0000000000000000 0000000000000000 0e00000000000000");
        assert_eq!(b"NEW_CONNECTION".len() as u64, h.length);
    }

    #[test]
    fn vector_heartbeat_and_close() {
        check(Header::HEARTBEAT, "594f544f4e202020 0100000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000");
        check(Header::CLOSE, "594f544f4e202020 0100000000000000 0000000000000000 0100000000000000 0000000000000000 0000000000000000 0000000000000000");
        assert_eq!(
            Header::HEARTBEAT.connection_signal(),
            Some(ConnectionSignal::Heartbeat)
        );
        assert_eq!(
            Header::CLOSE.connection_signal(),
            Some(ConnectionSignal::Close)
        );
    }

    #[test]
    fn control_bytes_are_yoton_spaces() {
        assert_eq!(&Header::default().encode()[..8], b"YOTON   ");
        assert_eq!(CONTROL, 2314885729178898265);
    }

    #[test]
    fn zero_length_signals_ignore_other_fields() {
        // Slot, ids and dest fields of zero-length packages are ignored.
        let h = Header {
            slot: 12345,
            source_id: 9,
            source_seq: 1,
            dest_id: 7,
            dest_seq: 3,
            length: 0,
        };
        assert_eq!(h.connection_signal(), Some(ConnectionSignal::Close));
        let h = Header { source_seq: 0, ..h };
        assert_eq!(h.connection_signal(), Some(ConnectionSignal::Heartbeat));
        for seq in [2, 3, 1000, u64::MAX] {
            let h = Header {
                source_seq: seq,
                ..h
            };
            assert_eq!(h.connection_signal(), Some(ConnectionSignal::Ignored));
        }
        // Any non-zero length is a data package, even with seq 0 or 1.
        for seq in [0, 1, 2] {
            let h = Header {
                source_seq: seq,
                length: 1,
                ..h
            };
            assert_eq!(h.connection_signal(), None);
        }
    }

    #[test]
    fn bad_control_is_reported() {
        let mut bytes = Header::HEARTBEAT.encode();
        bytes[7] = b'!';
        let expected = u64::from_le_bytes(*b"YOTON  !");
        assert_eq!(Header::decode(&bytes), Err(BadControl(expected)));
        assert_eq!(Header::decode(&[0u8; HEADER_SIZE]), Err(BadControl(0)));
    }

    #[test]
    fn round_trip_extremes() {
        let h = Header {
            slot: u64::MAX,
            source_id: 1,
            source_seq: u64::MAX - 1,
            dest_id: u64::MAX,
            dest_seq: 1 << 63,
            length: u64::MAX,
        };
        assert_eq!(Header::decode(&h.encode()), Ok(h));
    }
}
