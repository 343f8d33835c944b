"""The agent's first stage: short enough for a `python -c` command line (stdlib, 3.6+).

It announces itself with READY on stdout (so a transport can tell "python runs" from a sudo
password prompt, and skip any junk a login shell printed), followed by its interpreter's
bytecode magic number in hex and a newline. Then it reads a 4-byte big-endian length and that
many bytes of zlib-compressed payload from stdin and `exec`s it: the agent's source, or, when
the controller's interpreter has the same magic number, `NUL + marshal(code)` (nothing to
compile on the host). Nothing is written to the target's disk.
"""

READY = b"tk-agent-ready\n"

# the magic number comes from the already loaded importlib (no import); an interpreter without
# it prints an empty line and gets sources
FIRST_STAGE = (
    "import sys,zlib,struct,marshal;o=sys.stdout.buffer;"
    'x=getattr(sys.modules.get("_frozen_importlib_external"),"MAGIC_NUMBER",b"");'
    'o.write(b"tk-agent-ready\\n"+x.hex().encode()+b"\\n");o.flush();'
    'i=sys.stdin.buffer;n=struct.unpack(">I",i.read(4))[0];d=zlib.decompress(i.read(n));'
    'exec(marshal.loads(d[1:]) if d[:1]==b"\\0" else d)'
)
