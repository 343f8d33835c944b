"""Retrieve file or file system status (Ansible's stat fields under `stat`)."""

from modules._utils.command import run_command, which
from modules._utils.files import stat_info

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True, "aliases": ["dest", "name"]},
    "follow": {"type": "bool", "default": False},
    "get_checksum": {"type": "bool", "default": True},
    "checksum_algorithm": {
        "type": "str",
        "default": "sha1",
        "aliases": ["checksum", "checksum_algo"],
        "choices": ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
    },
    "get_mime": {"type": "bool", "default": True, "aliases": ["mime", "mime_type", "mime-type"]},
    "get_attributes": {"type": "bool", "default": True, "aliases": ["attr", "attributes"]},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True


def main(module):
    params = module.params
    try:
        info = stat_info(
            params["path"],
            follow=params["follow"],
            get_checksum=params["get_checksum"],
            checksum_algorithm=params["checksum_algorithm"],
        )
    except OSError as exc:
        module.fail("cannot stat %s: %s" % (params["path"], exc.strerror or exc))
    if info["exists"] and params["get_mime"]:
        info.update(_mime(info["path"]))
    if info["exists"] and params["get_attributes"]:
        info["attributes"] = _attributes(info["path"])
    return {"changed": False, "stat": info}


def _mime(path):
    if not which("file"):
        return {}
    rc, out, _ = run_command(["file", "-b", "--mime-type", "--mime-encoding", "--", path])
    if rc != 0:
        return {}
    mime, _, charset = out.strip().partition("; charset=")
    return {"mimetype": mime, "charset": charset}


def _attributes(path):
    if not which("lsattr"):
        return []
    rc, out, _ = run_command(["lsattr", "-d", "--", path])
    if rc != 0 or not out.strip():
        return []
    return [flag for flag in out.split()[0] if flag != "-"]
