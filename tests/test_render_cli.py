"""CLI transcripts for `sealer render`: the command, its stdin and environment, and the exact
exit code, stdout and stderr of the real `sealer` process, for the main success paths and for
every error a user can cause. A failing command must leave every file as it was: in
particular a render that fails half way (a missing second file, a bad key, a template error)
leaves the previous output `out.env` untouched and no temporary file behind.

Commands run in a private copy of the demo directory (cli_helpers.Demo). @SECRET@ is the demo
private key, @RSHORT@ the shortened demo recipient, @HOME@ the test's $HOME.
"""

from __future__ import annotations

import re
import shlex
import stat
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import (
    LOOKED_IN,
    Demo,
    T,
    check,
    run_on_terminal,
    start,
    substitute,
)

from sealer.core import seal
from sealer.discovery import discover_identities
from sealer.keys import parse_recipient
from sealer.render import RenderSpec, render, write_output

pytest_plugins = ["cli_fixtures"]

DOTENV = """\
# Rendered by sealer from app.sealed.yaml. Plaintext secrets: do not edit, do not commit.
db_host='db.internal.example.com'
db_port='5432'
db_password='c0rrect-horse'
api_token='tok-9f8e7d'
flags_enabled='true'
flags_zip='01234'
admins_0='alice@example.com'
admins_1='bob@example.com'
"""
PROD = "# Rendered by sealer from app.sealed.yaml, prod.sealed.yaml. Plaintext secrets: do " \
       "not edit, do not commit.\n"
SECRET_YAML = re.compile(r"""apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: prod
  labels:
    app: web
  annotations:
    sealer.dev/content-hmac-sha256: [0-9a-f]{64}
type: kubernetes.io/basic-auth
stringData:
  username: admin
  password: c0rrect-horse
""")
FORMATS = ("dotenv, dotenv-literal, shell, systemd, json, yaml, k8s, template, github, files, "
           "sops")
OVERRIDE = ("sealer: hint: a key may be defined in one file only; to let later files override "
            "earlier ones, pass --allow-override\n")
ENV_NAME_HINT = ("sealer: hint: environment names are letters, digits and _, not starting with "
                 "a digit; rename the key, or pass --prefix\n")



K = "-i alice.key"
SUCCESS = [
    T("dotenv-to-file", f"render app.sealed.yaml -f dotenv -o new.env {K}", 0,
      "sealer: app.sealed.yaml -> new.env (dotenv, mode 0600)\n"),
    T("dotenv-replaces-old-output", f"render app.sealed.yaml -f dotenv -o out.env {K}", 0,
      "sealer: app.sealed.yaml -> out.env (dotenv, mode 0600)\n"),
    T("dotenv-stdout", f"render app.sealed.yaml -f dotenv --stdout {K}", 0, "", DOTENV),
    T("shell-select-prefix-upper",
      f"render app.sealed.yaml --select db -f shell --prefix PG_ --upper --stdout {K}", 0, "",
      "# Rendered by sealer from app.sealed.yaml. Plaintext secrets: do not edit, do not "
      "commit.\nexport PG_HOST='db.internal.example.com'\nexport PG_PORT='5432'\n"
      "export PG_PASSWORD='c0rrect-horse'\n"),
    T("overlay-with-override", "render app.sealed.yaml prod.sealed.yaml --allow-override "
      f"--select db -f systemd --stdout {K}", 0, "",
      PROD + 'host="db.internal.example.com"\nport="5432"\npassword="pr0d-pa\\$\\$"\n'),
    T("json-identity-on-stdin", "render app.sealed.yaml --select api -f json --stdout -i -", 0,
      "", '{\n  "token": "tok-9f8e7d"\n}\n', stdin="@SECRET@\n"),
    T("yaml-identity-from-env", "render app.sealed.yaml --select flags -f yaml --stdout", 0, "",
      "enabled: true\nzip: '01234'\n", env={"SEALER_IDENTITY": "@SECRET@"}),
    T("k8s-secret", "render prod.sealed.yaml --select creds -f k8s "
      "--name db-creds --namespace prod --label app=web --type kubernetes.io/basic-auth "
      f"--string-data --stdout {K}", 0, "", SECRET_YAML),
    T("template", f"render app.sealed.yaml -t app.conf.j2 --stdout {K}", 0, "",
      "host db.internal.example.com:5432\nurl postgres://app:c0rrect-horse@db/app\n"),
    T("github-env", f"render app.sealed.yaml --select api -f github --upper {K}", 0,
      "sealer: app.sealed.yaml -> gh.env (appended; values masked in the log)\n",
      "::add-mask::tok-9f8e7d\n", env={"GITHUB_ENV": "gh.env", "GITHUB_ACTIONS": "true"}),
    T("github-output-file", f"render app.sealed.yaml --select api -f github -o out.txt {K}", 0,
      "sealer: app.sealed.yaml -> out.txt (appended)\n"),  # not in Actions: no masks
    T("check-up-to-date", f"render app.sealed.yaml -f dotenv -o current.env --check {K}", 0,
      "sealer: current.env: up to date\n"),
]

ERRORS = [
    # where the output goes
    T("no-format", f"render app.sealed.yaml -o out.env {K}", 2,
      f"sealer: error: no --format given\nsealer: hint: use one of: {FORMATS}\n"),
    T("unknown-format", f"render app.sealed.yaml -f xml -o out.env {K}", 2,
      f"sealer: error: unknown format 'xml'\nsealer: hint: use one of: {FORMATS}\n"),
    T("no-output", f"render app.sealed.yaml -f dotenv {K}", 2,
      "sealer: error: no output file\nsealer: hint: pass -o FILE, or --stdout to print\n"),
    T("check-without-output", f"render app.sealed.yaml -f dotenv --check {K}", 2,
      "sealer: error: --check needs the file to compare with\nsealer: hint: pass -o FILE\n"),
    T("stdout-and-output", f"render app.sealed.yaml -f dotenv --stdout -o out.env {K}", 2,
      "sealer: error: --stdout prints the output; it cannot go with -o/--output\n"),
    T("stdout-and-check", f"render app.sealed.yaml -f dotenv --stdout --check {K}", 2,
      "sealer: error: --stdout prints the output; it cannot go with --check\n"),
    T("github-stdout", f"render app.sealed.yaml -f github --stdout {K}", 2,
      "sealer: error: --stdout does not apply to the github format\n"
      "sealer: hint: it appends to $GITHUB_ENV, or to -o FILE\n"),
    T("github-check", f"render app.sealed.yaml -f github --check {K}", 2,
      "sealer: error: --check does not apply to the github format\n"
      "sealer: hint: it appends to $GITHUB_ENV, or to -o FILE\n"),
    T("github-outside-actions", f"render app.sealed.yaml -f github {K}", 2,
      "sealer: error: $GITHUB_ENV is not set\n"
      "sealer: hint: run this in a GitHub Actions step, or pass -o FILE\n"),
    T("github-output-outside-actions", f"render app.sealed.yaml -f github --github-output {K}", 2,
      "sealer: error: $GITHUB_OUTPUT is not set\n"
      "sealer: hint: run this in a GitHub Actions step, or pass -o FILE\n"),
    T("over-the-input", f"render app.sealed.yaml -f dotenv -o app.sealed.yaml {K}", 2,
      "sealer: error: app.sealed.yaml: refusing to overwrite a sealed file with plaintext\n"
      "sealer: hint: choose another -o path\n"),
    T("over-another-sealed-file", f"render app.sealed.yaml -f json -o prod.sealed.yaml {K}", 2,
      "sealer: error: prod.sealed.yaml: refusing to overwrite a sealed file with plaintext\n"
      "sealer: hint: choose another -o path\n"),
    # options of another format
    T("k8s-option-on-dotenv", f"render app.sealed.yaml -f dotenv --namespace x -o out.env {K}", 2,
      "sealer: error: Secret options (--name, --namespace, --type, --label, --annotation, "
      "--string-data): not used by the dotenv format\nsealer: hint: it applies to: k8s\n"),
    T("naming-option-on-json", f"render app.sealed.yaml -f json --upper -o out.env {K}", 2,
      "sealer: error: key naming options (--prefix, --separator, --upper): not used by the json "
      "format\nsealer: hint: it applies to: dotenv, dotenv-literal, shell, systemd, github, k8s, "
      "files\n"),
    T("template-with-other-format", f"render app.sealed.yaml -f yaml -t app.conf.j2 -o out.env "
      f"{K}", 2, "sealer: error: a template file (--template): not used by the yaml format\n"
      "sealer: hint: it applies to: template\n"),
    T("template-format-without-template", f"render app.sealed.yaml -f template -o out.env {K}", 2,
      "sealer: error: the template format needs a template file\n"
      "sealer: hint: pass --template FILE\n"),
    T("bad-separator", f"render app.sealed.yaml -f dotenv --separator - -o out.env {K}", 2,
      "sealer: error: the key separator '-' would make invalid names for dotenv\n"
      "sealer: hint: environment names use letters, digits and _; Kubernetes keys also - and .\n"),
    T("bad-label", f"render app.sealed.yaml -f k8s --label app -o out.env {K}", 2,
      "sealer: error: --label takes KEY=VALUE, not 'app'\n"),
    T("bad-secret-name", f"render app.sealed.yaml -f k8s --name Db_Creds -o out.env {K}", 2,
      "sealer: error: invalid Kubernetes name 'Db_Creds'\nsealer: hint: use lowercase letters, "
      "digits, - and ., at most 253 characters, starting and ending with a letter or digit; or "
      "pass --name\n"),
    T("bad-select-path", f"render app.sealed.yaml -f dotenv --select 'db[' -o out.env {K}", 2,
      "sealer: error: invalid key path 'db[': invalid list index at position 3; use [0], [1], …\n"
      'sealer: hint: write paths like db.password, users[0].name or "key.with.dots".field\n'),
    # inputs: a failure half way writes nothing
    T("second-file-missing", f"render app.sealed.yaml nope.sealed.yaml -f dotenv -o out.env {K}",
      1, "sealer: error: nope.sealed.yaml: no such file\nsealer: hint: check the path\n"),
    T("key-defined-twice", f"render app.sealed.yaml prod.sealed.yaml -f dotenv -o out.env {K}", 1,
      "sealer: error: prod.sealed.yaml: db.password is already defined in app.sealed.yaml\n"
      + OVERRIDE),
    T("bad-key-name", f"render app.sealed.yaml bad.sealed.yaml -f dotenv -o out.env {K}", 1,
      "sealer: error: bad.sealed.yaml: cache.host-name: 'cache_host-name' is not a valid "
      "environment variable name\n" + ENV_NAME_HINT),
    T("select-missing", f"render app.sealed.yaml --select nope -f dotenv -o out.env {K}", 1,
      "sealer: error: no key nope in app.sealed.yaml\nsealer: hint: --select takes the key path "
      "of a mapping; `sealer show FILE` lists the keys\n"),
    T("select-a-value", f"render app.sealed.yaml --select db.port -f dotenv -o out.env {K}", 1,
      "sealer: error: app.sealed.yaml: db.port: not a mapping of keys\n"
      "sealer: hint: --select takes the key path of a mapping\n"),
    T("template-syntax", f"render app.sealed.yaml -t broken.j2 -o out.env {K}", 1,
      "sealer: error: broken.j2: line 2: unexpected '}'\n"
      "sealer: hint: fix the template (Jinja2 syntax)\n"),
    T("template-undefined", f"render app.sealed.yaml -t undefined.j2 -o out.env {K}", 1,
      "sealer: error: undefined.j2: line 3: 'passwrd' is undefined\n"
      "sealer: hint: `sealer show FILE` lists the keys; write `secrets[\"a.b\"]` for keys that "
      "are not identifiers\n"),
    T("template-missing", f"render app.sealed.yaml -t nope.j2 -o out.env {K}", 1,
      "sealer: error: nope.j2: no such file\nsealer: hint: check the path\n"),
    T("k8s-tls-keys", f"render app.sealed.yaml -f k8s --type kubernetes.io/tls -o out.env {K}", 1,
      "sealer: error: app.sealed.yaml: a kubernetes.io/tls Secret needs the keys tls.crt and "
      "tls.key\nsealer: hint: Secret keys are the sealed keys' names, flattened (db.password "
      "becomes db_password); --select a mapping that holds them\n"),
    # keys and integrity
    T("no-identity", "render app.sealed.yaml -f dotenv -o out.env", 3,
      f"sealer: error: app.sealed.yaml: no identity found to decrypt with\n"
      f"sealer: hint: it is sealed for @RSHORT@; {LOOKED_IN}\n"),
    T("wrong-identity", "render app.sealed.yaml -f dotenv -o out.env -i mallory.key", 3,
      "sealer: error: app.sealed.yaml: not sealed for any of your identities (from "
      "mallory.key)\nsealer: hint: the file is sealed for @RSHORT@; ask one of them to run "
      "`sealer recipients add`\n"),
    T("tampered-overlay", f"render app.sealed.yaml tampered.sealed.yaml -f dotenv -o out.env {K}",
      4, "sealer: error: tampered.sealed.yaml: authentication failed: the file is corrupt or "
      "was modified without its key\nsealer: hint: restore it from git (`git checkout -- "
      "FILE`) or ask its owner\n"),
    # --check
    T("check-out-of-date", f"render app.sealed.yaml -f dotenv -o out.env --check {K}", 1,
      "sealer: error: out.env: is out of date\n"
      "sealer: hint: run the same command without --check to write it\n"),
    T("check-missing", f"render app.sealed.yaml -f dotenv -o new.env --check {K}", 1,
      "sealer: error: new.env: does not exist\n"
      "sealer: hint: run the same command without --check to write it\n"),
]


def seal_for_demo(demo: Demo, name: str, data: dict[str, object]) -> None:
    path = demo.dir / name
    document = seal(data, recipients=[parse_recipient(demo.recipient)], source=str(path))
    path.write_text(document.to_yaml(), encoding="utf-8")


@pytest.fixture
def files(demo: Demo) -> Demo:
    """The demo directory, an overlay, a file with a bad key name, templates, a tampered copy,
    an old output (`out.env`) and an up-to-date one (`current.env`)."""
    seal_for_demo(demo, "prod.sealed.yaml", {"db": {"password": "pr0d-pa$$"},
                                             "creds": {"username": "admin",
                                                       "password": "c0rrect-horse"}})
    seal_for_demo(demo, "bad.sealed.yaml", {"cache": {"host-name": "c"}})
    (demo.dir / "app.conf.j2").write_text(
        "host {{ db.host }}:{{ db.port }}\n"
        "url postgres://app:{{ db.password | urlquote }}@db/app\n", encoding="utf-8")
    (demo.dir / "broken.j2").write_text("ok\n{{ db.password }\n", encoding="utf-8")
    (demo.dir / "undefined.j2").write_text("a\nb\n{{ db.passwrd }}\n", encoding="utf-8")
    text = demo.sealed.read_text(encoding="utf-8")
    start = text.index("ENC[str,") + 12
    flipped = "B" if text[start] == "A" else "A"
    (demo.dir / "tampered.sealed.yaml").write_text(text[:start] + flipped + text[start + 1:],
                                                   encoding="utf-8")
    (demo.dir / "out.env").write_text("OLD=1\n", encoding="utf-8")
    current = render([demo.sealed], RenderSpec("dotenv", output=demo.dir / "current.env"),
                     discover_identities([str(demo.key)]))
    write_output(current._replace(output=demo.dir / "current.env"))
    return demo


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(directory)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("t", SUCCESS + ERRORS, ids=lambda t: t.id)
def test_transcript(t: T, files: Demo, isolated_home: Path) -> None:
    before = snapshot(files.dir)
    args = [substitute(a, files, isolated_home) for a in shlex.split(t.args)]
    stdin = substitute(t.stdin, files, isolated_home) if isinstance(t.stdin, str) else t.stdin
    env: dict[str, str | None] = {"GITHUB_ENV": None, "GITHUB_OUTPUT": None,
                                  "GITHUB_ACTIONS": None}
    env.update({k: substitute(v, files, isolated_home) for k, v in t.env.items()})
    result = files.run(*args, input=stdin, env=env)
    assert result.code == t.code, result.err
    check(result.err, t.err, files, isolated_home)
    check(result.out, t.out, files, isolated_home)
    if t.code != 0:
        assert snapshot(files.dir) == before, "a failing command changed a file"


def test_every_error_is_one_error_line_and_at_most_one_hint() -> None:
    for t in ERRORS:
        assert isinstance(t.err, str)
        lines = t.err.splitlines()
        assert lines[0].startswith("sealer: error: ") and not lines[0].endswith("."), t.id
        assert all(line.startswith("sealer: hint: ") for line in lines[1:]), t.id
        assert len(lines) <= 2, t.id


def test_outputs_are_written_private(files: Demo) -> None:
    (files.dir / "out.env").chmod(0o644)
    for target in ("out.env", "deploy/prod/app.env"):
        result = files.run("render", "app.sealed.yaml", "-f", "dotenv", "-o", target,
                           "-i", "alice.key")
        assert result.code == 0, result.err
        path = files.dir / target
        assert path.read_text() == DOTENV
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in ("deploy", "deploy/prod"):
        assert stat.S_IMODE((files.dir / directory).stat().st_mode) == 0o700


def test_check_passes_after_a_render_and_fails_after_a_change(files: Demo) -> None:
    args = ["render", "app.sealed.yaml", "-f", "k8s", "-o", "secret.yaml", "-i", "alice.key"]
    assert files.run(*args).code == 0
    assert files.run(*args, "--check").code == 0  # the digest is deterministic
    assert files.run("set", "app.sealed.yaml", "db.port", "6543", "-i", "alice.key").code == 0
    result = files.run(*args, "--check")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("sealer: error: secret.yaml: is out of date\n")


def test_github_appends_and_masks_before_writing(files: Demo) -> None:
    """The masks reach stdout before the file is written: with a value larger than a pipe's
    buffer, sealer blocks writing its masks until this test reads them, and until then the
    (regular) file the runner made is still empty."""
    big = "x" * 200_000
    seal_for_demo(files, "big.sealed.yaml", {"big": big, "db": {"password": "c0rrect-horse"}})
    github_env = files.dir / "github_env"
    github_env.write_bytes(b"")
    proc = start("render", "big.sealed.yaml", "-f", "github", "--upper", "-i", "alice.key",
                 env={"GITHUB_ENV": str(github_env), "GITHUB_ACTIONS": "true"}, cwd=files.dir)
    assert proc.stdout is not None
    guard = threading.Timer(30, proc.kill)  # a hang fails the test, not the suite
    guard.start()
    first = proc.stdout.read(1000)
    time.sleep(0.5)  # sealer is blocked on the rest of its masks
    assert first.startswith(b"::add-mask::xxx") and github_env.read_bytes() == b""
    rest = proc.stdout.read()
    guard.cancel()
    assert proc.wait(timeout=30) == 0
    masks = (first + rest).splitlines()
    assert masks == [b"::add-mask::" + big.encode(), b"::add-mask::c0rrect-horse"]
    written = github_env.read_bytes()
    assert written == f"BIG={big}\nDB_PASSWORD=c0rrect-horse\n".encode()
    assert proc.stderr is not None and b"c0rrect-horse" not in proc.stderr.read()


def test_secrets_are_not_printed_to_a_terminal(files: Demo) -> None:
    args = ("render", "app.sealed.yaml", "-f", "dotenv", "--stdout", "-i", "alice.key")
    code, shown, err = run_on_terminal(files, *args)
    assert (code, shown) == (2, b"")
    assert err == ("sealer: error: refusing to print secrets to a terminal\n"
                   "sealer: hint: redirect stdout to a file or a pipe, or pass --force\n")
    code, shown, err = run_on_terminal(files, *args, "--force")
    assert code == 0 and b"c0rrect-horse" in shown and err == ""


def test_render_help_has_examples(files: Demo) -> None:
    for command in ("render", "exec"):
        result = files.run(command, "--help")
        assert result.code == 0 and "Examples:" in result.out
    assert "-- CMD [ARGS]..." in files.run("exec", "--help").out
