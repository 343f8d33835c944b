"""`tk keeper status|stop`: the agents kept between runs (toolkit/transport/keeper.py).

status lists the kept (idle) agents of every keeper of this user (host, user, become user,
agent pid, idle seconds); stop closes them and ends the keepers. Keepers are found by their
sockets in the keeper dir ($TK_KEEPER_DIR, else $XDG_RUNTIME_DIR/tk, else ~/.cache/tk/keeper).
"""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any, Dict, List, Tuple

from toolkit.transport import keeperpath


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "stop"), help="show or stop kept agents")
    parser.add_argument("--json", action="store_true", help="status as JSON")


def ask_all(op: str) -> List[Tuple[str, Dict[str, Any]]]:
    """Send `op` to every keeper in the keeper dir: [(socket path, reply)]."""
    directory = keeperpath.keeper_dir()
    if not directory.is_dir():
        return []
    replies = []
    for path in sorted(directory.glob("keeper-*.sock")):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps({"op": op}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            replies.append((str(path), json.loads(data)))
        except (OSError, ValueError):
            continue  # a stale socket: nobody there
        finally:
            sock.close()
    return replies


def run(args: argparse.Namespace) -> int:
    replies = ask_all(args.action)
    if args.action == "stop":
        for _, reply in replies:
            print(f"stopped keeper {reply.get('pid')}")
        if not replies:
            print("no keeper running")
        return 0
    agents = [dict(a, keeper=r.get("pid")) for _, r in replies for a in r.get("agents", [])]
    if args.json:
        print(json.dumps({"keepers": [r.get("pid") for _, r in replies], "agents": agents}))
        return 0
    if not replies:
        print("no keeper running")
        return 0
    print(f"keepers: {', '.join(str(r.get('pid')) for _, r in replies)}")
    print(f"{'HOST':<24} {'USER':<12} {'BECOME':<10} {'PID':>8} {'IDLE':>7}")
    for a in sorted(agents, key=lambda a: (a["host"], a["become"])):
        print(f"{a['host']:<24} {a['user']:<12} {a['become'] or '-':<10} {a['pid']!s:>8} "
              f"{a['idle']:>6.1f}s")  # fmt: skip
    return 0
