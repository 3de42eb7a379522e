"""sealer.yaml, schemas and policy: every rule with a passing and a failing case, the schemas
against their examples, the output formats (SARIF validated against its official schema), and
the CLI's exit codes."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from conftest import ROOT, unavailable
from sealing import forge, new_identity

from sealer import yamlio
from sealer.check import check_files
from sealer.config import find_config, load_config
from sealer.document import read_sealed
from sealer.errors import ConfigError, PolicyError, SealerError
from sealer.files import seal_file, set_value
from sealer.schemas import builtin_names, resolve_schema, validate_values
from sealer.sealedfiles import sealed_files

CI_ID, CI_R = new_identity()
ALICE_ID, ALICE_R = new_identity()
LAPTOP_ID, LAPTOP_R = new_identity()

CONFIG = f"""\
version: 1
principals:
  ci-prod: {CI_R.text}
  alice: {ALICE_R.text}
  laptop: {LAPTOP_R.text}
groups:
  admins: [alice]
environments:
  prod:
    recipients: [ci-prod, admins]
    require: [ci-prod]
    max_rotation_age: 30d
  dev:
    recipients: [alice, laptop]
creation_rules:
  - path: prod/**
    environment: prod
    schema: db-credentials
  - path: dev/**
    environment: dev
policy:
  required_metadata: [owner]
  key_name: '^[a-z_]+$'
  file_name: '^[a-z0-9-]+\\.sealed\\.yaml$'
  rules:
    signature-not-required: "off"  # these tests are about the other rules (see below)
"""
DB = {"engine": "postgres", "host": "db", "port": 5432, "username": "app",
      "password": "long-enough-password", "dbname": "orders"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "sealer.yaml").write_text(CONFIG)
    (tmp_path / "prod").mkdir()
    (tmp_path / "dev").mkdir()
    return tmp_path


def seal(project: Path, name: str, data: dict[str, Any], **kwargs: Any) -> Path:
    out = project / name
    body = dict(data)
    body.setdefault("sealer", {"owner": "team"})
    seal_file(yamlio.dump(body).encode(), out, source="test", identities=[CI_ID], **kwargs)
    return out


def seal_for(project: Path, name: str, data: dict[str, Any], recipients: list[Any]) -> Path:
    """A file sealed for recipients its environment may not allow: sealer's write gate refuses
    to write it (checked here), so it is written as anyone with the public keys could."""
    out = project / name
    with pytest.raises(PolicyError, match="nothing was written"):
        seal(project, name, data, recipients=recipients)
    assert not out.exists()
    metadata = read_sealed(seal(project, name, data)).metadata  # what seal would have recorded
    return forge(out, data, [r.text for r in recipients], metadata=metadata)


def seal_unchecked(project: Path, name: str, data: dict[str, Any],
                   metadata: dict[str, Any]) -> Path:
    """A sealed file that breaks its schema (sealer's own seal would refuse to write it)."""
    from sealer.core import seal as seal_document

    out = project / name
    out.write_text(seal_document(data, recipients=[ALICE_R, LAPTOP_R], metadata=metadata,
                                 source=str(out)).to_yaml())
    return out


def rules(files: list[Path], **kwargs: Any) -> list[str]:
    return sorted(f.rule for f in check_files(files, **kwargs))


def test_a_good_file_is_clean(project: Path) -> None:
    good = seal(project, "prod/db.sealed.yaml", DB)
    assert check_files([good]) == []


def test_creation_rule_chooses_recipients(project: Path) -> None:
    good = seal(project, "prod/db.sealed.yaml", DB)
    recipients = {line.split()[0] for line in run("recipients", "list", good).out.splitlines()}
    assert recipients == {CI_R.text, ALICE_R.text}


def test_prod_file_sealed_to_a_laptop_is_a_finding(project: Path) -> None:
    bad = seal_for(project, "prod/db.sealed.yaml", DB, [CI_R, LAPTOP_R])
    findings = check_files([bad])
    assert [f.rule for f in findings] == ["recipient-not-allowed"]
    assert "principal 'laptop' may not decrypt prod secrets" in findings[0].message
    assert findings[0].line > 1


def test_required_principal_missing(project: Path) -> None:
    bad = seal_for(project, "prod/db.sealed.yaml", DB, [ALICE_R])
    assert rules([bad]) == ["recipient-missing"]


def test_unknown_key_is_not_allowed(project: Path) -> None:
    stranger = new_identity()[1]
    bad = seal_for(project, "prod/db.sealed.yaml", DB, [CI_R, stranger])
    [finding] = check_files([bad])
    assert finding.rule == "recipient-not-allowed" and "unknown key age1" in finding.message


def test_unmatched_file_is_a_warning(project: Path) -> None:
    other = seal(project, "elsewhere.sealed.yaml", {"a": "b"}, recipients=[ALICE_R])
    [finding] = check_files([other])
    assert (finding.rule, finding.severity) == ("unmatched-file", "warn")


def test_schema_shape_without_a_key(project: Path) -> None:
    data = {k: v for k, v in DB.items() if k != "password"}
    data.update({"port": True, "extra": "x"})  # AWS's shape allows extra keys
    bad = seal_unchecked(project, "dev/db.sealed.yaml", data,
                         {"owner": "t", "schema": "db-credentials"})
    messages = sorted(f.message for f in check_files([bad]) if f.rule == "schema-mismatch")
    assert messages == [
        "db-credentials: missing required key 'password'",
        "db-credentials: must be of type integer or string (it is boolean)",
    ]


def test_unknown_schema(project: Path) -> None:
    bad = seal_unchecked(project, "dev/x.sealed.yaml", {"a": "b"},
                         {"owner": "t", "schema": "no-such"})
    assert rules([bad]) == ["schema-unknown"]


def test_naming_rules(project: Path) -> None:
    bad = seal(project, "dev/Bad_Name.sealed.yaml", {"Bad": "x", "good": "y"})
    assert rules([bad]) == ["file-name", "key-name"]


def test_required_metadata(project: Path) -> None:
    bad = seal(project, "dev/x.sealed.yaml", {"a": "b", "sealer": {"description": "d"}})
    assert rules([bad]) == ["metadata-missing"]


def test_secret_left_in_clear(project: Path) -> None:
    clear = {"clear": {"suffix": "_public"}}
    bad = seal(project, "dev/x.sealed.yaml", {"db_password_public": "x", "host_public": "h",
                                              "sealer": {"owner": "t", **clear}})
    findings = check_files([bad])
    assert [(f.rule, f.path) for f in findings] == [("secret-in-clear", "db_password_public")]


def test_rotation_overdue(project: Path) -> None:
    good = seal(project, "prod/db.sealed.yaml", DB)
    assert check_files([good], now=datetime.now(UTC) + timedelta(days=29)) == []
    [late] = check_files([good], now=datetime.now(UTC) + timedelta(days=31))
    assert late.rule == "rotation-overdue" and "prod allows 30d" in late.message


def test_rotated_at_metadata_counts(project: Path) -> None:
    recent = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = {"owner": "t", "keys": {"password": {"rotation": {"rotated_at": old}},
                                   "username": {"rotation": {"rotated_at": recent}}}}
    f = seal(project, "prod/db.sealed.yaml", {**DB, "sealer": meta})
    assert [(x.rule, x.path) for x in check_files([f])] == [("rotation-overdue", "password")]


def test_severity_can_be_lowered_or_turned_off(project: Path) -> None:
    config = project / "sealer.yaml"
    config.write_text(CONFIG + "    key-name: warn\n    file-name: 'off'\n")
    bad = seal(project, "dev/Bad_Name.sealed.yaml", {"Bad": "x"})
    assert [(f.rule, f.severity) for f in check_files([bad])] == [("key-name", "warn")]


def test_decrypt_checks_values_and_the_mac(project: Path) -> None:
    good = seal(project, "dev/db.sealed.yaml", {**DB, "sealer": {"owner": "t",
                                                                  "schema": "db-credentials"}},
                recipients=[ALICE_R, LAPTOP_R])
    assert check_files([good], identities=[ALICE_ID]) == []
    text = good.read_text()
    good.write_text(text.replace("serial: 1", "serial: 2"))
    [finding] = check_files([good], identities=[ALICE_ID])
    assert finding.rule == "sealed-structure" and "authentication failed" in finding.message


def test_structure_findings_point_at_the_line(project: Path) -> None:
    broken = project / "dev" / "broken.sealed.yaml"
    broken.write_text("sealer:\n  format: 1\ndata:\n  a: 1\n  a: 2\n")
    [finding] = check_files([broken])
    assert (finding.rule, finding.line) == ("sealed-structure", 5)


def test_seal_refuses_values_that_break_the_schema(project: Path) -> None:
    with pytest.raises(SealerError, match=r"password: db-credentials: is shorter than 8 "
                                          r"characters; nothing was sealed"):
        seal(project, "prod/db.sealed.yaml", {**DB, "password": "short"})
    assert not (project / "prod" / "db.sealed.yaml").exists()
    good = seal(project, "prod/db.sealed.yaml", DB)
    with pytest.raises(SealerError, match="port: db-credentials: "):
        set_value(good, "port", "not-a-port", [CI_ID])
    set_value(good, "port", "5433", [CI_ID])  # a digit string, as AWS allows


@pytest.mark.parametrize("example", sorted((ROOT / "examples" / "schemas").glob("*.yaml")))
def test_every_schema_example_is_valid(example: Path) -> None:
    data = yamlio.load(example.read_text(), source=str(example))
    name = data.pop("sealer")["schema"]
    schema = resolve_schema(name)
    assert schema is not None
    assert validate_values(data, schema) == []


BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "db-credentials": ({"engine": "postgres", "host": "h", "username": "u", "password": "x" * 8,
                        "port": 70000}, "is above 65535"),
    "api-key": ({"api_key": "tiny-key"}, "is shorter than 16 characters"),
    "oauth-client": ({"client_id": "c"}, "missing required key 'client_secret'"),
    "ssh-keypair": ({"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
                     "public_key": "ssh-ed25519 AAAA"}, "not a readable OpenSSH private key"),
    "tls-certificate": ({"certificate": "-----BEGIN CERTIFICATE-----\nx",
                         "private_key": "-----BEGIN PRIVATE KEY-----\ny"},
                        "not valid PEM certificates"),
    "generic": ({"9bad": "x"}, "key name '9bad' is not allowed by the schema"),
}


def test_shipped_schemas_are_valid_json_schemas() -> None:
    """sealer skips meta-validation of its own schemas at run time; this is where it happens."""
    import jsonschema

    from sealer.schemas import schema_dirs

    shipped = [p for d in schema_dirs() for p in d.glob("*.json")]
    assert len(shipped) == 7
    for path in shipped:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_every_builtin_schema_has_an_example_and_a_broken_case() -> None:
    examples = {p.stem for p in (ROOT / "examples" / "schemas").glob("*.yaml")}
    assert set(builtin_names()) == examples == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_every_schema_rejects_a_broken_value(name: str) -> None:
    value, message = BROKEN[name]
    schema = resolve_schema(name)
    assert schema is not None
    issues = validate_values(value, schema)
    assert any(message in i.message for i in issues), issues
    assert "tiny-key" not in " ".join(i.message for i in issues)


def test_tls_checks_key_match_and_expiry() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(days: int, key: ec.EllipticCurvePrivateKey) -> str:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
        now = datetime.now(UTC)
        built = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                 .public_key(key.public_key()).serial_number(1)
                 .not_valid_before(now - timedelta(days=400))
                 .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256()))
        return built.public_bytes(serialization.Encoding.PEM).decode()

    def pem(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    schema = resolve_schema("tls-certificate")
    assert schema is not None
    assert validate_values({"certificate": cert(30, key), "private_key": pem(key)}, schema) == []
    [mismatch] = validate_values({"certificate": cert(30, key), "private_key": pem(other)}, schema)
    assert mismatch.message == "private_key does not match the certificate"
    [expired] = validate_values({"certificate": cert(-1, key), "private_key": pem(key)}, schema)
    assert expired.message.startswith("certificate expired on ")


def test_config_is_found_from_the_file_not_the_cwd(project: Path, tmp_path_factory: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert find_config(project / "prod" / "x.sealed.yaml") == project / "sealer.yaml"
    nested = project / "prod" / "deep" / "er"
    nested.mkdir(parents=True)
    assert find_config(nested / "y.sealed.yaml") == project / "sealer.yaml"


@pytest.mark.parametrize(("text", "message"), [
    ("version: 1\nenvironmnts: {}\n", "line 2: top level: unknown key 'environmnts'"),
    ("version: 1\nenvironments:\n  prod:\n    recipients: []\n    requre: []\n",
     "line 5: environments.prod: unknown key 'requre'"),
    ("version: 1\npolicy:\n  rules:\n    no-such-rule: warn\n",
     "line 4: policy.rules: unknown name 'no-such-rule'"),
    ("version: 1\npolicy:\n  rules:\n    key-name: loud\n",
     "line 4: policy.rules.key-name: 'loud' is not one of ['error', 'warn', 'off']"),
    ("version: 2\n", "line 1: version: 1 was expected"),
    ("version: 1\nprincipals:\n  bob: age1nope\n", "line 3: principal 'bob': invalid age"),
    ("version: 1\nenvironments:\n  prod:\n    recipients: [ghost]\n",
     "line 4: 'ghost' is neither a principal nor a group"),
    ("version: 1\nprincipals: {}\nenvironments: {}\ncreation_rules:\n  - path: x\n"
     "    environment: prod\n", "line 6: unknown environment 'prod'"),
    ("version: 1\ngroups:\n  a: [b]\n  b: [a]\nenvironments:\n  e:\n    recipients: [a]\n",
     "contains itself"),
    ("- just a list\n", "must be a mapping"),
])
def test_config_errors_point_at_the_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sealer.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "sealer.yaml")
    assert message in str(info.value)


def test_cli_exit_codes_and_formats(project: Path) -> None:
    seal(project, "prod/db.sealed.yaml", DB)
    clean = run("check", project)
    assert (clean.code, clean.out) == (0, "1 sealed file checked: 0 errors, 0 warnings\n")
    seal_for(project, "prod/extra.sealed.yaml", DB, [CI_R, LAPTOP_R])
    dirty = run("check", project / "prod", "--format", "json")
    assert dirty.code == 1
    report = json.loads(dirty.out)
    assert report["checked"] == 2 and report["findings"][0]["rule"] == "recipient-not-allowed"
    github = run("check", project / "prod", "--format", "github")
    assert github.out.startswith("::error file=") and "title=sealer recipient-not-allowed::" in (
        github.out)
    (project / "sealer.yaml").write_text("version: 1\nbogus: 1\n")
    broken = run("check", project)
    assert broken.code == 2 and "unknown key 'bogus'" in broken.err


def test_check_respects_gitignore(project: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    seal(project, "prod/db.sealed.yaml", DB)
    (project / "ignored").mkdir()
    (project / "ignored" / "junk.sealed.yaml").write_text("not: sealed\n")
    (project / ".gitignore").write_text("ignored/\n")
    assert [p.name for p in sealed_files([project])] == ["db.sealed.yaml"]


@pytest.fixture(scope="session")
def sarif_schema() -> dict[str, Any]:
    """The official SARIF 2.1.0 schema, as shipped in Microsoft's npm package
    @microsoft/jest-sarif: a dependency in tests/interop/package.json, which .ci/run installs."""
    package = ROOT / "tests" / "interop" / "node_modules" / "@microsoft" / "jest-sarif"
    path = package / "lib" / "schemas" / "sarif-2.1.0-rtm.5.json"
    if not path.is_file():
        unavailable("@microsoft/jest-sarif is not installed: npm ci --prefix tests/interop")
    return dict(json.loads(path.read_text()))


def test_sarif_is_valid_sarif_2_1_0(project: Path, sarif_schema: dict[str, Any]) -> None:
    import jsonschema

    seal_for(project, "prod/db.sealed.yaml", DB, [CI_R, LAPTOP_R])
    seal(project, "elsewhere.sealed.yaml", {"a": "b"}, recipients=[ALICE_R])
    result = run("check", project, "--format", "sarif")
    log = json.loads(result.out)
    jsonschema.validate(log, sarif_schema, cls=jsonschema.Draft7Validator)
    levels = sorted(r["level"] for r in log["runs"][0]["results"])
    assert levels == ["error", "warning"]
    assert result.code == 1


def test_environment_can_require_post_quantum_recipients(tmp_path: Path) -> None:
    from sealer.discovery import keygen
    from sealer.keys import parse_recipient

    _, pq_text = keygen(tmp_path / "pq.key", now=datetime.now(UTC), pq=True)
    pq = parse_recipient(pq_text)
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  vault: {pq_text}\n  ci: {CI_R.text}\nenvironments:\n"
        "  prod:\n    recipients: [vault]\n    allow: [ci]\n    require_post_quantum: true\n"
        "policy:\n  rules:\n    signature-not-required: 'off'\n"
        "creation_rules:\n  - {path: '**', environment: prod}\n")
    good = tmp_path / "good.sealed.yaml"
    seal_file(b"a: b\n", good, source="t")
    assert [w.recipient for w in read_sealed(good).recipients] == [pq.text]
    assert check_files([good]) == []
    classical = tmp_path / "classical.sealed.yaml"
    with pytest.raises(PolicyError, match="requires post-quantum recipients"):
        seal_file(b"a: b\n", classical, source="t", recipients=[CI_R])  # the write gate
    forge(classical, {"a": "b"}, [CI_R.text])
    [finding] = check_files([classical])
    assert finding.rule == "recipient-not-post-quantum"
    assert "requires post-quantum recipients" in finding.message


def test_environments_without_signatures_are_a_warning(tmp_path: Path) -> None:
    """What a forger could do is said once per environment, as a warning (exit 0)."""
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  ci: {CI_R.text}\nenvironments:\n  prod:\n"
        "    recipients: [ci]\ncreation_rules:\n  - {path: '**', environment: prod}\n")
    good = seal(tmp_path, "db.sealed.yaml", {"a": "b"})
    [finding] = check_files([good])
    assert (finding.rule, finding.severity, finding.line) == ("signature-not-required", "warn", 5)
    assert "anyone with its public keys can write a file its readers accept" in finding.message
    result = run("check", tmp_path)
    assert result.code == 0 and "1 warning" in result.out
