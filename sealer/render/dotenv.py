"""The dotenv formats: `NAME='value'` lines that every dotenv reader takes exactly, and
`dotenv-literal`'s `NAME=value` lines for the readers that take values verbatim. docs/RENDER.md
says exactly which reader reads what; each rule below is held by a test with the real reader.

**dotenv** is read by python-dotenv, docker compose's `env_file`, Node's `--env-file` and
`process.loadEnvFile`, and shells (`set -a; . ./.env`). A shell must never run or expand
anything in it, whatever the value (a sealed file comes from a repository). Their common ground:

- A value without `'` is single-quoted: literal for all of them, newlines included.
- A value with `'` but without `"`, `\\`, `$` and `` ` `` is double-quoted, where none of
  them acts on anything else.
- Everything else has no line that they all read alike, so it is an error naming the key:
  a `'` together with one of `"\\$``; a carriage return (Node drops every one); two
  backslashes in a row or a final backslash (python-dotenv reads `\\\\` as one backslash, and
  `\\'` as an escaped quote); `${…}` (python-dotenv expands it even in single quotes).

**dotenv-literal** is read by `docker run --env-file`, `kubectl create secret|configmap
--from-env-file` and kustomize's `envs:`: everything after the first `=` up to the end of the
line, verbatim. A newline cannot be written, nor a final carriage return (Go's line scanner
drops it), nor a line longer than 65535 bytes (kubectl and kustomize then silently drop it
and every line after it). Such a file is no shell script — `$(…)` in a value would run — so
its second line stops any shell that sources it with a syntax error before any value, a line
the three readers skip as a comment.
"""

from __future__ import annotations

import re

from .flatten import Entry, banner, env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["LITERAL_GUARD", "MAX_LITERAL_LINE", "literal_refusal", "quote", "refusal", "render",
           "render_literal"]

# python-dotenv's ${NAME} / ${NAME:-default} (dotenv.variables), expanded in every value
_DOTENV_EXPANDS = re.compile(r"\$\{[^}:]*(?::-[^}]*)?\}")
_NOT_IN_DOUBLE = re.compile(r"[\"\\$`]")  # what some reader acts on inside double quotes
_UNWRITABLE = "cannot be written so that every dotenv reader and a shell read it exactly"
_HINT = ("use dotenv-literal for docker --env-file, kubectl --from-env-file and kustomize "
         "(one-line values), the shell or systemd format for shells, or json")

# Line 2 of a dotenv-literal file. Go's readers trim leading Unicode space (the vertical tab)
# and skip the line as a comment; to a shell `\v#` is a word, and `;;` a syntax error there.
LITERAL_GUARD = ("\v# dotenv-literal: values are verbatim, for docker --env-file, kubectl "
                 "--from-env-file and kustomize; never source this file in a shell ;;\n")
MAX_LITERAL_LINE = 65535  # bufio.Scanner's limit: 64 KiB, the newline included
_LITERAL_HINT = "use the dotenv format, or json"


def refusal(text: str) -> str | None:
    """Why no dotenv line gives `text` to every reader (see the module doc); None if one does."""
    if "\r" in text:
        return f"a value holding a carriage return {_UNWRITABLE} (Node drops every one)"
    if "\\\\" in text or text.endswith("\\"):
        return (f"a value holding two backslashes in a row, or ending in one, {_UNWRITABLE} "
                "(python-dotenv reads \\\\ as one backslash and \\' as a quote)")
    if _DOTENV_EXPANDS.search(text):
        return (f"a value holding ${{…}} {_UNWRITABLE} (python-dotenv expands it even in "
                "single quotes)")
    if "'" in text and _NOT_IN_DOUBLE.search(text):
        return f"a value holding ' together with \", \\, $ or ` {_UNWRITABLE}"
    return None


def _quote_parts(text: str) -> tuple[str, str, str]:
    """`quote(text)` as (quote, text, quote), for joining without copying `text` first."""
    mark = "'" if "'" not in text else '"'
    return mark, text, mark


def quote(text: str) -> str:
    """`text` as every dotenv reader takes it; `refusal(text)` must be None."""
    return "".join(_quote_parts(text))


def render(merged: Merged, spec: RenderSpec) -> bytes:
    parts = [banner(merged)]  # joined once: a big value is copied into the file, no more
    for entry in env_entries(merged, spec.names, spec.allow_env):
        problem = refusal(entry.value)
        if problem is not None:
            raise merged.error(entry.path, problem, hint=_HINT)
        parts += (entry.name, "=", *_quote_parts(entry.value), "\n")
    return "".join(parts).encode("utf-8")


def literal_refusal(entry: Entry) -> str | None:
    """Why `NAME=value` would not give `entry`'s value to the literal readers; None if it does."""
    text: str = entry.value
    if "\n" in text:
        return ("a value holding a newline cannot be written in dotenv-literal: its readers "
                "take one line per variable")
    if text.endswith("\r"):
        return ("a value ending in a carriage return cannot be written in dotenv-literal: its "
                "readers drop it")
    if len(entry.name) + 1 + len(text.encode("utf-8")) > MAX_LITERAL_LINE:
        return (f"the line would be longer than {MAX_LITERAL_LINE} bytes, which kubectl and "
                "kustomize silently drop, with every line after it")
    return None


def render_literal(merged: Merged, spec: RenderSpec) -> bytes:
    parts = [banner(merged), LITERAL_GUARD]
    for entry in env_entries(merged, spec.names, spec.allow_env):
        problem = literal_refusal(entry)
        if problem is not None:
            raise merged.error(entry.path, problem, hint=_LITERAL_HINT)
        parts += (entry.name, "=", entry.value, "\n")
    return "".join(parts).encode("utf-8")
