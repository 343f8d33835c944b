"""Manage a tke image (a subset of community.docker.docker_image): pull it from a registry, load
it from an archive (`tke load -i`: docker-archive or OCI tar), or remove it.

An image that is there already is left alone unless `force_source` is set; a forced pull that
brings the same image ID is no change. Without `source` a missing image is an error, as in
Ansible (`source: local`).
"""

import re

from modules._utils.tke import Tke, reference, split_reference

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "tag": {"type": "str", "default": "latest"},
    "source": {"type": "str", "choices": ["pull", "load", "local"]},
    "load_path": {"type": "path"},
    "force_source": {"type": "bool", "default": False},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "force_absent": {"type": "bool", "default": False},
    "tke_path": {"type": "path"},
    "_tke_engine": {"type": "dict"},
}
REQUIRED_IF = [["source", "load", ["load_path"]]]
SUPPORTS_CHECK_MODE = True


def absent(module, engine, ref, image):
    if image is None:
        return {"changed": False, "image": {}}
    if not module.check_mode:
        argv = ["rmi"] + (["-f"] if module.params["force_absent"] else []) + [ref]
        engine.run(*argv)
    return {
        "changed": True,
        "image": {},
        "actions": ["Removed image %s" % ref],
        "diff": {"before": {"exists": True, "id": image["Id"]}, "after": {"exists": False}},
    }


def fetch(module, engine, ref):
    """Pull or load the image; return (action text, inspect object)."""
    source = module.params["source"]
    if source == "pull":
        engine.run("pull", "-q", ref)
        return "Pulled image %s" % ref, engine.inspect("image", ref)
    path = module.params["load_path"]
    out = engine.run("load", "-i", path)
    image = engine.inspect("image", ref)
    if image is None:
        found = re.findall(r"^Loaded image(?: ID)?: (\S+)", out, re.M)
        module.fail(
            "The archive did not contain image %s. Instead, found %s."
            % (ref, ", ".join("'%s'" % f for f in found) or "nothing")
        )
    return "Loaded image %s from %s" % (ref, path), image


def present(module, engine, ref, image):
    source = module.params["source"]
    if image is not None and not (module.params["force_source"] and source in ("pull", "load")):
        return {"changed": False, "image": image}
    if source in (None, "local"):
        module.fail("Cannot find the image %s locally." % ref)
    before = {"exists": image is not None, "id": image["Id"] if image else None}
    if module.check_mode:
        action = "Would %s image %s" % ("pull" if source == "pull" else "load", ref)
        return {"changed": True, "image": image or {}, "actions": [action]}
    action, new = fetch(module, engine, ref)
    changed = image is None or new["Id"] != image["Id"]
    return {
        "changed": changed,
        "image": new,
        "actions": [action] if changed else [],
        "diff": {"before": before, "after": {"exists": True, "id": new["Id"]}},
    }


def main(module):
    params = module.params
    repo, tag = split_reference(params["name"], params["tag"])
    ref = reference(repo, tag)
    engine = Tke(module)
    image = engine.inspect("image", ref)
    if params["state"] == "absent":
        return absent(module, engine, ref, image)
    return present(module, engine, ref, image)
