"""Driving the `tke` container engine from a module (container, container_image,
container_volume): find the CLI, run it with argv lists, read its `inspect` objects, and fail
with tke's own message.

    engine = Tke(module)                      # which tke: see find_tke and Tke.__init__
    engine.inspect("container", "web")        # the inspect dict, or None when there is none
    engine.run("rm", "-f", "web")             # stdout; fails the module with tke's stderr, rc

tke is run with this process's environment, so TKE_ROOT (and TKE_BRIDGE, DOCKER_CONFIG...)
select the store and settings as they do for the CLI. Each module's ARGUMENT_SPEC has the
tk-only options `tke_path: {"type": "path"}` and `_tke_engine: {"type": "dict"}` (written out:
modindex reads specs as literals).

Which tke: `tke_path` if given; else a tke installed on the host (on PATH, or beside this
Python); else the engine the controller ships (toolkit/actions/container.py passes
`_tke_engine`, see modules/_utils/tkeship.py), run by this module's own Python. When that
engine is not on the host yet the module fails early with `tke_engine_missing` (the action
then uploads it and runs the module again with `_tke_engine.archive`, which installs it).
"""

import json
import os
import re
import sys

from modules._utils import tkeship
from modules._utils.command import which

INSPECT_ARGV = {
    "container": ("inspect", "--type", "container"),
    "image": ("image", "inspect"),
    "volume": ("volume", "inspect"),
}
SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def find_tke(path=None):
    """The tke program to run: `path` if given, else `tke` on PATH, else the `tke` next to
    this Python (a virtualenv's bin); None if there is none."""
    if path:
        return path
    found = which("tke", extra_dirs=())
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "tke")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return None


def shipped_tke(module):
    """argv of the controller's engine on this host (installed first if the module was given
    its archive); fails the module when there is no engine to run."""
    ship = module.params.get("_tke_engine")
    if not ship:
        module.fail("cannot find tke: not on PATH nor next to %s (set tke_path)" % sys.executable)
    problem = tkeship.python_problem()
    if problem:
        module.fail(problem)
    path = tkeship.engine_dir(ship)
    if not tkeship.installed(path, ship["digest"]):
        if not ship.get("archive"):
            try:
                missing = {"path": path, "upload": tkeship.upload_path(ship)}
            except OSError as exc:
                module.fail("cannot make %s for the tke engine (set tke_engine_dir): %s"
                            % (os.path.dirname(path), exc.strerror or exc))  # fmt: skip
            module.fail("the tke engine is not on this host yet", tke_engine_missing=missing)
        try:
            tkeship.install(ship["archive"], path, ship["digest"])
        except (tkeship.InstallError, OSError) as exc:
            module.fail("cannot install the tke engine in %s: %s" % (path, exc))
    tkeship.mark_used(path)
    return tkeship.launcher_argv(path)


def error_text(out, err, rc):
    """tke's own message: its stderr (stdout if that is empty)."""
    text = (err or "").strip() or (out or "").strip()
    return text or "tke exited with status %d" % rc


class Tke(object):
    """The tke CLI as a module sees it; every call goes through module.run_command."""

    def __init__(self, module):
        self.module = module
        path = find_tke(module.params.get("tke_path"))
        self.argv = [path] if path else shipped_tke(module)
        self.path = self.argv[-1]

    def call(self, *argv):
        """(rc, stdout, stderr) of `tke ARGV...`."""
        return self.module.run_command(self.argv + list(argv))

    def run(self, *argv):
        """stdout of `tke ARGV...`; on failure the module fails with tke's message and rc."""
        rc, out, err = self.call(*argv)
        if rc != 0:
            self.fail(argv, rc, out, err)
        return out

    def fail(self, argv, rc, out, err, **extra):
        self.module.fail(
            error_text(out, err, rc),
            rc=rc,
            cmd=self.argv + list(argv),
            stdout=out,
            stderr=err,
            **extra,
        )

    def inspect(self, kind, name):
        """The `inspect` object of a container, image or volume; None if there is no such."""
        argv = INSPECT_ARGV[kind] + (name,)
        rc, out, err = self.call(*argv)
        if rc != 0:
            if "No such" in err:
                return None
            self.fail(argv, rc, out, err)
        try:
            items = json.loads(out or "[]")
        except ValueError:
            self.module.fail("tke %s printed no JSON: %r" % (" ".join(argv), out[:200]))
        return items[0] if items else None


def parse_size(text):
    """`64m`, `1g`, `512` (bytes) as bytes, the way tke reads --memory; None if malformed."""
    match = re.match(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", str(text).strip(), re.I)
    if not match:
        return None
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def split_reference(name, tag="latest"):
    """(repository, tag) of `name`, whose own :tag (or @digest) wins over `tag`."""
    if "@" in name:
        repo, _, digest = name.partition("@")
        return repo, "@" + digest
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, own = name.rpartition(":")
        return repo, own
    return name, tag or "latest"


def reference(repo, tag):
    """`repo:tag`, or `repo@digest` for a digest."""
    return repo + tag if tag.startswith("@") else "%s:%s" % (repo, tag)
