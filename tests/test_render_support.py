"""Shared by the render and exec tests (this module holds no tests): tricky values, sealing a
document for a fresh identity in a test's directory, and a key file for the CLI.

Sealing happens in-process with sealer's own library (the CLI's seal is tested elsewhere); the
identities are real X25519 keys from pyrage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Result, run
from sealing import new_identity

from sealer.core import seal
from sealer.keys import Identity

# Every character class a consumer could mangle. Keys are valid environment names.
TRICKY: dict[str, str] = {
    "plain": "s3cr3t-Value_1",
    "squote": "it's",
    "dquote": 'say "hi"',
    "dollar": "$HOME and $(id) and $1",
    "braces": "${HOME} ${not_set:-default}",
    "backtick": "`id` and `whoami`",
    "hash": "a #not a comment",
    "hash_start": "#starts with hash",
    "newline": "line1\nline2",
    "trailing_newline": "ends with newline\n",
    "crlf": "dos\r\nline",
    "carriage_return": "a\rb",
    "equals": "a=b==c=",
    "spaces": "  leading and trailing  ",
    "only_spaces": "   ",
    "tabs": "\ttab\tinside\t",
    "unicode": "ünïcødé ✓ 日本語 🚀",
    "empty": "",
    "backslash": "back\\slash\\",
    "backslash_n": "not\\na newline",
    "backslash_quote": "\\'\\\"",
    "semicolon": "; rm -rf / ;",
    "bang": "hello!world!!",
    "percent": "100% %0A %25",
    "heredoc_like": "EOF\n<<EOF\nEOF",
    "pem": "-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n",
    "mixed": "it's \"all\" $x `y` \\ #z\n'q'\t=",
}


@dataclass(frozen=True)
class Keys:
    """A fresh identity: in memory (`identity`) and as an age key file (`file`)."""

    identity: Identity
    recipient: Any
    file: Path

    @property
    def identities(self) -> list[Identity]:
        return [self.identity]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    identity, recipient = new_identity()
    file = tmp_path / "deploy.key"
    file.write_text(f"{identity.native}\n", encoding="ascii")
    file.chmod(0o600)
    return Keys(identity, recipient, file)


def seal_to(path: Path, data: dict[str, Any], keys: Keys) -> Path:
    """Write `data` sealed for `keys` to `path`."""
    document = seal(data, recipients=[keys.recipient], source=str(path))
    path.write_text(document.to_yaml(), encoding="utf-8")
    return path


def sealer(cwd: Path, *args: str | Path, env: dict[str, str | None] | None = None,
           input: str | bytes | None = None) -> Result:
    """The real `sealer` process in `cwd`."""
    return run(*args, cwd=cwd, env=env, input=input)
