"""Jinja2 templating with Ansible's rules: native types, lazy variables, conditionals, errors.

`Templar(variables).render(value)` renders strings, lists and dicts (keys too). A string that is
a single `{{ expression }}` keeps the expression's native type (list, dict, int, bool, None); a
string result of such an expression that reads as a Python list/dict literal (or True/False) is
evaluated into that value, as ansible-core does. Mixed text (`"a {{ x }}"`) always renders to a
str and is never re-evaluated. Strings without `{{`, `{%` or `{#` are returned untouched without
calling Jinja (the per-task hot path); compiled templates are cached by source.

`LazyVars` layers variable mappings (lowest precedence first) and renders a value when it is read,
so `a: "{{ b }}"` sees `b`; a variable that needs itself is a `TemplateError`. `HostVars` gives
lazy access to other hosts' variables. Every failure is a `toolkit.errors.TemplateError` naming
the variable, filter or syntax problem and the location; never a raw Jinja traceback.
"""

from __future__ import annotations

import ast
import os
import threading
import time
from itertools import chain, islice
from types import GeneratorType
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence

from jinja2 import nodes
from jinja2.environment import Environment, Template
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.exceptions import (
    TemplateNotFound,
    TemplateRuntimeError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.ext import do as _do_ext
from jinja2.ext import loopcontrols as _loopcontrols_ext
from jinja2.loaders import BaseLoader
from jinja2.nativetypes import NativeCodeGenerator, NativeEnvironment
from jinja2.runtime import Context, StrictUndefined, Undefined, missing, new_context

from toolkit import filters as _filters
from toolkit import jinja_tests as _tests
from toolkit import lookups as _lookups
from toolkit.errors import Location, TemplateError, did_you_mean
from toolkit.lookups import OMIT, strip_omit

__all__ = [
    "OMIT",
    "HostVars",
    "LazyVars",
    "Templar",
    "TemplateError",
    "is_template",
    "strip_omit",
]

_TEMPLAR_KEY = "__tk_templar__"
_BOOL_WORDS = {
    "yes": True, "on": True, "true": True, "y": True,
    "no": False, "off": False, "false": False, "n": False,
}  # fmt: skip
_CACHE_LIMIT = 4096
ANSIBLE_MANAGED = "Ansible managed"


def is_template(value: Any) -> bool:
    """True when a string contains Jinja markup (`{{`, `{%` or `{#`)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_template(v) for v in value)
    return False


# ---------------------------------------------------------------------------------------------
# Jinja environment pieces


class _Undefined(StrictUndefined):
    """Fails on any use, but `a.b.c is defined` and `a.b | default(x)` work like in Ansible."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        err = UndefinedError(self._undefined_message)
        err.tk_name = self._undefined_name
        err.tk_has_obj = self._undefined_obj is not missing
        raise err

    def __repr__(self) -> str:
        return "Undefined"


class _Overlay(Mapping):
    """Read-only view of `top` over `base` without copying either (no lazy value is forced)."""

    __slots__ = ("top", "base")

    def __init__(self, top: Mapping, base: Mapping) -> None:
        self.top = top
        self.base = base

    def __getitem__(self, key: str) -> Any:
        if key in self.top:
            return self.top[key]
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return key in self.top or key in self.base

    def __iter__(self) -> Iterator[str]:
        seen = set(self.top)
        yield from self.top
        yield from (k for k in self.base if k not in seen)

    def __len__(self) -> int:
        return len(set(self.top).union(self.base))


class _JinjaVars(Mapping):
    """What a template sees: the variables, then the environment's globals, then the Templar."""

    __slots__ = ("variables", "globals", "templar")

    def __init__(self, variables: Mapping, globals_: Mapping, templar: Templar) -> None:
        self.variables = variables
        self.globals = globals_
        self.templar = templar

    def __getitem__(self, key: str) -> Any:
        if key in self.variables:
            try:
                return self.variables[key]
            except TemplateError as exc:  # `x is defined` is false, as in Ansible
                return _undefined_from(exc, key)
        if key == _TEMPLAR_KEY:
            return self.templar
        return self.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.variables or key in self.globals or key == _TEMPLAR_KEY

    def __iter__(self) -> Iterator[str]:
        return iter(_Overlay(self.variables, self.globals))

    def __len__(self) -> int:
        return len(_Overlay(self.variables, self.globals))


class _Context(Context):
    def get_all(self) -> Mapping:  # type: ignore[override]
        if not self.vars:
            return self.parent
        return _Overlay(self.vars, self.parent)


def _new_context(self: Template, vars: Any = None, shared: bool = False, locals: Any = None):
    """Jinja's new_context without `dict(parent)`, which would force every lazy variable."""
    if shared and vars is not None and not isinstance(vars, dict):
        parent: Mapping = vars
        if locals:
            extra = {k: v for k, v in locals.items() if v is not missing}
            parent = _Overlay(extra, parent) if extra else parent
        return self.environment.context_class(
            self.environment, parent, self.name, self.blocks, globals=self.globals
        )
    return new_context(self.environment, self.name, self.blocks, vars, shared, self.globals, locals)


class _NativeTemplate(Template):
    new_context = _new_context


class _TextTemplate(Template):
    new_context = _new_context


class _CodeGenerator(NativeCodeGenerator):
    """Native code generation without folding constant expressions into strings."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize: Any) -> Any:
        if isinstance(node, nodes.TemplateData):
            return node.as_const(frame.eval_ctx)
        raise nodes.Impossible()


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def _literal(text: str) -> Any:
    """ansible-core's re-evaluation of a single expression's str result into a list/dict/bool."""
    if text in ("True", "False"):
        return text == "True"
    if text[:1] in ("[", "{"):
        try:
            value = ast.literal_eval(ast.parse(text, mode="eval"))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(value, (list, dict)):
            return value
    return text


def _native_concat(values: Iterable[Any], literal: bool = True) -> Any:
    head = list(islice(values, 2))
    if not head:
        return ""
    if len(head) == 1:
        value = head[0]
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        if isinstance(value, _LAZY_TYPES):
            return _materialize(value)
        if isinstance(value, str):
            if type(value) is _filters.NativeText:
                return str(value)
            return _literal(value) if literal else value
        return value
    if isinstance(values, GeneratorType):
        values = chain(head, values)
    return "".join([_to_text(v) for v in values])


class _LookupMixin:
    """Attribute/item access for both environments: lazy mappings prefer their items (so a
    variable named `raw` or `layers` wins over the method), and a lazy value that is undefined
    reads as undefined (so `hostvars[h].x is defined` is false instead of an error)."""

    def getitem(self, obj: Any, argument: Any) -> Any:
        try:
            return super().getitem(obj, argument)
        except TemplateError as exc:
            return _undefined_from(exc, argument)

    def getattr(self, obj: Any, attribute: str) -> Any:
        try:
            if isinstance(obj, _LAZY_TYPES):
                if attribute in obj:
                    return obj[attribute]
                return self.undefined(obj=obj, name=attribute)
            return super().getattr(obj, attribute)
        except TemplateError as exc:
            return _undefined_from(exc, attribute)


def _undefined_from(exc: TemplateError, name: Any) -> Undefined:
    if getattr(exc, "tk_undefined", False):
        return _Undefined(hint=exc.message, name=name)
    raise exc


def _materialize(value: Any) -> Any:
    """A plain dict of a lazy mapping (`"{{ hostvars['web1'] }}"`), every value rendered."""
    if isinstance(value, _LAZY_TYPES):
        return {k: _materialize(value[k]) for k in value}
    return value


class _NativeEnv(_LookupMixin, NativeEnvironment):
    code_generator_class = _CodeGenerator
    context_class = _Context
    template_class = _NativeTemplate


class _PathLoader(BaseLoader):
    """Loads templates by absolute path; `_FileEnv.join_path` makes includes absolute."""

    def get_source(self, environment: Environment, template: str):
        if not os.path.isabs(template):
            raise TemplateNotFound(template)
        try:
            with open(template, encoding="utf-8") as fh:
                source = fh.read()
            mtime = os.path.getmtime(template)
        except (OSError, UnicodeDecodeError):
            raise TemplateNotFound(template) from None
        return source, template, lambda: _mtime(template) == mtime


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return -1.0


class _FileEnv(_LookupMixin, Environment):
    context_class = _Context
    template_class = _TextTemplate

    def join_path(self, template: str, parent: str) -> str:
        if os.path.isabs(template) or not parent or not os.path.isabs(parent):
            return template
        return os.path.normpath(os.path.join(os.path.dirname(parent), template))


def _setup(env: Environment) -> Environment:
    env.filters.update(_filters.FILTERS)
    env.tests.update(_tests.TESTS)
    env.globals.update(_lookups.GLOBALS)
    for table in (env.filters, env.tests):
        for name in [n for n in table if "." not in n]:
            table.setdefault(f"ansible.builtin.{name}", table[name])
    return env


_EXTENSIONS = [_do_ext, _loopcontrols_ext]
_ENV = _setup(_NativeEnv(undefined=_Undefined, keep_trailing_newline=True, extensions=_EXTENSIONS))
_FILE_ENVS: dict = {}
_FILE_ENVS_LOCK = threading.Lock()
_CACHE: dict = {}


def _file_env(**overrides: Any) -> Environment:
    key = tuple(sorted(overrides.items()))
    env = _FILE_ENVS.get(key)
    if env is None:
        options = {"trim_blocks": True, "keep_trailing_newline": True, **overrides}
        with _FILE_ENVS_LOCK:
            env = _FILE_ENVS.get(key)
            if env is None:
                env = _setup(
                    _FileEnv(
                        undefined=_Undefined,
                        loader=_PathLoader(),
                        extensions=_EXTENSIONS,
                        finalize=_to_text,
                        auto_reload=True,
                        **options,
                    )
                )
                _FILE_ENVS[key] = env
    return env


def _compile(source: str) -> Template:
    template = _CACHE.get(source)
    if template is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        template = _ENV.from_string(source)
        _CACHE[source] = template
    return template


# ---------------------------------------------------------------------------------------------
# Errors


def _dotted(node: nodes.Node) -> Optional[str]:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        base = _dotted(node.node)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _dotted(node.node)
        if base is None:
            return None
        arg = node.arg.value
        return (
            f"{base}.{arg}" if isinstance(arg, str) and arg.isidentifier() else f"{base}[{arg!r}]"
        )
    return None


def _undefined_message(exc: UndefinedError, source: Optional[str], env: Environment) -> str:
    """Name the whole attribute chain (`'a.b' is undefined: ...`) when Jinja names only a part."""
    message = exc.message or "undefined variable"
    name = getattr(exc, "tk_name", None)
    if not getattr(exc, "tk_has_obj", False) or source is None or name is None:
        return message
    try:
        tree = env.parse(source)
    except TemplateSyntaxError:
        return message
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            hit = node.attr == name
        else:
            hit = isinstance(node.arg, nodes.Const) and node.arg.value == name
        path = _dotted(node) if hit else None
        if path:
            return f"'{path}' is undefined: {message}"
    return message


def _unknown_name_error(message: str, env: Environment) -> Optional[tuple]:
    """Jinja's 'No filter named x' / 'No test named x' as our message and did-you-mean hint."""
    for kind, table in (("filter", env.filters), ("test", env.tests)):
        prefix = f"No {kind} named "
        if message.startswith(prefix):
            name = message[len(prefix) :].rstrip(".").replace(" found", "").strip("'\"")
            return f"no {kind} named '{name}'", did_you_mean(name, table)
    return None


def _template_location(exc: BaseException) -> Optional[Location]:
    """The template file and line the innermost template frame of `exc` was running."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None and template.filename:
            found = Location(template.filename, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def _convert(
    exc: BaseException,
    *,
    source: Optional[str],
    location: Optional[Location],
    env: Environment,
    filename: Optional[str] = None,
    what: str = "",
) -> TemplateError:
    """Turn whatever rendering raised into one TemplateError with a location and a clear text."""
    if isinstance(exc, TemplateError):
        if exc.location is None and location is not None:
            exc.location = location
        return exc
    shown = f". String: {source}" if source is not None and filename is None and not what else ""
    hint = None
    if isinstance(exc, TemplateSyntaxError):
        if filename and exc.lineno:
            location = Location(exc.filename or filename, exc.lineno)
        unknown = _unknown_name_error(exc.message or "", env)
        if unknown:
            text, hint = unknown
        else:
            text = f"template syntax error: {(exc.message or '').rstrip('.')}"
        return TemplateError(f"{what}{text}{shown}", location, hint)
    if filename:
        location = _template_location(exc) or Location(filename)
    if isinstance(exc, UndefinedError):
        err = TemplateError(f"{what}{_undefined_message(exc, source, env)}{shown}", location)
        err.tk_undefined = True
        return err
    if isinstance(exc, TemplateRuntimeError) and _unknown_name_error(str(exc), env):
        text, hint = _unknown_name_error(str(exc), env)
    elif isinstance(exc, TemplateNotFound):
        text = f"template not found: {exc.name}"
    elif isinstance(exc, JinjaTemplateError):
        text = exc.message or type(exc).__name__
    elif isinstance(exc, RecursionError):
        text = "recursion too deep while templating"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return TemplateError(f"{what}{text}{shown}", location, hint)


# ---------------------------------------------------------------------------------------------
# Templar


class Templar:
    """Renders values against one mapping of variables (which may be a lazy `LazyVars`)."""

    __slots__ = ("_vars", "location", "search_paths")

    def __init__(
        self,
        variables: Optional[Mapping[str, Any]] = None,
        *,
        location: Optional[Location] = None,
        search_paths: Sequence[str] = (),
    ) -> None:
        self._vars: Mapping[str, Any] = variables if variables is not None else {}
        self.location = location
        # lookups search these dirs (and their files/ or templates/); LazyVars may carry them
        self.search_paths = tuple(search_paths or getattr(variables, "search_paths", ()))

    @property
    def available_variables(self) -> Mapping[str, Any]:
        return self._vars

    @available_variables.setter
    def available_variables(self, variables: Mapping[str, Any]) -> None:
        self._vars = variables

    def copy_with(self, extra_vars: Mapping[str, Any]) -> Templar:
        """A Templar seeing `extra_vars` over these variables (e.g. `item`); nothing is copied."""
        if isinstance(self._vars, LazyVars):
            variables: Mapping = self._vars.overlay(extra_vars)
        else:
            variables = _Overlay(extra_vars, self._vars)
        return Templar(variables, location=self.location, search_paths=self.search_paths)

    # -- rendering -------------------------------------------------------------------------

    def render(self, value: Any, *, location: Optional[Location] = None) -> Any:
        """Render str/list/dict recursively; `"{{ x }}"` alone keeps x's native type."""
        if isinstance(value, str):
            if "{" not in value or not is_template(value):
                return value
            return self._render_str(value, location or getattr(value, "location", None))
        if isinstance(value, dict):
            return {self.render(k, location=location): self.render(v, location=location)
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, (list, tuple)):
            return [self.render(v, location=location) for v in value]
        return value

    def render_string(self, text: str, *, location: Optional[Location] = None) -> str:
        """Render text to a str, whatever the expression's type (`"{{ [1] }}"` → `"[1]"`)."""
        if not is_template(text):
            return text
        value = self._run(text, location or getattr(text, "location", None), literal=False)
        return _to_text(value) if not isinstance(value, str) else str(value)

    def _render_str(self, text: str, location: Optional[Location], literal: bool = True) -> Any:
        return self._run(text, location, literal=literal)

    def _run(self, text: str, location: Optional[Location], *, literal: bool, what="") -> Any:
        where = location or self.location
        try:
            template = _compile(text)
            ctx = template.new_context(_JinjaVars(self._vars, template.globals, self), True)
            return _native_concat(template.root_render_func(ctx), literal)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one TemplateError
            raise _convert(exc, source=text, location=where, env=_ENV, what=what) from None

    # -- conditionals ----------------------------------------------------------------------

    def is_true(self, expr: Any, *, location: Optional[Location] = None) -> bool:
        """Evaluate a `when`/`failed_when`/`changed_when`/`until`/`assert` condition.

        Bare expressions (`x == 1`), lists (all must hold), booleans, numbers, None (true: no
        condition) and words like "yes"/"off" are accepted; `{{ }}` is rendered first.
        """
        if expr is None or isinstance(expr, bool):
            return True if expr is None else expr
        if isinstance(expr, (list, tuple)):
            return all(self.is_true(e, location=location) for e in expr)
        if isinstance(expr, (int, float)):
            return bool(expr)
        where = location or getattr(expr, "location", None) or self.location
        text = str(expr).strip()
        if not text:
            return True
        if is_template(text):
            rendered = self._render_str(text, where)
            if not isinstance(rendered, str):
                return _truth(rendered)
            text = rendered.strip()
            if not text:
                return False
        word = _BOOL_WORDS.get(text.lower())
        if word is not None and text not in self._vars:
            return word
        what = f"error while evaluating conditional ({text}): "
        result = self._run("{{ " + text + " }}", where, literal=False, what=what)
        return _truth(result)

    # -- files -----------------------------------------------------------------------------

    def render_file(
        self,
        path: str,
        extra_vars: Optional[Mapping[str, Any]] = None,
        *,
        overrides: Optional[Mapping[str, Any]] = None,
    ) -> str:
        """Render a template file (the template module): includes/imports relative to its
        directory, `trim_blocks`, `ansible_managed`, `template_*` variables. `overrides` sets
        Jinja options (trim_blocks, lstrip_blocks, variable_start_string...); a `#jinja2:`
        first line in the file wins over them."""
        path = os.path.abspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                source = fh.read()
        except FileNotFoundError:
            raise TemplateError(f"template file not found: {path}", self.location) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read template {path}: {exc}", self.location) from None
        source, header = _header_overrides(source, path)
        options = _check_options(overrides or {}, Location(path))
        options.update(header)
        env = _file_env(**options)
        variables = _Overlay(
            _template_vars(path, extra_vars),
            _Overlay(self._vars, {"ansible_managed": ANSIBLE_MANAGED}),
        )
        try:
            code = env.compile(source, name=path, filename=path)
            template = env.template_class.from_code(env, code, env.make_globals(None))
            ctx = template.new_context(_JinjaVars(variables, template.globals, self), True)
            return "".join([_to_text(v) for v in template.root_render_func(ctx)])
        except Exception as exc:  # noqa: BLE001
            err = _convert(exc, source=None, location=self.location, env=env, filename=path)
            raise err from None

    def eval_lookup(self, name: str, terms: Any, wantlist: bool = False, **kwargs: Any) -> Any:
        """Run a lookup plugin from Python (loops: `with_items`, `with_fileglob`...)."""
        return _lookups.run(self, name, terms, kwargs, wantlist=wantlist)


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        word = _BOOL_WORDS.get(value.strip().lower())
        if word is not None:
            return word
    return bool(value)


_HEADER = "#jinja2:"
_HEADER_KEYS = {
    "trim_blocks": bool, "lstrip_blocks": bool, "keep_trailing_newline": bool,
    "newline_sequence": str, "block_start_string": str, "block_end_string": str,
    "variable_start_string": str, "variable_end_string": str,
    "comment_start_string": str, "comment_end_string": str,
}  # fmt: skip


def _header_overrides(source: str, path: str) -> tuple:
    """Parse `#jinja2: trim_blocks: False, lstrip_blocks: True` from a template's first line."""
    if not source.startswith(_HEADER):
        return source, {}
    line, _, rest = source.partition("\n")
    overrides = {}
    for part in line[len(_HEADER) :].split(","):
        key, sep, raw = part.partition(":")
        key, raw = key.strip(), raw.strip()
        if not key:
            continue
        if not sep or key not in _HEADER_KEYS:
            raise TemplateError(f"bad '#jinja2:' override '{part.strip()}'", Location(path, 1))
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        if _HEADER_KEYS[key] is bool:
            value = _BOOL_WORDS.get(str(value).lower(), value)
        if not isinstance(value, _HEADER_KEYS[key]):
            raise TemplateError(f"bad value for '{key}' in '#jinja2:' line", Location(path, 1))
        overrides[key] = value
    return rest, overrides


def _check_options(options: Mapping[str, Any], where: Location) -> dict:
    result = {}
    for key, value in options.items():
        kind = _HEADER_KEYS.get(key)
        if kind is None:
            hint = did_you_mean(key, _HEADER_KEYS)
            raise TemplateError(f"unknown template option '{key}'", where, hint)
        if kind is bool and isinstance(value, str):
            value = _BOOL_WORDS.get(value.lower(), value)
        if not isinstance(value, kind):
            raise TemplateError(f"template option '{key}' must be a {kind.__name__}", where)
        result[key] = value
    return result


def _template_vars(path: str, extra: Optional[Mapping[str, Any]]) -> dict:
    try:
        stat = os.stat(path)
        uid = str(stat.st_uid)
        try:
            import pwd

            uid = pwd.getpwuid(stat.st_uid).pw_name
        except (ImportError, KeyError):
            pass
        mtime = stat.st_mtime
    except OSError:
        uid, mtime = "", 0.0
    result = {
        "template_path": path,
        "template_fullpath": path,
        "template_uid": uid,
        "template_mtime": time.localtime(mtime),
        "template_run_date": time.localtime(),
    }
    if extra:
        result.update(extra)
    return result


# ---------------------------------------------------------------------------------------------
# Lazy variables


class LazyVars(Mapping):
    """Variable layers (lowest precedence first) whose values are rendered when read."""

    __slots__ = ("_layers", "_active", "_static", "search_paths")

    def __init__(self, *layers: Mapping[str, Any], search_paths: Sequence[str] = ()) -> None:
        self._layers = tuple(layers)
        self._active: Dict[int, set] = {}  # thread id -> keys being rendered by that thread
        self._static: dict = {}
        self.search_paths = tuple(search_paths)

    @property
    def layers(self) -> tuple:
        return self._layers

    def overlay(self, extra: Mapping[str, Any]) -> LazyVars:
        """A new view with `extra` on top (loop variables); this one is unchanged."""
        view = LazyVars(*self._layers, extra, search_paths=self.search_paths)
        view._static = self._static  # identity-checked, so sharing it is safe
        return view

    def raw(self, key: str) -> Any:
        """The unrendered value of `key` (KeyError when absent)."""
        for layer in reversed(self._layers):
            if key in layer:
                return layer[key]
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        raw = self.raw(key)
        if self._static.get(key) is raw:
            return raw
        if not _has_template(raw):
            if isinstance(raw, (dict, list)):
                self._static[key] = raw
            return raw
        active = self._active.setdefault(threading.get_ident(), set())
        if key in active:
            err = TemplateError(f"recursive loop detected in template for '{key}'")
            err.tk_noted = True
            raise err
        active.add(key)
        try:
            return Templar(self, search_paths=self.search_paths).render(raw)
        except TemplateError as exc:
            if not getattr(exc, "tk_noted", False):
                _note(exc, f" (in the value of '{key}')")
            raise
        finally:
            active.discard(key)

    def __contains__(self, key: object) -> bool:
        return any(key in layer for layer in self._layers)

    def __iter__(self) -> Iterator[str]:
        seen: set = set()
        for layer in reversed(self._layers):
            for key in layer:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return len(set().union(*self._layers))


def _note(exc: TemplateError, note: str) -> None:
    """Say which variable's value failed, before the `. String: ...` part of the message."""
    head, sep, tail = exc.message.partition(". String: ")
    exc.message = f"{head}{note}{sep}{tail}"
    exc.args = (exc.message,)
    exc.tk_noted = True


class HostVars(Mapping):
    """`hostvars`: host name -> that host's variables, fetched through `lookup` on first use."""

    __slots__ = ("_lookup", "_names", "_cache")

    def __init__(self, lookup: Callable[[str], Mapping[str, Any]], names: Iterable[str]) -> None:
        self._lookup = lookup
        self._names = list(names)
        self._cache: dict = {}

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(name)
            self._cache[name] = self._lookup(name)
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"HostVars({self._names!r})"


_LAZY_TYPES = (LazyVars, HostVars, _Overlay)
