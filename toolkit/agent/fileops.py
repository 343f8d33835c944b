"""The agent's file operations: streamed put (temp file + verify + rename) and chunked fetch.

A put never leaves a half file at the destination: chunks go to a temp file beside it, the
size and sha1 are checked, then the temp file is renamed over the destination (keeping an
existing file's owner and mode unless a mode is given). Stdlib only, Python 3.6+.

The writing agent holds an flock on its temp file. A temp file left by an agent that died
(lock free) or that is stuck on a dead connection (untouched for STALE seconds, longer than
the controller waits for a silent host) is removed by the next put into the same directory,
so a rerun after a fault leaves no partial files.
"""

import base64
import errno
import fcntl
import os
import stat
import time

STALE = 15.0  # seconds: the controller's default dead-peer timeout
TEMP_PREFIX = ".tk-put-"


def _remove_stale(directory, prefix=TEMP_PREFIX):
    """Remove temp files of earlier puts into this directory whose writer is gone."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                orphan = True  # nobody holds it: its writer died
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue
                orphan = time.time() - os.fstat(fd).st_mtime > STALE
            if orphan and stat.S_ISREG(os.fstat(fd).st_mode):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


class AgentOpError(Exception):
    """A file operation that cannot be done; the message goes back as the error."""


def _sha1_of(path):
    import hashlib  # lazily: loading OpenSSL costs ~3 ms of the agent's start-up

    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mode(value):
    if value is None:
        return None
    if isinstance(value, int):
        return value & 0o7777
    try:
        return int(str(value), 8) & 0o7777
    except ValueError:
        raise AgentOpError("mode %r is not an octal number like 0644" % (value,)) from None


class Upload(object):
    def __init__(self, path, size, sha1, mode):
        self.path = path
        self.size = size
        self.sha1 = sha1
        self.mode = _mode(mode)
        import hashlib

        self.digest = hashlib.sha1()
        self.written = 0
        directory = os.path.dirname(os.path.abspath(path)) or "/"
        if not os.path.isdir(directory):
            raise AgentOpError("destination directory %s does not exist" % directory)
        _remove_stale(directory)
        import tempfile  # lazily: only file transfers need it (~10 ms of agent start-up)

        fd, self.tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=directory)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # a filesystem without flock: only the age rule protects this file
        self.handle = os.fdopen(fd, "wb")

    def write(self, data):
        self.handle.write(data)
        self.digest.update(data)
        self.written += len(data)

    def abort(self):
        try:
            self.handle.close()
        finally:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass

    def finish(self):
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        got = self.digest.hexdigest()
        if self.size is not None and self.written != self.size:
            raise AgentOpError(
                "put %s: got %d bytes, expected %d" % (self.path, self.written, self.size)
            )
        if self.sha1 and got != self.sha1:
            raise AgentOpError("put %s: sha1 %s does not match %s" % (self.path, got, self.sha1))
        if os.path.isfile(self.path) and _sha1_of(self.path) == got:
            os.unlink(self.tmp)
            return {"changed": self._chmod_existing(), "sha1": got, "path": self.path}
        self._take_identity()
        os.rename(self.tmp, self.path)
        return {"changed": True, "sha1": got, "path": self.path, "size": self.written}

    def _chmod_existing(self):
        if self.mode is None:
            return False
        if stat.S_IMODE(os.stat(self.path).st_mode) == self.mode:
            return False
        os.chmod(self.path, self.mode)
        return True

    def _take_identity(self):
        try:
            st = os.stat(self.path)
        except OSError:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(self.tmp, self.mode if self.mode is not None else 0o666 & ~mask)
            return
        os.chmod(self.tmp, self.mode if self.mode is not None else stat.S_IMODE(st.st_mode))
        try:
            os.chown(self.tmp, st.st_uid, st.st_gid)
        except OSError:
            pass


class FileOps(object):
    """put_begin/put_chunk/put_end/put_abort and fetch for one agent."""

    def __init__(self):
        self.uploads = {}
        self.counter = 0

    def put_begin(self, req):
        self.counter += 1
        handle = str(self.counter)
        self.uploads[handle] = Upload(
            req["path"], req.get("size"), req.get("sha1"), req.get("mode")
        )
        return {"handle": handle}

    def _upload(self, req):
        try:
            return self.uploads[str(req["handle"])]
        except KeyError:
            raise AgentOpError("no upload with handle %s" % req.get("handle")) from None

    def put_chunk(self, req):
        upload = self._upload(req)
        try:
            upload.write(base64.b64decode(req["data"]))
        except Exception:
            self.uploads.pop(str(req["handle"]), None)
            upload.abort()
            raise
        return {"written": upload.written}

    def put_end(self, req):
        upload = self._upload(req)
        del self.uploads[str(req["handle"])]
        try:
            return upload.finish()
        except Exception:
            upload.abort()
            raise

    def put_abort(self, req):
        upload = self.uploads.pop(str(req.get("handle")), None)
        if upload is not None:
            upload.abort()
        return {"aborted": upload is not None}

    def fetch(self, req):
        path = req["path"]
        offset = int(req.get("offset") or 0)
        length = int(req.get("length") or (1 << 20))
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(offset)
                data = handle.read(length)
        except IOError as exc:
            raise AgentOpError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
        result = {
            "data": base64.b64encode(data).decode("ascii"),
            "size": size,
            "eof": offset + len(data) >= size,
        }
        if result["eof"] and req.get("checksum", True):
            result["sha1"] = _sha1_of(path)
        return result

    def close(self):
        for upload in list(self.uploads.values()):
            upload.abort()
        self.uploads.clear()
