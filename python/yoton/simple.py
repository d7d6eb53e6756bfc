"""SimpleSocket and FileWrapper (the original's convenience classes)."""

import os
import sys
from typing import Union

from .channels import PubChannel, SubChannel
from .context import Context

__all__ = ["SimpleSocket", "FileWrapper"]


class SimpleSocket(Context):
    """A context with a TEXT publisher and subscriber on slot 'text': send() and recv()
    whole text messages, BSD-socket style."""

    def __init__(self, verbose: bool = False) -> None:
        Context.__init__(self, verbose)
        self._cs = PubChannel(self, "text")
        self._cr = SubChannel(self, "text")

    def send(self, s: str) -> None:
        self._cs.send(s)

    def recv(self, block: Union[bool, float, None] = None) -> str:
        """A text ('' if none, or closed and empty)."""
        return self._cr.recv(block)


class FileWrapper:
    """FileWrapper(channel, chunksize=0, echo=None, isatty=False): a file-like object on a
    PubChannel (write) or SubChannel (read); writes above chunksize are split."""

    def __init__(self, channel, chunksize=0, echo=None, isatty=False):
        if not isinstance(channel, (PubChannel, SubChannel)):
            raise ValueError("FileWrapper needs a PubChannel or SubChannel.")
        if echo is not None and not isinstance(echo, PubChannel):
            raise ValueError("FileWrapper echo needs to be a PubChannel.")
        self._channel = channel
        self._chunksize = int(chunksize)
        self._echo = echo
        self._pid = os.getpid()  # a forked child writes to the real stream instead
        self.errors = "strict"
        self._isatty = isatty
        self._softspace = False

    def _real_stream(self):
        for name in ("stdin", "stdout", "stderr"):
            if self is getattr(sys, name):
                return getattr(sys, "__%s__" % name)
        return None

    def close(self):
        if self._pid != os.getpid():
            real = self._real_stream()
            if real is not None:
                real.close()
            return
        self._channel.close()

    @property
    def encoding(self):
        return "UTF-8"

    @property
    def closed(self):
        return self._channel.closed

    def flush(self):
        """Wait until the messages are sent."""
        self._channel._context.flush()

    @property
    def newlines(self):
        return None

    @property
    def softspace(self):
        return self._softspace

    @softspace.setter
    def softspace(self, value):
        self._softspace = bool(value)

    def read(self, block=None):
        """A message (see SubChannel.recv)."""
        res = self._channel.recv(block)
        if res and self._echo is not None:
            self._echo.send(res)
        return res

    def write(self, message):
        if self._pid != os.getpid():
            real = self._real_stream()
            if real is not None and real is not sys.__stdin__:
                real.write(message)
                real.flush()
            return
        size = self._chunksize
        if 0 < size < len(message):
            for i in range(0, len(message), size):
                self._channel.send(message[i : i + size])
        else:
            self._channel.send(message)

    def writelines(self, lines):
        for line in lines:
            self._channel.send(line)

    def readline(self, size=0):
        """One message (blocking), with a newline appended if it has none; at most size
        characters if size is given."""
        line = self._channel.recv(True)
        if line and self._echo is not None:
            self._echo.send(line)
        if not line.endswith("\n"):
            line += "\n"
        if size:
            line = line[:size]
        return line

    def isatty(self):
        return self._isatty
