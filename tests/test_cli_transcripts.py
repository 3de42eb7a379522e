"""CLI transcripts: for each user-facing error and each main success path, the command, its
stdin, and the exact exit code, stdout and stderr of the real `sealer` process.

Commands run in a private copy of the demo directory (see cli_helpers.Demo), so file names in
messages are the relative names typed. In commands and expected text, @R@ is the demo recipient,
@RSHORT@ its shortened form, @OTHER@ a recipient that is not on the file, @SECRET@ the demo private
key and @HOME@ the test's $HOME. A failing command must leave every file as it was.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import (
    EXAMPLE,
    LOOKED_IN,
    Demo,
    T,
    check,
    run_on_terminal,
    secret_key,
    substitute,
)

from sealer import __version__

pytest_plugins = ["cli_fixtures"]

PATH_HINT = 'sealer: hint: write paths like db.password, users[0].name or "key.with.dots".field\n'
TAMPERED = ("authentication failed: the file is corrupt or was modified without its key\n"
            "sealer: hint: restore it from git (`git checkout -- FILE`) or ask its owner\n")
SHOW = re.compile(r"""file: app\.sealed\.yaml
format: 1
id: [0-9a-f]{32}
serial: 1
created: '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'
modified: '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'
recipients:
- @R@
metadata: \{\}
data:
  db:
    host: <str, encrypted>
    port: <int, encrypted>
    password: <str, encrypted>
  api:
    token: <str, encrypted>
  flags:
    enabled: <bool, encrypted>
    zip: <str, encrypted>
  admins:
  - <str, encrypted>
  - <str, encrypted>
""")



SUCCESS = [
    T("seal", "seal app.yaml -r @R@ -o new.sealed.yaml", 0,
      "sealer: app.yaml -> new.sealed.yaml (serial 1)\n"),
    T("seal-default-output", "seal other.yaml -r @R@", 0,
      "sealer: other.yaml -> other.sealed.yaml (serial 1)\n"),
    T("seal-recipients-file", "seal app.yaml -R recipients.txt -o new.sealed.yaml", 0,
      "sealer: app.yaml -> new.sealed.yaml (serial 1)\n"),
    T("seal-stdin", "seal - -o new.sealed.yaml -r @R@", 0,
      "sealer: - -> new.sealed.yaml (serial 1)\n", stdin="a: 1\n"),
    T("seal-again-unchanged", "seal app.yaml -i alice.key", 0,
      "sealer: app.yaml -> app.sealed.yaml (unchanged)\n"),
    T("get-string", "get app.sealed.yaml db.password -i alice.key", 0, "", "c0rrect-horse"),
    T("get-int", "get app.sealed.yaml db.port -i alice.key", 0, "", "5432"),
    T("get-list-item", "get app.sealed.yaml 'admins[1]' -i alice.key", 0, "", "bob@example.com"),
    T("get-quoted-string", "get app.sealed.yaml flags.zip -i alice.key", 0, "", "01234"),
    T("get-mapping-yaml", "get app.sealed.yaml flags -i alice.key", 0, "",
      "enabled: true\nzip: '01234'\n"),
    T("get-mapping-json", "get app.sealed.yaml db --format json -i alice.key", 0, "",
      '{\n  "host": "db.internal.example.com",\n  "port": 5432,\n'
      '  "password": "c0rrect-horse"\n}\n'),
    T("get-identity-from-env-file", "get app.sealed.yaml api.token", 0, "", "tok-9f8e7d",
      env={"SEALER_IDENTITY_FILE": "alice.key"}),
    T("get-identity-from-env-key", "get app.sealed.yaml api.token", 0, "", "tok-9f8e7d",
      env={"SEALER_IDENTITY": "@SECRET@"}),
    T("get-identity-from-stdin", "get app.sealed.yaml api.token -i -", 0, "", "tok-9f8e7d",
      stdin="@SECRET@\n"),
    T("unseal", "unseal app.sealed.yaml -i alice.key", 0, "", EXAMPLE),
    T("unseal-two-files", "unseal app.sealed.yaml app.sealed.yaml -i alice.key", 0, "",
      EXAMPLE + "---\n" + EXAMPLE),
    T("unseal-output", "unseal app.sealed.yaml -o out.yaml -i alice.key", 0,
      "sealer: app.sealed.yaml -> out.yaml (plaintext, mode 0600)\n"),
    T("show", "show app.sealed.yaml", 0, "", SHOW),
    T("set-stdin", "set app.sealed.yaml api.token -i alice.key", 0,
      "sealer: app.sealed.yaml: api.token set\n", stdin="new-token\n"),
    T("set-same-value", "set app.sealed.yaml api.token -i alice.key", 0,
      "sealer: app.sealed.yaml: api.token unchanged\n", stdin="tok-9f8e7d\n"),
    T("set-int", "set app.sealed.yaml db.port 5433 --type int -i alice.key", 0,
      "sealer: app.sealed.yaml: db.port set\n"),
    T("set-from-file", "set app.sealed.yaml api.token --from-file value.txt -i alice.key", 0,
      "sealer: app.sealed.yaml: api.token set\n"),
    T("set-creates-file", "set new.sealed.yaml api.token -r @R@", 0,
      "sealer: new.sealed.yaml: api.token set\n", stdin="t0k\n"),
    T("unset", "unset app.sealed.yaml api.token 'admins[0]' -i alice.key", 0,
      "sealer: app.sealed.yaml: removed api.token, admins[0] (serial 2)\n"),
    T("recipients-list", "recipients list app.sealed.yaml", 0, "", "@R@\n"),
    T("recipients-add", "recipients add app.sealed.yaml -r @OTHER@ -i alice.key", 0,
      "sealer: app.sealed.yaml: recipients added\n"),
    T("recipients-add-again", "recipients add app.sealed.yaml -r @R@ -i alice.key", 0,
      "sealer: app.sealed.yaml: unchanged\n"),
    T("rekey", "rekey app.sealed.yaml -i alice.key", 0,
      "sealer: app.sealed.yaml: new data key (serial 2)\n"),
    T("keygen", "keygen -o new.key", 0,
      "sealer: wrote a new identity to new.key; keep it secret and back it up\n",
      re.compile(r"age1[02-9ac-hj-np-z]{58}\n")),
    T("version", "--version", 0, "", f"sealer {__version__}\n"),
]

ERRORS = [
    # files
    T("missing-file", "get nope.sealed.yaml db.password -i alice.key", 1,
      "sealer: error: nope.sealed.yaml: no such file\nsealer: hint: check the path\n"),
    T("missing-input", "seal nope.yaml -r @R@", 1,
      "sealer: error: nope.yaml: no such file\nsealer: hint: check the path\n"),
    T("directory-as-file", "get adir db.password -i alice.key", 1,
      "sealer: error: adir: is a directory, not a file\n"),
    T("directory-as-input", "seal adir -r @R@ -o new.sealed.yaml", 1,
      "sealer: error: adir: is a directory, not a file\n"),
    # plaintext YAML
    T("duplicate-key", "seal dup.yaml -r @R@", 1,
      "sealer: error: dup.yaml: line 2: duplicate key 'a'\n"
      "sealer: hint: each key may appear once\n"),
    T("anchor", "seal anchor.yaml -r @R@", 1,
      "sealer: error: anchor.yaml: line 1: anchors (&name) are not allowed\n"
      "sealer: hint: remove the anchor\n"),
    T("alias", "seal alias.yaml -r @R@", 1,
      "sealer: error: alias.yaml: line 2: aliases (*name) are not allowed\n"
      "sealer: hint: write the value out\n"),
    T("unknown-tag", "seal tag.yaml -r @R@", 1,
      "sealer: error: tag.yaml: line 1: the tag !secret is not allowed\n"
      "sealer: hint: remove the tag\n"),
    T("yaml-syntax", "seal syntax.yaml -r @R@", 1,
      "sealer: error: syntax.yaml: line 2: invalid YAML: did not find expected ',' or ']'\n"),
    T("stdin-duplicate-key", "seal - -o new.sealed.yaml -r @R@", 1,
      "sealer: error: -: line 2: duplicate key 'a'\nsealer: hint: each key may appear once\n",
      stdin="a: 1\na: 2\n"),
    T("top-level-not-mapping", "seal list.yaml -r @R@", 1,
      "sealer: error: list.yaml: the top level must be a mapping of keys to values\n"),
    # seal refusals
    T("seal-sealed-file", "seal app.sealed.yaml -r @R@ -o new.sealed.yaml", 2,
      "sealer: error: app.sealed.yaml: is already sealed\n"
      "sealer: hint: use `sealer edit` or `sealer set` to change a sealed file\n"),
    T("seal-over-its-input", "seal app.yaml -r @R@ -o app.yaml", 2,
      "sealer: error: app.yaml: refusing to overwrite the plaintext input with its sealed form\n"
      "sealer: hint: pass --in-place, or -o to write elsewhere\n"),
    T("seal-over-plaintext", "seal app.yaml -r @R@ -o plain-out.yaml", 2,
      "sealer: error: plain-out.yaml: exists and is not a sealed file; refusing to overwrite it\n"
      "sealer: hint: pass --in-place to replace a plaintext file with its sealed form, "
      "or -o to write elsewhere\n"),
    T("seal-no-recipients", "seal app.yaml -o new.sealed.yaml", 2,
      "sealer: error: new.sealed.yaml: no recipients to seal for\n"
      "sealer: hint: pass -r age1… or -R FILE with the public keys of the readers\n"),
    T("seal-several-inputs-one-output", "seal app.yaml other.yaml -o new.sealed.yaml -r @R@", 2,
      "sealer: error: -o/--output needs exactly one input\n"
      "sealer: hint: seal one file at a time\n"),
    T("seal-stdin-without-output", "seal - -r @R@", 2,
      "sealer: error: reading from stdin needs -o/--output FILE\n", stdin="a: 1\n"),
    T("seal-update-without-identity", "seal app.yaml", 3,
      "sealer: error: app.sealed.yaml: no identity found to decrypt with\n"
      "sealer: hint: updating a sealed file needs one of its identities (-i KEYFILE); "
      "--replace starts over with a new data key\n"),
    # recipients
    T("bad-recipient", "seal app.yaml -o new.sealed.yaml -r age1notvalid", 1,
      "sealer: error: --recipient: invalid age recipient 'age1notv…' (bad length or checksum)\n"
      "sealer: hint: copy the whole age1… key again\n"),
    T("bad-ssh-recipient", "seal app.yaml -o new.sealed.yaml -r 'ssh-ed25519 AAAAbad'", 1,
      "sealer: error: --recipient: invalid ssh-ed25519 public key\n"
      "sealer: hint: copy the whole line of the .pub file again\n"),
    T("private-key-as-recipient", "seal app.yaml -o new.sealed.yaml -r @SECRET@", 1,
      "sealer: error: --recipient: this looks like a private key, not a recipient; keep it secret\n"
      "sealer: hint: give its public key instead: `age-keygen -y FILE` or "
      "`ssh-keygen -y -f FILE`\n"),
    T("private-key-file-as-recipients", "seal app.yaml -o new.sealed.yaml -R alice.key", 1,
      "sealer: error: alice.key:3: this looks like a private key, not a recipient; keep it secret\n"
      "sealer: hint: give its public key instead: `age-keygen -y FILE` or "
      "`ssh-keygen -y -f FILE`\n"),
    T("missing-recipients-file", "seal app.yaml -o new.sealed.yaml -R nope.txt", 1,
      "sealer: error: nope.txt: cannot read the recipients file: no such file\n"
      "sealer: hint: check the path\n"),
    T("empty-recipients-file", "seal app.yaml -o new.sealed.yaml -R empty.txt", 1,
      "sealer: error: empty.txt: no recipients in this file\n"
      "sealer: hint: add one age1… or SSH public key per line\n"),
    T("recipients-add-nothing", "recipients add app.sealed.yaml -i alice.key", 2,
      "sealer: error: app.sealed.yaml: no recipients given, and no creation rule in sealer.yaml "
      "covers this file\nsealer: hint: pass -r age1… (or a principal name) or -R FILE\n"),
    T("recipients-remove-stranger", "recipients remove app.sealed.yaml -r @OTHER@ -i alice.key", 2,
      "sealer: error: app.sealed.yaml: @OTHER@ is not a recipient\n"
      "sealer: hint: `sealer recipients list app.sealed.yaml` shows the recipients\n"),
    T("recipients-remove-everyone", "recipients remove app.sealed.yaml -r @R@ -i alice.key", 2,
      "sealer: error: app.sealed.yaml: cannot remove every recipient\n"
      "sealer: hint: add the new recipient first, then remove the old one\n"),
    # identities
    T("identity-file-missing", "get app.sealed.yaml db.password -i nope.key", 1,
      "sealer: error: nope.key: cannot read the identity file: no such file\n"
      "sealer: hint: check the path\n"),
    T("identity-file-not-a-key", "get app.sealed.yaml db.password -i notes.txt", 1,
      "sealer: error: notes.txt: line 1 is not an age secret key\n"
      "sealer: hint: pass an age identity file (age-keygen) or an SSH private key\n"),
    T("identity-file-too-open", "get app.sealed.yaml db.password -i open.key", 1,
      "sealer: error: open.key: permissions 0644 are too open for the identity file: a private "
      "key must not be accessible by others\nsealer: hint: chmod 600 open.key\n"),
    T("identity-env-file-too-open", "get app.sealed.yaml db.password", 1,
      "sealer: error: open.key: permissions 0644 are too open for the identity file named by "
      "SOPS_AGE_KEY_FILE: a private key must not be accessible by others\n"
      "sealer: hint: chmod 600 open.key\n", env={"SOPS_AGE_KEY_FILE": "open.key"}),
    T("identity-env-file-missing", "get app.sealed.yaml db.password", 1,
      "sealer: error: nope.key: cannot read the identity file named by SEALER_IDENTITY_FILE: "
      "no such file\nsealer: hint: fix or unset SEALER_IDENTITY_FILE\n",
      env={"SEALER_IDENTITY_FILE": "nope.key"}),
    T("identity-env-garbage", "get app.sealed.yaml db.password", 1,
      "sealer: error: SEALER_IDENTITY: line 1 is not an age secret key\n"
      "sealer: hint: pass an age identity file (age-keygen) or an SSH private key\n",
      env={"SEALER_IDENTITY": "AGE-SECRET-KEY-NOT-REALLY"}),
    T("no-identity-found", "get app.sealed.yaml db.password", 3,
      "sealer: error: app.sealed.yaml: no identity found to decrypt with\n"
      f"sealer: hint: it is sealed for @RSHORT@; {LOOKED_IN}\n"),
    T("wrong-identity", "get app.sealed.yaml db.password -i mallory.key", 3,
      "sealer: error: app.sealed.yaml: not sealed for any of your identities (from mallory.key)\n"
      "sealer: hint: the file is sealed for @RSHORT@; ask one of them to run "
      "`sealer recipients add`\n"),
    T("wrong-identity-set", "set app.sealed.yaml api.token x -i mallory.key", 3,
      "sealer: error: app.sealed.yaml: not sealed for any of your identities (from mallory.key)\n"
      "sealer: hint: the file is sealed for @RSHORT@; ask one of them to run "
      "`sealer recipients add`\n"),
    # sealed file integrity
    T("tampered", "get tampered.sealed.yaml api.token -i alice.key", 4,
      "sealer: error: tampered.sealed.yaml: " + TAMPERED),
    T("tampered-show-is-not-verified", "show tampered.sealed.yaml", 0, "",
      re.compile(r"file: tampered\.sealed\.yaml\n(.*\n)*")),
    T("malformed", "get malformed.sealed.yaml api.token -i alice.key", 4,
      "sealer: error: malformed.sealed.yaml: malformed sealed file: top-level keys must be "
      "sealer, data, metadata, recipients, mac in this order\n"),
    T("truncated", "get truncated.sealed.yaml api.token -i alice.key", 4,
      "sealer: error: truncated.sealed.yaml: malformed sealed file: top-level keys must be "
      "sealer, data, metadata, recipients, mac in this order\n"),
    T("sealed-invalid-yaml", "get dup.sealed.yaml api.token -i alice.key", 4,
      "sealer: error: dup.sealed.yaml: malformed sealed file: line 5: duplicate key 'serial'\n"
      "sealer: hint: restore the file from git; if a merge left conflict markers, redo the "
      "merge\n"),
    T("not-sealed", "get app.yaml api.token -i alice.key", 1,
      "sealer: error: app.yaml: not a sealed file (no sealer header)\n"
      "sealer: hint: seal it first with `sealer seal`\n"),
    T("show-not-sealed", "show app.yaml", 1,
      "sealer: error: app.yaml: not a sealed file (no sealer header)\n"
      "sealer: hint: seal it first with `sealer seal`\n"),
    # key paths
    T("unknown-key", "get app.sealed.yaml db.nope -i alice.key", 1,
      "sealer: error: app.sealed.yaml: no key db.nope\n"
      "sealer: hint: top-level keys: db, api, flags, admins; "
      "`sealer show app.sealed.yaml` lists them all\n"),
    T("unknown-list-index", "get app.sealed.yaml 'admins[5]' -i alice.key", 1,
      "sealer: error: app.sealed.yaml: no key admins[5]\n"
      "sealer: hint: top-level keys: db, api, flags, admins; "
      "`sealer show app.sealed.yaml` lists them all\n"),
    T("unset-unknown-key", "unset app.sealed.yaml api.nope -i alice.key", 1,
      "sealer: error: app.sealed.yaml: no key api.nope\n"
      "sealer: hint: top-level keys: db, api, flags, admins; "
      "`sealer show app.sealed.yaml` lists them all\n"),
    T("set-under-a-value", "set app.sealed.yaml db.port.x 1 -i alice.key", 1,
      "sealer: error: app.sealed.yaml: cannot set db.port.x: its parent is not a mapping or "
      "the list index is past the end\n"),
    T("invalid-key-path", "get app.sealed.yaml 'db[' -i alice.key", 2,
      "sealer: error: invalid key path 'db[': invalid list index at position 3; use [0], [1], …\n"
      + PATH_HINT),
    T("invalid-key-path-dots", "get app.sealed.yaml a..b -i alice.key", 2,
      "sealer: error: invalid key path 'a..b': unexpected '.'\n" + PATH_HINT),
    T("empty-key-path", "set app.sealed.yaml '' x -i alice.key", 2,
      "sealer: error: invalid key path '': a key is missing\n" + PATH_HINT),
    # usage
    T("unknown-command", "xyzzy", 2,
      "sealer: error: no such command 'xyzzy'\nsealer: hint: see `sealer --help`\n"),
    T("unknown-option", "get --bogus app.sealed.yaml db.password", 2,
      "sealer: error: no such option: --bogus\nsealer: hint: see `sealer get --help`\n"),
    T("missing-argument", "get", 2,
      "sealer: error: missing argument 'FILE'\nsealer: hint: see `sealer get --help`\n"),
    T("get-format-invalid", "get app.sealed.yaml db -f xml -i alice.key", 2,
      "sealer: error: unknown format 'xml'\nsealer: hint: use one of: raw, yaml, json\n"),
    T("unseal-format-invalid", "unseal app.sealed.yaml --format xml -i alice.key", 2,
      "sealer: error: unknown format 'xml'\nsealer: hint: use one of: yaml, json\n"),
    T("show-format-invalid", "show app.sealed.yaml -f xml", 2,
      "sealer: error: unknown format 'xml'\nsealer: hint: use one of: yaml, json\n"),
    # set
    T("set-value-and-from-file", "set app.sealed.yaml api.token v --from-file value.txt "
      "-i alice.key", 2,
      "sealer: error: give the value either as an argument or with --from-file, not both\n"),
    T("set-int-not-int", "set app.sealed.yaml db.port s3cr3t-n0t-a-number --type int "
      "-i alice.key", 2,
      "sealer: error: the value is not a valid int\n"
      "sealer: hint: int: 42, float: 1.5, bool: true/false, null: null\n"),
    T("set-int-not-int-stdin", "set app.sealed.yaml db.port --type int -i alice.key", 2,
      "sealer: error: the value is not a valid int\n"
      "sealer: hint: int: 42, float: 1.5, bool: true/false, null: null\n",
      stdin="s3cr3t-n0t-a-number\n"),
    T("set-unknown-type", "set app.sealed.yaml db.port 1 --type decimal -i alice.key", 2,
      "sealer: error: unknown type 'decimal'\n"
      "sealer: hint: use one of: str, int, float, bool, null, bytes, yaml\n"),
    T("set-not-utf8", "set app.sealed.yaml api.token -i alice.key", 2,
      "sealer: error: the value is not UTF-8 text\nsealer: hint: use --type bytes\n",
      stdin=b"\xff\xfe"),
    T("set-from-missing-file", "set app.sealed.yaml api.token --from-file nope.txt "
      "-i alice.key", 1,
      "sealer: error: nope.txt: no such file\nsealer: hint: check the path\n"),
    # keygen, unseal, edit
    T("keygen-existing", "keygen -o alice.key", 1,
      "sealer: error: alice.key: already exists; refusing to overwrite it\n"
      "sealer: hint: choose another path with -o, or move the existing file away first\n"),
    T("unseal-onto-itself", "unseal app.sealed.yaml -o app.sealed.yaml -i alice.key", 2,
      "sealer: error: app.sealed.yaml: refusing to overwrite a sealed file with plaintext\n"
      "sealer: hint: choose another -o path\n"),
    T("unseal-onto-another-sealed-file", "unseal app.sealed.yaml -o tampered.sealed.yaml "
      "-i alice.key", 2,
      "sealer: error: tampered.sealed.yaml: refusing to overwrite a sealed file with plaintext\n"
      "sealer: hint: choose another -o path\n"),
    T("unseal-onto-itself-needs-no-key", "unseal app.sealed.yaml -o ./app.sealed.yaml", 2,
      "sealer: error: app.sealed.yaml: refusing to overwrite a sealed file with plaintext\n"
      "sealer: hint: choose another -o path\n"),
    T("unseal-several-to-one-output", "unseal app.sealed.yaml app.sealed.yaml -o out.yaml "
      "-i alice.key", 2,
      "sealer: error: -o/--output needs exactly one file\n"),
    T("unseal-into-missing-directory", "unseal app.sealed.yaml -o nodir/out.yaml -i alice.key", 1,
      "sealer: error: nodir/out.yaml: cannot write: No such file or directory\n"),
    T("edit-missing-file", "edit nope.sealed.yaml -i alice.key", 2,
      "sealer: error: nope.sealed.yaml: no such file\n"
      "sealer: hint: to create it, pass the readers' keys: -r age1… or -R FILE\n"),
    T("edit-no-such-editor", "edit app.sealed.yaml -i alice.key", 2,
      "sealer: error: app.sealed.yaml: cannot run the editor '/nonexistent/editor': No such file "
      "or directory\n"
      "sealer: hint: set $EDITOR (or $SEALER_EDITOR) to your editor\n",
      env={"EDITOR": "/nonexistent/editor"}),
    T("edit-editor-fails", "edit app.sealed.yaml -i alice.key", 1,
      "sealer: error: app.sealed.yaml: the editor exited with status 1; nothing was changed\n",
      env={"EDITOR": "false"}),
]


def tamper(text: str) -> str:
    """Flip one base64 character in the middle of the first token (still canonical base64)."""
    start = text.index("ENC[str,") + len("ENC[str,") + 4
    flipped = "B" if text[start] == "A" else "A"
    return text[:start] + flipped + text[start + 1:]


@pytest.fixture
def files(demo: Demo) -> Demo:
    """The demo directory plus the inputs the transcripts name."""
    inputs = {
        "other.yaml": "only: one\n",
        "dup.yaml": "a: 1\na: 2\n",
        "anchor.yaml": "a: &x 1\nb: 2\n",
        "alias.yaml": "a: 1\nb: *x\n",
        "tag.yaml": "a: !secret 1\n",
        "syntax.yaml": "a: [1\n",
        "list.yaml": "- 1\n- 2\n",
        "plain-out.yaml": "not: sealed\n",
        "value.txt": "from-a-file",
        "empty.txt": "# nobody yet\n",
        "recipients.txt": f"# the team\n{demo.recipient}\n",
    }
    for name, text in inputs.items():
        (demo.dir / name).write_text(text, encoding="utf-8")
    (demo.dir / "adir").mkdir()
    (demo.dir / "notes.txt").write_text("not: a key\n", encoding="utf-8")
    (demo.dir / "notes.txt").chmod(0o600)  # private, so what is judged is what it holds
    (demo.dir / "open.key").write_bytes(demo.key.read_bytes())
    (demo.dir / "open.key").chmod(0o644)  # an identity others can read: refused
    sealed = demo.sealed.read_text(encoding="utf-8")
    (demo.dir / "tampered.sealed.yaml").write_text(tamper(sealed), encoding="utf-8")
    (demo.dir / "malformed.sealed.yaml").write_text(sealed.replace("\nmac:", "\nmack:"),
                                                    encoding="utf-8")
    (demo.dir / "truncated.sealed.yaml").write_text(sealed[: sealed.index("\nmetadata:") + 1],
                                                    encoding="utf-8")
    (demo.dir / "dup.sealed.yaml").write_text(
        sealed.replace("  serial: 1\n", "  serial: 1\n  serial: 1\n"), encoding="utf-8")
    return demo


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("t", SUCCESS + ERRORS, ids=lambda t: t.id)
def test_transcript(t: T, files: Demo, isolated_home: Path) -> None:
    before = snapshot(files.dir)
    args = [substitute(a, files, isolated_home) for a in shlex.split(t.args)]
    stdin = substitute(t.stdin, files, isolated_home) if isinstance(t.stdin, str) else t.stdin
    env = {k: substitute(v, files, isolated_home) for k, v in t.env.items()}
    result = files.run(*args, input=stdin, env=env)
    assert result.code == t.code, result.err
    check(result.err, t.err, files, isolated_home)
    check(result.out, t.out, files, isolated_home)
    if t.code != 0:
        assert snapshot(files.dir) == before, "a failing command changed a file"


def test_every_error_is_one_error_line_and_at_most_one_hint() -> None:
    for t in ERRORS:
        if isinstance(t.err, str) and t.code != 0:
            lines = t.err.splitlines()
            assert lines[0].startswith("sealer: error: ") and not lines[0].endswith(".")
            assert all(line.startswith("sealer: hint: ") for line in lines[1:]), t.id
            assert len(lines) <= 2, t.id


def test_private_key_is_never_echoed(files: Demo) -> None:
    secret = secret_key(files)
    for args in (["-r", secret], ["-R", "alice.key"]):
        result = files.run("seal", "app.yaml", "-o", "new.sealed.yaml", *args)
        assert result.code == 1
        assert secret not in result.err and secret[15:25] not in result.err
        assert secret not in result.out
    garbage = secret[:-1] + ("q" if secret[-1] != "q" else "p")  # one typo: a bad checksum
    result = files.run("get", "app.sealed.yaml", "api.token", env={"SEALER_IDENTITY": garbage})
    assert result.code == 1 and garbage[15:25] not in result.err + result.out


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "flipped-token": tamper,
    "changed-serial": lambda t: t.replace("serial: 1\n", "serial: 2\n"),
    "swapped-values": lambda t: _swap_lines(t, "    host: ", "    password: "),
    "changed-mac": lambda t: re.sub(r"\nmac: (.)", lambda m: "\nmac: " + (
        "B" if m.group(1) == "A" else "A"), t),
    "renamed-key": lambda t: t.replace("  api:\n", "  apj:\n"),
}


def _swap_lines(text: str, a: str, b: str) -> str:
    lines = text.splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith(a))
    j = next(n for n, line in enumerate(lines) if line.startswith(b))
    va, vb = lines[i][len(a):], lines[j][len(b):]
    lines[i], lines[j] = a + vb, b + va
    return "".join(lines)


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_tampering_gives_one_message_that_does_not_say_which_check_failed(
        demo: Demo, how: str) -> None:
    original = demo.sealed.read_text(encoding="utf-8")
    changed = TAMPERINGS[how](original)
    assert changed != original
    demo.sealed.write_text(changed, encoding="utf-8")
    for args in (["get", "app.sealed.yaml", "db.host"], ["unseal", "app.sealed.yaml"],
                 ["set", "app.sealed.yaml", "api.token", "x"]):
        result = demo.run(*args, "-i", "alice.key")
        assert (result.code, result.out) == (4, "")
        assert result.err == "sealer: error: app.sealed.yaml: " + TAMPERED
    assert demo.sealed.read_text(encoding="utf-8") == changed


def test_no_arguments_prints_help_and_no_empty_error(demo: Demo) -> None:
    result = demo.run()
    assert result.code == 2
    assert "Usage: sealer" in result.out and "sealer: error" not in result.err
    result = demo.run("recipients")
    assert result.code == 2
    assert "Usage: sealer recipients" in result.out and "sealer: error" not in result.err


@pytest.fixture
def binary_file(demo: Demo) -> Demo:
    (demo.dir / "blob.bin").write_bytes(b"\x00\x01\xfe\xff binary")
    result = demo.run("set", "bin.sealed.yaml", "blob", "--type", "bytes", "--from-file",
                      "blob.bin", "-r", demo.recipient)
    assert result.code == 0, result.err
    return demo


def test_binary_get_to_a_terminal_is_refused(binary_file: Demo) -> None:
    code, shown, err = run_on_terminal(binary_file, "get", "bin.sealed.yaml", "blob",
                                       "-i", "alice.key")
    assert (code, shown) == (2, b"")
    assert err == ("sealer: error: refusing to print binary data to a terminal\n"
                   "sealer: hint: redirect the output to a file, or pass --force\n")


def test_binary_get_to_a_terminal_with_force(binary_file: Demo) -> None:
    code, shown, err = run_on_terminal(binary_file, "get", "bin.sealed.yaml", "blob",
                                       "--force", "-i", "alice.key")
    assert (code, err) == (0, "")
    assert b"binary" in shown  # the terminal may translate bytes; the value got there


def test_binary_get_to_a_pipe_is_byte_exact(binary_file: Demo) -> None:
    result = binary_file.run("get", "bin.sealed.yaml", "blob", "-i", "alice.key")
    assert (result.code, result.err) == (0, "")
    assert result.raw_out == b"\x00\x01\xfe\xff binary"


def test_text_get_to_a_terminal_ends_with_a_newline(demo: Demo) -> None:
    code, shown, err = run_on_terminal(demo, "get", "app.sealed.yaml", "db.password",
                                       "-i", "alice.key")
    assert (code, err) == (0, "")
    assert shown.replace(b"\r\n", b"\n") == b"c0rrect-horse\n"


def test_unseal_output_replaces_a_readable_file_with_a_private_one(demo: Demo) -> None:
    target = demo.dir / "out.yaml"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o644)
    result = demo.run("unseal", "app.sealed.yaml", "-o", "out.yaml", "-i", "alice.key")
    assert result.code == 0, result.err
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text(encoding="utf-8") == EXAMPLE


def test_keygen_default_location_and_permissions(demo: Demo, isolated_home: Path) -> None:
    result = demo.run("keygen")
    path = isolated_home / ".config" / "sealer" / "keys.txt"
    assert result.code == 0, result.err
    assert result.err == f"sealer: wrote a new identity to {path}; keep it secret and back it up\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    again = demo.run("keygen")
    assert again.code == 1 and again.err.startswith(f"sealer: error: {path}: already exists")
    assert path.read_text(encoding="ascii").count("AGE-SECRET-KEY-") == 1
