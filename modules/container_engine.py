"""The container engine as a host service (tk's own module; Ansible has none): tke on the host
(the controller ships it, as for the other container modules) and its boot unit written,
enabled and started. The seed's `yum install docker-io; systemctl start docker.service;
systemctl enable docker.service` (and `stop`/`disable` for its step 6):

    - container_engine:
        state: started      # starts restart-policy containers now; stays to watch firewalld
        enabled: true       # ... and at every boot

The unit (`name`, default tke: /etc/systemd/system/tke.service) is the one `tke system service
--install` writes for the store the task uses (TKE_ROOT, else /var/lib/tke) with this engine's
tke; it is rewritten, and systemd reloaded, when it differs (another engine version). `state`
and `enabled` then act as systemd_service's on it. Without either, the task only makes sure of
the engine and the unit. A host whose init is not systemd gets no unit; asking it for
`state` or `enabled` fails the task.
"""

import os
import shutil
import tempfile

from modules._utils import systemd
from modules._utils.tke import Tke

ARGUMENT_SPEC = {
    "name": {"type": "str", "default": "tke"},
    "state": {"type": "str", "choices": ["started", "stopped", "restarted"]},
    "enabled": {"type": "bool"},
    "tke_path": {"type": "path"},
    "_tke_engine": {"type": "dict"},
}
SUPPORTS_CHECK_MODE = True
UNIT_DIR = "/etc/systemd/system"


def render_unit(engine):
    """The unit text `tke system service --install` writes for this engine and store."""
    scratch = tempfile.mkdtemp(prefix="tk-unit-")
    try:
        path = os.path.join(scratch, "tke.service")
        engine.run("system", "service", "--install", "--no-enable", "--unit-path", path)
        with open(path) as fh:
            return fh.read()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_text(path):
    try:
        with open(path) as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def write_unit(module, path, text):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)
    rc, out, err = module.run_command(["systemctl", "daemon-reload"])
    if rc != 0:
        module.fail("failure %d during daemon-reload: %s" % (rc, err))


def main(module):
    params = module.params
    wants_service = params["state"] is not None or params["enabled"] is not None
    running = systemd.systemd_running()
    if wants_service and not running:
        module.fail("systemd is not the init system of this host (no /run/systemd/system): "
                    "tke's boot service needs it")  # fmt: skip
    engine = Tke(module)
    unit_path = os.path.join(UNIT_DIR, params["name"] + ".service")
    result = {"changed": False, "tke": engine.path, "unit_path": unit_path}
    if not running:
        result["msg"] = "systemd is not the init system of this host: no unit written"
        return result
    text = render_unit(engine)
    old = read_text(unit_path)
    diffs = []
    if old != text:
        result["changed"] = True
        diffs.append({"before": old or "", "after": text, "before_header": unit_path,
                      "after_header": unit_path})  # fmt: skip
        if not module.check_mode:
            write_unit(module, unit_path, text)
    if wants_service and not (module.check_mode and old is None):
        service = dict(name=params["name"], enabled=params["enabled"], state=params["state"])
        done = systemd.manage(module, service)
        result["changed"] = result["changed"] or done["changed"]
        for key in ("state", "enabled", "status"):
            if key in done:
                result[key] = done[key]
        if "diff" in done:
            diffs.append(done["diff"])
    elif wants_service:  # check mode, no unit yet: systemd cannot be asked about it
        result["changed"] = True
    if module.diff_mode and diffs:
        result["diff"] = diffs
    return result
