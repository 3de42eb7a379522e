"""Helpers for CLI tests: running the real `sealer` process, the demo directory and a scripted
$EDITOR.

`run` starts `python -m sealer` (no mocks) with the test's environment minus any sealer/SOPS key
variables, stdin from /dev/null unless `input` is given, and checks that stderr never holds a
Python traceback. The fixtures built on these helpers are in cli_fixtures.py.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import require_tool

SEALER = (sys.executable, "-m", "sealer")
TIMEOUT = 60  # a safety net only: every command here takes well under a second

# The example secrets: strings (one that looks like a number), an int, a bool, nesting, a list.
EXAMPLE = """\
db:
  host: db.internal.example.com
  port: 5432
  password: c0rrect-horse
api:
  token: tok-9f8e7d
flags:
  enabled: true
  zip: '01234'
admins:
- alice@example.com
- bob@example.com
"""

Env = Mapping[str, str | None]


@dataclass(frozen=True)
class Result:
    """What a sealer process did: exit code, stdout and stderr (text, and stdout's bytes)."""

    code: int
    out: str
    err: str
    raw_out: bytes = b""


def sealer_env(env: Env | None = None) -> dict[str, str]:
    """os.environ without sealer/SOPS variables, then `env` on top (None removes a variable)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("SEALER_", "SOPS_"))}
    for name, value in (env or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err and 'File "' not in err, err


def run(*args: str | Path, input: str | bytes | None = None, env: Env | None = None,
        cwd: Path | None = None, timeout: float = TIMEOUT) -> Result:
    """Run `sealer ARGS…` to completion."""
    data = input.encode("utf-8") if isinstance(input, str) else input
    proc = subprocess.run(
        [*SEALER, *map(str, args)], input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True, env=sealer_env(env), cwd=cwd, timeout=timeout, check=False)
    err = proc.stderr.decode("utf-8", errors="replace")
    assert_no_traceback(err)
    return Result(proc.returncode, proc.stdout.decode("utf-8", errors="replace"), err,
                  proc.stdout)


def start(*args: str | Path, env: Env | None = None, cwd: Path | None = None,
          **popen: Any) -> subprocess.Popen[bytes]:
    """Start `sealer ARGS…` without waiting (for concurrency, signal and crash tests)."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    proc: subprocess.Popen[bytes] = subprocess.Popen(
        [*SEALER, *map(str, args)], env=sealer_env(env), cwd=cwd, **popen)
    return proc


def finish(proc: subprocess.Popen[bytes], stdin: bytes | None = None) -> Result:
    """Wait for a process `start` began; its result (stderr checked for a traceback)."""
    out, err = proc.communicate(stdin, timeout=TIMEOUT)
    text = err.decode("utf-8", errors="replace")
    assert_no_traceback(text)
    return Result(proc.returncode, out.decode("utf-8", errors="replace"), text, out)


def public_key(key_file: Path) -> str:
    """The `age1…` recipient of an age identity file, as `age-keygen -y` prints it."""
    keygen = require_tool("age-keygen")
    return subprocess.run([keygen, "-y", str(key_file)], capture_output=True, text=True,
                          check=True, timeout=TIMEOUT).stdout.strip()


def make_identity(path: Path) -> str:
    """A new identity file made by the real `age-keygen`; returns its recipient."""
    keygen = require_tool("age-keygen")
    subprocess.run([keygen, "-o", str(path)], capture_output=True, check=True, timeout=TIMEOUT)
    return public_key(path)


@dataclass(frozen=True)
class Demo:
    """A test's own directory holding, as relative names:

    - `alice.key`: the identity the example is sealed for (`recipient`);
    - `mallory.key`: another identity, not a recipient (`other_recipient`);
    - `app.yaml`: EXAMPLE in plaintext; `app.sealed.yaml`: it sealed for alice.
    """

    dir: Path
    recipient: str
    other_recipient: str

    @property
    def key(self) -> Path:
        return self.dir / "alice.key"

    @property
    def other_key(self) -> Path:
        return self.dir / "mallory.key"

    @property
    def plain(self) -> Path:
        return self.dir / "app.yaml"

    @property
    def sealed(self) -> Path:
        return self.dir / "app.sealed.yaml"

    def run(self, *args: str | Path, input: str | bytes | None = None,
            env: Env | None = None) -> Result:
        """`run` inside this directory."""
        return run(*args, input=input, env=env, cwd=self.dir)


# A scripted $EDITOR. It records how it was called (argv, pid, modes of its file and directory,
# whether the file starts with an error banner or holds `look_for`, whether its environment
# holds a private key), then edits as editor.json says. It writes the file's text nowhere else.
EDITOR_SCRIPT = """\
#!{python}
import json, os, stat, sys, time
here = os.path.dirname(os.path.abspath(__file__))
config = json.load(open(os.path.join(here, "editor.json"), encoding="utf-8"))
path = sys.argv[-1]
text = open(path, encoding="utf-8").read()
record = {{
    "argv": sys.argv,
    "pid": os.getpid(),
    "file_mode": stat.S_IMODE(os.stat(path).st_mode),
    "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
    "dir": os.path.dirname(path),
    "found": bool(config["look_for"]) and config["look_for"] in text,
    "first_lines": text.splitlines()[:2],
    "key_in_env": any("AGE-SECRET-KEY-" in v for v in os.environ.values()),
}}
with open(config["log"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
time.sleep(config["sleep"])
while config["wait_for"] and not os.path.exists(config["wait_for"]):
    time.sleep(0.02)
for old, new in config["replace"]:
    if old in text:
        text = text.replace(old, new)
        break
lines = text.splitlines(keepends=True)
twins = [n for n, line in enumerate(lines)
         if config["duplicate"] and line.startswith(config["duplicate"])]
if len(twins) == 1:
    lines.insert(twins[0], lines[twins[0]])
elif len(twins) == 2:
    del lines[twins[1]]
if config["write"] and not (config["abandon_on_error"] and text.startswith("# ERROR:")):
    open(path, "w", encoding="utf-8").write("".join(lines))
if config["garble"] and not text.startswith("# ERROR:"):
    open(path, "ab").write(b"garbled: \\xff\\xfe\\n")
if config["delete"]:
    os.unlink(path)
sys.exit(config["exit"])
"""


class Editor:
    """A scripted editor in `directory`; set `EDITOR` to `str(editor.path)`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "editor"
        self.log = directory / "editor.log"
        self.path.write_text(EDITOR_SCRIPT.format(python=sys.executable), encoding="utf-8")
        self.path.chmod(0o755)
        self.does()

    def does(self, *replacements: tuple[str, str], duplicate: str = "", look_for: str = "",
             exit: int = 0, sleep: float = 0.0, write: bool = True,
             abandon_on_error: bool = False, wait_for: Path | None = None,
             garble: bool = False, delete: bool = False) -> None:
        """Replace the first `old` found by `new`; then, if a line starting with `duplicate` is
        there once, write it twice, and if it is there twice, remove the second; save (unless
        not `write`, or `abandon_on_error` and sealer showed an error), append bytes that are
        not UTF-8 if `garble` (unless sealer showed an error), delete the file if `delete`, and
        exit with `exit`.
        `sleep`, then waiting until `wait_for` exists, come first (after the record is
        logged)."""
        self.log.unlink(missing_ok=True)
        config = {"log": str(self.log), "replace": list(replacements), "duplicate": duplicate,
                  "look_for": look_for, "exit": exit, "sleep": sleep, "write": write,
                  "abandon_on_error": abandon_on_error,
                  "wait_for": str(wait_for) if wait_for else "", "garble": garble,
                  "delete": delete}
        (self.path.parent / "editor.json").write_text(json.dumps(config), encoding="utf-8")

    def runs(self) -> list[dict[str, Any]]:
        """One record per time the editor was started, in order."""
        if not self.log.exists():
            return []
        complete = self.log.read_text(encoding="utf-8").split("\n")[:-1]  # not a line half-written
        return [json.loads(line) for line in complete]


# -- transcripts ------------------------------------------------------------------------------

LOOKED_IN = ("sealer looked in $SEALER_IDENTITY, $SEALER_IDENTITY_FILE, $SOPS_AGE_KEY, "
             "$SOPS_AGE_KEY_FILE, @HOME@/.config/sealer/keys.txt, @HOME@/.ssh/id_ed25519, "
             "@HOME@/.ssh/id_rsa; pass -i FILE, or create a key with `sealer keygen`")

Expected = str | re.Pattern[str]


@dataclass(frozen=True)
class T:
    """One transcript: `sealer ARGS` (shell syntax) with `stdin` and `env` -> code, out, err."""

    id: str
    args: str
    code: int
    err: Expected
    out: Expected = ""
    stdin: str | bytes | None = None
    env: dict[str, str] = field(default_factory=dict)


def secret_key(demo: Demo) -> str:
    return next(line for line in demo.key.read_text().splitlines()
                if line.startswith("AGE-SECRET-KEY-"))


def substitute(text: str, demo: Demo, home: Path, *, regex: bool = False) -> str:
    """Fill in @R@, @RSHORT@, @OTHER@, @SECRET@ and @HOME@ (escaped for a regex if asked)."""
    values = {"@RSHORT@": demo.recipient[:16] + "…", "@R@": demo.recipient,
              "@OTHER@": demo.other_recipient, "@SECRET@": secret_key(demo), "@HOME@": str(home)}
    for name, value in values.items():
        text = text.replace(name, re.escape(value) if regex else value)
    return text


def check(actual: str, expected: Expected, demo: Demo, home: Path) -> None:
    if isinstance(expected, re.Pattern):
        pattern = substitute(expected.pattern, demo, home, regex=True)
        assert re.fullmatch(pattern, actual), f"{actual!r} does not match {pattern!r}"
    else:
        assert actual == substitute(expected, demo, home)


def run_on_terminal(demo: Demo, *args: str) -> tuple[int, bytes, str]:
    """Run sealer with stdout on a pseudo-terminal; (code, what the terminal showed, stderr).

    A thread drains the terminal while sealer runs, so large output cannot block it."""
    leader, follower = pty.openpty()
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: no writer left
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc = subprocess.run([*SEALER, *args], stdin=subprocess.DEVNULL, stdout=follower,
                              stderr=subprocess.PIPE, cwd=demo.dir, env=sealer_env(),
                              timeout=60, check=False)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    err = proc.stderr.decode("utf-8")
    assert_no_traceback(err)
    return proc.returncode, bytes(shown), err

