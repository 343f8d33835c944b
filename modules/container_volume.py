"""Manage a tke volume (a subset of community.docker.docker_volume): create it with labels, or
remove it. An existing volume is kept as it is (`recreate: never`), replaced every time
(`always`), or replaced when the labels the task gives differ (`options-changed`).
"""

from modules._utils.tke import Tke

ARGUMENT_SPEC = {
    "volume_name": {"type": "str", "required": True, "aliases": ["name"]},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "labels": {"type": "dict"},
    "recreate": {
        "type": "str",
        "default": "never",
        "choices": ["never", "always", "options-changed"],
    },
    "tke_path": {"type": "path"},
    "_tke_engine": {"type": "dict"},
}
SUPPORTS_CHECK_MODE = True


def label_args(labels):
    return ["--label=%s=%s" % (key, value) for key, value in sorted(labels.items())]


def differences(volume, labels):
    """The labels the task gives that the volume lacks or has with another value."""
    have = volume.get("Labels") or {}
    return dict((k, v) for k, v in labels.items() if have.get(k) != v)


class Task(object):
    def __init__(self, module):
        self.module = module
        self.name = module.params["volume_name"]
        self.engine = Tke(module)
        self.volume = self.engine.inspect("volume", self.name)
        self.labels = dict(
            (str(k), "" if v is None else str(v))
            for k, v in (module.params["labels"] or {}).items()
        )
        self.changed = False
        self.actions = []

    def act(self, action, *argv):
        self.changed = True
        self.actions.append(action)
        if not self.module.check_mode:
            self.engine.run(*argv)

    def remove(self):
        self.act("Removed volume %s" % self.name, "volume", "rm", self.name)
        self.volume = None

    def create(self):
        argv = ["volume", "create"] + label_args(self.labels) + [self.name]
        self.act("Created volume %s" % self.name, *argv)
        if not self.module.check_mode:
            self.volume = self.engine.inspect("volume", self.name)

    def present(self):
        recreate = self.module.params["recreate"]
        if self.volume is not None:
            differ = differences(self.volume, self.labels)
            if recreate == "always" or (differ and recreate == "options-changed"):
                self.remove()
        if self.volume is None:
            self.create()


def main(module):
    task = Task(module)
    before = {"exists": task.volume is not None, "labels": (task.volume or {}).get("Labels")}
    if module.params["state"] == "absent":
        if task.volume is not None:
            task.remove()
    else:
        task.present()
    exists = module.params["state"] == "present"
    after = {"exists": exists, "labels": task.labels if exists else None}
    if exists and not module.check_mode:
        after["labels"] = (task.volume or {}).get("Labels")
    result = {"changed": task.changed, "volume": task.volume or {}, "actions": task.actions}
    if task.changed:
        result["diff"] = {"before": before, "after": after}
    return result
