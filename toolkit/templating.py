"""Jinja2 templating with Ansible's rules: native types, lazy variables, conditionals, errors.

`Templar(variables).render(value)` renders strings, lists and dicts (keys too). A string that is
a single `{{ expression }}` keeps the expression's native type (list, dict, int, bool, None); a
string result of such an expression that reads as a Python list/dict literal (or True/False) is
evaluated into that value, as ansible-core up to 2.18 did (2.19 keeps the str), unless a filter
marked it as text (`to_json`, `string`, ...). Mixed text (`"a {{ x }}"`) always renders to a str
and is never re-evaluated. Strings without `{{`, `{%` or `{#` are returned untouched without
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
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence

from toolkit import lookups as _lookups
from toolkit.errors import Location, TemplateError, did_you_mean
from toolkit.jinja_env import (
    COMPILE_LOCK,
    NATIVE_ENV,
    JinjaVars,
    Overlay,
    compile_inline,
    convert_error,
    file_env,
    native_concat,
    to_text,
)
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

_BOOL_WORDS = {
    "yes": True, "on": True, "true": True, "y": True,
    "no": False, "off": False, "false": False, "n": False,
}  # fmt: skip
ANSIBLE_MANAGED = "Ansible managed"


def is_template(value: Any) -> bool:
    """True when a string contains Jinja markup (`{{`, `{%` or `{#`) and is not marked
    unsafe (a YAML `!unsafe` string carries `.unsafe = True` and is never rendered)."""
    return (
        isinstance(value, str)
        and ("{{" in value or "{%" in value or "{#" in value)
        and not getattr(value, "unsafe", False)
    )


def has_template(value: Any) -> bool:
    """Whether a string, or any key or value nested in dicts/lists, is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(has_template(k) or has_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    return False


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
            variables = Overlay(extra_vars, self._vars)
        return Templar(variables, location=self.location, search_paths=self.search_paths)

    # -- rendering -------------------------------------------------------------------------

    def render(self, value: Any, *, location: Optional[Location] = None) -> Any:
        """Render str/list/dict recursively; `"{{ x }}"` alone keeps x's native type."""
        if isinstance(value, str):
            if "{" not in value or not is_template(value):
                return value
            return self._run(value, location or getattr(value, "location", None), literal=True)
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
        return to_text(value) if not isinstance(value, str) else str(value)

    def _run(self, text: str, location: Optional[Location], *, literal: bool, what="") -> Any:
        where = location or self.location
        try:
            template = compile_inline(text)
            ctx = template.new_context(JinjaVars(self._vars, template.globals, self), True)
            return native_concat(template.root_render_func(ctx), literal)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one TemplateError
            err = convert_error(exc, source=text, location=where, env=NATIVE_ENV, what=what)
            raise err from None

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
            rendered = self._run(text, where, literal=True)
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
        had_header = source.startswith(_HEADER)  # Jinja's line numbers start after it
        source, header = _header_overrides(source, path)
        options = _check_options(overrides or {}, Location(path))
        options.update(header)
        env = file_env(**options)
        variables = Overlay(
            _template_vars(path, extra_vars),
            Overlay(self._vars, {"ansible_managed": ANSIBLE_MANAGED}),
        )
        try:
            with COMPILE_LOCK:
                code = env.compile(source, name=path, filename=path)
            template = env.template_class.from_code(env, code, env.make_globals(None))
            ctx = template.new_context(JinjaVars(variables, template.globals, self), True)
            return "".join([to_text(v) for v in template.root_render_func(ctx)])
        except Exception as exc:  # noqa: BLE001
            err = convert_error(exc, source=None, location=self.location, env=env, filename=path)
            where = err.location
            if had_header and where is not None and where.path == path and where.line:
                err.location = Location(path, where.line + 1, where.col)
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

    __slots__ = ("_layers", "_active", "_static", "search_paths", "vault_secrets")
    tk_lazy = True

    def __init__(
        self,
        *layers: Mapping[str, Any],
        search_paths: Sequence[str] = (),
        vault_secrets: Sequence[bytes] = (),
    ) -> None:
        self._layers = tuple(layers)
        self._active: Dict[int, set] = {}  # thread id -> keys being rendered by that thread
        self._static: dict = {}  # key -> raw value known to hold no template; "vault" -> cache
        self.search_paths = tuple(search_paths)
        self.vault_secrets = tuple(vault_secrets)

    @property
    def layers(self) -> tuple:
        return self._layers

    def overlay(self, extra: Mapping[str, Any]) -> LazyVars:
        """A new view with `extra` on top (loop variables); this one is unchanged."""
        view = LazyVars(
            *self._layers, extra, search_paths=self.search_paths, vault_secrets=self.vault_secrets
        )
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
        if isinstance(raw, str) and raw.startswith("$ANSIBLE_VAULT;"):
            raw = self._unvault(key, raw)
        if not has_template(raw):
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

    def _unvault(self, key: str, text: str) -> str:
        """The plaintext of a `!vault` value (PBKDF2 is slow, so each text is decrypted once)."""
        cache = self._static.setdefault(("vault",), {})
        if text not in cache:
            from toolkit import vault

            try:
                plain = vault.decrypt(text, self.vault_secrets)
            except vault.VaultError as exc:
                hint = None if self.vault_secrets else "give --vault-password-file"
                message = f"cannot decrypt variable '{key}': {exc.message}"
                raise TemplateError(message, hint=hint) from None
            cache[text] = plain.decode("utf-8", "surrogateescape")
        return cache[text]

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
    tk_lazy = True

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
