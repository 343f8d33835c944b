"""Read a file from the host and return its content base64-encoded."""

import base64
import errno

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True, "aliases": ["path"]},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True


def main(module):
    src = module.params["src"]
    try:
        with open(src, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            module.fail("file not found: %s" % src)
        if exc.errno == errno.EACCES:
            module.fail("file is not readable: %s" % src)
        if exc.errno == errno.EISDIR:
            module.fail("source is a directory and must be a file: %s" % src)
        module.fail("unable to slurp file: %s" % exc)
    return {
        "changed": False,
        "content": base64.b64encode(data).decode("ascii"),
        "encoding": "base64",
        "source": src,
    }
