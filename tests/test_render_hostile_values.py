"""Deploy-time outputs cannot be turned against the host by what a repository puts in them
(issue 11, item 7.2, 7.3 and 7.5): values that try to run commands when a shell sources the
file, templates and target paths that try to leave the repository, template errors that
would print a value, and a $GITHUB_ENV that is a planted symbolic link.

Real bash and dash source the files; real Jinja2 renders the templates; the links and FIFOs
are real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_render_support import Keys, seal_to, sealer

from sealer.errors import SealerError
from sealer.render import RenderSpec, render, write_output

pytest_plugins = ["test_render_support"]

TIMEOUT = 30
CANARY = "c4n4ry-7d2b-secret"
SHELLS = [s for s in ("bash", "dash") if shutil.which(s)]

# Values that would run `touch PWNED` if a shell expanded them, and every quoting hazard.
RUNS = {
    "subst": "$(touch PWNED)",
    "backticks": "`touch PWNED`",
    "braced": "${IFS}$(touch PWNED)${x:-$(touch PWNED)}",
    "squote_subst": "it's $(touch PWNED)",
    "dquote_backtick": 'say "`touch PWNED`"',
    "backslash_subst": "a\\b\\\\$(touch PWNED)",
    "quote_escape": "'\\''$(touch PWNED)'\\''",
    "newline_subst": "line1\n$(touch PWNED)\nline3",
    "cr_subst": "a\r$(touch PWNED)",
    "trailing_backslash_words": "x; touch PWNED; \\",
    "trailing_backslash_pipe": "x|touch PWNED\\",
    "trailing_backslash_subst": "$(touch PWNED)\\",
}
# Values that every format, dotenv included, writes so that every sourcing reads them exactly.
EXACT = {
    "plain": CANARY,
    "subst": "$(touch PWNED)",
    "backticks": "`touch PWNED`",
    "dollar": "$HOME $1 $$ $? $PATH ${x:y} ${",
    "bang": "hello!world!! !$ !-1",
    "squote": "it's",
    "dquote": 'say "hi"',
    "backslash": "back\\slash \\n \\\" \\t",
    "newlines": "one\ntwo\n\nthree\n",
    "semicolon": "; touch PWNED ; # not a comment",
    "unicode": "ünïcødé ✓ 🚀",
    "empty": "",
    "spaces": "  both ends  ",
}
# Values the shell and systemd formats write exactly, and dotenv refuses: no dotenv line gives
# them to python-dotenv, Node, compose and a shell alike (sealer.render.dotenv).
SHELLS_ONLY = {
    "squote_dquote_backslash": "it's \"quoted\" \\ here",
    "double_backslash": "back\\\\slash",
    "braces": "${PATH} ${HOME:-x}",
    "carriage_return": "a\rb",
    "trailing_backslash": "C:\\dir\\",
}


def render_to(tmp_path: Path, keys: Keys, data: dict[str, Any], fmt: str) -> Path:
    sealed = seal_to(tmp_path / "app.sealed.yaml", data, keys)
    out = render([sealed], RenderSpec(fmt, output=tmp_path / "out.env"), keys.identities)
    write_output(out)
    return tmp_path / "out.env"


def source(shell: str, directory: Path, name: str) -> bytes:
    """`set -a; . ./out.env; printf %s "$NAME"` in `shell`, run in `directory`."""
    done = subprocess.run([shell, "-c", f'set -a; . ./out.env; printf %s "${name}"'],
                          cwd=directory, capture_output=True, timeout=TIMEOUT, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("fmt", ["dotenv", "shell", "systemd"])
@pytest.mark.parametrize("key", list(EXACT))
def test_sourced_values_read_back_byte_for_byte(tmp_path: Path, keys: Keys, fmt: str,
                                                shell: str, key: str) -> None:
    render_to(tmp_path, keys, {"K": EXACT[key]}, fmt)
    assert source(shell, tmp_path, "K") == EXACT[key].encode("utf-8")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("fmt", ["shell", "systemd"])
@pytest.mark.parametrize("key", list(SHELLS_ONLY))
def test_shell_formats_hold_what_dotenv_refuses(tmp_path: Path, keys: Keys, fmt: str,
                                                shell: str, key: str) -> None:
    render_to(tmp_path, keys, {"K": SHELLS_ONLY[key]}, fmt)
    assert source(shell, tmp_path, "K") == SHELLS_ONLY[key].encode("utf-8")
    with pytest.raises(SealerError) as caught:
        render_to(tmp_path, keys, {"K": SHELLS_ONLY[key]}, "dotenv")
    assert str(caught.value).startswith(f"{tmp_path / 'app.sealed.yaml'}: K: a value holding ")


def test_dotenv_values_read_back_with_python_dotenv(tmp_path: Path, keys: Keys) -> None:
    from dotenv import dotenv_values

    path = render_to(tmp_path, keys, EXACT, "dotenv")
    assert dotenv_values(path, interpolate=False) == dotenv_values(path) == EXACT


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("fmt", ["dotenv", "shell", "systemd"])
@pytest.mark.parametrize("key", list(RUNS))
def test_no_value_runs_when_sourced(tmp_path: Path, keys: Keys, fmt: str, shell: str,
                                    key: str) -> None:
    """Each format writes the value so that no shell runs it, or refuses it naming the key;
    shell and systemd take every value exactly."""
    try:
        render_to(tmp_path, keys, {"K": RUNS[key], "AFTER": "after"}, fmt)
    except SealerError as exc:
        assert fmt == "dotenv", exc
        assert str(exc).startswith(f"{tmp_path / 'app.sealed.yaml'}: K: a value ")
        assert "PWNED" not in str(exc) and "PWNED" not in (exc.hint or "")
        return
    read = source(shell, tmp_path, "K")
    assert not (tmp_path / "PWNED").exists()
    if fmt != "dotenv":
        assert read == RUNS[key].encode("utf-8")


@pytest.mark.parametrize("key", ["squote_subst", "backslash_subst", "cr_subst",
                                 "trailing_backslash_words", "trailing_backslash_pipe",
                                 "quote_escape"])
def test_dotenv_refuses_what_a_shell_would_run(tmp_path: Path, keys: Keys, key: str) -> None:
    with pytest.raises(SealerError) as caught:
        render_to(tmp_path, keys, {"K": CANARY + RUNS[key]}, "dotenv")
    assert CANARY not in str(caught.value)
    assert caught.value.hint == ("use dotenv-literal for docker --env-file, kubectl "
                                 "--from-env-file and kustomize (one-line values), the shell or "
                                 "systemd format for shells, or json")


def test_dotenv_refuses_a_trailing_backslash(tmp_path: Path, keys: Keys) -> None:
    """Written unquoted before (issue 11), a shell joined it with the next line; no quoting
    gives it to python-dotenv and compose (`\\'` is an escaped quote) and a shell alike."""
    with pytest.raises(SealerError) as caught:
        render_to(tmp_path, keys, {"dir": "C:\\Users\\app\\", "next": "$(touch PWNED)"},
                  "dotenv")
    assert str(caught.value) == (
        f"{tmp_path / 'app.sealed.yaml'}: dir: a value holding two backslashes in a row, or "
        "ending in one, cannot be written so that every dotenv reader and a shell read it "
        "exactly (python-dotenv reads \\\\ as one backslash and \\' as a quote)")


def test_dotenv_keys_must_be_shell_identifiers(tmp_path: Path, keys: Keys) -> None:
    sealed = seal_to(tmp_path / "app.sealed.yaml", {"a;touch PWNED;b": CANARY}, keys)
    for fmt in ("dotenv", "shell", "systemd"):
        with pytest.raises(SealerError) as caught:
            render([sealed], RenderSpec(fmt, output=tmp_path / "o"), keys.identities)
        assert str(caught.value) == (f"{sealed}: a;touch PWNED;b: 'a;touch PWNED;b' is not a "
                                     "valid environment variable name")


# -- templates: errors never print a value ---------------------------------------------------


def template_error(tmp_path: Path, keys: Keys, text: str,
                   data: dict[str, Any] | None = None) -> str:
    sealed = seal_to(tmp_path / "app.sealed.yaml",
                     data or {"db": {"password": CANARY, "user": "password"}, "n": 3}, keys)
    (tmp_path / "t.j2").write_text(text, encoding="utf-8")
    with pytest.raises(SealerError) as caught:
        render([sealed], RenderSpec("template", template=tmp_path / "t.j2"), keys.identities)
    message = f"{caught.value} {caught.value.hint or ''}"
    assert CANARY not in message and "c4n4ry" not in message
    return str(caught.value)


GENERIC = "the details are not shown because they may contain a secret value)"


@pytest.mark.parametrize(("text", "expected"), [
    ("a\n{{ db.password + 1 }}\n", f"line 2: rendering failed (TypeError; {GENERIC}"),
    ("\n\n{{ db.password.encode(db.password) }}", f"line 3: rendering failed (LookupError; "
                                                  f"{GENERIC}"),
    ("{{ ('{' ~ db.password ~ '}').format() }}", f"line 1: rendering failed (KeyError; "
                                                 f"{GENERIC}"),
    ("{{ db.password | int(base=db.password) }}{{ range(db.password) }}",
     f"line 1: rendering failed (TypeError; {GENERIC}"),
    ("x\n{{ {}[db.password] }}",
     "line 2: a name or key is undefined (not shown: it was computed from a value)"),
    ("password = {{ secrets[db.user] }}",
     "line 1: a name or key is undefined (not shown: it was computed from a value)"),
    ("{{ db.passwrd }}", "line 1: 'passwrd' is undefined"),
])
def test_template_errors_name_the_line_and_never_a_value(tmp_path: Path, keys: Keys, text: str,
                                                         expected: str) -> None:
    assert template_error(tmp_path, keys, text) == f"{tmp_path / 't.j2'}: {expected}"


def test_template_recursion(tmp_path: Path, keys: Keys) -> None:
    message = template_error(tmp_path, keys, "{{ db.password }}\n{% include 't.j2' %}")
    assert message == f"{tmp_path / 't.j2'}: line 2: rendering failed (RecursionError; {GENERIC}"


def test_an_include_named_by_a_value_is_not_shown(tmp_path: Path, keys: Keys) -> None:
    message = template_error(tmp_path, keys, "a\n{% include db.password %}")
    assert message == (f"{tmp_path / 't.j2'}: line 2: included template (its name is not shown: "
                       "it was computed from a value) not found")


def test_an_error_in_an_included_template_names_that_file(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "part.j2").write_text("ok\n{{ db.password * db }}\n", encoding="utf-8")
    message = template_error(tmp_path, keys, "{% include 'part.j2' %}")
    assert message == f"{tmp_path / 'part.j2'}: line 2: rendering failed (TypeError; {GENERIC}"


def test_includes_cannot_leave_the_template_directory(tmp_path: Path, keys: Keys) -> None:
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "shadow").write_text("HOST-FILE-CANARY\n", encoding="utf-8")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link.j2").symlink_to(outside / "shadow")
    (repo / "linkdir").symlink_to(outside)
    for include in ("link.j2", "linkdir/shadow", "../host/shadow", str(outside / "shadow")):
        (repo / "t.j2").write_text(f"{{% include {include!r} %}}", encoding="utf-8")
        sealed = seal_to(repo / "app.sealed.yaml", {"a": CANARY}, keys)
        with pytest.raises(SealerError) as caught:
            render([sealed], RenderSpec("template", template=repo / "t.j2"), keys.identities)
        assert str(caught.value) == (f"{repo / 't.j2'}: line 1: included template {include!r} "
                                     "not found"), include
        assert "HOST-FILE-CANARY" not in str(caught.value)


def test_includes_inside_the_directory_still_work(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "real.j2").write_text("[{{ a }}]", encoding="utf-8")
    (tmp_path / "alias.j2").symlink_to(tmp_path / "parts" / "real.j2")
    (tmp_path / "t.j2").write_text("{% include 'parts/real.j2' %}{% include 'alias.j2' %}\n",
                                   encoding="utf-8")
    sealed = seal_to(tmp_path / "app.sealed.yaml", {"a": "x"}, keys)
    out = render([sealed], RenderSpec("template", template=tmp_path / "t.j2"), keys.identities)
    assert out.content == b"[x][x]\n"


# -- targets: paths stay inside the repository ------------------------------------------------


def target_project(root: Path, keys: Keys, target: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    seal_to(root / "app.sealed.yaml", {"key": CANARY}, keys)
    (root / "t.j2").write_text("{{ key }}\n", encoding="utf-8")
    (root / "sealer.yaml").write_text(f"""\
version: 1
principals: {{deploy: {keys.recipient.text}}}
environments:
  prod: {{recipients: [deploy]}}
targets:
  - {{name: t, environment: prod, {target}}}
""", encoding="utf-8")
    return root


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the host's, outside the repository: ~/.ssh/authorized_keys, say."""
    path = tmp_path / "home" / ".ssh" / "authorized_keys"
    path.parent.mkdir(parents=True)
    path.write_text("ssh-ed25519 AAAA the-admin\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink-dir", "symlink-file", "git"])
def test_a_target_output_cannot_leave_the_repository(tmp_path: Path, keys: Keys, victim: Path,
                                                     how: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    output = {"absolute": str(victim), "dotdot": "../home/.ssh/authorized_keys",
              "symlink-dir": "ssh/authorized_keys", "symlink-file": "keys",
              "git": ".git/hooks/post-checkout"}[how]
    (repo / "ssh").symlink_to(victim.parent)
    (repo / "keys").symlink_to(victim)
    root = target_project(repo, keys, f"files: [app.sealed.yaml], format: template, "
                                      f"template: t.j2, output: {output!r}")
    result = sealer(root, "render", "--env", "prod", "-i", keys.file)
    assert result.code == 2, result.err
    assert result.err.startswith(f"sealer: error: {root / 'sealer.yaml'}: line 6: "
                                 f"{output!r} ")
    assert victim.read_text(encoding="utf-8") == "ssh-ed25519 AAAA the-admin\n"
    assert not (root / ".git").exists()


@pytest.mark.parametrize("field", ["template", "files"])
def test_a_target_cannot_read_outside_the_repository(tmp_path: Path, keys: Keys,
                                                     field: str) -> None:
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "t.j2").write_text("{{ key }}", encoding="utf-8")
    seal_to(outside / "host.sealed.yaml", {"key": CANARY}, keys)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "etc").symlink_to(outside)
    for path in (str(outside / "t.j2"), "../host/t.j2", "etc/t.j2") if field == "template" \
            else (str(outside / "host.sealed.yaml"), "../host/host.sealed.yaml",
                  "etc/host.sealed.yaml"):
        spec = (f"files: [app.sealed.yaml], format: template, template: {path!r}"
                if field == "template" else f"files: [{path!r}], format: dotenv")
        root = target_project(repo, keys, f"{spec}, output: out.txt")
        result = sealer(root, "render", "--env", "prod", "-i", keys.file)
        assert result.code == 2, (path, result.err)
        assert ("is not inside the directory of sealer.yaml" in result.err
                or "leads out of the directory of sealer.yaml" in result.err), (path, result.err)
        assert not (root / "out.txt").exists()


def test_a_target_inside_the_repository_works(tmp_path: Path, keys: Keys) -> None:
    root = target_project(tmp_path / "repo", keys, "files: [./app.sealed.yaml], format: "
                                                   "template, template: t.j2, "
                                                   "output: build/out.txt")
    result = sealer(root, "render", "--env", "prod", "-i", keys.file)
    assert result.code == 0, result.err
    assert (root / "build" / "out.txt").read_text(encoding="utf-8") == f"{CANARY}\n"


def test_the_command_line_may_point_anywhere(tmp_path: Path, keys: Keys) -> None:
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    seal_to(repo / "app.sealed.yaml", {"key": CANARY}, keys)
    (elsewhere / "t.j2").write_text("<{{ key }}>", encoding="utf-8")
    result = sealer(repo, "render", "app.sealed.yaml", "-t", elsewhere / "t.j2", "-o",
                    elsewhere / "out", "-i", keys.file)
    assert result.code == 0, result.err
    assert (elsewhere / "out").read_text(encoding="utf-8") == f"<{CANARY}>"


# -- github: masks only in Actions, appends only to a regular file ----------------------------


def github(tmp_path: Path, keys: Keys, env: dict[str, str | None]) -> Any:
    seal_to(tmp_path / "app.sealed.yaml", {"token": CANARY}, keys)
    return sealer(tmp_path, "render", "app.sealed.yaml", "-f", "github", "-i", keys.file,
                  env={"GITHUB_OUTPUT": None, **env})


def test_no_masks_outside_github_actions(tmp_path: Path, keys: Keys) -> None:
    for actions in (None, "", "false", "1"):
        (tmp_path / "gh.env").write_bytes(b"")
        result = github(tmp_path, keys, {"GITHUB_ENV": "gh.env", "GITHUB_ACTIONS": actions})
        assert (result.code, result.out) == (0, ""), result.err
        assert CANARY not in result.err
        assert (tmp_path / "gh.env").read_text(encoding="utf-8") == f"token={CANARY}\n"


def test_masks_inside_github_actions(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "gh.env").write_bytes(b"")
    result = github(tmp_path, keys, {"GITHUB_ENV": "gh.env", "GITHUB_ACTIONS": "true"})
    assert (result.code, result.out) == (0, f"::add-mask::{CANARY}\n"), result.err


def test_github_env_never_appends_through_a_planted_symlink(tmp_path: Path, keys: Keys,
                                                             victim: Path) -> None:
    (tmp_path / "gh.env").symlink_to(victim)
    result = github(tmp_path, keys, {"GITHUB_ENV": "gh.env", "GITHUB_ACTIONS": "true"})
    assert (result.code, result.out) == (1, f"::add-mask::{CANARY}\n")
    assert result.err == ("sealer: error: gh.env: refusing to append through a symbolic link\n"
                          "sealer: hint: point it at the regular file itself\n")
    assert victim.read_text(encoding="utf-8") == "ssh-ed25519 AAAA the-admin\n"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "created-through-the-link")
    result = github(tmp_path, keys, {"GITHUB_ENV": str(dangling)})
    assert result.code == 1 and "symbolic link" in result.err
    assert not (tmp_path / "created-through-the-link").exists()


def test_github_env_must_be_a_regular_file(tmp_path: Path, keys: Keys) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = github(tmp_path, keys, {"GITHUB_ENV": str(fifo)})  # no reader: must not hang
    assert (result.code, result.err) == (
        1, f"sealer: error: {fifo}: refusing to append: not a regular file\n"
           "sealer: hint: $GITHUB_ENV and $GITHUB_OUTPUT are regular files the runner made\n")
    result = github(tmp_path, keys, {"GITHUB_ENV": "/dev/null"})
    assert result.code == 1 and "not a regular file" in result.err


def test_github_heredoc_delimiter_is_random_and_not_in_the_value(tmp_path: Path,
                                                                 keys: Keys) -> None:
    value = "a\n" + "\n".join(f"ghadelimiter_{i:032x}" for i in range(50)) + "\nINJECTED=1"
    sealed = seal_to(tmp_path / "app.sealed.yaml", {"k": value}, keys)
    seen = set()
    for _ in range(3):
        content = render([sealed], RenderSpec("github", output=tmp_path / "o"),
                         keys.identities).content.decode()
        first, *_, last = content.rstrip("\n").split("\n")
        delimiter = first.removeprefix("k<<")
        assert last == delimiter and delimiter not in value and len(delimiter) == 45
        seen.add(delimiter)
    assert len(seen) == 3
