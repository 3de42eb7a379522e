"""The README's examples work as written: every command of every ```sh block, and the ```python
block, runs in README order and exits as the README says.

The examples are read from README.md when the tests run, never copied here. Each command line
(continuation lines joined, `# comments` dropped: they are documentation) runs with bash, in a
section's own sandbox: a real git repository as the working directory, the isolated HOME of
tests/conftest.py, this checkout's venv first on PATH, and a world built for the section (WORLDS)
holding what its examples name — app.sealed.yaml, ci.key, an SSH key made by ssh-keygen, a
`feature` branch, an `origin/main`, a real PostgreSQL server for the rotation examples, …
Commands that need more (a value on stdin, an editor, a state the README describes next to
them) get it from STEPS, keyed by the command. The only rewriting of a command is PLACEHOLDERS
(`age1alice…` becomes a real key of the sandbox); what cannot run in a sandbox is in EXEMPT
with the reason. `test_every_example_is_run_or_exempt` fails for a README example that is
neither, so a new example needs a world (or an exemption) before the suite passes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cli_helpers import Editor, assert_no_traceback, sealer_env
from conftest import ROOT, require_tool, unavailable
from git_helpers import git
from hook_helpers import new_repository

from sealer.discovery import keygen
from sealer.files import get_value, seal_file, set_value
from sealer.keys import parse_recipient
from sealer.rotation.protocol import configure_rotation, rotate

if TYPE_CHECKING:
    from pg_server import PostgresApp

pytest_plugins = ["pg_server"]

README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # this checkout's venv: `sealer`, `pre-commit`, `python`
TIMEOUT = 120  # a safety net: every command here takes a few seconds at most


# -- the examples, as README.md has them ------------------------------------------------------

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{2,3} (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    """One command line of a ```sh block (as run), or a whole ```python block."""

    section: str  # the README heading it is under
    line: int  # its line in README.md
    text: str
    language: str  # "sh" or "python"

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def strip_comment(line: str) -> str:
    """`line` without its `# comment`: a # that starts a word outside quotes, as in sh."""
    quote, escaped = "", False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def shell_commands(body: str, first_line: int) -> list[tuple[int, str]]:
    """(line, command) for each command of a shell block; a line ending in a backslash
    continues on the next, comment-only and blank lines are no command."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(body.splitlines(), start=first_line):
        code = strip_comment(raw)
        if not pending:
            start = number
        if code.endswith("\\"):
            pending += code[:-1].strip() + " "
            continue
        command = (pending + code.strip()).strip()
        pending = ""
        if command:
            out.append((start, command))
    assert not pending, f"README.md:{start}: a continuation line ends the block"
    return out


def readme_examples(readme: str) -> list[Example]:
    headings = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(readme)]
    out: list[Example] = []
    for fence in FENCE.finditer(readme):
        language, body = fence.group(1), fence.group(2)
        if language not in ("sh", "python"):
            continue  # yaml, and output shown as text
        section = next((h for at, h in reversed(headings) if at < fence.start()), "")
        first = readme.count("\n", 0, fence.start()) + 2
        if language == "python":
            out.append(Example(section, first, body, language))
        else:
            out += [Example(section, n, c, language) for n, c in shell_commands(body, first)]
    return out


def readme_yaml_block(containing: str) -> str:
    """The README's ```yaml block holding `containing` (the pre-commit configuration)."""
    text = README.read_text(encoding="utf-8")
    found = [m.group(2) for m in FENCE.finditer(text)
             if m.group(1) == "yaml" and containing in m.group(2)]
    assert len(found) == 1, f"README.md has {len(found)} yaml blocks with {containing!r}"
    return found[0]


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))


# -- the sandbox ------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """Where a section's examples run. `repo` is the working directory (a git repository on
    `main`); `scratch` is outside it (other people's keys, the editor, /etc's overlay)."""

    repo: Path
    home: Path
    scratch: Path
    request: pytest.FixtureRequest
    env: dict[str, str] = field(default_factory=dict)
    recipients: dict[str, str] = field(default_factory=dict)  # name -> public key
    notes: dict[str, Any] = field(default_factory=dict)  # what a world leaves for its steps

    def key(self, name: str, path: Path | None = None) -> str:
        """A new age identity (`path`, else the default ~/.config/sealer/keys.txt) known to the
        sandbox as `name`; its recipient."""
        _, recipient = keygen(path, now=datetime.now(UTC))
        self.recipients[name] = recipient
        return recipient

    def seal(self, name: str, text: str, *recipients: str) -> Path:
        """`text` (YAML) sealed into `repo/name` for the named recipients."""
        out = self.repo / name
        out.parent.mkdir(parents=True, exist_ok=True)
        seal_file(text.encode(), out, source=name,
                  recipients=[parse_recipient(self.recipients[r]) for r in recipients])
        return out

    def write(self, name: str, text: str, mode: int = 0o644) -> Path:
        path = self.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        return path

    def commit(self, message: str, *names: str) -> None:
        git(self.repo, "add", "--", *names)
        git(self.repo, "commit", "-qm", message)

    def value(self, name: str, key: str) -> Any:
        return get_value(self.repo / name, key)


def ssh_key(sb: Sandbox) -> None:
    """~/.ssh/id_ed25519, made by the real ssh-keygen; known as "ssh"."""
    keygen_tool = require_tool("ssh-keygen")
    ssh = sb.home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    subprocess.run([keygen_tool, "-q", "-t", "ed25519", "-N", "", "-C", "you@example.com",
                    "-f", str(ssh / "id_ed25519")], check=True, capture_output=True,
                   timeout=TIMEOUT)
    pub = (ssh / "id_ed25519.pub").read_text(encoding="utf-8").split()
    sb.recipients["ssh"] = " ".join(pub[:2])


def you(sb: Sandbox) -> None:
    """Your keys: ~/.ssh/id_ed25519, and your age key where `sealer keygen` writes it."""
    ssh_key(sb)
    sb.key("you")


APP = """\
database:
  host: db.internal.example.com
  port: 5432
  password: c0rrect-horse
api:
  token: tok-9f8e7d
  legacy_token: tok-0ld-1e6acy
admins:
- alice@example.com
- bob@example.com
"""


def app(sb: Sandbox, *recipients: str) -> None:
    """You and a CI deploy key (ci.key), app.yaml, and app.sealed.yaml sealed for both (and
    for `recipients`)."""
    you(sb)
    sb.key("ci", sb.repo / "ci.key")
    sb.write("app.yaml", APP, 0o600)
    sb.seal("app.sealed.yaml", APP, "you", "ci", *recipients)


# -- the worlds, one per README section -------------------------------------------------------


def start_a_project(sb: Sandbox) -> None:
    you(sb)


def create_a_key(sb: Sandbox) -> None:
    """Nothing yet: `sealer keygen` makes the first key."""


def seal_a_file(sb: Sandbox) -> None:
    app(sb)
    (sb.repo / "app.sealed.yaml").unlink()
    sb.write("team-recipients.txt", f"{sb.recipients['you']}\n{sb.recipients['ci']}\n")


def change_secrets(sb: Sandbox) -> None:
    require_tool("openssl")
    app(sb)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (sb.repo / "key.pem").write_bytes(pem)
    (sb.repo / "key.pem").chmod(0o600)
    editor = Editor(sb.scratch / "editor")
    editor.does(("port: 5433", "port: 5434"))
    sb.notes["editor"] = editor


def key_groups(sb: Sandbox) -> None:
    """You, CI and a teammate (new.key): one key group each."""
    sb.key("new", sb.scratch / "new.key")
    app(sb)


def manage_recipients(sb: Sandbox) -> None:
    sb.key("old", sb.scratch / "old.key")  # a teammate who leaves: a recipient so far
    sb.key("new", sb.scratch / "new.key")  # a teammate who joins
    app(sb, "old")
    sb.seal("secrets/db.sealed.yaml", "password: pw-1\n", "you", "ci")
    sb.seal("secrets/api.sealed.yaml", "token: tok-1\n", "you", "ci")


CHECK_CONFIG = """\
version: 1
principals:
  you: {you}
  ci: {ci}
environments:
  prod:
    recipients: [you, ci]
creation_rules:
  - path: secrets/**
    environment: prod
"""


def check_secrets(sb: Sandbox) -> None:
    """A project with sealer.yaml, sealed files committed and pushed to origin/main, one more
    change committed since (the pull request), and a file ci.key cannot open."""
    you(sb)
    sb.key("ci", sb.repo / "ci.key")
    sb.write("sealer.yaml", CHECK_CONFIG.format(**sb.recipients))
    sb.seal("secrets/db.sealed.yaml", "password: pw-1\nusername: app\n", "you", "ci")
    sb.seal("secrets/api.sealed.yaml", "token: tok-1\n", "you", "ci")
    sb.seal("notes.sealed.yaml", "wifi: hunter2\n", "you")  # ci.key is no recipient
    sb.commit("secrets", "sealer.yaml", "secrets", "notes.sealed.yaml")
    origin = sb.scratch / "origin.git"
    git(sb.scratch, "init", "-q", "--bare", "-b", "main", str(origin))
    git(sb.repo, "remote", "add", "origin", str(origin))
    git(sb.repo, "push", "-q", "-u", "origin", "main")
    set_value(sb.repo / "secrets/db.sealed.yaml", "password", "pw-2")
    sb.commit("a new password", "secrets/db.sealed.yaml")


def pre_commit_config(sb: Sandbox) -> None:
    """The README's `repo: local` configuration (sealer from PATH: nothing to download for
    `autoupdate` or for the hooks), committed. tests/test_precommit.py runs the remote-repository
    snippet, with its URL pointed at a copy of this checkout."""
    sb.write(".pre-commit-config.yaml", readme_yaml_block("repo: local"))
    sb.commit("pre-commit hooks", ".pre-commit-config.yaml")


TARGETS_CONFIG = """\
version: 1
principals:
  you: {you}
  ci: {ci}
environments:
  prod:
    recipients: [you, ci]
creation_rules:
  - path: secrets/prod/**
    environment: prod
targets:
  - name: api-env
    environment: prod
    files: [secrets/prod/api.sealed.yaml]
    format: dotenv
    output: build/api.env
  - name: api-secret
    environment: prod
    files: [secrets/prod/api.sealed.yaml]
    format: k8s
    output: build/api-secret.yaml
    kubernetes: {{name: api, namespace: prod}}
"""

MANAGE_PY = """\
#!{python}
import os, sys
if sys.argv[1:] != ["migrate"] or not os.environ.get("database_password"):
    sys.exit("manage.py: no database_password in the environment")
print("migrated")
"""


REAL_NGINX_CONF = Path("/etc/nginx/conf.d/app.conf")


def deploy(sb: Sandbox) -> None:
    app(sb)
    sb.notes["had_nginx_conf"] = REAL_NGINX_CONF.exists()
    sb.seal("base.sealed.yaml", "LOG_LEVEL: info\nDB_HOST: db.internal\n", "you", "ci")
    sb.seal("prod.sealed.yaml", "DB_HOST: db.prod.internal\n", "you", "ci")
    sb.write("nginx.conf.j2", "# upstream credentials\n"
             "proxy_set_header Authorization \"Bearer {{ api.token }}\";\n")
    sb.write("manage.py", MANAGE_PY.format(python=sys.executable), 0o755)
    sb.write("sealer.yaml", TARGETS_CONFIG.format(**sb.recipients))
    sb.seal("secrets/prod/api.sealed.yaml", "API_TOKEN: tok-prod\n", "you", "ci")


def yaml_of(data: Mapping[str, Any]) -> str:
    from sealer import yamlio

    return yamlio.dump(dict(data))


def rotate_secrets(sb: Sandbox) -> None:
    """db.sealed.yaml holds a real PostgreSQL server's application login (`db`, AWS's RDS
    shape) and its superuser (`admin`); secrets/ holds a token whose rotation is overdue (last
    rotated 60 days ago, every 30 days). The host trusts unsigned rotation settings and talks
    to the test server without TLS, as tests/test_rotation_postgres.py explains."""
    pg: PostgresApp = sb.request.getfixturevalue("postgres_app")
    you(sb)
    sb.env.update(SEALER_TRUST_UNSIGNED_ROTATORS="1", PGSSLMODE="disable")
    secret, admin = pg.secret, pg.server.admin_secret(pg.dbname)
    sb.seal("db.sealed.yaml", yaml_of({"db": secret, "admin": admin}), "you")
    token = sb.seal("secrets/api.sealed.yaml", "token: tok-1\n", "you")
    configure_rotation(token, "token", every="30d")
    rotate(token, "token", now=datetime.now(UTC) - timedelta(days=60))
    sb.notes["pg"] = pg


def signed_seals(sb: Sandbox) -> None:
    """Files sealed before sealer.yaml required a signature from your SSH key."""
    you(sb)
    for name in ("db", "api"):
        sb.seal(f"secrets/prod/{name}.sealed.yaml", f"{name}_secret: s-{name}\n", "you", "ssh")
    sb.write("sealer.yaml", "version: 1\nprincipals:\n"
             f"  you: {sb.recipients['you']}\n  you-ssh: {sb.recipients['ssh']}\n"
             "environments:\n  prod:\n    recipients: [you, you-ssh]\n    signers: [you-ssh]\n"
             "    require_signature: true\n"
             "creation_rules:\n  - path: secrets/prod/**\n    environment: prod\n")


def review_and_merge(sb: Sandbox) -> None:
    """app.sealed.yaml committed on main; `feature` changed api.token, main changed
    database.port since; database.password changed in the working tree (for `git diff`)."""
    app(sb)
    sealed = sb.repo / "app.sealed.yaml"
    sb.commit("app secrets", "app.sealed.yaml")
    git(sb.repo, "checkout", "-q", "-b", "feature")
    set_value(sealed, "api.token", "tok-from-feature")
    sb.commit("a new token", "app.sealed.yaml")
    git(sb.repo, "checkout", "-q", "main")
    set_value(sealed, "database.port", 5433)
    sb.commit("another port", "app.sealed.yaml")
    set_value(sealed, "database.password", "changed-on-main")


def history(sb: Sandbox) -> None:
    you(sb)
    db = sb.seal("secrets/prod/db.sealed.yaml", "password: pw-1\nusername: app\n", "you")
    sb.commit("db secrets", "secrets")
    set_value(db, "password", "pw-2")
    sb.commit("rotate the password", "secrets")
    set_value(db, "username", "app2")
    sb.commit("rename the user", "secrets")


ACCESS_CONFIG = """\
version: 1
principals:
  you: {you}
  ci: {ci}
  new: {new}
environments:
  prod:
    recipients: [you, ci]
  dev:
    recipients: [you]
    allow: [new]
creation_rules:
  - path: secrets/prod/**
    environment: prod
  - path: secrets/dev/**
    environment: dev
"""


def who_can_read(sb: Sandbox) -> None:
    """prod and dev secrets pushed to origin/main; this branch makes a teammate ("new") a
    reader of dev (not prod: the README's --fail-on read-gain:prod passes), and removes ci from
    prod (so `sealer exposure` has something to show)."""
    you(sb)
    sb.key("ci", sb.scratch / "ci.key")
    sb.key("new", sb.scratch / "new.key")
    sb.write("sealer.yaml", ACCESS_CONFIG.format(**sb.recipients))
    sb.seal("secrets/prod/db.sealed.yaml", "password: pw-1\n", "you", "ci")
    sb.seal("secrets/dev/app.sealed.yaml", "token: tok-1\n", "you")
    sb.commit("secrets", "sealer.yaml", "secrets")
    origin = sb.scratch / "origin.git"
    git(sb.scratch, "init", "-q", "--bare", "-b", "main", str(origin))
    git(sb.repo, "remote", "add", "origin", str(origin))
    git(sb.repo, "push", "-q", "-u", "origin", "main")
    git(sb.repo, "checkout", "-q", "-b", "feature")
    sb.seal("secrets/dev/app.sealed.yaml", "token: tok-1\n", "you", "new")
    sb.commit("new reads dev", "secrets")
    sb.seal("secrets/prod/db.sealed.yaml", "password: pw-1\n", "you")
    sb.commit("ci no longer reads prod", "secrets")


def audit(sb: Sandbox) -> None:
    """Decryptions logged to the default audit log (~/.local/state/sealer/audit.log)."""
    you(sb)
    db = sb.seal("secrets/prod/db.sealed.yaml", "password: pw-1\n", "you")
    set_value(db, "password", "pw-2")
    assert get_value(db, "password") == "pw-2"


def serving(sb: Sandbox) -> None:
    """`sealer serve secrets/` running in the background, as the README starts it (on its
    default port), with the token in $XDG_RUNTIME_DIR/sealer/serve.token."""
    import time

    you(sb)
    sb.seal("secrets/prod/db.sealed.yaml", "username: app\npassword: pw-1\n", "you")
    runtime = sb.scratch / "run"
    runtime.mkdir(mode=0o700)
    sb.env["XDG_RUNTIME_DIR"] = str(runtime)
    proc = subprocess.Popen([str(BIN / "sealer"), "serve", "secrets/"], cwd=sb.repo,
                            env=sb.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)

    def stop() -> None:
        proc.terminate()
        proc.communicate(timeout=30)

    sb.request.addfinalizer(stop)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line or "on http://" in line:
            break
    assert line and "http://127.0.0.1:2773" in line, line


def serve_env(sb: Sandbox) -> dict[str, str]:
    """What the README says to put in the application's environment."""
    token = Path(sb.env["XDG_RUNTIME_DIR"], "sealer", "serve.token").read_text().strip()
    return {"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:2773",
            "AWS_ACCESS_KEY_ID": "sealer", "AWS_SECRET_ACCESS_KEY": token,
            "AWS_DEFAULT_REGION": "us-east-1"}


def coming_from_sops(sb: Sandbox) -> None:
    """A SOPS repository: .sops.yaml for your age key, secrets/ encrypted by the real sops."""
    from sops_helpers import sops

    from sealer.discovery import default_identity_path

    recipient = sb.key("you")
    key = default_identity_path().read_text()
    sb.write(".sops.yaml", f"creation_rules:\n  - path_regex: secrets/.*\n    age: {recipient}\n")
    for name, text in [("app.yaml", "db:\n  password: pw-1\n"), ("api.env", "TOKEN=t0k\n")]:
        sb.write(f"secrets/{name}", text)
        sb.write(f"secrets/{name}", sops("encrypt", f"secrets/{name}", key=key,
                                         cwd=sb.repo).decode())


WORLDS: dict[str, Callable[[Sandbox], None]] = {
    "Start a project": start_a_project,
    "Create a key and share its public half": create_a_key,
    "Seal a file": seal_a_file,
    "Read secrets": app,
    "Change secrets": change_secrets,
    "Manage who can decrypt": manage_recipients,
    "Key groups: any 2 of 3 teams": key_groups,
    "Check secrets on every commit and in CI (no key needed)": check_secrets,
    "Deploy: render secrets for what runs": deploy,
    "Serve secrets to AWS SDK clients at run time": serving,
    "Rotate secrets on a schedule": rotate_secrets,
    "Signed seals: who sealed this file?": signed_seals,
    "Generate secrets": app,
    "Review and merge sealed files in git": review_and_merge,
    "Who changed which secret": history,
    "Who can read what": who_can_read,
    "Audit who decrypted what": audit,
    "Coming from SOPS": coming_from_sops,
    "Shell completion": you,
    "Use it from Python": app,
}


# -- what single commands need ----------------------------------------------------------------

# The README's placeholders, and which key of the sandbox each one stands for. Nothing else in
# a command is rewritten.
PLACEHOLDERS = {
    "age1alice…": "you",  # your own key: ~/.config/sealer/keys.txt
    "age1ci…": "ci",  # the CI deploy key: ci.key
    "age1new…": "new",  # a teammate who joins
    "age1old…": "old",  # a teammate who leaves: a recipient of app.sealed.yaml so far
}

# Commands that cannot run in a sandbox, and why.
EXEMPT = {
    "sealer seal app.yaml -r arn:aws:kms:eu-west-1:111122223333:key/"
    "1234abcd-12ab-34cd-56ef-1234567890ab -r age1alice…":
        "needs AWS KMS; tests/test_kms.py runs it against moto",
    "SEALER_KMS_KEYS=111122223333 AWS_PROFILE=deploy sealer get app.sealed.yaml db.password":
        "needs AWS KMS; tests/test_kms.py runs it against moto",
    "python3 -m venv .venv && .venv/bin/pip install -q . && "
    "PATH=\"$PWD/.venv/bin:$PATH\" sh examples/demo.sh":
        "installs sealer from this checkout (with build dependencies from the network); "
        "tests/test_docs.py::test_quick_start_demo_runs runs examples/demo.sh",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest":
        "installs from the network, then runs this test suite: .ci/run's own command",
    ".venv/bin/python -m pytest": "this test suite itself",
    ".venv/bin/ruff check sealer tests bench fuzz && .venv/bin/mypy":
        "the linters over this checkout, not a sandbox: .ci/run runs this line",
    "sealer --install-completion":
        "Typer finds the shell from the parent process, which under a test is python, not a "
        "shell; the two by-hand lines below it, which need no detection, are run",
    "sealer serve secrets/":
        "runs until stopped: the section's world starts this very command in the background "
        "and the lines after it talk to that server",
    "python bench/run.py":
        "benchmarks against sops and dotenvx: minutes long, and neither tool is installed here",
}


@dataclass(frozen=True)
class Step:
    """What one command needs besides its section's world: something done `before` it, its
    `stdin`, `env` on top of the sandbox's, the exit `code` the README gives next to it, a
    private /etc (`etc`), and a check `after` it of what it did."""

    why: str
    before: Callable[[Sandbox], None] | None = None
    stdin: str | None = None
    env: Callable[[Sandbox], dict[str, str]] | None = None
    code: int = 0
    etc: bool = False
    after: Callable[[Sandbox], None] | None = None


def first_seal(sb: Sandbox) -> None:
    (sb.repo / "app.sealed.yaml").unlink(missing_ok=True)


def password_read_from_stdin(sb: Sandbox) -> None:
    assert sb.value("app.sealed.yaml", "database.password") == "n3w-passw0rd"


def editor_env(sb: Sandbox) -> dict[str, str]:
    editor: Editor = sb.notes["editor"]
    return {"SEALER_EDITOR": str(editor.path)}


def edited(sb: Sandbox) -> None:
    editor: Editor = sb.notes["editor"]
    assert len(editor.runs()) == 1
    assert sb.value("app.sealed.yaml", "database.port") == 5434


def out_of_date(sb: Sandbox) -> None:
    set_value(sb.repo / "app.sealed.yaml", "database.password", "changed-since-render")


def rendered_into_etc(sb: Sandbox) -> None:
    conf = sb.scratch / "etc-upper" / "nginx" / "conf.d" / "app.conf"
    assert 'Bearer tok-9f8e7d"' in conf.read_text(encoding="utf-8")
    assert REAL_NGINX_CONF.exists() == sb.notes["had_nginx_conf"], "the real /etc changed"


def rotated(sb: Sandbox) -> None:
    pg: PostgresApp = sb.notes["pg"]
    new = sb.value("db.sealed.yaml", "db")
    assert new["password"] != pg.password
    assert pg.server.can_login(new["username"], new["password"], pg.dbname)


def commit_the_diff(sb: Sandbox) -> None:
    sb.commit("a new password", "app.sealed.yaml")


def merged(sb: Sandbox) -> None:
    assert sb.value("app.sealed.yaml", "api.token") == "tok-from-feature"
    assert sb.value("app.sealed.yaml", "database.password") == "changed-on-main"
    assert git(sb.repo, "status", "--porcelain", "--untracked-files=no").stdout == ""


def completion_written(sb: Sandbox) -> None:
    script = sb.home / ".local/share/bash-completion/completions/sealer"
    assert "complete " in script.read_text(encoding="utf-8")


def fish_completion_written(sb: Sandbox) -> None:
    script = sb.home / ".config/fish/completions/sealer.fish"
    assert "complete --command sealer" in script.read_text(encoding="utf-8")


def python_wrote(sb: Sandbox) -> None:
    assert sb.value("app.sealed.yaml", "api.token") == "new-token"


SEAL_FIRST = "each line is another way to make app.sealed.yaml: each starts without one " \
    "(re-sealing for only the SSH key would drop your own key, which the README says sealer " \
    "refuses without --force)"

STEPS: dict[str, Step] = {
    "sealer get vault.sealed.yaml api.token": Step(
        "the README says your key alone opens 1 of the 2 key groups needed", code=3),
    'sealer seal app.yaml -r age1alice… -r age1ci…': Step(SEAL_FIRST, before=first_seal),
    "sealer seal app.yaml -R team-recipients.txt": Step(SEAL_FIRST, before=first_seal),
    'sealer seal app.yaml -r "$(cat ~/.ssh/id_ed25519.pub)"': Step(SEAL_FIRST, before=first_seal),
    "sealer set app.sealed.yaml database.password": Step(
        "no terminal here for the hidden prompt: the value comes on stdin, as the comment says",
        stdin="n3w-passw0rd\n", after=password_read_from_stdin),
    "sealer edit app.sealed.yaml": Step(
        "a scripted editor (tests/cli_helpers.py) changes the port", env=editor_env,
        after=edited),
    "sealer render app.sealed.yaml -f dotenv -o .env --check": Step(
        "README: exit 1 if out of date; a value changed since .env was rendered",
        before=out_of_date, code=1),
    "sealer render app.sealed.yaml -t nginx.conf.j2 -o /etc/nginx/conf.d/app.conf": Step(
        "writes under /etc: the command sees /etc through an overlay in the sandbox",
        etc=True, after=rendered_into_etc),
    "sealer rotation status secrets/": Step(
        "README: exit 1 when overdue; secrets/api.sealed.yaml is 30 days overdue", code=1),
    "sealer rotate db.sealed.yaml db": Step("against the real server", after=rotated),
    "git merge feature": Step(
        "git refuses to merge over uncommitted changes: what `git diff` showed is committed "
        "first", before=commit_the_diff, after=merged),
    "_SEALER_COMPLETE=source_bash sealer > ~/.local/share/bash-completion/completions/sealer":
        Step("the script is written", after=completion_written),
    "_SEALER_COMPLETE=source_fish sealer > ~/.config/fish/completions/sealer.fish": Step(
        "the script is written", after=fish_completion_written),
    "pre-commit autoupdate && pre-commit install": Step(
        "the README's pre-commit configuration is in place", before=pre_commit_config),
}


PYTHON_BLOCKS = {
    "Use it from Python": Step("its last line writes", after=python_wrote),
    "Serve secrets to AWS SDK clients at run time": Step(
        "the environment the README names, for an unchanged boto3 client", env=serve_env),
}


def private_etc(sb: Sandbox) -> list[str]:
    """An argv prefix: the command runs in its own mount namespace, seeing /etc through an
    overlay whose writes land in scratch/etc-upper, so nothing on this machine changes."""
    upper, work = sb.scratch / "etc-upper", sb.scratch / "etc-work"
    upper.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    unshare = shutil.which("unshare") or "unshare"
    as_root = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    mount = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={shlex.quote(str(upper))},"
             f"workdir={shlex.quote(str(work))} /etc")
    return [unshare, *as_root, "--propagation", "private", "sh", "-c", f'{mount} && exec "$@"',
            "sh"]


def no_private_etc(sb: Sandbox) -> str | None:
    """Why a command cannot get a private /etc here (None: it can). Asked once per sandbox."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if "no_private_etc" not in sb.notes:
        probe = subprocess.run([*private_etc(sb), "true"], capture_output=True, text=True,
                               check=False, timeout=TIMEOUT)
        sb.notes["no_private_etc"] = None if probe.returncode == 0 else (
            f"no private /etc (unshare -m and an overlay): {probe.stderr.strip()[-300:]}")
    reason: str | None = sb.notes["no_private_etc"]
    return reason


# -- running them -----------------------------------------------------------------------------


def substitute(text: str, sb: Sandbox) -> str:
    for placeholder, name in PLACEHOLDERS.items():
        if placeholder in text:
            text = text.replace(placeholder, sb.recipients[name])
    assert "…" not in text, f"a placeholder PLACEHOLDERS does not know: {text}"
    return text


def run_example(sb: Sandbox, example: Example, step: Step) -> subprocess.CompletedProcess[str]:
    env = dict(sb.env, **(step.env(sb) if step.env else {}))
    if example.language == "python":
        argv = [str(BIN / "python"), "-"]
        stdin: str | None = example.text
    else:
        argv = ["bash", "-o", "pipefail", "-c", substitute(example.text, sb)]
        stdin = step.stdin
        if step.etc:
            argv = [*private_etc(sb), *argv]
    return subprocess.run(argv, cwd=sb.repo, env=env, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None,
                          capture_output=True, text=True, check=False, timeout=TIMEOUT)


def sandbox(tmp_path: Path, home: Path, request: pytest.FixtureRequest) -> Sandbox:
    require_tool("bash")
    require_tool("git")
    assert (BIN / "sealer").exists(), "the console script is installed in the venv"
    repo = new_repository(tmp_path / "project")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {k: v for k, v in sealer_env().items() if not k.startswith(("PRE_COMMIT", "GIT_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", SHELL="/bin/bash",
               HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               GIT_MERGE_AUTOEDIT="no")
    return Sandbox(repo, home, scratch, request, env)


SECTIONS = list(dict.fromkeys(e.section for e in EXAMPLES if e.text not in EXEMPT))


@pytest.mark.parametrize("section", SECTIONS)
def test_section_runs_as_written(section: str, tmp_path: Path, isolated_home: Path,
                                 request: pytest.FixtureRequest) -> None:
    sb = sandbox(tmp_path, isolated_home, request)
    WORLDS[section](sb)
    missed: list[str] = []
    for example in (e for e in EXAMPLES if e.section == section and e.text not in EXEMPT):
        step = PYTHON_BLOCKS[section] if example.language == "python" else STEPS.get(
            example.text, Step("as is"))
        if step.etc and (reason := no_private_etc(sb)):
            missed.append(f"{example}: {reason}")  # it changes nothing the next lines read
            continue
        if step.before:
            step.before(sb)
        done = run_example(sb, example, step)
        said = f"{example}\nexit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert done.returncode == step.code, said
        assert_no_traceback(done.stderr)
        assert "internal error" not in done.stdout + done.stderr, said
        if step.after:
            step.after(sb)
    if missed:  # every other line ran; this one skips locally and fails in CI
        unavailable("; ".join(missed))


def test_every_example_is_run_or_exempt() -> None:
    """A README example with no world for its section and no exemption fails here; so do
    entries of the tables that name no README example (any more)."""
    texts = {e.text for e in EXAMPLES}
    for example in EXAMPLES:
        assert example.text in EXEMPT or example.section in WORLDS, (
            f"{example} is neither run (WORLDS has no {example.section!r}) nor in EXEMPT")
    assert set(WORLDS) == set(SECTIONS), "WORLDS names sections with nothing to run"
    assert set(EXEMPT) <= texts, set(EXEMPT) - texts
    assert set(STEPS) <= texts, set(STEPS) - texts
    used = {p for p in PLACEHOLDERS for t in texts if p in t}
    assert used == set(PLACEHOLDERS), set(PLACEHOLDERS) - used
    assert {e.section for e in EXAMPLES if e.language == "python"} == set(PYTHON_BLOCKS)


def test_commands_are_read_as_a_shell_reads_them() -> None:
    body = ("sealer a 'x # y' \"#z\" b#c   # a comment\n"
            "    # only a comment\n"
            "sealer long \\\n    --option  # after\n\n")
    assert shell_commands(body, 10) == [(10, "sealer a 'x # y' \"#z\" b#c"),
                                        (12, "sealer long --option")]
    assert len(EXAMPLES) > 60 and all(e.text.strip() for e in EXAMPLES)

