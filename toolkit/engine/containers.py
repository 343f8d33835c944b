"""Container records: where they live, lookup by name or id prefix, state and its reconciliation.

Layout under the store root (one directory per container, also the OCI bundle):

    containers/lock                  flock around name allocation, create and remove
    containers/ID/container.json     the record, in docker inspect's shape (without State)
    containers/ID/state.json         written by the shim: Status, Pid, ExitCode, times, ShimPid
    containers/ID/config.json        the OCI runtime spec (rewritten at each start)
    containers/ID/ID-json.log        docker's json-file log
    containers/ID/{l,upper,work,merged}   rootfs (see rootfs.py)
    containers/ID/{hostname,hosts,resolv.conf}
    containers/ID/stopped, paused    markers: stopped by the user (no restart), frozen

Runtime files (sockets, the runtimes' state) live in /run/tke, or /run/tke-HASH for another root
(unix socket paths must stay short); made when a container starts. `state()` reconciles: a
container whose shim died is marked exited (its processes killed, its runtime state deleted, its
rootfs unmounted), so no ghost "running" container survives a killed shim or a reboot.
"""

from __future__ import annotations

import os

from toolkit.engine import jsonc
from toolkit.engine.ctxutil import Flock, suppress
from toolkit.engine.store import DEFAULT_ROOT, Store, now_iso, remove_tree, write_atomic
from toolkit.errors import TkError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

try:  # the builtin module: hashlib's OpenSSL import costs ~3 ms of every `tke run`
    from _sha1 import sha1 as _sha1
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import sha1 as _sha1

ZERO_TIME = "0001-01-01T00:00:00Z"
_ADJ = (
    "admiring adoring agitated amazing angry awesome blissful bold boring brave busy charming "
    "clever cool compassionate competent confident cranky dazzling determined distracted dreamy "
    "eager ecstatic elastic elated elegant eloquent epic fervent festive flamboyant focused "
    "friendly frosty gallant gifted goofy gracious happy hardcore heuristic hopeful hungry "
    "infallible inspiring jolly jovial keen kind laughing loving lucid magical modest musing "
    "mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful pedantic "
    "pensive practical priceless quirky quizzical relaxed reverent romantic sad serene sharp "
    "silly sleepy stoic strange stupefied suspicious sweet tender thirsty trusting unruffled "
    "upbeat vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous zen"
).split()
_NAMES = (
    "albattani allen almeida agnesi archimedes ardinghelli aryabhata austin babbage banach "
    "bardeen bartik bassi beaver bell bhabha bhaskara blackwell bohr booth borg bose boyd "
    "brahmagupta brattain brown carson cerf chandrasekhar chaplygin chatelet chatterjee cohen "
    "colden cori cray curie darwin davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky "
    "easley edison einstein elion ellis engelbart euclid euler faraday feistel fermat fermi "
    "feynman franklin gagarin galileo gates gauss germain goldberg goldstine goldwasser golick "
    "goodall gould greider grothendieck haibt hamilton haslett hawking hellman heisenberg hermann "
    "herschel hertz hodgkin hoover hopper hugle hypatia jackson jang jennings jepsen johnson "
    "joliot jones kalam kapitsa kare keldysh keller kepler khorana kilby kirch knuth kowalevski "
    "lalande lamarr lamport leakey leavitt lederberg lehmann lewin lichterman liskov lovelace "
    "lumiere mahavira margulis matsumoto maxwell mayer mccarthy mcclintock mclean mcnulty meitner "
    "mendel mendeleev meninsky merkle mestorf mirzakhani moore morse murdock napier nash neumann "
    "newton nightingale nobel noether northcutt noyce panini pare pascal pasteur payne perlman "
    "pike poincare poitras proskuriakova ptolemy raman ramanujan ride ritchie robinson roentgen "
    "rosalind rubin saha sammet sanderson satoshi shamir shannon shaw shirley shockley shtern "
    "sinoussi snyder solomon spence stonebraker sutherland swanson swartz swirles taussig tesla "
    "tharp thompson torvalds tu turing varahamihira vaughan visvesvaraya volhard villani wescoff "
    "wilbur wiles williams williamson wilson wing wozniak wright wu yalow yonath zhukovsky"
).split()


class ContainerError(TkError):
    """A container operation the engine refuses (docker's 'Error response from daemon')."""

    exit_code = 1


class NoSuchContainer(ContainerError):
    pass


def run_dir_for(root: str) -> str:
    if os.path.abspath(root) == DEFAULT_ROOT:
        return "/run/tke"
    return "/run/tke-" + _sha1(os.path.abspath(root).encode()).hexdigest()[:10]


class Containers:
    """The containers of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = os.path.join(store.root, "containers")
        self.run_dir = run_dir_for(store.root)
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir, exist_ok=True)

    # --- paths ---------------------------------------------------------------------------
    def path(self, cid: str, *parts: str) -> str:
        return os.path.join(self.dir, cid, *parts)

    def sock(self, cid: str, kind: str = "sock") -> str:
        return os.path.join(self.run_dir, f"{cid[:12]}.{kind}")

    def locked(self) -> Flock:
        """flock around name allocation, create and remove: `with ctrs.locked(): ...`."""
        return Flock(os.path.join(self.dir, "lock"))

    def locked_one(self, cid: str) -> Flock:
        """flock of one container (start, reconcile)."""
        return Flock(self.path(cid, "lock"))

    # --- records -------------------------------------------------------------------------
    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return [n for n in names if len(n) == 64 and os.path.isfile(self.path(n, "container.json"))]

    def record(self, cid: str) -> Optional[dict]:
        try:
            with open(self.path(cid, "container.json")) as fh:
                return jsonc.load(fh)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None

    def save_record(self, rec: dict) -> None:
        # a --rm container's record dies with it: the atomic rename is enough, no fsync
        durable = not (rec.get("HostConfig") or {}).get("AutoRemove")
        data = jsonc.dumps(rec).encode()
        write_atomic(self.path(rec["Id"], "container.json"), data, fsync=durable)

    def raw_state(self, cid: str) -> dict:
        try:
            with open(self.path(cid, "state.json")) as fh:
                return jsonc.load(fh)
        except (FileNotFoundError, ValueError):
            return {"Status": "created"}

    def save_state(self, cid: str, state: dict) -> None:
        # state changes all the time and the shim writes it without fsync too
        write_atomic(self.path(cid, "state.json"), jsonc.dumps(state).encode(), fsync=False)

    def names(self) -> dict:
        """name -> id of every container (reads every record)."""
        out = {}
        for cid in self.ids():
            rec = self.record(cid)
            if rec:
                out[rec["Name"].lstrip("/")] = cid
        return out

    def new_name(self, taken: Optional[dict] = None) -> str:
        """A free docker-style name (checked in `taken`, else through name_owner)."""
        while True:  # os.urandom rather than `random`: its import costs more than this
            name = f"{_pick(_ADJ)}_{_pick(_NAMES)}"
            if (name not in taken) if taken is not None else self.name_owner(name) is None:
                return name

    # --- the name index ------------------------------------------------------------------
    # RUN_DIR/names/NAME -> ID symlinks, so that create, rename and find by name do not read
    # every record (~0.1 ms each: a `tke run` in a store of 100 containers paid 10-40 ms). The
    # records stay the truth: a link counts only if the record it points to has that name (a
    # crash between claiming a name and writing the record, or between removing a container
    # and its link, leaves a link that counts for nothing). Links are made and removed under
    # `locked()`; the index is built from the records, under the lock, when RUN_DIR/names has
    # no `.complete` marker (first use, and after a reboot: RUN_DIR is a tmpfs).
    def _names_dir(self) -> str:
        return os.path.join(self.run_dir, "names")

    def name_link(self, name: str) -> str:
        """The index's link for `name` (pointing at its container's id)."""
        return os.path.join(self._names_dir(), name)

    def index_names(self) -> None:
        """Make sure the index is complete; the caller holds `locked()`."""
        folder = self._names_dir()
        marker = os.path.join(folder, ".complete")
        if os.path.exists(marker):
            return
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for name, cid in self.names().items():
            self._link_name(name, cid)
        open(marker, "w").close()

    def name_owner(self, name: str) -> Optional[str]:
        """The id of the container named `name`, or None."""
        folder = self._names_dir()
        if not os.path.exists(os.path.join(folder, ".complete")):
            return self.names().get(name)
        try:
            cid = os.readlink(os.path.join(folder, name))
        except OSError:
            return None
        rec = self.record(cid) if len(cid) == 64 else None
        return cid if rec and rec.get("Name", "").lstrip("/") == name else None

    def claim_name(self, name: str, cid: str) -> None:
        """Point `name` at `cid`; the caller holds `locked()` and checked the name is free."""
        self.index_names()
        self._link_name(name, cid)

    def release_name(self, name: str, cid: str) -> None:
        """Drop `name`'s link if it points at `cid`; the caller holds `locked()`."""
        path = self.name_link(name)
        with suppress(OSError):
            if os.readlink(path) == cid:
                os.unlink(path)

    def _link_name(self, name: str, cid: str) -> None:
        path = self.name_link(name)
        try:
            os.symlink(cid, path)
        except FileExistsError:  # a link that counts for nothing (see above)
            os.unlink(path)
            os.symlink(cid, path)

    def new_id(self) -> str:
        return os.urandom(32).hex()

    def find(self, text: str) -> str:
        """Container id for a name, full id or unique id prefix; NoSuchContainer otherwise."""
        name = text.lstrip("/")
        ids = self.ids()
        if name in ids:
            return name
        owner = self.name_owner(name) if name else None
        if owner is not None:
            return owner
        matches = [cid for cid in ids if cid.startswith(text)] if text else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ContainerError(
                f"Error response from daemon: multiple IDs found with prefix: {text}"
            )
        raise NoSuchContainer(f"Error response from daemon: No such container: {text}")

    # --- state ---------------------------------------------------------------------------
    def state(self, cid: str) -> dict:
        """docker's State object, after reconciling a dead shim."""
        raw = self.raw_state(cid)
        if raw.get("Status") in ("running", "restarting") and not shim_alive(raw.get("ShimPid")):
            raw = self.reconcile(cid)
        status = raw.get("Status", "created")
        paused = status == "running" and os.path.exists(self.path(cid, "paused"))
        if paused:
            status = "paused"
        return {
            "Status": status,
            "Running": status in ("running", "paused"),
            "Paused": paused,
            "Restarting": status == "restarting",
            "OOMKilled": False,
            "Dead": status == "dead",
            "Pid": raw.get("Pid", 0) if status in ("running", "paused") else 0,
            "ExitCode": raw.get("ExitCode", 0),
            "Error": raw.get("Error", ""),
            "StartedAt": raw.get("StartedAt") or ZERO_TIME,
            "FinishedAt": raw.get("FinishedAt") or ZERO_TIME,
            "RestartCount": raw.get("RestartCount", 0),
            "ShimPid": raw.get("ShimPid", 0),
        }

    def reconcile(self, cid: str) -> dict:
        """The shim is gone: kill what is left of the container and mark it exited."""
        from toolkit.engine import rootfs, runtime

        with self.locked_one(cid):
            raw = self.raw_state(cid)
            if raw.get("Status") not in ("running", "restarting") or shim_alive(raw.get("ShimPid")):
                return raw
            rec = self.record(cid) or {}
            name = rec.get("HostConfig", {}).get("Runtime")
            if name:
                with suppress(TkError, OSError):
                    rt = runtime.from_record(self.run_dir, name)
                    rt.kill(cid, "KILL", all_procs=True)
                    rt.delete(cid)
            with suppress(OSError):
                rootfs.unmount_rootfs(self.path(cid))
            if os.path.exists(self.path(cid, "network.json")):
                from toolkit.engine import network

                network.detach(self, cid)
            raw.update(
                Status="exited",
                ExitCode=137,
                Pid=0,
                FinishedAt=now_iso(),
                Error="supervisor (shim) died",
            )
            self.save_state(cid, raw)
            return raw

    def remove_dir(self, cid: str, shim_pid: int = 0) -> None:
        """Make the container's directory disappear (a rename into tmp/), then delete it: in a
        detached `rm`, or, with `shim_pid`, in that live shim of a foreground `run --rm`, which
        waits for the rename after the runtime's delete (see shim.py take_out_trash)."""
        for kind in ("sock", "con"):
            with suppress(OSError):
                os.unlink(self.sock(cid, kind))
        path = self.path(cid)
        if not os.path.isdir(path):
            return
        # The rename makes the container disappear at once; deleting its files can take a while
        # on a busy disk (each unlink waits on the journal), so a detached child does that. An
        # interrupted deletion is finished by the store's stale-tmp cleanup.
        if shim_pid:
            os.replace(path, trash_for_shim(self.store.tmp_dir, shim_pid, cid))
            return
        target = os.path.join(self.store.tmp_dir, f"trash-{os.getpid()}-{os.urandom(6).hex()}")
        os.replace(path, target)
        delete_in_background(target)


def _pick(words) -> str:
    return words[int.from_bytes(os.urandom(4), "big") % len(words)]


def delete_in_background(path: str) -> None:
    """`rm -rf PATH` in its own session, not waited for (a Python fork of a big process costs
    more than the whole removal); reaped later in long-lived callers."""
    from toolkit.engine import spawn

    try:
        spawn.background([_rm_path(), "-rf", "--", path])
    except OSError:
        remove_tree(path)


def trash_for_shim(tmp_dir: str, shim_pid: int, cid: str) -> str:
    """Where a foreground `run --rm` moves the container for its shim to delete: named after
    the shim's pid, so the store's stale-tmp cleanup finishes it if the shim died first."""
    return os.path.join(tmp_dir, f"trash-{int(shim_pid)}-{cid[:12]}")


_RM: list = []


def _rm_path() -> str:
    """rm's full path, found once (posix_spawnp would try each PATH entry in turn: a pyenv's
    shims and bins come before /usr/bin on some hosts)."""
    if not _RM:
        from toolkit.engine.runtime import which

        _RM.append(which("rm") or "rm")
    return _RM[0]


def shim_alive(pid) -> bool:
    """Is `pid` a live shim? Named `tke-shim` (shim.name_process; a shim forked by `tke run`
    has tke's command line), or one started as its own interpreter by an older tke; a
    zombie's cmdline reads empty."""
    if not pid:
        return False
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as fh:
            cmdline = fh.read()
        if b"import shim;" in cmdline:
            return True
        with open(f"/proc/{int(pid)}/comm", "rb") as fh:
            return bool(cmdline) and fh.read().strip() == b"tke-shim"
    except (OSError, ValueError):
        return False


def short(cid: str) -> str:
    return cid[:12]


def main(argv: list[str]) -> int:
    """`python -m toolkit.engine.containers cleanup ROOT ID`: the shim's --rm hook."""
    if len(argv) == 3 and argv[0] == "cleanup":
        from toolkit.engine import lifecycle

        store = Store(argv[1])
        with suppress(TkError, OSError):
            lifecycle.remove(Containers(store), argv[2], force=True, quiet=True, volumes=True)
        return 0
    return 2


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
