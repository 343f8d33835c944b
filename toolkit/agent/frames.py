"""Length-prefixed JSON frames: 4-byte big-endian length + UTF-8 JSON (stdlib, 3.6+)."""

import json
import os
import struct

MAX_FRAME = 256 << 20


class ChannelClosed(Exception):
    """The other side went away."""


def read_frame(reader):
    """Read one frame from a buffered binary reader; ChannelClosed at EOF."""
    head = reader.read(4)
    if len(head) < 4:
        raise ChannelClosed("end of input")
    (length,) = struct.unpack(">I", head)
    if length > MAX_FRAME:
        raise ChannelClosed("frame of %d bytes is too big" % length)
    body = reader.read(length)
    if len(body) < length:
        raise ChannelClosed("end of input inside a frame")
    return json.loads(body.decode("utf-8"))


def encode_frame(obj):
    body = json.dumps(obj, separators=(",", ":"), default=str).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def write_frame(fd, obj):
    """Write one frame to a file descriptor (all of it)."""
    data = memoryview(encode_frame(obj))
    while data:
        written = os.write(fd, data)
        data = data[written:]
