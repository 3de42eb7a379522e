"""Rough edges a new user hit (issue 12), each through the real `sealer` CLI on real files: an
editor that leaves the file invalid, an SSH key next to keys.txt, `check --decrypt` with a key
for one environment, `seal -r` dropping your own key, `--in-place`, `set` keeping an int, stages
inside a rotated key, tabs in YAML, dotenv input and SOPS files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Demo, make_identity, run
from conftest import require_tool

pytest_plugins = ["cli_fixtures"]


def _error(file: str, message: str, hint: str | None = None) -> str:
    return f"sealer: error: {file}: {message}\n" + (f"sealer: hint: {hint}\n" if hint else "")


# -- 1. edit: an editor that keeps the file invalid ----------------------------------------


def _editor(tmp_path: Path, body: str) -> Path:
    """A script editor: counts its runs in `runs`, then does `body` to the file (argv[-1])."""
    script = tmp_path / "tools" / "editor"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"runs = open({str(tmp_path / 'runs')!r}, 'a+')\n"
                      "runs.seek(0)\nn = len(runs.read())\nruns.write('.')\nruns.close()\n"
                      f"path = sys.argv[-1]\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


def _runs(tmp_path: Path) -> int:
    return len((tmp_path / "runs").read_text(encoding="utf-8"))


def test_an_editor_that_hands_back_the_same_invalid_text_stops_after_three(
        demo: Demo, tmp_path: Path) -> None:
    before = demo.sealed.read_bytes()
    editor = _editor(tmp_path, "open(path, 'w').write('db: [\\n')")
    result = demo.run("edit", "app.sealed.yaml", "-i", "alice.key",
                      env={"SEALER_EDITOR": str(editor)})
    assert (result.code, result.out) == (1, "")
    assert result.err == _error(
        "app.sealed.yaml", "the edited copy is invalid (line 2: invalid YAML: did not find "
        "expected node content); the editor handed back the same invalid text 3 times in a "
        "row, so sealer stopped; nothing was changed",
        "set $SEALER_EDITOR (or $VISUAL, $EDITOR) to an editor that waits until you close the "
        'file (e.g. "code --wait"), or change single values with `sealer set`')
    assert _runs(tmp_path) == 3
    assert demo.sealed.read_bytes() == before


def test_an_editor_that_never_makes_it_valid_stops_after_twenty(demo: Demo,
                                                                tmp_path: Path) -> None:
    before = demo.sealed.read_bytes()
    editor = _editor(tmp_path, "open(path, 'w').write(f'db: [{n}\\n')")  # new text each time
    result = demo.run("edit", "app.sealed.yaml", "-i", "alice.key",
                      env={"SEALER_EDITOR": str(editor)})
    assert result.code == 1
    assert result.err.endswith(
        "it was still invalid after 20 attempts, so sealer stopped; nothing was changed\n"
        "sealer: hint: the edited copy was not kept; run `sealer edit` again\n")
    assert _runs(tmp_path) == 20
    assert demo.sealed.read_bytes() == before


def test_an_editor_that_fixes_the_file_on_the_second_try_saves(demo: Demo,
                                                               tmp_path: Path) -> None:
    editor = _editor(tmp_path, "text = open(path).read()\n"
                               "new = 'db: [\\n' if n == 0 else text.replace('c0rrect', 'n3w')"
                               ".replace('db: [\\n', 'db:\\n  password: n3w\\n')\n"
                               "open(path, 'w').write(new)")
    result = demo.run("edit", "app.sealed.yaml", "-i", "alice.key",
                      env={"SEALER_EDITOR": str(editor)})
    assert (result.code, result.err) == (0, "sealer: app.sealed.yaml: saved (serial 2)\n")
    assert demo.run("get", "app.sealed.yaml", "db.password", "-i", "alice.key").out == "n3w"


# -- 2. discovery: every source, ~/.ssh too ------------------------------------------------


def _ssh_key(home: Path, passphrase: str = "") -> str:
    keygen = require_tool("ssh-keygen")
    key = home / ".ssh" / "id_ed25519"
    key.parent.mkdir(mode=0o700, exist_ok=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)],
                   check=True, timeout=60)
    return key.with_suffix(".pub").read_text(encoding="utf-8").strip()


def _keys_txt(home: Path) -> str:
    default = home / ".config" / "sealer" / "keys.txt"
    default.parent.mkdir(parents=True)
    recipient = make_identity(default)
    default.chmod(0o600)
    return recipient


def test_an_ssh_key_is_tried_when_keys_txt_exists(demo: Demo, isolated_home: Path) -> None:
    _keys_txt(isolated_home)
    ssh_public = _ssh_key(isolated_home)
    assert demo.run("seal", "app.yaml", "-o", "ssh.sealed.yaml", "-r", ssh_public).code == 0
    result = demo.run("get", "ssh.sealed.yaml", "db.password")
    assert (result.code, result.out, result.err) == (0, "c0rrect-horse", "")


def test_a_protected_ssh_key_that_was_skipped_is_named_in_the_hint(
        demo: Demo, isolated_home: Path) -> None:
    ssh_public = _ssh_key(isolated_home, passphrase="correct horse")
    assert demo.run("seal", "app.yaml", "-o", "ssh.sealed.yaml", "-r", ssh_public).code == 0
    result = demo.run("get", "ssh.sealed.yaml", "db.password")
    key = isolated_home / ".ssh" / "id_ed25519"
    assert result.code == 3
    assert result.err.startswith("sealer: error: ssh.sealed.yaml: no identity found to "
                                 "decrypt with\n")
    assert result.err.endswith(
        f"; {key} is passphrase-protected and not tried by default: pass -i {key} to be asked "
        "for the passphrase\n")


# -- 3. check --decrypt with a key for one environment -------------------------------------


def test_check_decrypt_skips_files_the_key_cannot_open(demo: Demo) -> None:
    ci = make_identity(demo.dir / "ci.key")
    assert demo.run("seal", "app.yaml", "-o", "ci.sealed.yaml", "-r", ci).code == 0
    result = demo.run("check", "--decrypt", "-i", "ci.key")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "app.sealed.yaml:1: warn: [sealed-structure] not a recipient, skipped: none of your "
        "identities (from ci.key) can open it, so its MAC and values were not checked\n"
        "  hint: check it with a key of one of its recipients (`sealer recipients list "
        "app.sealed.yaml`)\n"
        "2 sealed files checked: 0 errors, 1 warning\n")


def test_check_decrypt_still_checks_the_files_the_key_opens(demo: Demo) -> None:
    ci = make_identity(demo.dir / "ci.key")
    assert demo.run("seal", "app.yaml", "-o", "ci.sealed.yaml", "-r", ci).code == 0
    sealed = demo.dir / "ci.sealed.yaml"
    text = sealed.read_text(encoding="utf-8")
    sealed.write_text(text.replace("mac: ", "mac: A", 1), encoding="utf-8")  # tampered
    result = demo.run("check", "--decrypt", "-i", "ci.key", "--format", "json")
    assert result.code == 1
    findings = {(f["file"], f["severity"]) for f in json.loads(result.out)["findings"]}
    assert findings == {("app.sealed.yaml", "warn"), ("ci.sealed.yaml", "error")}


# -- 4. seal -r onto an existing file ------------------------------------------------------


def test_seal_r_refuses_to_drop_your_own_key(demo: Demo) -> None:
    before = demo.sealed.read_bytes()
    result = demo.run("seal", "app.yaml", "-r", demo.other_recipient, "-i", "alice.key")
    assert result.code == 2
    assert result.err == _error(
        "app.sealed.yaml", "the new recipients leave out your own key (alice.key), which "
        "opened this file: you could not read it any more; nothing was written",
        "add your key with -r too, or pass --force to drop it; `sealer recipients add|remove` "
        "change one key at a time")
    assert demo.sealed.read_bytes() == before


def test_seal_r_shows_who_was_added_and_removed(demo: Demo) -> None:
    added = demo.run("seal", "app.yaml", "-r", demo.recipient, "-r", demo.other_recipient,
                     "-i", "alice.key")
    assert (added.code, added.err) == (0, "sealer: app.yaml -> app.sealed.yaml (serial 2)\n"
                                          "sealer: app.sealed.yaml: recipient added: "
                                          f"{demo.other_recipient}\n")
    dropped = demo.run("seal", "app.yaml", "-r", demo.other_recipient, "-i", "alice.key",
                       "--force")
    assert (dropped.code, dropped.err) == (
        0, "sealer: app.yaml -> app.sealed.yaml (serial 3)\n"
           f"sealer: app.sealed.yaml: recipient removed: {demo.recipient}\n"
           "sealer: app.sealed.yaml: a new data key; removed keys can still read the versions "
           "in git history: rotate what they could read\n")
    assert demo.run("get", "app.sealed.yaml", "db.port", "-i", "mallory.key").out == "5432"
    assert demo.run("get", "app.sealed.yaml", "db.port", "-i", "alice.key").code == 3


# -- 5. --in-place -------------------------------------------------------------------------


def test_in_place_replaces_the_plaintext_with_its_sealed_form(demo: Demo) -> None:
    other_sealed = demo.sealed.read_bytes()
    result = demo.run("seal", "app.yaml", "--in-place", "-r", demo.recipient)
    assert (result.code, result.err) == (
        0, "sealer: app.yaml -> app.yaml (serial 1)\n"
           "sealer: app.yaml keeps its name; check, the git drivers and the hooks find sealed "
           "files by their .sealed.yaml suffix: consider `git mv app.yaml app.sealed.yaml`\n")
    assert "c0rrect-horse" not in demo.plain.read_text(encoding="utf-8")
    assert demo.run("get", "app.yaml", "db.password", "-i", "alice.key").out == "c0rrect-horse"
    assert demo.sealed.read_bytes() == other_sealed  # the default output was not touched
    help_text = " ".join(demo.run("seal", "--help").out.replace("│", " ").split())
    assert "Replace the plaintext input with its sealed form" in help_text


# -- 6. set keeps a number or boolean ------------------------------------------------------


def _json(demo: Demo, key: str) -> object:
    result = demo.run("get", "app.sealed.yaml", key, "-i", "alice.key", "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_set_without_type_keeps_an_int_a_bool_and_a_string(demo: Demo) -> None:
    for key, text in (("db.port", "5433"), ("flags.enabled", "false"), ("flags.zip", "02345")):
        result = demo.run("set", "app.sealed.yaml", key, text, "-i", "alice.key")
        assert (result.code, result.err) == (0, f"sealer: app.sealed.yaml: {key} set\n")
    assert (_json(demo, "db.port"), _json(demo, "flags.enabled"), _json(demo, "flags.zip")) == (
        5433, False, "02345")
    help_text = " ".join(demo.run("set", "--help").out.replace("│", " ").split())
    assert "Default: the type of the value being replaced when it is an int, float or bool" \
        in help_text


def test_set_text_that_is_not_an_int_over_an_int_says_the_type_changed(demo: Demo) -> None:
    result = demo.run("set", "app.sealed.yaml", "db.port", "54x3", "-i", "alice.key")
    assert (result.code, result.err) == (
        0, "sealer: app.sealed.yaml: db.port set\n"
           "sealer: app.sealed.yaml: db.port was an int and is str now (--type chooses the "
           "type)\n")
    assert _json(demo, "db.port") == "54x3"
    assert demo.run("set", "app.sealed.yaml", "db.port", "5432", "-t", "str",
                    "-i", "alice.key").code == 0
    assert _json(demo, "db.port") == "5432"


# -- 7. stages inside a rotated key --------------------------------------------------------

ROTATOR = """\
import json, sys
message = json.load(sys.stdin)
if sys.argv[-1] == "create":
    current = message["current"]
    print(json.dumps({**current, "password": "new-" + current["password"]}))
"""


def test_a_stage_works_on_any_path_inside_a_rotated_key(demo: Demo) -> None:
    (demo.dir / "rotator.py").write_text(ROTATOR, encoding="utf-8")
    trust = {"SEALER_TRUST_UNSIGNED_ROTATORS": "1"}
    assert demo.run("rotation", "configure", "app.sealed.yaml", "db", "--every", "30d",
                    "--no-rotate-immediately", "--rotator", "command", "--command", sys.executable,
                    "--command", str(demo.dir / "rotator.py"), "-i", "alice.key").code == 0
    rotated = demo.run("rotate", "app.sealed.yaml", "db", "-i", "alice.key", env=trust)
    assert rotated.code == 0, rotated.err

    def get(key: str, *stage: str) -> tuple[int, str]:
        result = demo.run("get", "app.sealed.yaml", key, "-i", "alice.key", *stage)
        return result.code, result.out or result.err

    assert get("db.password") == (0, "new-c0rrect-horse")
    assert get("db.password", "--stage", "previous") == (0, "c0rrect-horse")
    assert get("db.port", "--stage", "previous") == (0, "5432")
    assert get("db", "--stage", "previous")[1].endswith("password: c0rrect-horse\n")
    assert get("db.password", "--stage", "pending") == (1, _error(
        "app.sealed.yaml", "db.password has no PENDING version",
        "`sealer versions app.sealed.yaml db` lists its versions"))
    assert get("api.token", "--stage", "previous") == (1, _error(
        "app.sealed.yaml", "api.token has no PREVIOUS version",
        "`sealer versions app.sealed.yaml api.token` lists its versions"))


# -- 8. tabs in YAML -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["db:\n\tpassword: x\n", "db:\n  host: h\n\tport: 1\n",
                                  "\tdb: 1\n"])
def test_a_tab_in_yaml_says_tabs_are_not_allowed(demo: Demo, text: str) -> None:
    (demo.dir / "tab.yaml").write_text(text, encoding="utf-8")
    result = demo.run("seal", "tab.yaml", "-r", demo.recipient)
    line = next(n for n, content in enumerate(text.splitlines(), 1) if "\t" in content)
    assert (result.code, result.err) == (1, _error(
        "tab.yaml", f"line {line}: invalid YAML: tabs are not allowed for indentation",
        "indent with spaces"))


# -- 9. dotenv input, SOPS files -----------------------------------------------------------

DOTENV = """\
# a comment, then a blank line

export DATABASE_URL=postgres://app@db/app
API_TOKEN = tok-9f8e7d   # an inline comment
EMPTY=
HASH=#not-a-comment
SINGLE='literal $HOME and \\n stay'
DOUBLE="a \\"quoted\\" word\\nand a second line"
MULTI='-----BEGIN KEY-----
abc
-----END KEY-----'
PORT=5432
"""


def test_a_dotenv_file_is_sealed_and_reads_back_as_python_dotenv_reads_it(demo: Demo) -> None:
    dotenv = pytest.importorskip("dotenv")
    (demo.dir / ".env").write_text(DOTENV, encoding="utf-8")
    result = demo.run("seal", ".env", "-r", demo.recipient)
    assert (result.code, result.err) == (0, "sealer: .env -> .env.sealed.yaml (serial 1)\n")
    unsealed = demo.run("unseal", ".env.sealed.yaml", "-i", "alice.key", "--format", "json")
    expected = dotenv.dotenv_values(demo.dir / ".env", interpolate=False)
    assert json.loads(unsealed.out) == expected
    assert expected["PORT"] == "5432" and "\n" in str(expected["MULTI"])


def test_dotenv_from_stdin_and_by_name(demo: Demo) -> None:
    piped = demo.run("seal", "-", "--input-type", "dotenv", "-o", "piped.sealed.yaml",
                     "-r", demo.recipient, input="A=1\n")
    assert piped.code == 0, piped.err
    (demo.dir / "prod.env").write_text("B=2\n", encoding="utf-8")
    assert demo.run("seal", "prod.env", "-r", demo.recipient).code == 0
    for file, key, value in (("piped.sealed.yaml", "A", "1"), ("prod.env.sealed.yaml", "B", "2")):
        assert demo.run("get", file, key, "-i", "alice.key").out == value
    wrong = demo.run("seal", "prod.env", "--input-type", "toml", "-r", demo.recipient)
    assert (wrong.code, wrong.err) == (2, "sealer: error: unknown input type 'toml'\n"
                                          "sealer: hint: use one of: yaml, dotenv\n")


LITERAL = "put the value in single quotes to keep it literal: KEY='value'"


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("A=$HOME\n", "line 1: invalid dotenv: A: a $ outside single quotes is read differently "
                  "by different dotenv readers", LITERAL),
    ('A=1\nB="x${A}"\n', "line 2: invalid dotenv: B: a $ outside single quotes is read "
                         "differently by different dotenv readers", LITERAL),
    ("A='C:\\\\'\n", "line 1: invalid dotenv: A: a backslash before \\ or ' in single quotes "
                     "is read differently by different dotenv readers",
     'use double quotes and double each backslash: KEY="a\\\\b"'),
    ('A="\\a"\n', "line 1: invalid dotenv: A: the escape \\a is read differently by different "
                  "dotenv readers", LITERAL),
    ("A=1\n\nA=2\n", "line 3: invalid dotenv: A is set twice (first on line 1)", None),
    ("A=1\nnot a line\n", "line 2: invalid dotenv: expected KEY=value (a key is letters, "
                          "digits and _, not starting with a digit)", None),
    ("A='open\nB=2\n", "line 1: invalid dotenv: A: the single quote is not closed", None),
    ('A="x" y\n', "line 1: invalid dotenv: A: unexpected text after the value", None),
])
def test_dotenv_that_readers_disagree_about_is_refused_by_line_and_key(
        demo: Demo, text: str, message: str, hint: str | None) -> None:
    (demo.dir / "app.env").write_text(text, encoding="utf-8")
    result = demo.run("seal", "app.env", "-r", demo.recipient)
    assert (result.code, result.err) == (1, _error("app.env", message, hint))
    assert not (demo.dir / "app.env.sealed.yaml").exists()


def test_a_dotenv_file_named_like_yaml_gets_a_hint(demo: Demo) -> None:
    (demo.dir / "secrets.txt").write_text("A=1\nB=2\n", encoding="utf-8")
    result = demo.run("seal", "secrets.txt", "-r", demo.recipient)
    assert (result.code, result.err) == (1, _error(
        "secrets.txt", "the top level must be a mapping of keys to values",
        "this looks like a dotenv file: pass --input-type dotenv"))


# What sops 3.x writes: the values as ENC[…] and its metadata under `sops` (dotenv: `sops_*`);
# sops is not installed here, so the files are written out by hand.
ENC = ("ENC[AES256_GCM,data:3q2+7w==,iv:AAAAAAAAAAAAAAAAAAAAAA==,"
       "tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]")
SOPS_YAML = """\
db:
    password: {enc}
sops:
    age:
        - recipient: {recipient}
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2025-01-01T00:00:00Z"
    mac: {enc}
    unencrypted_suffix: _unencrypted
    version: 3.9.0
"""
SOPS_DOTENV = """\
DB_PASSWORD={enc}
sops_age__list_0__map_recipient={recipient}
sops_lastmodified=2025-01-01T00:00:00Z
sops_mac={enc}
sops_version=3.9.0
"""


@pytest.mark.parametrize(("name", "text", "pipe"), [
    ("secrets.enc.yaml", SOPS_YAML, "sealer seal - -o secrets.enc.sealed.yaml"),
    ("secrets.env", SOPS_DOTENV, "sealer seal - --input-type dotenv -o secrets.env.sealed.yaml"),
])
def test_a_sops_file_is_refused_with_how_to_decrypt_it(demo: Demo, name: str, text: str,
                                                       pipe: str) -> None:
    (demo.dir / name).write_text(text.format(recipient=demo.recipient, enc=ENC), encoding="utf-8")
    result = demo.run("seal", name, "-r", demo.recipient)
    assert (result.code, result.err) == (2, _error(
        name, "is encrypted with SOPS; `sealer seal` takes plaintext",
        f"convert it with `sealer import sops {name}` (verified as sops does, your age key "
        f"decrypts it), or `sops -d {name} | {pipe}`"))


def test_the_discovery_hint_of_the_identity_option_names_every_source() -> None:
    result = run("get", "--help", env={"COLUMNS": "200"})
    text = " ".join(result.out.replace("│", " ").split())
    assert ("Default: all of $SEALER_IDENTITY, $SEALER_IDENTITY_FILE, $SOPS_AGE_KEY, "
            "$SOPS_AGE_KEY_FILE, ~/.config/sealer/keys.txt, ~/.ssh/id_ed25519, ~/.ssh/id_rsa."
            in text)


def test_unseal_dash_output_is_stdout(tmp_path: Path) -> None:
    """`-o -` means stdout, as for render: never a plaintext file named `-`."""
    from sealing import forge, new_identity

    identity, recipient = new_identity()
    key = tmp_path / "k.txt"
    key.write_text(str(identity.native) + "\n")
    key.chmod(0o600)
    sealed = forge(tmp_path / "x.sealed.yaml", {"a": "b"}, [recipient.text])
    result = run("unseal", sealed, "-o", "-", "-i", key, cwd=tmp_path)
    assert (result.code, result.out) == (0, "a: b\n"), result.err
    assert not (tmp_path / "-").exists()


def test_show_lists_signatures_and_who_signed(tmp_path: Path) -> None:
    from sealing import forge, new_identity

    _, recipient = new_identity()
    key = tmp_path / "release.key"
    public = run("keygen", "--signing", "-o", key).out.strip()
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {recipient.text}\n  release: {public}\n"
        "environments:\n  prod:\n    recipients: [me]\n"
        "creation_rules:\n  - {path: '**', environment: prod}\n")
    sealed = forge(tmp_path / "x.sealed.yaml", {"a": "b"}, [recipient.text], signing_key=key)
    shown = json.loads(run("show", sealed, "--format", "json").out)
    [signature] = shown["signatures"]
    assert signature["principal"] == "release" and signature["valid"] is True
    assert signature["signer"] == " ".join(public.split()[:2])
