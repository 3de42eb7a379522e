"""`sealer import sops`: conformance with the shared SOPS vectors and with files the real `sops`
binary writes in the test, refusals (tampered, forged, unsupported keys), and the CLI."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Result, run
from sops_helpers import (
    SOPS_REPO,
    identities,
    key_text,
    pgp_data_key,
    recipient_of,
    sops,
    vectors,
)

from sealer.errors import IntegrityError, NoIdentityError, SealerError, UsageError
from sealer.sops import decrypt_file
from sealer.sops.stores import load, read_dotenv, read_ini, store_for
from sealer.sops.tree import decrypt_tree
from sealer.sops.yamlv3 import load_documents

pytest_plugins = ["cli_fixtures"]

# vector -> its expected plaintext (sops 3.11's own `sops decrypt` output)
DECRYPTABLE = {
    "basic.enc.yaml": "basic.dec.yaml",
    "basic.enc.json": "basic.dec.json",
    "basic.enc.env": "basic.dec.env",
    "basic.enc.ini": "basic.dec.ini",
    "blob.enc.json": "blob.dec.bin",
    "yaml_typing.enc.yaml": "yaml_typing.dec.yaml",
    "multidoc.two_recipients.enc.yaml": "multidoc.two_recipients.dec.yaml",
    "k8s-secret.encrypted_regex.enc.yaml": "k8s-secret.encrypted_regex.dec.yaml",
    "k8s-secret.mac_only_encrypted.enc.yaml": "k8s-secret.mac_only_encrypted.dec.yaml",
    "basic.shamir_2of3.enc.yaml": "basic.shamir_2of3.dec.yaml",
}
# sops 3.11 rejects these itself
REJECTED = ("negative.swapped_ciphertexts.enc.yaml", "negative.tampered_unencrypted_value.enc.yaml",
            "negative.encrypted_regex_tampered_unencrypted.enc.yaml")
# sops 3.11 accepts these; each changes a part its MAC does not cover (the key named here)
TAMPERED = {
    "TAMPERED_still_valid.injected_null_and_empty_keys.enc.yaml": "app.injected_null_key",
    "TAMPERED_still_valid.renamed_unencrypted_key.enc.yaml": "public_unencrypted.admin_password",
    "TAMPERED_still_valid.value_boundary_shift.enc.yaml": "public_unencrypted.count",
    "k8s-secret.mac_only_encrypted.TAMPERED_unencrypted_still_valid.enc.yaml":
        "metadata.namespace",
}


def expected_plaintext(path: Path) -> list[Any]:
    text = path.read_bytes()
    if path.suffix == ".bin":
        return [{"data": text}]
    if path.suffix == ".json" or path.name.endswith(".json.decrypted"):
        return [json.loads(text)]
    if path.suffix == ".env" or path.name.endswith(".env.decrypted"):
        return [read_dotenv(text.decode(), str(path))]
    if path.suffix == ".ini" or path.name.endswith(".ini.decrypted"):
        return [read_ini(text.decode(), str(path))]
    if path.name.endswith(".txt.decrypted"):
        return [{"data": text.decode()}]
    return load_documents(text.decode(), str(path))


# -- conformance -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DECRYPTABLE))
def test_every_decryptable_vector_gives_its_expected_output(name: str) -> None:
    source = vectors() / name
    keys = ("key1", "key3") if "shamir" in name else ("key1",)
    plain = decrypt_file(source.read_bytes(), identities(*keys), source=str(source))
    assert plain.branches == expected_plaintext(vectors() / "expected" / DECRYPTABLE[name])


@pytest.mark.parametrize("name", ["multidoc.two_recipients.enc.yaml",
                                  "basic.shamir_2of3.enc.yaml"])
def test_the_other_recipients_open_the_multi_recipient_vectors(name: str) -> None:
    keys = ("key2", "key3") if "shamir" in name else ("key2",)
    source = vectors() / name
    plain = decrypt_file(source.read_bytes(), identities(*keys), source=str(source))
    assert plain.branches == expected_plaintext(vectors() / "expected" / DECRYPTABLE[name])


def _sops_repo_vectors() -> list[tuple[Path, Path]]:
    if not (SOPS_REPO / "expected").is_dir():
        return []
    files = {str(p.relative_to(SOPS_REPO)).replace("/", "_"): p
             for p in SOPS_REPO.rglob("*") if p.is_file()}
    return [(files[e.name.removesuffix(".decrypted")], e)
            for e in sorted((SOPS_REPO / "expected").glob("*.decrypted"))]


@pytest.mark.parametrize("source,expected", _sops_repo_vectors(),
                         ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_sops_own_vectors_decrypt_to_their_expected_output(source: Path, expected: Path,
                                                           tmp_path: Path) -> None:
    """sops' test files are PGP-encrypted: gpg unwraps the data key, sealer does the rest."""
    loaded = load(source.read_bytes(), store_for(source), str(source))
    key = pgp_data_key(loaded.metadata, tmp_path / "gnupg")
    decrypted = decrypt_tree(loaded.branches, loaded.metadata, key, str(source))
    assert decrypted.branches == expected_plaintext(expected)


def test_a_sops_file_without_a_mac_is_refused(tmp_path: Path) -> None:
    source = SOPS_REPO / "functional-tests" / "res" / "no_mac.yaml"
    if not source.is_file():
        pytest.skip("sops-repo vectors not present")
    loaded = load(source.read_bytes(), "yaml", str(source))
    key = pgp_data_key(loaded.metadata, tmp_path / "gnupg")
    with pytest.raises(IntegrityError, match="no MAC"):
        decrypt_tree(loaded.branches, loaded.metadata, key, str(source))


@pytest.mark.parametrize("name", REJECTED)
def test_vectors_sops_rejects_are_refused_without_printing_the_macs(name: str) -> None:
    source = vectors() / name
    with pytest.raises(IntegrityError) as caught:
        decrypt_file(source.read_bytes(), identities("key1"), source=str(source))
    stderr = vectors() / "expected" / name.replace(".enc.yaml", ".stderr")
    for word in stderr.read_text().split():
        if len(word.strip(",")) == 128:  # the two MACs sops prints
            assert word.strip(",").lower() not in str(caught.value).lower()


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_tampering_sops_accepts_is_named_as_unauthenticated(name: str) -> None:
    source = vectors() / name
    plain = decrypt_file(source.read_bytes(), identities("key1"), source=str(source))
    assert TAMPERED[name] in [path for path, _ in plain.unauthenticated]


def test_shamir_with_too_few_groups_says_how_many() -> None:
    source = vectors() / "basic.shamir_2of3.enc.yaml"
    with pytest.raises(NoIdentityError, match="1 of the 2 needed"):
        decrypt_file(source.read_bytes(), identities("key2"), source=str(source))


def test_the_forged_vector_verifies_as_it_does_for_sops() -> None:
    """Anyone with the public key writes a valid SOPS file: no reader can tell (docs/SOPS.md)."""
    source = vectors() / "FORGED_with_public_key_only.enc.yaml"
    plain = decrypt_file(source.read_bytes(), identities("key1"), source=str(source))
    assert plain.branches == [{"app": {"db_password": "attacker-chosen"}}]


# -- files the real sops writes --------------------------------------------------------------


def _random_text(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + " _-:./=+äö€"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))).strip() or "x"


def _random_tree(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(rng.randint(1, 5)):
        kind = rng.choice(["str", "int", "float", "bool", "map", "list"][: 4 if depth > 2 else 6])
        key = f"k{i}_{rng.randint(0, 999)}"
        if kind == "map":
            out[key] = _random_tree(rng, depth + 1)
        elif kind == "list":
            out[key] = [_random_scalar(rng) for _ in range(rng.randint(1, 4))]
        else:
            out[key] = _random_scalar(rng, kind)
    return out


def _random_scalar(rng: random.Random, kind: str | None = None) -> Any:
    kind = kind or rng.choice(["str", "int", "float", "bool"])
    if kind == "int":
        return rng.randint(-10**12, 10**12)
    if kind == "float":
        return rng.choice([rng.uniform(-1e6, 1e6), 0.5, 1234.56789, -0.001])
    if kind == "bool":
        return rng.random() < 0.5
    return _random_text(rng)


@pytest.mark.parametrize("seed", range(6))
def test_random_documents_sops_writes_import_exactly(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    tree = _random_tree(rng)
    (tmp_path / "doc.json").write_text(json.dumps(tree), encoding="utf-8")
    out = sops("encrypt", "--age", recipient_of("key1"), "doc.json", key=key_text("key1"),
               cwd=tmp_path)
    plain = decrypt_file(out, identities("key1"), source="doc.enc.json")
    assert plain.branches == [tree]
    assert plain.unauthenticated == []


@pytest.mark.parametrize("store,text,expected", [
    ("yaml", "a: 1\nb:\n  - x\n  - 2.5\nc: true\nd: '017'\nwhen: 2024-01-01\n",
     {"a": 1, "b": ["x", 2.5], "c": True, "d": "017", "when": "2024-01-01T00:00:00Z"}),
    ("json", '{"a": "s", "n": 7, "f": 0.25, "l": [true, "y"]}',
     {"a": "s", "n": 7, "f": 0.25, "l": [True, "y"]}),
    ("dotenv", "A=1\nB=two words\nC=x=y\n", {"A": "1", "B": "two words", "C": "x=y"}),
    ("ini", "[db]\nuser = admin\npass = hunter2\n", {"db": {"user": "admin", "pass": "hunter2"}}),
    ("binary", "raw bytes\n\x01", {"data": "raw bytes\n\x01"}),
])
def test_every_store_sops_writes_imports_exactly(store: str, text: str, expected: Any,
                                                 tmp_path: Path) -> None:
    name = {"yaml": "f.yaml", "json": "f.json", "dotenv": "f.env", "ini": "f.ini",
            "binary": "f.bin"}[store]
    (tmp_path / name).write_text(text, encoding="utf-8")
    out = sops("encrypt", "--age", recipient_of("key1"), name, key=key_text("key1"),
               cwd=tmp_path)
    plain = decrypt_file(out, identities("key1"), source=name, store=store)
    assert plain.branches == [expected]


def test_mac_only_encrypted_and_regexes_from_sops(tmp_path: Path) -> None:
    (tmp_path / "k.yaml").write_text("kind: Secret\ndata:\n  pw: p\n", encoding="utf-8")
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {recipient_of('key1')}\n    encrypted_regex: ^data$\n"
        "    mac_only_encrypted: true\n", encoding="utf-8")
    out = sops("encrypt", "k.yaml", key=key_text("key1"), cwd=tmp_path)
    plain = decrypt_file(out, identities("key1"), source="k.yaml")
    assert plain.branches == [{"kind": "Secret", "data": {"pw": "p"}}]
    assert [p for p, _ in plain.unauthenticated] == ["kind"]


# -- the command -----------------------------------------------------------------------------

PROJECT = """\
version: 1
principals:
  ops: {recipient}
environments:
  prod:
    recipients: [ops]
creation_rules:
  - path: "**"
    environment: prod
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "sealer.yaml").write_text(PROJECT.format(recipient=recipient_of("key2")))
    return tmp_path


def _import(cwd: Path, *args: str | Path, key: str = "key1") -> Result:
    return run("import", "sops", *args, cwd=cwd, env={"SEALER_IDENTITY": key_text(key)})


def _sops_file(cwd: Path, name: str, text: str) -> Path:
    plain = cwd / "plain-input"
    plain.write_text(text, encoding="utf-8")
    out = sops("encrypt", "--age", recipient_of("key1"), "--filename-override", name,
               plain.name, key=key_text("key1"), cwd=cwd)
    plain.unlink()
    (cwd / name).write_bytes(out)
    return cwd / name


def _unseal(cwd: Path, name: str, key: str = "key2") -> str:
    result = run("unseal", name, cwd=cwd, env={"SEALER_IDENTITY": key_text(key)})
    assert result.code == 0, result.err
    return result.out


def test_import_seals_for_the_creation_rule(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    _sops_file(cwd, "app.enc.yaml", "db:\n  password: hunter2\n  port: 5432\n")
    result = _import(cwd, "app.enc.yaml")
    assert result.code == 0, result.err
    assert "app.enc.yaml -> app.sealed.yaml" in result.err
    assert _unseal(cwd, "app.sealed.yaml") == "db:\n  password: hunter2\n  port: 5432\n"
    assert "hunter2" not in result.out + result.err
    assert (cwd / "app.enc.yaml").exists()


def test_import_with_output_and_recipient(tmp_path: Path) -> None:
    _sops_file(tmp_path, "secrets.env", "TOKEN=abc\n")
    result = _import(tmp_path, "secrets.env", "-o", "prod.sealed.yaml", "-r",
                     recipient_of("key3"))
    assert result.code == 0, result.err
    assert _unseal(tmp_path, "prod.sealed.yaml", "key3") == "TOKEN: abc\n"


def test_unauthenticated_values_are_refused_until_accepted(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    _sops_file(cwd, "app.yaml", "password: p\nnote_unencrypted: hello\n")
    refused = _import(cwd, "app.yaml")
    assert refused.code == 1
    assert "note_unencrypted is in clear" in refused.err
    assert "--accept-unauthenticated" in refused.err
    assert not (cwd / "app.sealed.yaml").exists()
    accepted = _import(cwd, "app.yaml", "--accept-unauthenticated")
    assert accepted.code == 0, accepted.err
    assert "warning: note_unencrypted is in clear" in accepted.err
    assert _unseal(cwd, "app.sealed.yaml") == "password: p\nnote_unencrypted: hello\n"


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_tampered_vectors_sops_accepts_are_refused(name: str, tmp_path: Path) -> None:
    result = _import(tmp_path, vectors() / name, "-o", "out.sealed.yaml", "-r",
                     recipient_of("key1"))
    assert result.code == 1
    assert "nothing was imported" in result.err
    assert not (tmp_path / "out.sealed.yaml").exists()


def test_a_mac_mismatch_is_refused_without_the_macs(tmp_path: Path) -> None:
    name = "negative.tampered_unencrypted_value.enc.yaml"
    result = _import(tmp_path, vectors() / name, "-o", "out.sealed.yaml", "-r",
                     recipient_of("key1"))
    assert result.code == 4
    assert result.err.startswith(f"sealer: error: {vectors() / name}: the SOPS MAC does not "
                                 "match")
    assert not any(len(w) >= 64 and all(c in "0123456789ABCDEFabcdef" for c in w)
                   for w in result.err.split())
    assert not (tmp_path / "out.sealed.yaml").exists()


def test_pgp_only_files_are_refused_naming_the_key_type(tmp_path: Path) -> None:
    source = SOPS_REPO / "example.yaml"
    if not source.is_file():
        pytest.skip("sops-repo vectors not present")
    result = _import(tmp_path, source, "-o", "out.sealed.yaml", "-r", recipient_of("key1"))
    assert result.code == 2
    assert f"{source}: encrypted with PGP only" in result.err
    assert not (tmp_path / "out.sealed.yaml").exists()


def test_in_place_converts_a_whole_tree_or_nothing(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    (cwd / "svc").mkdir()
    _sops_file(cwd, "svc/a.enc.yaml", "a: 1\n")
    _sops_file(cwd, "svc/b.enc.json", '{"b": "two"}')
    (cwd / "svc" / "readme.txt").write_text("not a secret\n")
    broken = (cwd / "svc" / "c.enc.yaml")
    broken.write_text(_sops_file(cwd, "svc/c.enc.yaml", "c: 3\n").read_text()
                      .replace("c: ENC[AES256_GCM,data:", "c: ENC[AES256_GCM,data:AA"))
    refused = _import(cwd, "--in-place", "svc")
    assert refused.code == 4, refused.err
    assert "1 of 3 SOPS files cannot be imported, so nothing was written" in refused.err
    assert sorted(p.name for p in (cwd / "svc").iterdir()) == [
        "a.enc.yaml", "b.enc.json", "c.enc.yaml", "readme.txt"]
    partly = _import(cwd, "--in-place", "--continue", "svc")
    assert partly.code == 1
    assert "svc/a.enc.yaml -> svc/a.sealed.yaml (converted)" in partly.err
    assert "svc/c.enc.yaml: not imported" in partly.err
    assert sorted(p.name for p in (cwd / "svc").iterdir()) == [
        "a.sealed.yaml", "b.sealed.yaml", "c.enc.yaml", "readme.txt"]
    assert _unseal(cwd, "svc/b.sealed.yaml") == "b: two\n"


def test_library_refuses_multi_document_files_and_reserved_keys(tmp_path: Path) -> None:
    from sealer.importing import import_sops

    with pytest.raises(UsageError, match="2 YAML documents"):
        import_sops([vectors() / "multidoc.two_recipients.enc.yaml"],
                    identities=identities("key1"), output=tmp_path / "x.sealed.yaml")
    _sops_file(tmp_path, "r.yaml", "sealer: x\n")
    with pytest.raises(SealerError, match="reserves"):
        import_sops([tmp_path / "r.yaml"], identities=identities("key1"))


def test_output_names() -> None:
    from sealer.importing import sealed_output

    for name, out in [("app.enc.yaml", "app.sealed.yaml"), ("app.yaml", "app.sealed.yaml"),
                      ("db.sops.json", "db.sealed.yaml"), (".env", ".env.sealed.yaml"),
                      ("prod.enc.env", "prod.sealed.yaml"), ("blob.enc", "blob.sealed.yaml")]:
        assert sealed_output(Path("d") / name) == Path("d") / out


# -- .sops.yaml ------------------------------------------------------------------------------


def test_sops_config_becomes_an_equivalent_sealer_yaml(tmp_path: Path) -> None:
    from sealer.config import load_config

    one, two = recipient_of("key1"), recipient_of("key2")
    (tmp_path / ".sops.yaml").write_text(f"""\
stores: {{yaml: {{indent: 4}}}}
creation_rules:
  - path_regex: ^secrets/prod/.*\\.yaml$
    age: {one}, {two}
    unencrypted_suffix: _public
  - path_regex: dev/(a|b)
    age: {one}
  - path_regex: \\.enc\\.json$
    key_groups:
      - age: [{two}]
        pgp: [FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4]
    encrypted_regex: ^data$
  - path_regex: shared/.*
    shamir_threshold: 2
    key_groups: [{{age: [{one}]}}, {{age: [{two}]}}]
""")
    result = run("import", "sops-config", ".sops.yaml", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "sealer: .sops.yaml: no equivalent: `stores`: a sops setting sealer has nothing like; "
        "ignored",
        "sealer: .sops.yaml: no equivalent: creation rule 2: path_regex 'dev/(a|b)' is not a "
        "simple glob; not converted (write its `path:` glob by hand)",
        "sealer: .sops.yaml: no equivalent: creation rule 3: PGP keys: sealer encrypts to age "
        "and SSH keys only; left out",
        "sealer: .sops.yaml: no equivalent: creation rule 3: `encrypted_regex`: sealer encrypts "
        "every value except those its `clear` rule names",
        "sealer: .sops.yaml: no equivalent: creation rule 4: 2 key groups with a Shamir "
        "threshold: not converted (write them as the environment's key_groups by hand, "
        "docs/KEY-GROUPS.md)",
        "sealer: .sops.yaml -> sealer.yaml"]
    config = load_config(tmp_path / "sealer.yaml")
    assert config.principals == {"key1": one, "key2": two}
    prod = config.rule_for(tmp_path / "secrets" / "prod" / "db.yaml")
    assert prod is not None and prod.clear == {"suffix": "_public"}
    assert list(config.environments[prod.environment].recipients) == ["key1", "key2"]
    json_rule = config.rule_for(tmp_path / "x" / "app.enc.json")
    assert json_rule is not None
    assert list(config.environments[json_rule.environment].recipients) == ["key2"]
    assert config.rule_for(tmp_path / "shared" / "x.yaml") is None
    again = run("import", "sops-config", ".sops.yaml", cwd=tmp_path)
    assert again.code == 2 and "refusing to overwrite" in again.err


def test_sops_config_with_nothing_convertible_is_refused(tmp_path: Path) -> None:
    source = SOPS_REPO / ".sops.yaml"
    if not source.is_file():
        pytest.skip("sops-repo vectors not present")
    result = run("import", "sops-config", source, "-o", "-", cwd=tmp_path)
    assert result.code == 2
    assert result.err.startswith(f"sealer: error: {source}: no creation rule could be "
                                 "converted: creation rule 1: PGP keys")
    assert result.out == ""


def test_the_migration_in_three_commands(tmp_path: Path) -> None:
    """What README "Coming from SOPS" shows, with files the real sops wrote for .sops.yaml."""
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: secrets/.*\n    age: {recipient_of('key1')},"
        f"{recipient_of('key2')}\n")
    (tmp_path / "secrets").mkdir()
    for name, text in [("db.enc.yaml", "password: hunter2\n"), ("api.env", "TOKEN=t0k\n")]:
        (tmp_path / "secrets" / name).write_text(text)
        encrypted = sops("encrypt", f"secrets/{name}", key=key_text("key1"), cwd=tmp_path)
        (tmp_path / "secrets" / name).write_bytes(encrypted)
    assert run("import", "sops-config", ".sops.yaml", cwd=tmp_path).code == 0
    converted = _import(tmp_path, "--in-place", ".")
    assert converted.code == 0, converted.err
    assert sorted(p.name for p in (tmp_path / "secrets").iterdir()) == [
        "api.sealed.yaml", "db.sealed.yaml"]
    assert _unseal(tmp_path, "secrets/db.sealed.yaml", "key2") == "password: hunter2\n"
    assert _unseal(tmp_path, "secrets/api.sealed.yaml", "key1") == "TOKEN: t0k\n"
    checked = run("check", ".", cwd=tmp_path)
    assert checked.code == 0, checked.out + checked.err


@pytest.mark.parametrize("regex,glob", [
    (r"^secrets/prod/.*\.yaml$", "secrets/prod/**.yaml"), (r"\.enc\.json$", "**.enc.json"),
    ("secrets/.*", "**secrets/**"), (".*", "**"), (r"^a/[^/]*/b$", "a/*/b"),
    ("dev/(a|b)", None), (r"x\*", None), ("a.b", None), (r"\d+", None),
])
def test_path_regexes_become_globs_only_when_they_are_globs(regex: str, glob: str | None
                                                            ) -> None:
    from sealer.sops.rules import regex_to_glob

    assert regex_to_glob(regex) == glob
