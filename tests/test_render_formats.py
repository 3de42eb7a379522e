"""Each render format against tricky values, read back by a real consumer:

- dotenv: python-dotenv (and bash, for the lines the format promises are shell-safe);
- shell: bash and dash sourcing the file;
- systemd: systemd's own parser where it can run here (the environment.d generator, which
  shares EnvironmentFile's parser but expands `$`), a reimplementation of the documented
  EnvironmentFile rules for every value, and bash (the format is also valid shell);
- json / yaml: json, PyYAML and sealer's strict loader;
- k8s: `kubectl create secret … --dry-run=client -o yaml` on the same values, and the Secret
  object's schema;
- template: Jinja2 output compared byte for byte, its filters read back by bash;
- github: the runner's documented GITHUB_ENV parser, reimplemented (no runner here).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_render_support import TRICKY, Keys, seal_to

from sealer import yamlio
from sealer.render import KubernetesOptions, RenderSpec, render

pytest_plugins = ["test_render_support"]

TIMEOUT = 30


def rendered(tmp_path: Path, keys: Keys, data: dict[str, Any], fmt: str, **options: Any) -> bytes:
    sealed = seal_to(tmp_path / "app.sealed.yaml", data, keys)
    return render([sealed], RenderSpec(fmt, **options), keys.identities).content


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def shell_reads(shell: str, script: str, names: list[str]) -> dict[str, str]:
    """Run `script` in `shell`, then print the named variables as JSON (from the environment
    of a child, so only exported variables count)."""
    dump = (f'{sys.executable} -c "import json, os, sys; '
            f'print(json.dumps({{n: os.environ.get(n) for n in sys.argv[1:]}}))" "$@"')
    done = subprocess.run([shell, "-c", f"{script}\n{dump}", shell, *names], capture_output=True,
                          text=True, timeout=TIMEOUT, check=True, env={"PATH": "/usr/bin:/bin"})
    result: dict[str, str] = json.loads(done.stdout)
    return result


# -- dotenv --------------------------------------------------------------------------------------

# What dotenv can write (sealer.render.dotenv): not the values with a carriage return, a final
# backslash, ${...}, or ' with \ or " — no line gives them to every dotenv reader and a shell
# (refused: tests/test_render_hostile_values.py, tests/test_render_readers.py)
DOTENV_REFUSED = ("braces", "crlf", "carriage_return", "backslash", "backslash_quote", "mixed")
DOTENV_TRICKY = {k: v for k, v in TRICKY.items() if k not in DOTENV_REFUSED}


def test_dotenv_reads_back_exactly_with_python_dotenv(tmp_path: Path, keys: Keys) -> None:
    from dotenv import dotenv_values

    path = write(tmp_path, "app.env", rendered(tmp_path, keys, DOTENV_TRICKY, "dotenv"))
    assert dotenv_values(path, interpolate=False) == DOTENV_TRICKY
    assert dotenv_values(path) == DOTENV_TRICKY  # no ${...} left to expand


def test_dotenv_refuses_what_some_reader_would_misread(tmp_path: Path, keys: Keys) -> None:
    from sealer.render.dotenv import refusal

    assert [k for k, v in TRICKY.items() if refusal(v) is not None] == list(DOTENV_REFUSED)


def test_dotenv_lines_source_exactly(tmp_path: Path, keys: Keys) -> None:
    """Every line dotenv writes is read exactly by bash and dash, single-quoted or not."""
    text = rendered(tmp_path, keys, DOTENV_TRICKY, "dotenv").decode()
    path = write(tmp_path, "app.env", text.encode())
    for shell in ("bash", "sh"):
        assert shell_reads(shell, f"set -a; . {path}; set +a", list(DOTENV_TRICKY)) == (
            DOTENV_TRICKY)


def test_dotenv_line_shapes(tmp_path: Path, keys: Keys) -> None:
    text = rendered(tmp_path, keys, {"a": "x", "b": "it's", "c": 5, "d": None, "e": True},
                    "dotenv").decode()
    assert text.splitlines()[1:] == ["a='x'", 'b="it\'s"', "c='5'", "d=''", "e='true'"]
    assert text.startswith("# Rendered by sealer from app.sealed.yaml.")


# -- shell ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_shell_format_sources_exactly(tmp_path: Path, keys: Keys, shell: str) -> None:
    path = write(tmp_path, "app.sh", rendered(tmp_path, keys, TRICKY, "shell"))
    assert shell_reads(shell, f". {path}", list(TRICKY)) == TRICKY


def test_shell_format_evals_exactly(tmp_path: Path, keys: Keys) -> None:
    path = write(tmp_path, "app.sh", rendered(tmp_path, keys, TRICKY, "shell"))
    assert shell_reads("bash", f'eval "$(cat {path})"', list(TRICKY)) == TRICKY


# -- systemd -------------------------------------------------------------------------------------


def parse_environment_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile= grammar, as systemd.exec(5) documents it (the state machine
    of systemd's env-file parser): `#`/`;` comment lines; `KEY=VALUE`; after `=`, blanks are
    skipped; a single-quoted value keeps everything but `'`; a double-quoted value keeps
    everything, where `\\` followed by one of "\\`$ gives that character, `\\` + newline is
    a continuation, and `\\` + anything else keeps both; unquoted text keeps a backslash-escaped
    character, drops backslash-newline, and loses trailing blanks; quotes close into more value
    text; lines without `=` are ignored."""
    out: dict[str, str] = {}
    state, key, value, blank_at = "pre_key", "", "", -1
    for c in text + "\n":
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in " \t\n\r":
                state, key, value = "key", c, ""
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in "\n\r":
                state = "pre_key"
        elif state == "comment_escape":
            state = "comment"
        elif state == "key":
            if c in "\n\r":
                state = "pre_key"
            elif c == "=":
                state, key = "pre_value", key.rstrip(" \t")
            else:
                key += c
        elif state in ("pre_value", "value"):
            if c in "\n\r":
                out[key] = value[:blank_at] if state == "value" and blank_at >= 0 else value
                state = "pre_key"
            elif c == "'" and state == "pre_value":
                state = "single"
            elif c == '"' and state == "pre_value":
                state = "double"
            elif c == "\\":
                state, blank_at = "value_escape", -1
            elif c in " \t\r" and state == "pre_value":
                continue
            else:  # remember where a run of trailing blanks starts
                blank_at = (len(value) if blank_at < 0 else blank_at) if c in " \t" else -1
                state, value = "value", value + c
        elif state == "value_escape":
            state = "value"
            if c not in "\n\r":
                value += c
        elif state == "single":
            if c == "'":
                state, blank_at = "pre_value", -1
            else:
                value += c
        elif state == "double":
            if c == '"':
                state, blank_at = "pre_value", -1
            elif c == "\\":
                state = "double_escape"
            else:
                value += c
        elif state == "double_escape":
            state = "double"
            if c in '"\\`$':
                value += c
            elif c != "\n":
                value += "\\" + c
    return out


def test_the_reimplementation_follows_the_documented_examples() -> None:
    text = ('# comment\n; also a comment\nA=plain value   \nB="quoted \\"x\\" \\$y \\q"\n'
            "C='single \\ $z'\nD=esc\\aped\\\n continued\nno equals sign\nE=\n")
    assert parse_environment_file(text) == {
        "A": "plain value", "B": 'quoted "x" $y \\q', "C": "single \\ $z",
        "D": "escaped continued", "E": ""}


def test_systemd_format_reads_back_by_the_documented_rules(tmp_path: Path, keys: Keys) -> None:
    text = rendered(tmp_path, keys, TRICKY, "systemd").decode()
    assert parse_environment_file(text) == TRICKY


def test_systemd_format_is_also_valid_shell(tmp_path: Path, keys: Keys) -> None:
    path = write(tmp_path, "app.env", rendered(tmp_path, keys, TRICKY, "systemd"))
    for shell in ("bash", "sh"):
        assert shell_reads(shell, f"set -a; . {path}; set +a", list(TRICKY)) == TRICKY


GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")


def decode_generator_value(text: str) -> str:
    """The generator prints VALUE or "VALUE" with \\-escapes for "\\`$ and C escapes."""
    if not text.startswith('"'):
        return text
    assert text.endswith('"')
    escapes = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
    out, chars = [], iter(text[1:-1])
    for c in chars:
        if c == "\\":
            nxt = next(chars)
            out.append(nxt if nxt in '"\\`$\'' else escapes[nxt])
        else:
            out.append(c)
    return "".join(out)


def test_systemd_own_parser_reads_the_values_it_does_not_expand(tmp_path: Path,
                                                                 keys: Keys) -> None:
    """systemd cannot run as a service manager here (no systemd as PID 1, no bus; `systemd
    --user` exits at once), so no unit can load an EnvironmentFile. Its environment.d
    generator can run: it reads files with the same parser as EnvironmentFile, then expands
    `$` references (EnvironmentFile does not) and drops empty values (EnvironmentFile keeps
    them as empty strings). Every value without `$` and not empty must come back exactly."""
    if not GENERATOR.exists():
        pytest.skip("systemd's environment.d generator is not installed")
    checked = {k: v for k, v in TRICKY.items() if "$" not in v and v}
    config = tmp_path / "config" / "environment.d"
    config.mkdir(parents=True)
    (config / "50-app.conf").write_bytes(rendered(tmp_path, keys, checked, "systemd"))
    done = subprocess.run([str(GENERATOR)], capture_output=True, text=True, timeout=TIMEOUT,
                          env={"XDG_CONFIG_HOME": str(tmp_path / "config")}, check=True)
    assert done.stderr == ""
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert {k: decode_generator_value(seen[k]) for k in checked} == checked


# -- json and yaml -------------------------------------------------------------------------------


STRUCTURED = {"db": {"password": TRICKY["mixed"], "port": 5432, "ratio": 0.25},
              "flags": {"on": True, "off": False, "none": None, "zip": "0123", "no": "no"},
              "blob": b"\x00\xff\x01", "list": [TRICKY["newline"], {"n": 1}], "empty": {},
              "tricky": TRICKY}


def test_json_reads_back(tmp_path: Path, keys: Keys) -> None:
    loaded = json.loads(rendered(tmp_path, keys, STRUCTURED, "json"))
    assert loaded == {**STRUCTURED, "blob": base64.b64encode(b"\x00\xff\x01").decode()}


def test_yaml_reads_back_with_pyyaml_and_sealer(tmp_path: Path, keys: Keys) -> None:
    text = rendered(tmp_path, keys, STRUCTURED, "yaml")
    assert yaml.safe_load(text) == STRUCTURED  # a YAML 1.1 reader: `no`, `on`, `0123` quoted
    assert yamlio.load(text, source="out") == STRUCTURED


# -- Kubernetes Secret ---------------------------------------------------------------------------


SECRET_SCHEMA = {  # the Secret object (core/v1), as the Kubernetes API reference defines it
    "type": "object",
    "required": ["apiVersion", "kind", "metadata"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "v1"},
        "kind": {"const": "Secret"},
        "immutable": {"type": "boolean"},
        "type": {"type": "string", "minLength": 1},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 253,  # DNS-1123 subdomain
                         "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*"
                                    r"[a-z0-9])?)*$"},
                "namespace": {"type": "string", "maxLength": 63,  # DNS-1123 label
                              "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "labels": {"type": "object", "additionalProperties": {
                    "type": "string", "maxLength": 63,
                    "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "data": {"type": "object",  # keys: [-._a-zA-Z0-9]+; values: base64 (RFC 4648)
                 "propertyNames": {"pattern": r"^[-._a-zA-Z0-9]+$", "maxLength": 253},
                 "additionalProperties": {"type": "string", "pattern":
                                          r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|"
                                          r"[A-Za-z0-9+/]{3}=)?$"}},
        "stringData": {"type": "object",
                       "propertyNames": {"pattern": r"^[-._a-zA-Z0-9]+$", "maxLength": 253},
                       "additionalProperties": {"type": "string"}},
    },
}


def secret_of(tmp_path: Path, keys: Keys, data: dict[str, Any], **options: Any) -> Any:
    return yaml.safe_load(rendered(tmp_path, keys, data, "k8s",
                                   kubernetes=KubernetesOptions(**options)))


@pytest.mark.parametrize("string_data", [False, True])
def test_secret_matches_the_schema(tmp_path: Path, keys: Keys, string_data: bool) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    secret = secret_of(tmp_path, keys, {**TRICKY, "tls.crt": "x"}, name="app.prod",
                       namespace="prod", labels={"app.kubernetes.io/name": "app"},
                       annotations={"owner": "team"}, string_data=string_data)
    jsonschema.validate(secret, SECRET_SCHEMA)


def test_secret_data_decodes_to_the_values(tmp_path: Path, keys: Keys) -> None:
    secret = secret_of(tmp_path, keys, TRICKY)
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == TRICKY
    assert secret_of(tmp_path, keys, TRICKY, string_data=True)["stringData"] == TRICKY


def kubectl(*args: str) -> Any:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (Debian: kubernetes-client)")
    done = subprocess.run([found, "create", "secret", *args, "--dry-run=client", "-o", "yaml"],
                          capture_output=True, text=True, timeout=TIMEOUT, check=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
                               "KUBECONFIG": "/nonexistent"})
    return yaml.safe_load(done.stdout)


def same_secret(ours: Any, theirs: Any) -> None:
    for field in ("apiVersion", "kind", "data"):
        assert ours.get(field) == theirs.get(field), field
    assert ours["type"] == theirs.get("type", "Opaque")  # the API server's default
    assert ours["metadata"]["name"] == theirs["metadata"]["name"]
    assert ours["metadata"].get("namespace") == theirs["metadata"].get("namespace")


def test_secret_matches_kubectl_generic(tmp_path: Path, keys: Keys) -> None:
    theirs = kubectl("generic", "app", "--namespace", "prod",
                     *[f"--from-literal={k}={v}" for k, v in TRICKY.items()])
    same_secret(secret_of(tmp_path, keys, TRICKY, namespace="prod"), theirs)


def test_secret_with_binary_value_matches_kubectl_from_file(tmp_path: Path, keys: Keys) -> None:
    blob = bytes(range(256))
    (tmp_path / "blob").write_bytes(blob)
    theirs = kubectl("generic", "app", f"--from-file=blob={tmp_path / 'blob'}")
    same_secret(secret_of(tmp_path, keys, {"blob": blob}), theirs)


def test_tls_secret_matches_kubectl(tmp_path: Path, keys: Keys) -> None:
    cert, key = self_signed()
    (tmp_path / "tls.crt").write_text(cert)
    (tmp_path / "tls.key").write_text(key)
    theirs = kubectl("tls", "web", f"--cert={tmp_path / 'tls.crt'}",
                     f"--key={tmp_path / 'tls.key'}")
    ours = secret_of(tmp_path, keys, {"tls.crt": cert, "tls.key": key}, name="web",
                     type="kubernetes.io/tls")
    same_secret(ours, theirs)


@pytest.mark.parametrize(("secret_type", "data"), [
    ("kubernetes.io/basic-auth", {"username": "admin", "password": TRICKY["mixed"]}),
    ("kubernetes.io/dockerconfigjson",
     {".dockerconfigjson": '{"auths":{"r.example.com":{"auth":"dTpw"}}}'}),
    ("kubernetes.io/ssh-auth", {"ssh-privatekey": TRICKY["pem"]}),
])
def test_typed_secrets_match_kubectl(tmp_path: Path, keys: Keys, secret_type: str,
                                     data: dict[str, str]) -> None:
    theirs = kubectl("generic", "app", f"--type={secret_type}",
                     *[f"--from-literal={k}={v}" for k, v in data.items()])
    same_secret(secret_of(tmp_path, keys, data, type=secret_type), theirs)


def self_signed() -> tuple[str, str]:
    """A throwaway self-signed certificate and its key, PEM (kubectl checks the pair)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


# -- template ------------------------------------------------------------------------------------


def test_template_renders_every_value_exactly(tmp_path: Path, keys: Keys) -> None:
    template = tmp_path / "app.conf.j2"
    template.write_text("".join(f"{k}=[{{{{ {k} }}}}]\n" for k in TRICKY) + "end")
    text = rendered(tmp_path, keys, TRICKY, "template", template=template).decode()
    assert text == "".join(f"{k}=[{v}]\n" for k, v in TRICKY.items()) + "end"


def test_template_filters_read_back(tmp_path: Path, keys: Keys) -> None:
    from urllib.parse import unquote

    template = tmp_path / "t.j2"
    template.write_text("{% for k, v in secrets.items() %}{{ k }} {{ v | urlquote }} "
                        "{{ v | b64encode }}\n{% endfor %}")
    text = rendered(tmp_path, keys, TRICKY, "template", template=template).decode()
    for line in text.splitlines():
        key, quoted, encoded = line.split(" ")
        assert unquote(quoted) == TRICKY[key] == base64.b64decode(encoded).decode()
    assert all(c.isalnum() or c in "%-._~" for c in text.replace("\n", "").replace(" ", "")
               .replace("=", "").replace("+", "").replace("/", ""))


def test_template_shell_quote_reads_back_in_bash(tmp_path: Path, keys: Keys) -> None:
    template = tmp_path / "env.sh.j2"
    template.write_text("{% for k, v in secrets.items() %}export {{ k }}={{ v | shell_quote }}\n"
                        "{% endfor %}")
    path = write(tmp_path, "env.sh", rendered(tmp_path, keys, TRICKY, "template",
                                              template=template))
    assert shell_reads("bash", f". {path}", list(TRICKY)) == TRICKY


def test_template_prints_scalars_like_the_env_formats(tmp_path: Path, keys: Keys) -> None:
    template = tmp_path / "t.j2"
    template.write_text("{{ a }}|{{ b }}|{{ c }}|{{ d }}|{{ e }}|{{ secrets['x.y'] }}\n")
    data = {"a": True, "b": None, "c": 5, "d": 0.5, "e": b"\x00", "x.y": "dotted"}
    assert rendered(tmp_path, keys, data, "template", template=template) == \
        b"true||5|0.5|AA==|dotted\n"


# -- github --------------------------------------------------------------------------------------


def parse_github_file(text: str) -> dict[str, str]:
    """The runner's GITHUB_ENV / GITHUB_OUTPUT parser (actions/runner, FileCommandManager,
    on Linux): lines split at LF only; `NAME=VALUE` when `=` comes before any `<<`; else
    `NAME<<DELIMITER`, then lines up to one that equals DELIMITER; the value is the text
    between, without the newline before the delimiter line; an unmatched delimiter fails."""
    out, lines, i = {}, text.split("\n"), 0
    if lines and lines[-1] == "":
        lines.pop()
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            name, value = line.split("=", 1)
            out[name] = value
            continue
        assert heredoc >= 0, f"invalid line {line!r}"
        name, delimiter = line.split("<<", 1)
        assert name and delimiter
        body = []
        while True:
            assert i < len(lines), f"matching delimiter not found {delimiter!r}"
            if lines[i] == delimiter:
                i += 1
                break
            body.append(lines[i])
            i += 1
        out[name] = "\n".join(body)
    return out


def github_values(tmp_path: Path, keys: Keys, data: dict[str, str]) -> tuple[str, bytes]:
    sealed = seal_to(tmp_path / "app.sealed.yaml", data, keys)
    out = render([sealed], RenderSpec("github", output=tmp_path / "env"), keys.identities)
    return out.content.decode(), out.commands


def test_github_env_reads_back_with_the_runner_rules(tmp_path: Path, keys: Keys) -> None:
    content, _ = github_values(tmp_path, keys, TRICKY)
    assert parse_github_file(content) == TRICKY


def test_github_value_holding_a_delimiter_cannot_inject(tmp_path: Path, keys: Keys) -> None:
    sneaky = {"a": "x\nghadelimiter_0\nINJECTED=1\n", "b": "y\nEOF\nINJECTED=2"}
    content, _ = github_values(tmp_path, keys, sneaky)
    assert parse_github_file(content) == sneaky


def unescape_command_data(data: str) -> str:
    """The runner's unescaping of a workflow command's data."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def test_github_masks_every_value_and_every_line(tmp_path: Path, keys: Keys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value and every line of one, without surrounding blanks, unless it is too short
    or common to mask (tests/test_render_readers.py has the rule's cases)."""
    from sealer.render.github import is_maskable

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _, commands = github_values(tmp_path, keys, TRICKY)
    lines = commands.decode().splitlines()
    assert all(line.startswith("::add-mask::") for line in lines)
    masked = {unescape_command_data(line.removeprefix("::add-mask::")) for line in lines}
    wanted = {piece.strip() for value in TRICKY.values()
              for piece in [value, *value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
              if is_maskable(piece)}
    assert masked == wanted
    assert TRICKY["pem"].strip() in masked and "MIIB" in masked and "it's" not in masked
    assert "" not in masked and "   " not in masked  # masking blanks would hide the whole log


def test_control_variable_lookup_is_the_tables_first_match() -> None:
    """control_group's index gives what a scan of CONTROL_VARIABLES in order gives, for every
    name and prefix in it, names that extend them, and ordinary names."""
    from sealer.render import controls

    def scan(name: str) -> str | None:
        for group, names in controls.CONTROL_VARIABLES.items():
            for pattern in names:
                if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
                    return group
        return None

    names = [n.rstrip("*") + tail for ns in controls.CONTROL_VARIABLES.values() for n in ns
             for tail in ("", "X", "_1", "*")] + ["PATH", "DB_PASSWORD", "LD", "A", ""]
    assert [controls.control_group(n) for n in names] == [scan(n) for n in names]
    assert controls.control_group("LD_PRELOAD") is not None
    assert controls.control_group("DB_PASSWORD") is None
