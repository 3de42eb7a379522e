"""The template format: a Jinja2 template file rendered with the secrets.

The environment is Jinja2's immutable sandbox (templates cannot reach Python internals or
change the secrets), undefined names are errors, nothing is HTML-escaped, and the output ends
as the template does. The context holds `secrets` (the whole merged document) and each
top-level key whose name is a valid identifier. Values print as in the env formats: null as
nothing, booleans as true/false, binary values as base64.

`{% include %}` and `{% import %}` find templates in the main template's directory only: a
name with `..`, or a file there that is a symbolic link leading out of it, is not found (a
template from a repository must not read the host's files into its output).

Errors name the template file and line. They never show a value: an exception raised while
rendering may carry one in its message (`{{ mapping[db.password] }}` would), so only its kind
is reported, and an undefined name (or an included template's name) is shown only when the
template's code spells it out: as a name, an attribute or a literal, not computed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import SealerError
from ..fsio import read_bytes
from .flatten import text_of
from .merge import Merged
from .spec import RenderSpec

__all__ = ["render"]

MAX_TEMPLATE_BYTES = 1024 * 1024


class _Unreadable(Exception):
    """An included template that exists but cannot be read (too large, not UTF-8, …)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(problem)
        self.name = name
        self.problem = problem


class _Templates:
    """What the loader handed to Jinja2: file names (to find template lines in a traceback)
    and sources (to tell names written in a template from names computed from values)."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.sources: dict[str, str] = {str(path): source}


def render(merged: Merged, spec: RenderSpec) -> bytes:
    assert spec.template is not None  # check_spec ensures it
    path = spec.template
    loaded = _Templates(path, _read(path))
    env = _environment(path, loaded)
    try:
        template = env.get_template(path.name)
        text: str = template.render(_context(merged.tree))
    except Exception as exc:  # every failure becomes one message that shows no value
        raise _error(exc, loaded, env) from None
    return text.encode("utf-8")


def _read(path: Path) -> str:
    raw = read_bytes(path, limit=MAX_TEMPLATE_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SealerError(f"the template is not UTF-8 text (byte {exc.start})",
                          file=str(path)) from None


def _context(tree: dict[str, Any]) -> dict[str, Any]:
    context = {k: v for k, v in tree.items() if k.isidentifier() and k != "secrets"}
    context["secrets"] = tree
    return context


def _environment(path: Path, loaded: _Templates) -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Undefined(StrictUndefined):
        """Its error message is the bare undefined name, checked before it is shown."""

        @property
        def _undefined_message(self) -> str:
            return "" if self._undefined_name is None else str(self._undefined_name)

    env = ImmutableSandboxedEnvironment(
        loader=_loader(path, loaded), undefined=Undefined, autoescape=False,
        keep_trailing_newline=True, finalize=_finalize, auto_reload=False)
    env.filters.update(b64encode=_b64encode, urlquote=_urlquote, shell_quote=_shell_quote)
    return env


def _loader(path: Path, loaded: _Templates) -> Any:
    """The main template as already read, and other templates from its directory only."""
    from jinja2 import BaseLoader, TemplateNotFound
    from jinja2.loaders import split_template_path

    root = path.parent.resolve()

    class Loader(BaseLoader):
        def get_source(self, environment: Any, template: str
                       ) -> tuple[str, str, Callable[[], bool]]:
            if template == path.name:
                return loaded.sources[str(path)], str(path), lambda: True
            found = path.parent.joinpath(*split_template_path(template))
            real = found.resolve()
            if not real.is_relative_to(root) or not real.is_file():
                raise TemplateNotFound(template)  # not there, or a link leading out
            try:
                source = _read(real)
            except SealerError as exc:
                raise _Unreadable(template, exc.message) from None
            loaded.sources[str(found)] = source
            return source, str(found), lambda: True

    return Loader()


def _finalize(value: Any) -> Any:
    if value is None or isinstance(value, bool | bytes):
        return text_of(value)
    return value


def _b64encode(value: Any) -> str:
    import base64

    raw = value if isinstance(value, bytes) else text_of(value).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _urlquote(value: Any) -> str:
    """Percent-encode everything but unreserved characters: safe in any part of a URL."""
    from urllib.parse import quote

    return quote(value if isinstance(value, bytes) else text_of(value), safe="")


def _shell_quote(value: Any) -> str:
    import shlex

    return shlex.quote(text_of(value))


# -- errors ------------------------------------------------------------------------------------


def _error(exc: Exception, loaded: _Templates, env: Any) -> SealerError:
    from jinja2 import TemplateNotFound, TemplateSyntaxError
    from jinja2.exceptions import SecurityError, UndefinedError

    written = _written_names(loaded, env)
    if isinstance(exc, TemplateSyntaxError):  # about a template's own text: safe to show
        if exc.name in (None, loaded.path.name) or exc.name in written:
            return SealerError(f"line {exc.lineno}: {exc.message}",
                               file=exc.filename or str(loaded.path),
                               hint="fix the template (Jinja2 syntax)")
        return SealerError("an included template has a syntax error (its name is not shown: "
                           "it was computed from a value)", file=str(loaded.path))
    file, line = _template_line(exc.__traceback__, loaded)
    at, where = (f"line {line}: " if line else ""), str(file or loaded.path)
    if isinstance(exc, TemplateNotFound | _Unreadable):
        raw = exc.name if isinstance(exc.name, str) else None
        name = _shown(raw, written, "its name is not shown: it was computed from a value")
        if isinstance(exc, _Unreadable):
            return SealerError(f"{at}included template {name}: {exc.problem}", file=where)
        return SealerError(f"{at}included template {name} not found", file=where,
                           hint="included templates are found in the main template's "
                                "directory, without .. and without links leading out of it")
    if isinstance(exc, SecurityError):
        return SealerError(f"{at}the sandbox refused an unsafe operation", file=where)
    if isinstance(exc, UndefinedError):
        name = _shown(exc.message, written, None)
        return SealerError(f"{at}{name} is undefined" if name else
                           f"{at}a name or key is undefined (not shown: it was computed from "
                           "a value)", file=where,
                           hint="`sealer show FILE` lists the keys; write `secrets[\"a.b\"]` "
                                "for keys that are not identifiers")
    return SealerError(f"{at}rendering failed ({type(exc).__name__}; the details are not "
                       "shown because they may contain a secret value)", file=where,
                       hint="check the expression on that line")


def _shown(name: str | None, written: set[str], otherwise: str | None) -> str | None:
    """`name` quoted when a template's code spells it out, else `otherwise` in parentheses."""
    if name and name in written:
        return repr(name)
    return f"({otherwise})" if otherwise else None


def _written_names(loaded: _Templates, env: Any) -> set[str]:
    """Every name, attribute and literal written in the code of the templates loaded (not in
    their text around the code): the names an error may show."""
    from jinja2 import TemplateSyntaxError, nodes

    out: set[str] = set()
    for source in loaded.sources.values():
        try:
            tree = env.parse(source)
        except TemplateSyntaxError:
            continue
        for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Const, nodes.Keyword)):
            if isinstance(node, nodes.Name):
                out.add(node.name)
            elif isinstance(node, nodes.Getattr):
                out.add(node.attr)
            elif isinstance(node, nodes.Keyword):
                out.add(node.key)
            elif isinstance(node.value, str | int) and not isinstance(node.value, bool):
                out.add(str(node.value))
    return out


def _template_line(tb: TracebackType | None, loaded: _Templates) -> tuple[str | None, int | None]:
    """The innermost template file and line in the traceback (Jinja2 rewrites frames so that
    template code shows its template's file name and line)."""
    file, line = None, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in loaded.sources:
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return file, line
