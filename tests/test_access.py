"""`sealer access` and `sealer access diff` on real git repositories: recipients resolved to
principals (unknown keys by fingerprint), required principals, signers and signatures, per file
and environment; the change between two commits with recipients and sealer.yaml changed, as
text, JSON, SARIF and Markdown; the exit code CI gates on; hostile names escaped."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cli_helpers import run
from git_helpers import git
from hook_helpers import new_repository
from sealing import forge, new_identity

from sealer.accessmap import access_diff, access_map, unknown_label
from sealer.accessreport import markdown_escape
from sealer.errors import ConfigError, UsageError
from sealer.exposure import exposure
from sealer.files import recipients_add, recipients_remove, seal_file, set_value
from sealer.signing import signing_keygen

ALICE, ALICE_R = new_identity()
BOB, BOB_R = new_identity()
CI, CI_R = new_identity()
EVE, EVE_R = new_identity()  # no principal: an unknown key

CONFIG = """\
version: 1
principals:
  alice: {alice}
  bob: {bob}
  ci: {ci}
  alice-sign: {sign}
groups:
  admins: [alice]
environments:
  prod:
    recipients: [admins, ci]
    allow: [bob]
    require: [ci]
    signers: [alice-sign]
    require_signature: true
  dev:
    recipients: [alice, bob]
    allow: [ci]
{dev_extra}creation_rules:
  - path: secrets/prod/**
    environment: prod
  - path: secrets/dev/**
    environment: dev
policy:
  rules:
    signature-not-required: "off"
"""


def config(sign: str, dev_extra: str = "") -> str:
    return CONFIG.format(alice=ALICE_R.text, bob=BOB_R.text, ci=CI_R.text, sign=sign,
                         dev_extra=dev_extra)


def seal(path: Path, text: str, *recipients: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {"alice": ALICE_R, "bob": BOB_R, "ci": CI_R}
    seal_file(text.encode(), path, source="t", recipients=[keys[r] for r in recipients])
    return path


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main: prod (2 files, signed by alice-sign), dev (1 file), one file no rule covers.
    feature, two commits later: bob reads prod's db, dev's app is sealed for an unknown key
    instead of bob, dev requires alice and may be signed by alice-sign."""
    repo = new_repository(tmp_path / "repo")
    sign = signing_keygen(tmp_path / "sign.key").rsplit(" ", 2)[0]
    (repo / "sealer.yaml").write_text(config(sign))
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(tmp_path / "sign.key"))
    seal(repo / "secrets/prod/db.sealed.yaml", "password: p1\n", "alice", "ci")
    seal(repo / "secrets/prod/api.sealed.yaml", "token: t1\n", "alice", "ci")
    seal(repo / "secrets/dev/app.sealed.yaml", "token: d1\n", "alice", "bob")
    seal(repo / "notes.sealed.yaml", "wifi: w1\n", "alice")
    commit(repo, "secrets")
    git(repo, "checkout", "-q", "-b", "feature")
    recipients_add(repo / "secrets/prod/db.sealed.yaml", [BOB_R], [ALICE])
    commit(repo, "bob reads the prod database")
    forge(repo / "secrets/dev/app.sealed.yaml", {"token": "d1"}, [ALICE_R.text, EVE_R.text])
    (repo / "sealer.yaml").write_text(config(sign, "    require: [alice]\n"
                                                   "    signers: [alice-sign]\n"))
    commit(repo, "dev for eve; dev requires alice")
    monkeypatch.chdir(repo)  # $SEALER_SIGNING_KEY stays: the tests' writes are signed too
    return repo


EVE_LABEL = f"unknown age:{hashlib.sha256(EVE_R.text.encode()).hexdigest()[:12]}"


def test_each_file_says_who_reads_who_must_and_who_signs(repo: Path) -> None:
    access = access_map([repo])
    files = {f.file: f for f in access.files}
    assert [f.file for f in access.files] == [
        "secrets/dev/app.sealed.yaml", "secrets/prod/api.sealed.yaml",
        "secrets/prod/db.sealed.yaml", "notes.sealed.yaml"]  # by environment, none last
    db = files["secrets/prod/db.sealed.yaml"]
    assert (db.environment, db.readers, db.unknown) == ("prod", ("alice", "bob", "ci"), ())
    assert (db.required, db.missing, db.signers) == (("ci",), (), ("alice-sign",))
    assert db.signature_required and db.signed_by == ("alice-sign",) and db.accepted
    app = files["secrets/dev/app.sealed.yaml"]
    assert (app.readers, app.unknown, app.missing) == (("alice",), (EVE_LABEL,), ())
    assert app.signed_by == () and not app.accepted and not app.signature_required
    notes = files["notes.sealed.yaml"]
    assert (notes.environment, notes.config, notes.readers) == ("(none)", "sealer.yaml",
                                                                  ("alice",))
    envs = {e.name: e for e in access.environments}
    assert list(envs) == ["dev", "prod", "(none)"]
    assert (envs["prod"].files, envs["prod"].readers) == (2, ("alice", "bob", "ci"))
    assert (envs["prod"].recipients, envs["prod"].allowed) == (("alice", "ci"),
                                                               ("alice", "bob", "ci"))
    assert envs["dev"].readers == ("alice", EVE_LABEL)  # unknown keys after principals
    assert access.principals() == ["alice", "bob", "ci", EVE_LABEL]


def test_unknown_keys_have_a_short_fingerprint_and_their_type() -> None:
    assert unknown_label(EVE_R.text) == EVE_LABEL
    assert unknown_label("ssh-ed25519 AAAAC3Nza x").startswith("unknown ssh-ed25519:")
    assert unknown_label("age1pq1abc").startswith("unknown age-pq:")


def test_a_required_principal_that_is_no_recipient_is_missing(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "sealer.yaml").write_text((repo / "sealer.yaml").read_text().replace(
        "require: [ci]", "require: [ci, bob]"))
    db = next(f for f in access_map([repo / "secrets/prod"]).files
              if f.file.endswith("db.sealed.yaml"))
    assert db.missing == ("bob",)
    out = run("access", "secrets/prod", cwd=repo).out
    assert "    missing: bob (required, not a recipient)\n" in out


def test_access_text_is_grouped_by_environment_with_totals(repo: Path) -> None:
    result = run("access", cwd=repo)
    assert result.code == 0, result.err
    assert result.out == f"""\
environment dev (sealer.yaml): 1 sealed file
  must read: alice
  may sign:  alice-sign (signature not required)
  secrets/dev/app.sealed.yaml
    read:    alice, {EVE_LABEL}
  can read:  alice, {EVE_LABEL} (2 readers)
environment prod (sealer.yaml): 2 sealed files
  must read: ci
  may sign:  alice-sign (signature required)
  secrets/prod/api.sealed.yaml
    read:    alice, ci
    signed:  alice-sign (accepted)
  secrets/prod/db.sealed.yaml
    read:    alice, bob, ci
    signed:  alice-sign (accepted)
  can read:  alice, bob, ci (3 readers)
environment (none): 1 sealed file
  notes.sealed.yaml
    read:    alice
    signed:  alice-sign
  can read:  alice (1 reader)
4 sealed files, 2 environments, 4 readers: alice, bob, ci, {EVE_LABEL}
"""


def test_access_json(repo: Path) -> None:
    result = run("access", "secrets", "--format", "json", cwd=repo)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [f["file"] for f in data["files"]] == ["secrets/dev/app.sealed.yaml",
                                                  "secrets/prod/api.sealed.yaml",
                                                  "secrets/prod/db.sealed.yaml"]
    assert data["files"][2]["readers"] == ["alice", "bob", "ci"]
    assert data["files"][2]["signed_by"] == ["alice-sign"]
    assert data["principals"] == ["alice", "bob", "ci", EVE_LABEL]
    assert [e["name"] for e in data["environments"]] == ["dev", "prod"]


def test_the_diff_names_every_change_in_access(repo: Path) -> None:
    diff = access_diff("main..feature")
    assert (diff.base, diff.head) == ("main", "feature")
    assert [tuple(c) for c in diff.changes] == [
        ("read-gain", "dev", EVE_LABEL, ("secrets/dev/app.sealed.yaml",)),
        ("read-loss", "dev", "bob", ("secrets/dev/app.sealed.yaml",)),
        ("sign-gain", "dev", "alice-sign", ("sealer.yaml",)),
        ("required-added", "dev", "alice", ("sealer.yaml",)),
        ("read-gain", "prod", "bob", ("secrets/prod/db.sealed.yaml",)),
    ]
    assert diff.gains_read() and diff.gains_read("prod") and not diff.gains_read("staging")
    back = access_diff("feature..main")
    assert [(c.kind, c.principal) for c in back.changes if c.environment == "prod"] == [
        ("read-loss", "bob")]
    assert access_diff("main..main").changes == []


def test_the_diff_reads_each_commit_as_committed(repo: Path) -> None:
    """One commit at a time, and untouched by the work tree (here: a new prod reader not
    committed, and sealer.yaml deleted)."""
    recipients_add(repo / "secrets/prod/api.sealed.yaml", [BOB_R], [ALICE])  # not committed
    (repo / "sealer.yaml").unlink()
    first = access_diff("main..feature~1")
    assert [(c.kind, c.environment, c.principal) for c in first.changes] == [
        ("read-gain", "prod", "bob")]


def test_a_new_file_gains_its_readers_and_scope_limits_the_diff(repo: Path) -> None:
    forge(repo / "secrets/dev/new.sealed.yaml", {"k": "v"}, [BOB_R.text])
    commit(repo, "a new dev file")
    diff = access_diff("feature~1..feature", [repo / "secrets/dev"])
    assert [(c.kind, c.principal, c.paths) for c in diff.changes] == [
        ("read-gain", "bob", ("secrets/dev/new.sealed.yaml",))]
    assert access_diff("feature~1..feature", [repo / "secrets/prod"]).changes == []


def test_three_dots_compare_from_the_merge_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    recipients_add(repo / "secrets/dev/app.sealed.yaml", [CI_R], [ALICE])
    commit(repo, "ci reads dev on main")
    two = access_diff("feature..main")
    assert ("read-gain", "ci") in [(c.kind, c.principal) for c in two.changes]
    three = access_diff("feature...main")  # only what main did since they forked
    assert [(c.kind, c.environment, c.principal) for c in three.changes] == [
        ("read-gain", "dev", "ci")]


def test_fail_on_read_gain_is_an_exit_code_for_ci(repo: Path) -> None:
    gate = run("access", "diff", "main..feature", "--fail-on", "read-gain:prod", cwd=repo)
    assert gate.code == 1
    assert "a principal gains read (prod): failing as --fail-on asks" in gate.err
    assert "prod: bob gains read on 1 secret file of prod\n" in gate.out
    assert run("access", "diff", "main..feature", "--fail-on", "read-gain",
               cwd=repo).code == 1
    quiet = run("access", "diff", "main..feature", "--fail-on", "read-gain:staging", cwd=repo)
    assert quiet.code == 0, quiet.err
    losses = run("access", "diff", "feature..main", "--fail-on", "read-gain:prod", cwd=repo)
    assert losses.code == 0 and "prod: bob loses read on 1 secret file of prod" in losses.out
    bad = run("access", "diff", "main..feature", "--fail-on", "read-loss", cwd=repo)
    assert bad.code == 2
    assert "sealer: error: unknown --fail-on 'read-loss'" in bad.err
    assert run("access", "--fail-on", "read-gain", cwd=repo).code == 2


def test_diff_text_transcript(repo: Path) -> None:
    result = run("access", "diff", "main..feature", cwd=repo)
    assert result.code == 0, result.err
    assert result.out == f"""\
access main..feature: 5 changes
  dev: {EVE_LABEL} gains read on 1 secret file of dev
    secrets/dev/app.sealed.yaml
  dev: bob loses read on 1 secret file of dev
    secrets/dev/app.sealed.yaml
  dev: alice-sign may now sign for dev
  dev: alice is now required for dev
  prod: bob gains read on 1 secret file of prod
    secrets/prod/db.sealed.yaml
"""


def test_diff_json_sarif_and_markdown(repo: Path) -> None:
    data = json.loads(run("access", "diff", "main..feature", "-f", "json", cwd=repo).out)
    assert data["base"] == "main" and len(data["changes"]) == 5
    assert data["changes"][4] == {"kind": "read-gain", "environment": "prod",
                                  "principal": "bob", "paths": ["secrets/prod/db.sealed.yaml"]}
    sarif = json.loads(run("access", "diff", "main..feature", "-f", "sarif", cwd=repo).out)
    results = sarif["runs"][0]["results"]
    assert {(r["ruleId"], r["level"],
             r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
            for r in results} == {
        ("access-changed", "error", "secrets/dev/app.sealed.yaml"),
        ("access-changed", "warning", "secrets/dev/app.sealed.yaml"),
        ("signers-changed", "error", "sealer.yaml"),
        ("access-changed", "warning", "sealer.yaml"),
        ("access-changed", "error", "secrets/prod/db.sealed.yaml")}
    md = run("access", "diff", "main..feature", "-f", "markdown", cwd=repo).out
    assert md.startswith("### sealer: access changes main..feature\n\n5 changes, "
                         "**2 read gains**\n")
    assert ("| prod | bob gains read on 1 secret file of prod | "
            "secrets/prod/db\\.sealed\\.yaml |") in md
    empty = run("access", "diff", "main..main", "-f", "markdown", cwd=repo).out
    assert "No change in who can read" in empty


def test_hostile_names_are_escaped(repo: Path) -> None:
    name = "secrets/dev/\x1b]0;pwned\x07[x](https:evil)<b>.sealed.yaml"
    forge(repo / name, {"k": "v"}, [BOB_R.text])
    commit(repo, "a hostile name")
    text = run("access", "diff", "feature~1..feature", cwd=repo).out
    assert "\x1b" not in text and "\x07" not in text
    assert "secrets/dev/\\x1b]0;pwned\\x07[x](https:evil)<b>.sealed.yaml" in text
    assert "\x1b" not in run("access", cwd=repo).out
    md = run("access", "diff", "feature~1..feature", "-f", "markdown", cwd=repo).out
    assert "\\[x\\]\\(https:evil\\)\\<b\\>" in md and "](" not in md and "<b>" not in md
    assert markdown_escape("a|b`c@d") == "a\\|b\\`c@\u200bd"


def test_bad_revisions_and_configurations_are_errors(repo: Path) -> None:
    with pytest.raises(UsageError, match=r"expected BASE\.\.HEAD"):
        access_diff("main")
    result = run("access", "diff", "main..nope", cwd=repo)
    assert result.code == 2 and "unknown git revision 'nope'" in result.err
    assert run("access", "diff", cwd=repo).code == 2
    assert run("access", "diff", "--x..main", cwd=repo).code == 2
    (repo / "sealer.yaml").write_text("version: 1\nprincipals: [what]\n")
    commit(repo, "a broken sealer.yaml")
    with pytest.raises(ConfigError) as caught:
        access_diff("main..feature")
    assert caught.value.file == "feature:sealer.yaml"
    result = run("access", "diff", "main..feature", cwd=repo)
    assert result.code == 2 and "sealer: error: feature:sealer.yaml: " in result.err


def test_a_revision_reads_no_symbolic_link_and_no_large_file(repo: Path) -> None:
    outside = repo.parent / "outside.sealed.yaml"
    outside.write_text((repo / "notes.sealed.yaml").read_text())
    os.symlink(outside, repo / "secrets/dev/link.sealed.yaml")
    commit(repo, "a link out of the repository")
    diff = access_diff("feature~1..feature")
    assert diff.changes == []  # the link is not a sealed file of the revision


def test_an_unreadable_sealed_file_is_reported_not_fatal(repo: Path) -> None:
    (repo / "secrets/dev/broken.sealed.yaml").write_text("sealer: [not, a, file]\n")
    broken = next(f for f in access_map([repo]).files if f.file.endswith("broken.sealed.yaml"))
    assert broken.problem and broken.readers == ()
    out = run("access", "secrets/dev", cwd=repo).out
    assert "  secrets/dev/broken.sealed.yaml\n    unreadable: " in out


def test_a_broken_sealer_yaml_outside_the_scope_does_not_stop_the_diff(repo: Path) -> None:
    fixture = repo / "fixtures" / "sealer.yaml"
    fixture.parent.mkdir()
    fixture.write_text("not: [a, config\n")
    commit(repo, "a test fixture")
    assert access_diff("feature~1..feature", [repo / "secrets"]).changes == []
    forge(repo / "fixtures/x.sealed.yaml", {"k": "v"}, [BOB_R.text])
    commit(repo, "a sealed file it governs")
    with pytest.raises(ConfigError) as caught:
        access_diff("feature~1..feature")
    assert caught.value.file == "feature:fixtures/sealer.yaml"


EXPOSURE_CONFIG = f"""\
version: 1
principals:
  alice: {ALICE_R.text}
  bob: {BOB_R.text}
environments:
  dev:
    recipients: [alice, bob]
creation_rules:
  - path: "**"
    environment: dev
policy:
  rules:
    signature-not-required: "off"
"""


@pytest.fixture
def left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """db.sealed.yaml sealed for alice and bob, then bob removed: two commits."""
    repo = new_repository(tmp_path / "left")
    (repo / "sealer.yaml").write_text(EXPOSURE_CONFIG)
    seal(repo / "db.sealed.yaml", "password: p1\ntoken: t1\n", "alice", "bob")
    commit(repo, "db")
    recipients_remove(repo / "db.sealed.yaml", [BOB_R], [ALICE])
    commit(repo, "bob leaves")
    monkeypatch.chdir(repo)
    return repo


def short(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", "--short=12", rev).stdout.strip()


def test_a_removed_key_that_still_knows_a_value_is_found_until_it_is_rotated(left: Path
                                                                             ) -> None:
    first = short(left, "HEAD~1")
    report = exposure([left], [ALICE])
    assert [(e.file, e.key, e.principal, e.since) for e in report.exposures] == [
        ("db.sealed.yaml", "password", "bob", first), ("db.sealed.yaml", "token", "bob", first)]
    assert (report.files, report.versions, report.skipped) == (1, 1, 0)
    set_value(left / "db.sealed.yaml", "password", "p2", [ALICE])  # rotated
    commit(left, "a new password")
    assert [e.key for e in exposure([left], [ALICE]).exposures] == ["token"]
    set_value(left / "db.sealed.yaml", "token", "t2", [ALICE])
    commit(left, "a new token")
    assert exposure([left], [ALICE]).exposures == []


def test_a_value_changed_back_is_exposed_again(left: Path) -> None:
    set_value(left / "db.sealed.yaml", "password", "p2", [ALICE])
    commit(left, "rotated")
    set_value(left / "db.sealed.yaml", "password", "p1", [ALICE])
    commit(left, "reverted by hand")
    assert ("password", "bob") in [(e.key, e.principal)
                                   for e in exposure([left], [ALICE]).exposures]


def test_exposure_cli(left: Path, tmp_path: Path) -> None:
    key = tmp_path / "alice.key"
    key.write_text(f"{ALICE.native}\n")  # the pyrage identity: its secret key text
    key.chmod(0o600)
    first = short(left, "HEAD~1")
    data = json.loads(run("exposure", "-i", key, "--format", "json", cwd=left).out)
    assert [(e["key"], e["principal"], e["since"]) for e in data["exposures"]] == [
        ("password", "bob", first), ("token", "bob", first)]
    assert (data["files"], data["versions"], data["skipped"]) == (1, 1, 0)
    when = data["exposures"][0]["date"]
    result = run("exposure", "-i", key, cwd=left)
    assert result.code == 0, result.err
    assert result.out == (f"db.sealed.yaml password: bob could know it (since {first}, {when})\n"
                          f"db.sealed.yaml token: bob could know it (since {first}, {when})\n"
                          "2 values a former recipient could know, in 1 sealed file "
                          "(1 earlier version opened)\n")
    assert "sealer: hint: rotate it: sealer rotate db.sealed.yaml password" in result.err
    assert "p1" not in result.out + result.err and "t1" not in result.out  # never a value
    assert run("exposure", cwd=left).code == 3  # no key of yours opens it


def test_rotate_what_a_removed_key_could_know(left: Path, tmp_path: Path) -> None:
    """`sealer rotate --exposed` hands the exposure list to rotation: each exposed value with
    rotation settings is rotated (after which bob knows nothing current); one without is
    reported, with how to replace it, and the run exits 1."""
    from sealer.rotation.protocol import configure_rotation

    key = tmp_path / "alice.key"
    key.write_text(f"{ALICE.native}\n")
    key.chmod(0o600)
    configure_rotation(left / "db.sealed.yaml", "password", [ALICE], every="30d")
    commit(left, "rotation settings")
    result = run("rotate", "--exposed", "-i", key, "--format", "json", cwd=left)
    assert result.code == 1, result.err
    rows = {(r["key"], r["result"]) for r in json.loads(result.out)}
    assert rows == {("password", "rotated"), ("token", "failed")}
    assert "no rotation settings: give it a new value (`sealer set" in result.err
    commit(left, "rotated")
    assert [e.key for e in exposure([left], [ALICE]).exposures] == ["token"]
    assert "p1" not in result.out + result.err and "t1" not in result.out + result.err


def test_the_report_lists_exposure_with_a_key(left: Path, tmp_path: Path) -> None:
    key = tmp_path / "alice.key"
    key.write_text(f"{ALICE.native}\n")
    key.chmod(0o600)
    keyless = run("report", "-o", tmp_path / "plain.html", cwd=left)
    assert keyless.code == 0, keyless.err
    assert "Not computed: it needs a key" in (tmp_path / "plain.html").read_text()
    done = run("report", "-o", tmp_path / "r.html", "--exposure", "-i", key, cwd=left)
    assert done.code == 0, done.err
    page = (tmp_path / "r.html").read_text()
    table = page[page.index('<table id="exposure">'):]
    table = table[:table.index("</table>")]
    first = short(left, "HEAD~1")
    for cell in ("<td>db.sealed.yaml</td><td>password</td>", "<td>token</td>",
                 f"<td>{first}</td>", "2 values a former recipient could know, in 1 file"):
        assert cell in table, cell
    assert "p1" not in page and "t1" not in page  # never a value


def test_a_threshold_file_shows_its_key_groups(tmp_path: Path) -> None:
    """With key groups no member reads alone: access says which groups, and how many of them,
    together can read, in text, JSON and the HTML matrix (a "share", not "read")."""
    from sealer.accesshtml import report_html

    (tmp_path / "sealer.yaml").write_text(EXPOSURE_CONFIG.replace(
        "    recipients: [alice, bob]", "    recipients: [alice, bob]\n    allow: [alice, bob]"))
    out = tmp_path / "db.sealed.yaml"
    seal_file(b"password: p1\n", out, source="db.yaml", groups=[[ALICE_R], [BOB_R]],
              threshold=2)
    found = access_map([out])
    assert (found.files[0].threshold, found.files[0].groups) == (2, (("alice",), ("bob",)))
    text = run("access", out, cwd=tmp_path)
    assert text.code == 0, text.err
    assert "read:    any 2 of these 2 key groups together: [alice] [bob]" in text.out
    data = json.loads(run("access", out, "--format", "json", cwd=tmp_path).out)
    assert data["files"][0]["threshold"] == 2
    page, _ = report_html([out])
    assert 'class="share"' in page and "2 of 2 groups" in page
