"""The template format: a Jinja2 template file rendered with the secrets.

The environment is Jinja2's immutable sandbox (templates cannot reach Python internals or
change the secrets), undefined names are errors, nothing is HTML-escaped, and the output ends
as the template does. The context holds `secrets` (the whole merged document) and each
top-level key whose name is a valid identifier. Values print as in the env formats: null as
nothing, booleans as true/false, binary values as base64.

Errors name the template file and line. They never show a value: an exception raised while
rendering may carry one in its message (`{{ mapping[db.password] }}` would), so only its kind
is reported, and an undefined name is shown only when it is written in the template itself.
"""

from __future__ import annotations

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


def render(merged: Merged, spec: RenderSpec) -> bytes:
    assert spec.template is not None  # check_spec ensures it
    path = spec.template
    source = _read(path)
    env = _environment(path.parent)
    try:
        template = env.get_template(path.name)
        text: str = template.render(_context(merged.tree))
    except Exception as exc:  # every failure becomes one message that shows no value
        raise _error(exc, path, source) from None
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


def _environment(directory: Path) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Undefined(StrictUndefined):
        """Its error message is the bare undefined name, checked before it is shown."""

        @property
        def _undefined_message(self) -> str:
            return "" if self._undefined_name is None else str(self._undefined_name)

    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(directory)), undefined=Undefined, autoescape=False,
        keep_trailing_newline=True, finalize=_finalize, auto_reload=False)
    env.filters.update(b64encode=_b64encode, urlquote=_urlquote, shell_quote=_shell_quote)
    return env


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


def _error(exc: Exception, path: Path, source: str) -> SealerError:
    from jinja2 import TemplateNotFound, TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError):  # about the template's own text: safe to show
        where = exc.filename or str(path)
        return SealerError(f"line {exc.lineno}: {exc.message}", file=where,
                           hint="fix the template (Jinja2 syntax)")
    line = _template_line(exc.__traceback__, path)
    at = f"line {line}: " if line else ""
    if isinstance(exc, TemplateNotFound):
        return SealerError(f"{at}included template {exc.name!r} not found", file=str(path))
    from jinja2.exceptions import SecurityError, UndefinedError

    if isinstance(exc, SecurityError):
        return SealerError(f"{at}the sandbox refused an unsafe operation", file=str(path))
    if isinstance(exc, UndefinedError):
        return SealerError(f"{at}{_undefined_message(exc.message, source)}", file=str(path),
                           hint="`sealer show FILE` lists the keys; write `secrets[\"a.b\"]` "
                                "for keys that are not identifiers")
    return SealerError(f"{at}rendering failed ({type(exc).__name__}; the details are not "
                       "shown because they may contain a secret value)", file=str(path),
                       hint="check the expression on that line")


def _undefined_message(name: str | None, source: str) -> str:
    """Show the name only when the template itself spells it out, as a whole word."""
    import re

    if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", source):
        return f"{name!r} is undefined"
    return "a name or key is undefined (not shown: it was computed from a value)"


def _template_line(tb: TracebackType | None, path: Path) -> int | None:
    """The innermost line of a template in the traceback (Jinja2 rewrites frames so that
    template code shows its template's file name and line)."""
    line, directory = None, str(path.parent.resolve())
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not name.endswith(".py") and str(Path(name).resolve()).startswith(directory):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
