"""The agent's first stage: short enough for a `python -c` command line (stdlib, 3.6+).

It announces itself with READY on stdout (so a transport can tell "python runs" from a sudo
password prompt, and skip any junk a login shell printed), then reads a 4-byte big-endian
length and that many bytes of zlib-compressed agent source from stdin and `exec`s it.
Nothing is written to the target's disk.
"""

READY = b"tk-agent-ready\n"

FIRST_STAGE = (
    'import sys,zlib,struct;o=sys.stdout.buffer;o.write(b"tk-agent-ready\\n");o.flush();'
    'i=sys.stdin.buffer;n=struct.unpack(">I",i.read(4))[0];'
    "exec(zlib.decompress(i.read(n)))"
)
