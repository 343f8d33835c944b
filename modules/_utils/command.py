"""Run a program from a module: always an argv list, never a shell string (stdlib, 3.6+).

A module that really wants a shell passes `["/bin/sh", "-c", script]` explicitly.
"""

import os
import subprocess
import time

from modules._utils.checks import ModuleFailed


def run_command(
    argv,
    check_rc=False,
    data=None,
    cwd=None,
    env=None,
    timeout=None,
    binary=False,
    env_replace=False,
):
    """Run argv; return (rc, stdout, stderr) as text (bytes with binary=True).

    data: bytes/str fed to stdin (stdin is /dev/null otherwise). env: variables added to the
    current environment (replacing it with env_replace). check_rc: fail the module on rc != 0.
    A missing program or a timeout fails the module with ModuleFailed.
    """
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError("run_command wants a non-empty argv list, not %r" % (argv,))
    argv = [str(a) if not isinstance(a, (str, bytes)) else a for a in argv]
    full_env = None
    if env:
        full_env = {} if env_replace else dict(os.environ)
        full_env.update(dict((str(k), str(v)) for k, v in env.items()))
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            close_fds=True,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise ModuleFailed(
            "%s: %s" % (argv[0], exc.strerror or exc), rc=2, cmd=_cmd(argv)
        ) from None
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise ModuleFailed(
            "command timed out after %s seconds" % timeout,
            rc=-9,
            cmd=_cmd(argv),
            stdout=_text(out),
            stderr=_text(err),
        ) from None
    rc = proc.returncode
    if not binary:
        out, err = _text(out), _text(err)
    if check_rc and rc != 0:
        raise ModuleFailed(
            _text(err).strip() or "non-zero return code",
            rc=rc,
            cmd=_cmd(argv),
            stdout=_text(out),
            stderr=_text(err),
        )
    return rc, out, err


def _text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _cmd(argv):
    return [_text(a) for a in argv]


def which(name, extra_dirs=("/usr/local/sbin", "/usr/sbin", "/sbin")):
    """The full path of a program on PATH (plus the sbin dirs), or None."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    dirs = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) + list(extra_dirs)
    for directory in dirs:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Timer(object):
    """Start/end/delta strings in Ansible's format for command-like results."""

    def __init__(self):
        self.start = time.time()

    @staticmethod
    def _fmt(stamp):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) + (
            ".%06d" % ((stamp % 1) * 1e6)
        )

    def fields(self):
        end = time.time()
        delta = end - self.start
        hours, rest = divmod(delta, 3600)
        minutes, seconds = divmod(rest, 60)
        return {
            "start": self._fmt(self.start),
            "end": self._fmt(end),
            "delta": "%d:%02d:%09.6f" % (hours, minutes, seconds),
        }
