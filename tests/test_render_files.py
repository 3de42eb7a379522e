"""`sealer render -f files -o DIR`: one file per secret, read back by the real readers —
`systemd-creds` (the reader of `LoadCredential=` credentials, pointed at the directory with
$CREDENTIALS_DIRECTORY), `kubectl create secret generic --from-file=DIR` and kustomize's
`secretGenerator` `files:` (`kubectl kustomize`) — byte for byte, binary values included.
docker compose's `secrets: {x: {file: …}}` bind-mounts the file as it is; without a docker
daemon here it is not run.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_helpers import Demo, Result
from conftest import require_tool

from sealer.discovery import discover_identities
from sealer.errors import SealerError
from sealer.render import RenderSpec, is_current, render, write_output
from sealer.render.files import MANIFEST

pytest_plugins = ["cli_fixtures"]

K = ("-i", "alice.key")
SECRETS = r"""db:
  password: "p@ss'\"\\$`!\n  word "
  port: 5432
tls.crt: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
blob: !!binary AAEC/4CBgg==
unicode: "ünïcødé ✓"
empty: ""
nothing: null
flag: true
ratio: 0.25
"""
EXPECTED = {
    "db_password": b"p@ss'\"\\$`!\n  word ",
    "db_port": b"5432",
    "tls.crt": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "blob": b"\x00\x01\x02\xff\x80\x81\x82",
    "unicode": "ünïcødé ✓".encode(),
    "empty": b"",
    "nothing": b"",
    "flag": b"true",
    "ratio": b"0.25",
}


def sealed(demo: Demo, text: str = SECRETS, name: str = "creds") -> str:
    (demo.dir / f"{name}.yaml").write_text(text, encoding="utf-8")
    result = demo.run("seal", f"{name}.yaml", "-r", demo.recipient)
    assert result.code == 0, result.err
    return f"{name}.sealed.yaml"


def render_files(demo: Demo, *args: str, file: str = "creds.sealed.yaml",
                 out: str = "out") -> Result:
    return demo.run("render", file, "-f", "files", "-o", out, *K, *args)


def listing(directory: Path) -> dict[str, bytes]:
    """Every entry of `directory` but sealer's own .sealer/ (regular files only)."""
    out = {}
    for entry in os.scandir(directory):
        if entry.name == ".sealer":
            continue
        assert entry.is_file(follow_symlinks=False), entry.name
        out[entry.name] = Path(entry.path).read_bytes()
    return out


def test_one_file_per_secret_mode_0600_in_a_new_0700_directory(demo: Demo) -> None:
    sealed(demo)
    result = render_files(demo, out="run/app/credentials")
    assert (result.code, result.out) == (0, "")
    assert result.err == ("sealer: creds.sealed.yaml -> run/app/credentials/ (9 files, mode "
                          "0600)\n")
    out = demo.dir / "run/app/credentials"
    assert listing(out) == EXPECTED
    for path in (out, out.parent, out / ".sealer"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for name in [*EXPECTED, str(MANIFEST)]:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    manifest = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    assert manifest[1:] == list(EXPECTED)  # after its comment line


def test_systemd_creds_reads_every_credential_exactly(demo: Demo) -> None:
    """`systemd-creds cat` reads $CREDENTIALS_DIRECTORY, what LoadCredential= sets up."""
    systemd_creds = require_tool("systemd-creds")
    sealed(demo)
    assert render_files(demo).code == 0
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(demo.dir / "out")}
    for name, value in EXPECTED.items():
        read = subprocess.run([systemd_creds, "cat", name], capture_output=True, env=env,
                              check=True, timeout=60)
        assert read.stdout == value, name
    listed = subprocess.run([systemd_creds, "list", "--no-legend", "--no-pager"],
                            capture_output=True, text=True, env=env, check=True, timeout=60)
    assert sorted(line.split()[0] for line in listed.stdout.splitlines()) == sorted(EXPECTED)


def test_kubectl_from_file_directory_reads_every_value_exactly(demo: Demo) -> None:
    """`kubectl create secret generic --from-file=DIR` takes every regular file: sealer's
    manifest lives in a subdirectory, which it skips."""
    kubectl = require_tool("kubectl")
    sealed(demo)
    assert render_files(demo).code == 0
    made = subprocess.run([kubectl, "create", "secret", "generic", "app",
                           f"--from-file={demo.dir / 'out'}", "--dry-run=client", "-o", "json"],
                          capture_output=True, text=True, check=True, timeout=60)
    data = json.loads(made.stdout)["data"]
    assert {k: base64.b64decode(v) for k, v in data.items()} == EXPECTED


def test_kustomize_secret_generator_files_reads_every_value_exactly(demo: Demo) -> None:
    kubectl = require_tool("kubectl")
    sealed(demo)
    assert render_files(demo, out="overlay/secrets").code == 0
    (demo.dir / "overlay/kustomization.yaml").write_text(yaml.safe_dump({
        "secretGenerator": [{"name": "app", "files": [f"secrets/{n}" for n in EXPECTED],
                             "options": {"disableNameSuffixHash": True}}]}))
    built = subprocess.run([kubectl, "kustomize", str(demo.dir / "overlay")],
                           capture_output=True, text=True, check=True, timeout=60)
    data = yaml.safe_load(built.stdout)["data"]
    assert {k: base64.b64decode(v) for k, v in data.items()} == EXPECTED


def test_names_follow_the_flat_naming_options(demo: Demo) -> None:
    sealed(demo)
    assert render_files(demo, "--select", "db", "--upper", "--prefix", "PG_").code == 0
    assert listing(demo.dir / "out") == {"PG_PASSWORD": EXPECTED["db_password"],
                                         "PG_PORT": b"5432"}
    assert render_files(demo, "--separator", ".", out="dotted").code == 0
    assert "db.password" in listing(demo.dir / "dotted")


@pytest.mark.parametrize(("key", "shown"), [  # (the key in YAML, how the error shows it)
    ("a/b", "a/b: 'a/b'"),
    ("'.hidden'", '".hidden": \'.hidden\''),
    ("'..'", '"..": \'..\''),
    ('"a\\0b"', r"a\x00b: 'a\x00b'"),
    ("x" * 254, f"{'x' * 254}: '{'x' * 254}'"),
])
def test_names_a_reader_would_misread_are_refused_and_nothing_is_written(
        demo: Demo, key: str, shown: str) -> None:
    file = sealed(demo, f"ok: fine\n{key}: x\n", name="bad")
    result = render_files(demo, file=file)
    assert result.code == 1
    assert result.err == (
        f"sealer: error: bad.sealed.yaml: {shown} is not a valid file name\n"
        "sealer: hint: file names are letters, digits, -, _ and ., at most 253 characters, not "
        "starting with a dot; rename the key, or pass --prefix\n")
    assert not (demo.dir / "out").exists()


def test_two_keys_with_one_name_are_refused(demo: Demo) -> None:
    file = sealed(demo, "a:\n  b: 1\na_b: 2\n", name="twins")
    result = render_files(demo, file=file)
    assert result.code == 1 and "a.b and this key both become a_b" in result.err


def test_an_existing_directory_open_to_others_is_refused(demo: Demo) -> None:
    sealed(demo)
    (demo.dir / "out").mkdir()
    os.chmod(demo.dir / "out", 0o750)  # noqa: S103 - the mistake under test
    result = render_files(demo)
    assert result.code == 1
    assert result.err == (
        "sealer: error: out: the directory is open to group or others (mode 0750); refusing to "
        "write secrets into it\n"
        "sealer: hint: chmod 700 out, or choose a new directory (created 0700)\n")
    assert list((demo.dir / "out").iterdir()) == []


def test_a_directory_of_another_user_is_refused(demo: Demo, identity_file: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated: the test cannot own a directory as another user without root, so it
    renders in-process and then makes os.geteuid() report another uid while writing."""
    sealed(demo)
    out = demo.dir / "out"
    out.mkdir(mode=0o700)
    rendered = render([demo.dir / "creds.sealed.yaml"], RenderSpec("files", output=out),
                      discover_identities([str(identity_file)]))
    uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: uid + 1)
    with pytest.raises(SealerError, match="belongs to another user"):
        write_output(rendered)
    assert list(out.iterdir()) == []


def test_an_output_that_is_a_file_is_refused(demo: Demo) -> None:
    sealed(demo)
    (demo.dir / "out").write_text("x")
    result = render_files(demo)
    assert result.code == 1
    assert result.err.startswith("sealer: error: out: not a directory")


def test_stale_files_are_removed_only_if_sealer_wrote_them(demo: Demo, tmp_path: Path) -> None:
    sealed(demo)
    out = demo.dir / "out"
    assert render_files(demo).code == 0
    (out / "notes.txt").write_text("the operator's own file")
    outside = tmp_path / "outside"
    outside.write_text("not sealer's")
    (out / "blob").unlink()
    (out / "blob").symlink_to(outside)  # a stale name that is now a link: never followed
    assert render_files(demo, "--select", "db").code == 0
    names = {e.name for e in os.scandir(out)}
    assert names == {".sealer", "password", "port", "notes.txt", "blob"}
    assert (out / "blob").is_symlink() and outside.read_text() == "not sealer's"
    assert (out / MANIFEST).read_text().splitlines()[1:] == ["password", "port"]
    (out / "blob").unlink()
    assert render_files(demo).code == 0  # and back: the stale ones go, the new ones come
    assert listing(out) == {**EXPECTED, "notes.txt": b"the operator's own file"}


def test_a_link_or_directory_at_a_secrets_name_is_refused(demo: Demo, tmp_path: Path) -> None:
    sealed(demo)
    out = demo.dir / "out"
    out.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    outside.write_text("keep me")
    (out / "db_password").symlink_to(outside)
    result = render_files(demo)
    assert result.code == 1
    assert result.err.startswith("sealer: error: out/db_password: exists and is not a regular "
                                 "file")
    assert outside.read_text() == "keep me"
    assert {e.name for e in os.scandir(out)} == {"db_password"}  # nothing else was written


def test_check_compares_every_file_and_the_stale_ones(demo: Demo) -> None:
    sealed(demo)
    assert render_files(demo, "--check").code == 1  # does not exist
    assert render_files(demo).code == 0
    current = render_files(demo, "--check")
    assert (current.code, current.err) == (0, "sealer: out: up to date\n")
    assert render_files(demo, "--select", "db", "--check").code == 1  # stale files remain
    (demo.dir / "out/db_port").write_bytes(b"5433")
    stale = render_files(demo, "--check")
    assert stale.code == 1 and "out: is out of date" in stale.err


def test_the_files_format_cannot_be_printed(demo: Demo) -> None:
    sealed(demo)
    for args in (("--stdout",), ("-o", "-")):
        result = demo.run("render", "creds.sealed.yaml", "-f", "files", *args, *K)
        assert result.code == 2
        assert result.err == (
            "sealer: error: the files format writes a directory, one file per secret: it "
            f"cannot be printed ({' '.join(args)})\nsealer: hint: pass -o DIR\n")
    missing = demo.run("render", "creds.sealed.yaml", "-f", "files", *K)
    assert missing.err == "sealer: error: no output file\nsealer: hint: pass -o DIR\n"


def test_the_library_renders_writes_and_compares_a_directory(demo: Demo,
                                                            identity_file: Path) -> None:
    sealed(demo)
    out = demo.dir / "lib"
    spec = RenderSpec("files", output=out)
    rendered = render([demo.dir / "creds.sealed.yaml"], spec,
                      discover_identities([str(identity_file)]))
    assert rendered.files == EXPECTED and rendered.format == "files"
    assert not is_current(rendered)
    write_output(rendered)
    assert is_current(rendered) and listing(out) == EXPECTED
