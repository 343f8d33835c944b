"""The Jinja2 machinery behind `toolkit.templating`: environments, native concatenation, errors.

Two environments share Ansible's filters, tests and lookups: a native one for inline strings
(task arguments, conditionals), whose single-expression results keep their Python type, and a
text one for template files (trim_blocks, includes relative to the including file). Variables
reach templates through `JinjaVars` without being copied, so lazy variables are rendered only
when a template reads them. `convert_error` turns anything rendering raises into one
`TemplateError` naming the variable, filter or line.
"""

from __future__ import annotations

import ast
import os
import threading
from itertools import chain, islice
from types import GeneratorType
from typing import Any, Iterable, Iterator, Mapping, Optional

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

TEMPLAR_KEY = "__tk_templar__"
_CACHE_LIMIT = 4096


def is_lazy(value: Any) -> bool:
    """A mapping whose values are rendered on read (LazyVars, HostVars, Overlay)."""
    return getattr(type(value), "tk_lazy", False)


# ---------------------------------------------------------------------------------------------
# Jinja environment pieces


class TkUndefined(StrictUndefined):
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


class Overlay(Mapping):
    """Read-only view of `top` over `base` without copying either (no lazy value is forced)."""

    __slots__ = ("top", "base")
    tk_lazy = True

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


class JinjaVars(Mapping):
    """What a template sees: the variables, then the environment's globals, then the Templar."""

    __slots__ = ("variables", "globals", "templar")

    def __init__(self, variables: Mapping, globals_: Mapping, templar: Any) -> None:
        self.variables = variables
        self.globals = globals_
        self.templar = templar

    def __getitem__(self, key: str) -> Any:
        if key in self.variables:
            try:
                return self.variables[key]
            except TemplateError as exc:  # `x is defined` is false, as in Ansible
                return undefined_from(exc, key)
        if key == TEMPLAR_KEY:
            return self.templar
        return self.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.variables or key in self.globals or key == TEMPLAR_KEY

    def __iter__(self) -> Iterator[str]:
        return iter(Overlay(self.variables, self.globals))

    def __len__(self) -> int:
        return len(Overlay(self.variables, self.globals))


class _Context(Context):
    def get_all(self) -> Mapping:  # type: ignore[override]
        if not self.vars:
            return self.parent
        return Overlay(self.vars, self.parent)


def _new_context(self: Template, vars: Any = None, shared: bool = False, locals: Any = None):
    """Jinja's new_context without `dict(parent)`, which would force every lazy variable."""
    if shared and vars is not None and not isinstance(vars, dict):
        parent: Mapping = vars
        if locals:
            extra = {k: v for k, v in locals.items() if v is not missing}
            parent = Overlay(extra, parent) if extra else parent
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


def to_text(value: Any) -> str:
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


def native_concat(values: Iterable[Any], literal: bool = True) -> Any:
    head = list(islice(values, 2))
    if not head:
        return ""
    if len(head) == 1:
        value = head[0]
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        if is_lazy(value):
            return _materialize(value)
        if isinstance(value, (list, dict)):
            _fail_on_undefined(value)
            return value
        if isinstance(value, str):
            if type(value) is _filters.NativeText:
                return str(value)
            return _literal(value) if literal else value
        return value
    if isinstance(values, GeneratorType):
        values = chain(head, values)
    return "".join([to_text(v) for v in values])


class _LookupMixin:
    """Attribute/item access for both environments: lazy mappings prefer their items (so a
    variable named `raw` or `layers` wins over the method), and a lazy value that is undefined
    reads as undefined (so `hostvars[h].x is defined` is false instead of an error)."""

    def getitem(self, obj: Any, argument: Any) -> Any:
        try:
            return super().getitem(obj, argument)
        except TemplateError as exc:
            return undefined_from(exc, argument)

    def getattr(self, obj: Any, attribute: str) -> Any:
        try:
            if is_lazy(obj):
                if attribute in obj:
                    return obj[attribute]
                return self.undefined(obj=obj, name=attribute)
            return super().getattr(obj, attribute)
        except TemplateError as exc:
            return undefined_from(exc, attribute)


def undefined_from(exc: TemplateError, name: Any) -> Undefined:
    if getattr(exc, "tk_undefined", False):
        return TkUndefined(hint=exc.message, name=name)
    raise exc


def _fail_on_undefined(value: Any) -> None:
    """`"{{ [nope] }}"` or `map(attribute='missing')` must fail, not return Undefined objects."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, dict):
        for item in value.values():
            if isinstance(item, (Undefined, list, dict)):
                _fail_on_undefined(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (Undefined, list, dict)):
                _fail_on_undefined(item)


def _materialize(value: Any) -> Any:
    """A plain dict of a lazy mapping (`"{{ hostvars['web1'] }}"`), every value rendered."""
    if is_lazy(value):
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
NATIVE_ENV = _setup(
    _NativeEnv(undefined=TkUndefined, keep_trailing_newline=True, extensions=_EXTENSIONS)
)
_FILE_ENVS: dict = {}
_FILE_ENVS_LOCK = threading.Lock()
_CACHE: dict = {}


def file_env(**overrides: Any) -> Environment:
    key = tuple(sorted(overrides.items()))
    env = _FILE_ENVS.get(key)
    if env is None:
        options = {"trim_blocks": True, "keep_trailing_newline": True, **overrides}
        with _FILE_ENVS_LOCK:
            env = _FILE_ENVS.get(key)
            if env is None:
                env = _setup(
                    _FileEnv(
                        undefined=TkUndefined,
                        loader=_PathLoader(),
                        extensions=_EXTENSIONS,
                        finalize=to_text,
                        auto_reload=True,
                        **options,
                    )
                )
                _FILE_ENVS[key] = env
    return env


# CPython 3.11 before 3.11.5 can fail concurrent compile() calls with "AST constructor recursion
# depth mismatch" (gh-106905); forks run tasks in threads, so Jinja compiles one at a time.
COMPILE_LOCK = threading.Lock()


def compile_inline(source: str) -> Template:
    template = _CACHE.get(source)
    if template is None:
        with COMPILE_LOCK:
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            template = NATIVE_ENV.from_string(source)
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


def convert_error(
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
