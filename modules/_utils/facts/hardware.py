"""Hardware facts: memory and processors from /proc."""

from modules._utils.facts.system import read


def memory(facts):
    values = {}
    for line in read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields:
            values[key] = int(fields[0]) // 1024
    return {
        "ansible_memtotal_mb": values.get("MemTotal", 0),
        "ansible_memfree_mb": values.get("MemFree", 0),
        "ansible_swaptotal_mb": values.get("SwapTotal", 0),
        "ansible_swapfree_mb": values.get("SwapFree", 0),
    }


def processors(facts):
    entries, sockets, cores = [], set(), {}
    current = {}
    for line in read("/proc/cpuinfo").splitlines() + [""]:
        if not line.strip():
            if current:
                entries.append(current)
                sockets.add(current.get("physical id", "0"))
                cores[current.get("physical id", "0")] = int(current.get("cpu cores", 1) or 1)
            current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    processor = []
    for index, entry in enumerate(entries):
        processor += [str(index), entry.get("vendor_id", ""), entry.get("model name", "")]
    vcpus = len(entries) or 1
    count = len(sockets) or 1
    per_socket = sum(cores.values()) // count if cores else 1
    return {
        "ansible_processor": processor,
        "ansible_processor_vcpus": vcpus,
        "ansible_processor_count": count,
        "ansible_processor_cores": per_socket,
        "ansible_processor_threads_per_core": max(1, vcpus // max(1, count * per_socket)),
        "ansible_processor_nproc": vcpus,
    }


COLLECTORS = [memory, processors]
