"""A canary secret goes through every command; it must never show up where it does not belong.

The canary is a value in a sealed file. It may appear only where a command's job is to print it
(`get` of its key, `unseal` to stdout) and in the plaintext file `unseal -o` was asked to write.
Everywhere else it is a leak: any other stdout, any stderr, the sealed file, a file left in the
test's directories, $TMPDIR or /dev/shm, the argv or environment of a child process (the editor).
It is given to sealer only on stdin, never in argv.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_helpers import Demo, Editor, Result, run

pytest_plugins = ["cli_fixtures"]

CANARY = "CANARY-7f3a" + secrets.token_hex(8)
PREFIX = "CANARY-7f3a"  # what the editor looks for: not the canary itself
SECRETS = f"""\
db:
  password: {CANARY}
  port: 5432
api:
  token: tok-9f8e7d
"""
SHM = Path("/dev/shm")


@dataclass
class Session:
    """A demo directory, a private $TMPDIR, an editor, and every output seen so far."""

    demo: Demo
    tmp: Path
    editor: Editor
    argvs: list[list[str]] = field(default_factory=list)

    @property
    def sealed(self) -> Path:
        return self.demo.dir / "secrets.sealed.yaml"

    def run(self, *args: str, input: str | None = None,
            env: dict[str, str | None] | None = None) -> Result:
        self.argvs.append(list(args))
        result = run(*args, input=input, cwd=self.demo.dir,
                     env={"TMPDIR": str(self.tmp), "EDITOR": str(self.editor.path),
                          **(env or {})})
        assert CANARY not in result.err, f"canary in stderr of {args}"
        return result

    def quiet(self, *args: str, input: str | None = None, code: int = 0,
              env: dict[str, str | None] | None = None) -> Result:
        """Run a command whose output must not contain the canary."""
        result = self.run(*args, input=input, env=env)
        assert result.code == code, result.err
        assert CANARY not in result.out, f"canary in stdout of {args}"
        assert CANARY.encode() not in self.sealed.read_bytes()
        return result


@pytest.fixture
def session(demo: Demo, tmp_path: Path) -> Session:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(mode=0o700)
    s = Session(demo, tmp, Editor(tmp_path / "tools"))
    sealed = s.run("seal", "-", "-o", "secrets.sealed.yaml", "-r", demo.recipient, input=SECRETS)
    assert sealed.code == 0 and CANARY not in sealed.out, sealed.err
    return s


def files_containing(root: Path, needle: bytes) -> Iterator[Path]:
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            try:
                if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                    yield path
            except OSError:
                continue


def sealer_temp_dirs() -> set[Path]:
    return set(SHM.glob("sealer-*")) if SHM.is_dir() else set()


def assert_no_canary_anywhere(s: Session, root: Path) -> None:
    needle = CANARY.encode()
    assert list(files_containing(root, needle)) == []
    assert list(files_containing(s.tmp, needle)) == []
    if SHM.is_dir():
        assert list(files_containing(SHM, needle)) == []
    assert not any(CANARY in arg for argv in s.argvs for arg in argv)


@pytest.mark.slow
def test_the_canary_stays_sealed_through_every_command(session: Session, tmp_path: Path) -> None:
    s, key = session, ("-i", "alice.key")
    shm_before = sealer_temp_dirs()
    s.quiet("show", "secrets.sealed.yaml")
    s.quiet("show", "secrets.sealed.yaml", "--format", "json")
    s.quiet("recipients", "list", "secrets.sealed.yaml")
    s.quiet("get", "secrets.sealed.yaml", "api.token", *key)
    s.quiet("get", "secrets.sealed.yaml", "db.port", *key)
    s.quiet("set", "secrets.sealed.yaml", "api.token", *key, input="tok-2\n")
    s.quiet("set", "secrets.sealed.yaml", "extra.note", *key, input="hello\n")
    s.quiet("unset", "secrets.sealed.yaml", "extra", *key)
    s.quiet("recipients", "add", "secrets.sealed.yaml", "-r", s.demo.other_recipient, *key)
    s.quiet("recipients", "remove", "secrets.sealed.yaml", "-r", s.demo.other_recipient, *key)
    s.quiet("rekey", "secrets.sealed.yaml", *key)
    s.editor.does(("tok-2", "tok-3"))
    s.quiet("edit", "secrets.sealed.yaml", *key)

    # The commands whose job is to print it.
    got = s.run("get", "secrets.sealed.yaml", "db.password", *key)
    assert (got.code, got.out) == (0, CANARY)
    whole = s.run("unseal", "secrets.sealed.yaml", *key)
    assert whole.code == 0 and f"password: {CANARY}\n" in whole.out
    assert "token: tok-3\n" in whole.out

    # Failing commands.
    s.quiet("get", "secrets.sealed.yaml", "db.password", "-i", "mallory.key", code=3)
    s.quiet("unseal", "secrets.sealed.yaml", "-i", "mallory.key", code=3)
    s.quiet("set", "secrets.sealed.yaml", "db.port", "--type", "int", *key, input=CANARY, code=2)
    s.quiet("set", "secrets.sealed.yaml", "db.port", "--type", "float", *key, input=CANARY,
            code=2)
    s.quiet("set", "secrets.sealed.yaml", "db.port", "--type", "bool", *key, input=CANARY,
            code=2)
    s.quiet("set", "secrets.sealed.yaml", "x", "--type", "yaml", *key,
            input=f"a: [{CANARY}\n", code=1)
    s.quiet("set", "secrets.sealed.yaml", "x", "--type", "yaml", *key,
            input=f"a: !!int {CANARY}\n", code=1)
    s.quiet("set", "secrets.sealed.yaml", "x", "--type", "yaml", *key,
            input=f"a: !!binary {CANARY}\n", code=1)
    s.quiet("seal", "-", "-o", "dup.sealed.yaml", "-r", s.demo.recipient,
            input=f"a: {CANARY}\na: {CANARY}\n", code=1)
    s.quiet("seal", "-", "-o", "dup.sealed.yaml", "-r", s.demo.recipient,
            input=f"a: '{CANARY}\n", code=1)

    tampered = s.demo.dir / "tampered.sealed.yaml"
    text = s.sealed.read_text(encoding="utf-8")
    at = text.index("  port: ENC[int,") + len("  port: ENC[int,") + 4
    tampered.write_text(text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1:],
                        encoding="utf-8")
    for args in (("get", "tampered.sealed.yaml", "db.password"),
                 ("unseal", "tampered.sealed.yaml")):
        result = s.run(*args, *key)
        assert result.code == 4 and CANARY not in result.out

    assert sealer_temp_dirs() <= shm_before, "a private temporary directory was left behind"
    assert_no_canary_anywhere(s, tmp_path)


def test_unseal_output_is_private(session: Session, tmp_path: Path) -> None:
    private = session.demo.dir / "private"
    private.mkdir(mode=0o700)
    session.quiet("unseal", "secrets.sealed.yaml", "-o", "private/plain.yaml", "-i", "alice.key")
    plain = private / "plain.yaml"
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert CANARY in plain.read_text(encoding="utf-8")
    assert [p.name for p in private.iterdir()] == ["plain.yaml"]  # no temporary file left
    plain.unlink()
    assert_no_canary_anywhere(session, tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_unseal_output_is_0600_whatever_the_umask(session: Session, umask: int) -> None:
    old = os.umask(umask)  # inherited by the sealer process
    try:
        session.quiet("unseal", "secrets.sealed.yaml", "-o", "plain.yaml", "-i", "alice.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((session.demo.dir / "plain.yaml").stat().st_mode) == 0o600


def test_the_editor_gets_only_a_private_path(session: Session, tmp_path: Path) -> None:
    s = session
    shm_before = sealer_temp_dirs()
    s.editor.does(("tok-9f8e7d", "tok-edited"), look_for=PREFIX)
    result = s.quiet("edit", "secrets.sealed.yaml", "-i", "alice.key")
    assert result.err == "sealer: secrets.sealed.yaml: saved (serial 2)\n"
    (call,) = s.editor.runs()
    argv, directory = call["argv"], Path(str(call["dir"]))
    assert isinstance(argv, list) and len(argv) == 2 and argv[0] == str(s.editor.path)
    assert Path(argv[1]).parent == directory and CANARY not in " ".join(argv)
    assert call["found"] is True  # it really was the plaintext
    assert (call["file_mode"], call["dir_mode"]) == (0o600, 0o700)
    assert not directory.exists(), "the plaintext directory outlived the edit"
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        assert directory.parent == SHM  # in memory, not on disk
    assert sealer_temp_dirs() <= shm_before
    assert_no_canary_anywhere(s, tmp_path)


def test_the_editor_does_not_inherit_a_private_key(session: Session, tmp_path: Path) -> None:
    s = session
    key = next(line for line in s.demo.key.read_text().splitlines()
               if line.startswith("AGE-SECRET-KEY-"))
    s.editor.does()
    for variable in ("SEALER_IDENTITY", "SOPS_AGE_KEY"):
        result = s.quiet("edit", "secrets.sealed.yaml", env={variable: key})
        assert result.err == "sealer: secrets.sealed.yaml: no changes\n"
    assert [c["key_in_env"] for c in s.editor.runs()] == [False, False]


def test_invalid_edit_shows_the_error_but_not_the_value(session: Session,
                                                        tmp_path: Path) -> None:
    s = session
    # First save: the canary's line twice (a duplicate key); second: the duplicate removed.
    s.editor.does(duplicate="  password: ")
    result = s.quiet("edit", "secrets.sealed.yaml", "-i", "alice.key")
    assert result.err == "sealer: secrets.sealed.yaml: no changes\n"
    first, second = s.editor.runs()
    assert not first["first_lines"][0].startswith("# ERROR:")
    assert second["first_lines"] == ["# ERROR: line 6: duplicate key 'password'",
                                     "# Fix it and save, or quit without saving to abandon "
                                     "the edit."]
    assert first["dir"] == second["dir"] and not Path(str(first["dir"])).exists()
    assert_no_canary_anywhere(s, tmp_path)
