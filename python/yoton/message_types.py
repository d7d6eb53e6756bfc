"""Message types: how a channel turns messages into bytes and back (the original's API).

Subclass MessageType and implement message_to_bytes(), message_from_bytes() and
message_type_name() for messages of your own; the type name becomes part of the slot name,
so only channels of the same type name connect.
"""

import struct
from typing import Any

__all__ = ["MessageType", "TEXT", "BINARY", "OBJECT"]


class MessageType:
    """Converts messages to bytes and bytes to messages (subclass it for custom types)."""

    def message_to_bytes(self, message: Any) -> bytes:
        raise NotImplementedError()

    def message_from_bytes(self, bb: bytes) -> Any:
        raise NotImplementedError()

    def message_type_name(self) -> str:
        raise NotImplementedError()


class BinaryMessageType(MessageType):
    """Bytes as they are (yoton.BINARY)."""

    def message_type_name(self):
        return "bin"

    def message_to_bytes(self, message):
        if not isinstance(message, bytes):
            raise ValueError("Binary channel requires byte messages.")
        return message

    def message_from_bytes(self, bb):
        return bytes(bb)


class TextMessageType(MessageType):
    """Unicode text, UTF-8 on the wire (yoton.TEXT)."""

    def message_type_name(self):
        return "txt"

    def message_to_bytes(self, message):
        if isinstance(message, bytes):
            # As the original: bytes are taken as UTF-8 text if they are, else their repr.
            try:
                message = message.decode("utf-8")
            except UnicodeError:
                message = repr(message)
        elif not isinstance(message, str):
            raise ValueError("Text channel requires string messages.")
        return message.encode("utf-8")

    def message_from_bytes(self, bb):
        return bytes(bb).decode("utf-8")


# The OBJECT encoding (docs/protocol.md): a type byte, then little-endian fields; lengths are
# one byte, or 255 followed by a u64.
_NONE, _BOOL, _INT, _FLOAT, _STRING, _LIST, _TUPLE, _DICT = b"nbifsltd"
_B = struct.Struct("<B")
_Q = struct.Struct("<Q")
_I = struct.Struct("<q")
_D = struct.Struct("<d")


def _pack(obj, out):
    if obj is None:
        out.append(b"n")
    elif isinstance(obj, bool):
        out.append(b"b\x01" if obj else b"b\x00")
    elif isinstance(obj, int):
        out.append(b"i" + _I.pack(obj))
    elif isinstance(obj, float):
        out.append(b"f" + _D.pack(obj))
    elif isinstance(obj, str):
        bb = obj.encode("utf-8")
        out.append(b"s" + _length(len(bb)))
        out.append(bb)
    elif isinstance(obj, (list, tuple)):
        out.append((b"l" if isinstance(obj, list) else b"t") + _length(len(obj)))
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, dict):
        out.append(b"d" + _length(len(obj)))
        for key, item in obj.items():
            _pack(key, out)
            _pack(item, out)
    else:
        raise ValueError("Unsupported type: %r" % type(obj))


def _length(n):
    return _B.pack(n) if n < 255 else b"\xff" + _Q.pack(n)


class _Reader:
    __slots__ = ["data", "pos"]

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        i = self.pos
        if i + n > len(self.data):
            raise EOFError("truncated OBJECT message")
        self.pos = i + n
        return self.data[i : i + n]

    def length(self):
        n = self.take(1)[0]
        return _Q.unpack(self.take(8))[0] if n == 255 else n

    def value(self):
        kind = self.take(1)[0]
        if kind == _NONE:
            return None
        if kind == _BOOL:
            return bool(self.take(1)[0])
        if kind == _INT:
            return _I.unpack(self.take(8))[0]
        if kind == _FLOAT:
            return _D.unpack(self.take(8))[0]
        if kind == _STRING:
            return self.take(self.length()).decode("utf-8")
        if kind == _LIST:
            return [self.value() for _ in range(self.length())]
        if kind == _TUPLE:
            return tuple([self.value() for _ in range(self.length())])
        if kind == _DICT:
            d = {}
            for _ in range(self.length()):
                key = self.value()
                d[key] = self.value()
            return d
        raise ValueError("Unsupported type: %r" % kind)


class ObjectMessageType(MessageType):
    """None, bool, int, float, str, list, tuple and dict, nested (yoton.OBJECT)."""

    def message_type_name(self):
        return "obj"

    def message_to_bytes(self, message):
        out = []
        _pack(message, out)
        return b"".join(out)

    def message_from_bytes(self, bb):
        if not bb:
            return None
        return _Reader(bytes(bb)).value()


TEXT = TextMessageType()
BINARY = BinaryMessageType()
OBJECT = ObjectMessageType()
