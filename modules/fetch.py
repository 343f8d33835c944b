"""Fetch a file from the target to the controller, under dest/HOST/PATH unless `flat`.

The transfer is done by the controller-side action (toolkit/actions/fetch.py) with the agent's
streaming `fetch` op; run on its own this module only reports what would be fetched.
"""

import hashlib
import os

ARGUMENT_SPEC = {
    "src": {"type": "str", "required": True},
    "dest": {"type": "str", "required": True},
    "flat": {"type": "bool", "default": False},
    "fail_on_missing": {"type": "bool", "default": True},
    "validate_checksum": {"type": "bool", "default": True},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True
FREE_FORM = None


def main(module):
    src = module.params["src"]
    if not os.path.exists(src):
        if module.params["fail_on_missing"]:
            module.fail("the remote file does not exist, not transferring, ignored", file=src)
        return {"changed": False, "file": src, "msg": "the remote file does not exist"}
    if os.path.isdir(src):
        module.fail("remote file is a directory, fetch cannot work on directories", file=src)
    digest = hashlib.sha1()
    with open(src, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {
        "changed": False,
        "file": src,
        "remote_checksum": digest.hexdigest(),
        "size": os.path.getsize(src),
    }
