"""`-` in `render` and `exec`: `-o -` prints (it used to create a plaintext file named `-`),
and a `-` input reads the sealed file from stdin, through the same read gate as a file named
`-` in the current directory (sealer.yaml's require_signature and the audit log apply).
The real sealer process throughout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyrage
from cli_helpers import Demo, run, run_on_terminal
from sealing import forge

from sealer.keys import parse_identities

pytest_plugins = ["cli_fixtures"]

K = ("-i", "alice.key")


def test_dash_output_prints_exactly_what_stdout_prints(demo: Demo) -> None:
    printed = demo.run("render", "app.sealed.yaml", "-f", "dotenv", "--stdout", *K)
    dashed = demo.run("render", "app.sealed.yaml", "-f", "dotenv", "-o", "-", *K)
    assert (dashed.code, dashed.err) == (0, "")
    assert dashed.out == printed.out and "db_password='c0rrect-horse'" in dashed.out
    assert not (demo.dir / "-").exists()


def test_a_file_named_dash_is_still_possible(demo: Demo) -> None:
    """By a path that is not just `-` once normalised (`./-` is `-`)."""
    result = demo.run("render", "app.sealed.yaml", "-f", "json", "-o", str(demo.dir / "-"), *K)
    assert result.code == 0, result.err
    assert json.loads((demo.dir / "-").read_text())["api"]["token"] == "tok-9f8e7d"


def test_dash_output_is_refused_to_a_terminal_and_where_it_makes_no_sense(demo: Demo) -> None:
    code, shown, err = run_on_terminal(demo, "render", "app.sealed.yaml", "-f", "dotenv", "-o",
                                       "-", *K)
    assert (code, shown) == (2, b"")
    assert err == ("sealer: error: refusing to print secrets to a terminal\n"
                   "sealer: hint: redirect stdout to a file or a pipe, or pass --force\n")
    cases = {
        ("-f", "dotenv", "-o", "-", "--check"):
            "sealer: error: -o - prints the output; it cannot go with --check\n",
        ("-f", "dotenv", "-o", "-", "--stdout"):
            "sealer: error: --stdout and -o - both print the output\n"
            "sealer: hint: give one of them\n",
        ("-f", "github", "-o", "-"):
            "sealer: error: -o - does not apply to the github format\n"
            "sealer: hint: it appends to $GITHUB_ENV, or to -o FILE\n",
        ("-t", "-", "-o", "-"):
            "sealer: error: the template cannot come from stdin: the templates it includes "
            "are found next to it\nsealer: hint: save it to a file and pass --template FILE\n",
    }
    for args, err in cases.items():
        result = demo.run("render", "app.sealed.yaml", *args, *K)
        assert (result.code, result.out, result.err) == (2, "", err), args
    assert not (demo.dir / "-").exists()


def test_a_dash_input_reads_the_sealed_file_from_stdin(demo: Demo) -> None:
    sealed = demo.sealed.read_bytes()
    result = demo.run("render", "-", "-f", "json", "-o", "-", *K, input=sealed)
    assert result.code == 0, result.err
    assert json.loads(result.out)["db"]["password"] == "c0rrect-horse"
    banner = demo.run("render", "-", "-f", "shell", "-o", "-", *K, input=sealed)
    assert banner.out.startswith("# Rendered by sealer from -. Plaintext secrets")
    overlay = demo.run("render", "app.sealed.yaml", "-", "--allow-override", "--select", "api",
                       "-f", "json", "-o", "-", *K, input=sealed)
    assert json.loads(overlay.out) == {"token": "tok-9f8e7d"}
    log = (Path(os.environ["HOME"]) / ".local/state/sealer/audit.log").read_text()
    entry = json.loads(log.splitlines()[-1])
    assert (entry["action"], entry["file"], entry["outcome"]) == (
        "render", str(demo.dir / "-"), "ok")


def test_exec_reads_a_dash_input_from_stdin(demo: Demo) -> None:
    result = demo.run("exec", "-", *K, "--", "sh", "-c", 'echo "$db_password"; cat',
                      input=demo.sealed.read_bytes())
    assert (result.code, result.out) == (0, "c0rrect-horse\n")  # its stdin: at end of file


def test_stdin_is_read_once(demo: Demo) -> None:
    errors = {
        ("render", "-", "-", "-f", "json", "-o", "-", *K):
            "sealer: error: stdin can be read only once: give - for one sealed file only\n",
        ("render", "-", "-f", "json", "-o", "-", "-i", "-"):
            "sealer: error: the key (-i -) and a sealed file (-) cannot both come from stdin\n"
            "sealer: hint: pass the key in $SEALER_IDENTITY or with -i FILE\n",
        ("exec", "-", "-i", "-", "--", "true"):
            "sealer: error: the key (-i -) and a sealed file (-) cannot both come from stdin\n"
            "sealer: hint: pass the key in $SEALER_IDENTITY or with -i FILE\n",
    }
    for args, err in errors.items():
        result = demo.run(*args, input=demo.sealed.read_bytes())
        assert (result.code, result.out, result.err) == (2, "", err), args


def test_stdin_that_is_not_a_sealed_file(demo: Demo) -> None:
    result = demo.run("render", "-", "-f", "json", "-o", "-", *K, input="db: plain\n")
    assert (result.code, result.out) == (1, "")
    assert result.err == ("sealer: error: -: not a sealed file (no sealer header)\n"
                          "sealer: hint: seal it first with `sealer seal`\n")


def test_a_dash_input_is_governed_by_the_sealer_yaml_here(tmp_path: Path) -> None:
    """A sealed file on stdin has no place of its own: the current directory's sealer.yaml
    governs it, so a forged (unsigned) file is refused where signatures are required, as it
    would be from a file."""
    signer_pub = run("keygen", "--signing", "-o", tmp_path / "signing.key").out.strip()
    secret = str(pyrage.x25519.Identity.generate())
    me = parse_identities(secret.encode(), source="t", prompt=None)[0]
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {me.recipient}\n  release: {signer_pub}\n"
        "environments:\n  prod:\n    recipients: [me]\n    signers: [release]\n"
        "    require_signature: true\ncreation_rules:\n  - {path: '**', environment: prod}\n")
    forged = forge(tmp_path / "forged.sealed.yaml", {"token": "s3cret-value"}, [me.recipient])
    refused = run("render", "-", "-f", "json", "-o", "-", cwd=tmp_path,
                  env={"SEALER_IDENTITY": secret}, input=forged.read_bytes())
    assert refused.code == 4 and "is not signed; its environment requires a signature" in (
        refused.err) and "s3cret" not in refused.out + refused.err
