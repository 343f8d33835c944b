"""Manage firewalld zones and rules (Ansible's ansible.posix.firewalld), runtime and permanent.

A running firewalld is driven over D-Bus (dbus-python in-process when importable, else one
`busctl` call per query or change); a stopped one with `firewall-offline-cmd` (permanent
config only).
Each rule kind has a query, add and remove per scope; the transaction logic (permanent and/or
immediate, messages, check mode) follows Ansible's FirewallTransaction.
"""

from modules._utils import firewall

ARGUMENT_SPEC = {
    "icmp_block": {"type": "str"},
    "icmp_block_inversion": {"type": "bool"},
    "service": {"type": "str"},
    "protocol": {"type": "str"},
    "port": {"type": "str"},
    "port_forward": {
        "type": "list",
        "elements": "dict",
        "options": {
            "port": {"type": "str", "required": True},
            "proto": {"type": "str", "required": True, "choices": ["udp", "tcp"]},
            "toport": {"type": "str", "required": True},
            "toaddr": {"type": "str"},
        },
    },
    "rich_rule": {"type": "str"},
    "zone": {"type": "str"},
    "immediate": {"type": "bool", "default": False},
    "source": {"type": "str"},
    "permanent": {"type": "bool", "default": False},
    "state": {
        "type": "str",
        "required": True,
        "choices": ["absent", "disabled", "enabled", "present"],
    },
    "timeout": {"type": "int", "default": 0},
    "interface": {"type": "str"},
    "forward": {"type": "bool"},
    "masquerade": {"type": "bool"},
    "offline": {"type": "bool", "default": False},
    "target": {"type": "str", "choices": ["default", "ACCEPT", "DROP", "%%REJECT%%"]},
    "default": {"type": "bool"},  # newer ansible.posix: make `zone` the default zone
}
MUTUALLY_EXCLUSIVE = [
    [
        "icmp_block",
        "icmp_block_inversion",
        "service",
        "protocol",
        "port",
        "port_forward",
        "rich_rule",
        "interface",
        "forward",
        "masquerade",
        "source",
        "target",
        "default",
    ]
]
SUPPORTS_CHECK_MODE = True
REQUIRED_BY = {"interface": "zone", "target": "zone", "default": "zone", "source": "permanent"}


def main(module):
    params = module.params
    for key, needed in sorted(REQUIRED_BY.items()):
        if params[key] is not None and params[needed] is None:
            module.fail("missing parameter(s) required by '%s': %s" % (key, needed))
    backend = firewall.connect(module)
    permanent, immediate = params["permanent"], params["immediate"]
    if params["offline"]:  # ansible.posix 2.x: offline drops immediate when firewalld is down
        if not permanent:
            module.fail("offline cannot be enabled unless permanent changes are allowed")
        if backend.offline:
            immediate = False
    if not permanent and not immediate:
        immediate = True
    if immediate and backend.offline:
        module.fail(
            "firewall is not currently running, unable to perform immediate actions "
            "without a running firewall daemon"
        )
    rule = firewall.rule_from_params(module, params)
    state = params["state"]
    if rule is not None and state in ("absent", "present") and rule.kind != "target":
        module.fail("absent and present state can only be used in zone level operations")
    if rule is None:
        if state not in ("absent", "present"):
            module.fail(
                "one of service, port, port_forward, rich_rule, source, interface, "
                "masquerade, icmp_block, icmp_block_inversion, target or (with state "
                "present/absent) zone is required"
            )
        if not params["zone"]:
            module.fail("zone is required for zone-level operations (state present/absent)")
        rule = firewall.Rule("zone", ())
    if rule.kind in firewall.BOOL_KINDS:  # e.g. masquerade=false + enabled means "no masquerade"
        state = "enabled" if (state == "enabled") == rule.value else "disabled"
    zone = params["zone"] or backend.default_zone()
    tx = firewall.Transaction(
        module, backend, rule, zone, state, permanent, immediate, params["timeout"]
    )
    tx.requested_state = params["state"]
    changed, msgs = tx.run()
    if backend.offline:
        msgs.append("(offline operation: only on-disk configs were altered)")
    result = {"changed": changed, "msg": ", ".join(msgs)}
    if tx.diff_before != tx.diff_after:
        result["diff"] = {"before": tx.diff_before, "after": tx.diff_after}
    return result
