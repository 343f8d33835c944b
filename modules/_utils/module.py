"""Runtime of a target module: argument validation from a declarative spec, and one result shape.

A module file declares `ARGUMENT_SPEC` (and optionally MUTUALLY_EXCLUSIVE, REQUIRED_ONE_OF,
REQUIRED_IF, REQUIRED_TOGETHER, SUPPORTS_CHECK_MODE, FREE_FORM) and `main(module) -> dict`.
`execute(namespace, args, check, diff)` validates the arguments, calls `main` and returns the
result dict that goes back to the controller; it never raises.

Spec keys per option: type (str int float bool list dict path raw bytes bits jsonarg), elements
(type of list items), choices, default, aliases, required, no_log, options (a sub-spec for a dict
or for list elements of type dict). Stdlib only, Python 3.6+.
"""

import difflib
import json
import os
import shutil
import tempfile

from modules._utils import checks
from modules._utils.checks import ModuleFailed


def _format_exc():
    """The current exception's traceback as text (traceback is imported only on errors: it
    costs the agent's start-up ~5 ms, and most runs never need it)."""
    import traceback

    return traceback.format_exc()


__all__ = ["Module", "ModuleFailed", "execute", "validate"]


class Module(object):
    """What `main(module)` works with: validated params, modes, fail/warn and a scratch dir."""

    def __init__(self, params, name="module", check_mode=False, diff_mode=False, no_log=()):
        self.params = params
        self.name = name
        self.check_mode = bool(check_mode)
        self.diff_mode = bool(diff_mode)
        self.warnings = []
        self.no_log_values = set(no_log)
        self._tmpdir = None

    def fail(self, msg, **extra):
        """Stop the module: the task fails with `msg` and the extra result fields."""
        raise ModuleFailed(msg, **extra)

    def warn(self, text):
        """Add a warning shown by the controller after the task."""
        self.warnings.append(str(text))

    def run_command(self, argv, **kwargs):
        """`modules._utils.command.run_command` (argv list, never a shell string)."""
        from modules._utils.command import run_command

        return run_command(argv, **kwargs)

    @property
    def tmpdir(self):
        """A private scratch directory, removed when the module returns."""
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="tk-mod-")
        return self._tmpdir

    def cleanup(self):
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def _spec_of(namespace):
    if isinstance(namespace, dict):
        get = namespace.get
    else:

        def get(key, default=None):
            return getattr(namespace, key, default)

    return {
        "spec": get("ARGUMENT_SPEC", {}) or {},
        "mutually_exclusive": get("MUTUALLY_EXCLUSIVE", []) or [],
        "required_one_of": get("REQUIRED_ONE_OF", []) or [],
        "required_if": get("REQUIRED_IF", []) or [],
        "required_together": get("REQUIRED_TOGETHER", []) or [],
        "free_form": get("FREE_FORM", None),
        "supports_check_mode": get("SUPPORTS_CHECK_MODE", False),
    }


def validate(
    spec,
    args,
    mutually_exclusive=(),
    required_one_of=(),
    required_if=(),
    required_together=(),
    free_form=None,
    module_name="module",
    path="",
):
    """Validate `args` against `spec`; return (params, no_log_values). Raises ModuleFailed."""
    args = dict(args or {})
    if free_form and "_raw_params" in args:
        raw = args.pop("_raw_params")
        if args.get(free_form) is None:
            args[free_form] = raw
    for internal in [k for k in args if k.startswith("_ansible_") or k.startswith("_tk_")]:
        args.pop(internal)
    args = checks.resolve_aliases(spec, args, module_name, path)
    _check_unknown(spec, args, module_name, path)
    checks.check_mutually_exclusive(mutually_exclusive, args, path)
    params = {}
    no_log = set()
    for key, opt in spec.items():
        value = args.get(key)
        if value is None:
            value = opt.get("default")
        if value is not None:
            value = checks.convert(key, value, opt, module_name, _join(path, key))
            value = _suboptions(key, value, opt, module_name, _join(path, key), no_log)
            checks.check_choices(key, value, opt, _join(path, key))
        params[key] = value
        if opt.get("no_log") and value is not None:
            checks.collect_secrets(value, no_log)
    checks.check_required(spec, params, path)
    checks.check_required_together(required_together, params, path)
    checks.check_required_one_of(required_one_of, params, path)
    checks.check_required_if(required_if, params, path)
    return params, no_log


def _join(path, key):
    return "%s.%s" % (path, key) if path else key


def _check_unknown(spec, args, module_name, path):
    unknown = sorted(k for k in args if k not in spec)
    if not unknown:
        return
    valid = sorted(set(spec) | set(a for o in spec.values() for a in (o.get("aliases") or ())))
    where = " found in %s" % path if path else ""
    msg = "Unsupported parameters for (%s) module: %s%s." % (module_name, ", ".join(unknown), where)
    close = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.6)
    if close:
        msg += " Did you mean '%s'?" % close[0]
    msg += " Supported parameters include: %s." % ", ".join(valid)
    raise ModuleFailed(msg)


def _suboptions(key, value, opt, module_name, path, no_log):
    sub = opt.get("options")
    if not sub:
        return value

    def one(item, where):
        if not isinstance(item, dict):
            raise ModuleFailed("Elements of %s must be dicts, got %r" % (where, item))
        params, secrets = validate(
            sub,
            item,
            mutually_exclusive=opt.get("mutually_exclusive", ()),
            required_one_of=opt.get("required_one_of", ()),
            required_if=opt.get("required_if", ()),
            required_together=opt.get("required_together", ()),
            module_name=module_name,
            path=where,
        )
        no_log.update(secrets)
        return params

    if isinstance(value, list):
        return [one(item, path) for item in value]
    return one(value, path)


def mask(value, secrets):
    """Replace every occurrence of a no_log value in `value` (recursively) with ********."""
    if not secrets:
        return value
    if isinstance(value, dict):
        return dict((k, mask(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [mask(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            if secret and secret in value:
                value = value.replace(secret, "********")
    return value


def execute(namespace, args, check=False, diff=False, name="module"):
    """Run a module's `main` with validated args; always return a result dict, never raise."""
    meta = _spec_of(namespace)
    if check and not meta["supports_check_mode"]:
        return {
            "changed": False,
            "failed": False,
            "skipped": True,
            "msg": "remote module (%s) does not support check mode" % name,
        }
    secrets = set()
    module = None
    try:
        params, secrets = validate(
            meta["spec"],
            args,
            mutually_exclusive=meta["mutually_exclusive"],
            required_one_of=meta["required_one_of"],
            required_if=meta["required_if"],
            required_together=meta["required_together"],
            free_form=meta["free_form"],
            module_name=name,
        )
        module = Module(params, name=name, check_mode=check, diff_mode=diff, no_log=secrets)
        main = namespace["main"] if isinstance(namespace, dict) else namespace.main
        result = main(module)
        if not isinstance(result, dict):
            raise TypeError("module %s returned %r, not a dict" % (name, type(result).__name__))
        result = dict(result)
    except ModuleFailed as exc:
        result = dict(exc.extra)
        result["failed"] = True
        result["msg"] = exc.msg
    except Exception as exc:  # a bug in the module: report it as this task's failure
        result = {
            "failed": True,
            "msg": "module %s raised %s: %s" % (name, type(exc).__name__, exc),
            "exception": _format_exc(),
        }
    finally:
        if module is not None:
            module.cleanup()
    return _finish(result, module, secrets)


def _finish(result, module, secrets):
    result.setdefault("changed", False)
    result["changed"] = bool(result["changed"])
    result.setdefault("failed", False)
    if result["failed"] and not result.get("msg"):
        result["msg"] = "module failed"
    if module is not None and module.warnings:
        result["warnings"] = list(result.get("warnings") or []) + module.warnings
    if not (module is not None and module.diff_mode):
        result.pop("diff", None)
    return mask(result, secrets)


def result_json(result):
    """The result as JSON text; values JSON cannot carry become strings."""
    return json.dumps(result, default=_jsonable)


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def env_fallback(*names):
    """The first set environment variable among `names`, or None (for spec defaults)."""
    for name in names:
        if name in os.environ:
            return os.environ[name]
    return None
