"""The layout holds (docs/ARCHITECTURE.md): imports only go down the layers, every decryption
goes through the read gate and every sealed-file write through the write gate
(sealer/access.py), and the library never imports the CLI. Read from the source with `ast`, so
a new module or a new call site is checked the day it is written."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sealer"

# Lowest first. A module may import its own layer and the layers below it; imports made only
# for type hints (under `if TYPE_CHECKING:`) are not dependencies and are not counted.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("_version", "errors", "environ", "times", "fsio", "paths", "yamlio", "digest",
              "yamlfast", "yamlemit", "yamlstrict", "printable", "regex", "limits")),
    ("crypto", ("envelope", "age", "age.*", "agefile", "shamir")),
    ("keys", ("keys", "kms", "sshkeys", "discovery")),
    ("format", ("document", "core", "groups", "signing", "sops", "sops.*")),
    ("project", ("config", "schemas", "verdicts", "sealedfiles", "git", "audit", "policy",
                 "freshness", "plaintext")),
    ("gates", ("access",)),
    ("operations", ("files", "editor", "check", "leaks", "report", "importing", "accessmap",
                    "accessreport", "accesshtml", "exposure", "initialize", "git.drivers",
                    "git.history", "render", "render.*", "rotation", "rotation.*", "serve",
                    "serve.*")),
    ("interface", ("", "__main__", "cli", "cli.*")),
]

# Who may do what the gates exist for.
GATED_CALLS = {
    "open_document": {"access"},  # unwrap + verify: only the read gate calls it
    "to_yaml": {"access"},  # serialising a sealed document for writing: only the write gate
    "atomic_write": {"access", "render.output", "cli.cmd_seal", "accesshtml"},  # sealed
    # files; rendered outputs (render.output) and `unseal -o` (cli.cmd_seal) write plaintext,
    # and `sealer report` (accesshtml) a keyless page, not sealed files
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def layer_of(module: str) -> int:
    for index, (_name, members) in enumerate(LAYERS):
        for pattern in members:
            if module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1])):
                return index
    raise AssertionError(f"sealer.{module} is in no layer of tests/test_architecture.py "
                         "(and docs/ARCHITECTURE.md): place it")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported sealer module) for every run-time import, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            if node.module:
                yield node.lineno, _known(".".join([*base, node.module]))
            else:
                for alias in node.names:
                    yield node.lineno, _known(".".join([*base, alias.name]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sealer" or alias.name.startswith("sealer."):
                    yield node.lineno, _known(alias.name.removeprefix("sealer").lstrip("."))


def _known(module: str) -> str:
    """`render.spec.NameRule`-style names from `from . import x` -> the module part."""
    names = {m for m, _ in modules()}
    while module and module not in names:
        module = module.rpartition(".")[0]
    return module


ALL = list(modules())


@pytest.mark.parametrize(("module", "path"), ALL, ids=[m or "sealer" for m, _ in ALL])
def test_imports_go_down_the_layers(module: str, path: Path) -> None:
    mine = layer_of(module)
    for line, target in imports(module, path):
        if target == module:
            continue
        theirs = layer_of(target)
        assert theirs <= mine, (
            f"sealer/{path.relative_to(PACKAGE)}:{line}: {LAYERS[mine][0]} module "
            f"sealer.{module or '__init__'} imports sealer.{target or '__init__'} from the "
            f"higher layer {LAYERS[theirs][0]}")


@pytest.mark.parametrize(("module", "path"), ALL, ids=[m or "sealer" for m, _ in ALL])
def test_only_the_gates_decrypt_and_write_sealed_files(module: str, path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        allowed = GATED_CALLS.get(name or "")
        if allowed is not None:
            assert module in allowed, (
                f"sealer/{path.relative_to(PACKAGE)}:{node.lineno} calls {name}(): only "
                f"{', '.join(sorted(allowed))} may (go through sealer.access)")


def test_the_layers_name_every_module_once() -> None:
    seen: dict[str, str] = {}
    for name, members in LAYERS:
        for member in members:
            assert member not in seen, f"{member} is in {seen[member]} and {name}"
            seen[member] = name
    for module, _path in ALL:
        layer_of(module)


def test_the_architecture_document_names_the_layers() -> None:
    text = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name, _members in LAYERS:
        assert f"**{name}**" in text, f"docs/ARCHITECTURE.md does not describe layer {name}"


HEAVY = ("cryptography", "pyrage", "jsonschema", "jinja2", "psycopg", "sealer.signing", "typer",
         "click", "_hashlib")
_REPORT_MODULES = f"""
import sys
from sealer.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)
"""


def _heavy_imports(args: list[str], cwd: Path) -> list[str]:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _REPORT_MODULES, *args], cwd=cwd,
                            capture_output=True, text=True, check=False)
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    return [m for m in last.split(",") if m]


def test_the_keyless_check_hook_imports_no_crypto(tmp_path: Path) -> None:
    """`check` runs on every commit and needs no key: parsing a sealed file must not load
    cryptography, pyrage or the signing code (the import budget of the hot path)."""
    from sealing import new_identity

    from sealer.core import seal

    _, recipient = new_identity()
    sealed = tmp_path / "app.sealed.yaml"
    sealed.write_text(seal({"a": "b"}, recipients=[recipient], source=str(sealed)).to_yaml())
    assert _heavy_imports(["check", "."], tmp_path) == []
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {recipient.text}\nenvironments:\n  prod:\n"
        "    recipients: [me]\ncreation_rules:\n  - {path: '**', environment: prod}\n")
    # validating sealer.yaml needs jsonschema, and its principals' keys pyrage; never more
    assert set(_heavy_imports(["check", "."], tmp_path)) <= {"jsonschema", "pyrage"}


def test_get_imports_only_what_reading_needs(tmp_path: Path) -> None:
    """`get` of an unsigned file: no rotation code, schema validator, template engine,
    signing code, socket module, Typer or click (sealer.cli.fast parses it), nor hashlib's
    OpenSSL (sealer.digest): imports are most of a read's start-up (issue 17)."""
    import subprocess
    import sys

    import pyrage

    from sealer.core import seal
    from sealer.keys import parse_identities, parse_recipient

    secret = str(pyrage.x25519.Identity.generate())
    me = parse_identities(secret.encode(), source="t", prompt=None)[0]

    sealed = tmp_path / "app.sealed.yaml"
    sealed.write_text(seal({"a": "b"}, recipients=[parse_recipient(me.recipient)],
                           source=str(sealed)).to_yaml())
    (tmp_path / "key.txt").write_text(secret + "\n")
    (tmp_path / "key.txt").chmod(0o600)
    unwanted = ("sealer.rotation", "jsonschema", "jinja2", "sealer.signing", "socket", "typer",
                "click", "_hashlib")
    report = (f"import sys\nfrom sealer.cli import main\ntry:\n    main(sys.argv[1:])\n"
              f"except SystemExit:\n    pass\nprint(','.join(sorted(m for m in sys.modules if "
              f"m.startswith({unwanted!r}))), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", report, "get", "app.sealed.yaml", "a", "-i",
                             "key.txt"], cwd=tmp_path, capture_output=True, text=True,
                            check=False, env={**os.environ, "HOME": str(tmp_path)})
    assert result.stdout == "b", result.stderr
    assert result.stderr.strip().splitlines()[-1:] in ([], [""]), result.stderr


def test_a_checked_sealer_yaml_is_not_validated_again(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The second `check` of an unchanged, valid sealer.yaml takes the remembered verdict
    (sealer.verdicts) and imports no jsonschema; a changed one is validated again, and an
    invalid one is always reported."""
    from sealing import new_identity

    from sealer.core import seal

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _, recipient = new_identity()
    sealed = tmp_path / "app.sealed.yaml"
    sealed.write_text(seal({"a": "b"}, recipients=[recipient], source=str(sealed)).to_yaml())
    config = (f"version: 1\nprincipals:\n  me: {recipient.text}\nenvironments:\n  prod:\n"
              "    recipients: [me]\ncreation_rules:\n  - {path: '**', environment: prod}\n")
    (tmp_path / "sealer.yaml").write_text(config)
    assert "jsonschema" in _heavy_imports(["check", "."], tmp_path)
    assert "jsonschema" not in _heavy_imports(["check", "."], tmp_path)  # remembered
    (tmp_path / "sealer.yaml").write_text(config + "policy: {}\n")
    assert "jsonschema" in _heavy_imports(["check", "."], tmp_path)  # changed: checked again
    (tmp_path / "sealer.yaml").write_text(config + "environmentz: {}\n")
    for _ in range(2):  # invalid: never remembered
        assert "jsonschema" in _heavy_imports(["check", "."], tmp_path)
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "sealer", "check", "."], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "environmentz" in result.stdout + result.stderr
