"""Fact collectors for the setup module, grouped in Ansible's subsets (stdlib, 3.6+).

`collect(subsets, fact_path)` returns facts named like Ansible's (`ansible_os_family`, ...).
Subsets: all, min, hardware, network, virtual; a leading `!` excludes one.
"""

from modules._utils.facts import hardware, network, services, system

SUBSETS = {
    "min": system.MIN + services.COLLECTORS,
    "hardware": hardware.COLLECTORS,
    "network": network.COLLECTORS,
    "virtual": system.VIRTUAL,
}
KNOWN = sorted(list(SUBSETS) + ["all"])


def chosen(names):
    """The subset names to gather for a gather_subset list; ValueError for unknown names.

    As in Ansible: `min` is always gathered, `!all,network` means min + network."""
    optional = [name for name in SUBSETS if name != "min"]
    wanted, explicit, unwanted = set(), set(), set()
    for raw in names or ["all"]:
        negate = raw.strip().startswith("!")
        name = raw.strip().lstrip("!")
        if name not in KNOWN:
            raise ValueError(
                "Bad subset '%s' given to Ansible. gather_subset options allowed: %s"
                % (name, ", ".join(KNOWN))
            )
        group = set(optional) if name == "all" else set([name])
        if negate:
            unwanted.update(group)
        else:
            wanted.update(group)
            if name != "all":
                explicit.add(name)
    keep = (wanted - unwanted) | explicit
    return ["min"] + [name for name in optional if name in keep]


def collect(subsets, fact_path=None):
    facts = {}
    for name in subsets:
        for collector in SUBSETS[name]:
            facts.update(collector(facts))
    facts.update(system.local_facts(fact_path))
    return facts
