"""Regular expressions that come from a repository: `metadata.clear.regex`, `policy.key_name`
and `policy.file_name`, JSON Schema `pattern` and `patternProperties`, creation-rule globs.

A repository is input from strangers, so every one of them is compiled here, with RE2: its
matching takes time linear in the input whatever the pattern (no backtracking), at the price of
backreferences and lookaround, which RE2 does not have. re2 is imported on first use: loading
it costs a few milliseconds that a hook run without patterns should not pay.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from .errors import ConfigError, SealerError

__all__ = ["MAX_PATTERN", "RE2_HINT", "Pattern", "compile_pattern"]

MAX_PATTERN = 1000  # characters
RE2_HINT = ("patterns use RE2 syntax: no backreferences, no lookahead or lookbehind, \\z for "
            "the end of the text (https://github.com/google/re2/wiki/Syntax)")


class Pattern(Protocol):
    """A compiled pattern: whether it matches somewhere in `text`, or all of it."""

    def search(self, text: str) -> bool: ...

    def fullmatch(self, text: str) -> bool: ...


class _RE2:
    """An RE2 expression over str. Text is handed to RE2 as UTF-8 with lone surrogates passed
    through (file names that are not UTF-8 decode to them), which RE2 matches like any other
    character instead of failing to encode them."""

    __slots__ = ("_regexp",)

    def __init__(self, regexp: Any) -> None:
        self._regexp = regexp

    def search(self, text: str) -> bool:
        return self._regexp.search(text.encode("utf-8", "surrogatepass")) is not None

    def fullmatch(self, text: str) -> bool:
        return self._regexp.fullmatch(text.encode("utf-8", "surrogatepass")) is not None


def compile_pattern(text: str, *, what: str, file: str | None = None,
                    error: type[SealerError] = ConfigError, limit: int = MAX_PATTERN) -> Pattern:
    """`text` compiled with RE2 (cached), or `error` naming `what` and `file` in one line."""
    if len(text) > limit:
        raise error(f"{what} is longer than {limit} characters", file=file,
                    hint="shorten the pattern")
    compiled = _compiled(text)
    if isinstance(compiled, str):
        raise error(f"{what} is not a valid RE2 regular expression: {compiled}", file=file,
                    hint=RE2_HINT)
    return compiled


@lru_cache(maxsize=512)
def _compiled(text: str) -> Pattern | str:
    """The compiled pattern, or why RE2 refuses it (both cached)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print every parse error on stderr itself
    try:
        return _RE2(re2.compile(text.encode("utf-8"), options))
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone surrogate)"
    except re2.error as exc:
        return _reason(exc)


def _reason(exc: Exception) -> str:
    """RE2's message (bytes), on one line and short: it may quote the pattern."""
    reason = exc.args[0] if exc.args else "invalid"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", errors="replace")
    text = " ".join(str(reason).split())
    return text if len(text) <= 80 else text[:79] + "…"
