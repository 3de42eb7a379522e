"""Every consumer reads exactly what was sealed (issue 12), checked with the real readers:

- dotenv: python-dotenv (with its default interpolation), Node's `--env-file` and
  `process.loadEnvFile`, bash and dash sourcing the file (`set -a; . ./file`), and Debian's
  docker-compose (`docker-compose config`, which needs no engine; skipped when not installed);
- dotenv-literal: `kubectl create secret generic --from-env-file`, kustomize's
  `secretGenerator` `envs:` (`kubectl kustomize`), and the docker CLI's `--env-file`
  (`docker create`, talking to a stand-in daemon on a unix socket that records the request:
  no Docker engine runs here, and the file is parsed by the CLI, not the engine);
- yaml and k8s: kubectl reading a manifest (`kubectl label --local -f`, which parses it as
  `kubectl create -f` does, without the API server that `create` needs for discovery), PyYAML's
  default loaders, and the YAML 1.1 spec's implicit-type regexes;
- github: which values and lines are masked;
- `sealer check --format sarif|github` run from a subdirectory of a real git repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import run
from conftest import require_tool
from sealing import forge, new_identity
from test_render_support import Keys, seal_to

from sealer import yamlio
from sealer.core import seal
from sealer.errors import SealerError
from sealer.render import KubernetesOptions, RenderSpec, render
from sealer.render.dotenv import LITERAL_GUARD, MAX_LITERAL_LINE, refusal

pytest_plugins = ["test_render_support"]

TIMEOUT = 60
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


def gcp_service_account() -> str:
    """A Google Cloud service-account key as the console downloads it: JSON with a two-space
    indent, the private key's newlines written as JSON's `\\n`. The key itself is made up."""
    body = base64.b64encode(hashlib.shake_256(b"not a real key").digest(1218)).decode()
    kind = "PRIVATE" + " KEY"
    pem = (f"-----BEGIN {kind}-----\n"
           + "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64))
           + f"-----END {kind}-----\n")
    email = "deployer@demo-project-123456.iam.gserviceaccount.com"
    return json.dumps({
        "type": "service_account",
        "project_id": "demo-project-123456",
        "private_key_id": hashlib.sha1(b"key id").hexdigest(),  # noqa: S324 - an id, made up
        "private_key": pem,
        "client_email": email,
        "client_id": "104261432927564893811",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                + email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }, indent=2) + "\n"


GCP = gcp_service_account()
# Realistic values and every character a reader could mangle. Keys are environment names.
VALUES: dict[str, str] = {
    "plain": "s3cr3t-Value_1",
    "backslash": "C:\\Users\\app",
    "escapes": "not\\na newline, \\t \\\" \\u00e9 \\$x",
    "squote": "it's",
    "squote_spaces": "  it's here  ",
    "squote_lines": "it's #1 = the best\n  and 'more' ✓\n",
    "dquote": 'say "hi"',
    "dollar": "$HOME $(id) `id` $1 ${ and ${x:y}",
    "hash": "a #not a comment",
    "hash_start": "#starts with hash",
    "equals": "a=b==c=",
    "spaces": "  leading and trailing  ",
    "tabs": "\ttab\tinside\t",
    "unicode": "ünïcødé ✓ 日本語 🚀",
    "empty": "",
    "url": "postgres://app:p%40ss@db:5432/app?sslmode=verify-full",
    "multiline": "line1\nline2\n\n# not a comment\nK=v\n",
    "pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "gcp_json": GCP,
    "gcp_json_line": json.dumps(json.loads(GCP)),
    "mid_cr": "a\rb",
    "both_quotes": "it's \"quoted\"",
    "braces": "${HOME} ${NOT_SET:-default}",
    "double_backslash": "a\\\\b",
    "trailing_backslash": "C:\\dir\\",
    "crlf": "dos\r\nline",
}
# No dotenv line gives these to python-dotenv, Node, compose and a shell alike.
DOTENV_REFUSED = {"mid_cr", "both_quotes", "braces", "double_backslash", "trailing_backslash",
                  "crlf"}
DOTENV = {k: v for k, v in VALUES.items() if k not in DOTENV_REFUSED}
# One line per variable: no newline, and no final carriage return.
LITERAL_REFUSED = {"squote_lines", "multiline", "pem", "gcp_json", "crlf"}
LITERAL = {k: v for k, v in VALUES.items() if k not in LITERAL_REFUSED}


def rendered(tmp_path: Path, keys: Keys, data: dict[str, Any], fmt: str,
             name: str = "out.env", **options: Any) -> Path:
    sealed = seal_to(tmp_path / "app.sealed.yaml", data, keys)
    out = tmp_path / name
    out.write_bytes(render([sealed], RenderSpec(fmt, **options), keys.identities).content)
    return out


# -- dotenv: the readers -------------------------------------------------------------------------


def python_dotenv(path: Path, names: list[str]) -> dict[str, str | None]:
    from dotenv import dotenv_values

    return dict(dotenv_values(path))  # interpolation on, as load_dotenv() does by default


def node_env_file(path: Path, names: list[str]) -> dict[str, str | None]:
    node = require_tool("node")
    script = ("const o = {}; for (const n of JSON.parse(process.argv[1])) o[n] = process.env[n];"
              "process.stdout.write(JSON.stringify(o))")
    done = subprocess.run([node, f"--env-file={path}", "-e", script, json.dumps(names)],
                          capture_output=True, timeout=TIMEOUT, check=True, env=CLEAN_ENV)
    result: dict[str, str | None] = json.loads(done.stdout)
    return result


def node_load_env_file(path: Path, names: list[str]) -> dict[str, str | None]:
    node = require_tool("node")
    script = ("process.loadEnvFile(process.argv[1]); const o = {};"
              "for (const n of JSON.parse(process.argv[2])) o[n] = process.env[n];"
              "process.stdout.write(JSON.stringify(o))")
    done = subprocess.run([node, "-e", script, str(path), json.dumps(names)],
                          capture_output=True, timeout=TIMEOUT, check=True, env=CLEAN_ENV)
    result: dict[str, str | None] = json.loads(done.stdout)
    return result


def sourced(shell: str, path: Path, names: list[str]) -> dict[str, str | None]:
    """`set -a; . FILE; set +a` in `shell`, then each variable as a child process sees it."""
    require_tool(shell)
    dump = ("import json, os, sys; "
            "print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))")
    script = f'set -a; . "$1"; set +a; shift; exec python3 -c "{dump}" "$@"'
    done = subprocess.run([shell, "-c", script, shell, str(path), *names], capture_output=True,
                          timeout=TIMEOUT, check=True, env=CLEAN_ENV, cwd=path.parent)
    result: dict[str, str | None] = json.loads(done.stdout)
    return result


def bash(path: Path, names: list[str]) -> dict[str, str | None]:
    return sourced("bash", path, names)


def dash(path: Path, names: list[str]) -> dict[str, str | None]:
    return sourced("dash", path, names)


def docker_compose(path: Path, names: list[str]) -> dict[str, str | None]:
    """Debian's docker-compose (1.29, which reads env_file with python-dotenv): the
    environment `docker-compose config` resolves for a service with `env_file: FILE`."""
    found = shutil.which("docker-compose")
    if found is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose; "
                    ".ci/run does not install it)")
    compose = path.parent / "compose.yml"
    compose.write_text(f"services:\n  app:\n    image: busybox\n    env_file: {path.name}\n",
                       encoding="utf-8")
    done = subprocess.run([found, "-f", str(compose), "config"], capture_output=True,
                          timeout=TIMEOUT, check=True, cwd=path.parent,
                          env={**CLEAN_ENV, "HOME": str(path.parent)})
    environment = yaml.safe_load(done.stdout)["services"]["app"].get("environment", {})
    # `config` prints a compose file, where $ is written $$
    return {n: None if environment.get(n) is None else str(environment[n]).replace("$$", "$")
            for n in names}


DOTENV_READERS = [python_dotenv, node_env_file, node_load_env_file, bash, dash, docker_compose]


@pytest.mark.parametrize("reader", DOTENV_READERS, ids=lambda r: r.__name__)
def test_every_dotenv_reader_reads_every_value_exactly(tmp_path: Path, keys: Keys,
                                                       reader: Any) -> None:
    path = rendered(tmp_path, keys, DOTENV, "dotenv")
    assert reader(path, list(DOTENV)) == DOTENV


def test_dotenv_refuses_what_it_cannot_give_every_reader(tmp_path: Path, keys: Keys) -> None:
    assert {k for k, v in VALUES.items() if refusal(v) is not None} == DOTENV_REFUSED
    for key in sorted(DOTENV_REFUSED):
        with pytest.raises(SealerError) as caught:
            rendered(tmp_path, keys, {"before": "x", key: VALUES[key]}, "dotenv")
        assert str(caught.value).startswith(
            f"{tmp_path / 'app.sealed.yaml'}: {key}: a value holding "), key
        assert VALUES[key] not in str(caught.value) + (caught.value.hint or "")
        assert "dotenv-literal" in (caught.value.hint or "")


def test_dotenv_quoting(tmp_path: Path, keys: Keys) -> None:
    """Single quotes wherever the value has no `'`; double quotes for the rest."""
    path = rendered(tmp_path, keys, {"a": "x\\y $z", "b": "it's", "c": 'say "hi"', "d": ""},
                    "dotenv")
    assert path.read_text(encoding="utf-8").splitlines()[1:] == [
        "a='x\\y $z'", 'b="it\'s"', "c='say \"hi\"'", "d=''"]


def test_gcp_service_account_json_arrives_whole_in_node(tmp_path: Path, keys: Keys) -> None:
    """The report that started issue 12: Node read sealer's old output as `{\\`."""
    path = rendered(tmp_path, keys, {"GOOGLE_CREDENTIALS": GCP}, "dotenv")
    read = node_env_file(path, ["GOOGLE_CREDENTIALS"])["GOOGLE_CREDENTIALS"]
    assert read == GCP
    assert json.loads(read or "")["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")


# -- dotenv-literal: the readers -----------------------------------------------------------------


def kubectl_tool() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (Debian: kubernetes-client)")
    return found


def decoded(data: dict[str, str] | None) -> dict[str, str | None]:
    return {k: base64.b64decode(v).decode("utf-8") for k, v in (data or {}).items()}


def kubectl_from_env_file(path: Path, names: list[str]) -> dict[str, str | None]:
    done = subprocess.run([kubectl_tool(), "create", "secret", "generic", "x",
                           f"--from-env-file={path}", "--dry-run=client", "-o", "json"],
                          capture_output=True, timeout=TIMEOUT, check=True, env=CLEAN_ENV)
    return decoded(json.loads(done.stdout).get("data"))


def kustomize_envs(path: Path, names: list[str]) -> dict[str, str | None]:
    directory = path.parent / "kustomize"
    directory.mkdir(exist_ok=True)
    shutil.copy(path, directory / "app.env")
    (directory / "kustomization.yaml").write_text(
        "secretGenerator:\n- name: app\n  envs: [app.env]\n", encoding="utf-8")
    done = subprocess.run([kubectl_tool(), "kustomize", str(directory)], capture_output=True,
                          timeout=TIMEOUT, check=True, env=CLEAN_ENV)
    return decoded(yaml.safe_load(done.stdout).get("data"))


class _Daemon(BaseHTTPRequestHandler):
    """Just enough of the Docker Engine API for `docker create`: the version ping, and a
    container create whose request body (with the environment) is kept."""

    created: list[dict[str, Any]]

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Api-Version", "1.47")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.reply(200, b"OK")

    def do_GET(self) -> None:
        self.reply(200 if self.path.endswith("/_ping") else 404, b"OK")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/containers/create" not in self.path:
            self.reply(404, b'{"message": "not here"}')
            return
        self.created.append(json.loads(body))
        self.reply(201, b'{"Id": "0123456789abcdef", "Warnings": []}')


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def docker_daemon() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in Docker daemon on a unix socket: (DOCKER_HOST, the create requests)."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    directory = tempfile.mkdtemp(prefix="dock", dir="/tmp")  # a socket path has 108 bytes
    socket_path = os.path.join(directory, "d.sock")
    created: list[dict[str, Any]] = []
    handler = type("Handler", (_Daemon,), {"created": created})
    server = _UnixServer(socket_path, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{socket_path}", created
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(directory, ignore_errors=True)


def docker_env_file(host: str, created: list[dict[str, Any]], path: Path) -> dict[str, str]:
    """The environment `docker create --env-file FILE` sends for the container."""
    created.clear()
    done = subprocess.run(["docker", "-H", host, "create", f"--env-file={path}", "busybox"],
                          capture_output=True, timeout=TIMEOUT, check=False,
                          env={**CLEAN_ENV, "HOME": str(path.parent),
                               "DOCKER_CONFIG": str(path.parent / ".docker")})
    assert done.returncode == 0, done.stderr
    return dict(item.split("=", 1) for item in created[-1]["Env"])


LITERAL_READERS = [kubectl_from_env_file, kustomize_envs]


@pytest.mark.parametrize("reader", LITERAL_READERS, ids=lambda r: r.__name__)
def test_every_literal_reader_reads_every_value_exactly(tmp_path: Path, keys: Keys,
                                                        reader: Any) -> None:
    path = rendered(tmp_path, keys, LITERAL, "dotenv-literal")
    assert reader(path, list(LITERAL)) == LITERAL


def test_docker_env_file_reads_every_literal_value_exactly(
        tmp_path: Path, keys: Keys, docker_daemon: tuple[str, list[dict[str, Any]]]) -> None:
    path = rendered(tmp_path, keys, LITERAL, "dotenv-literal")
    assert docker_env_file(*docker_daemon, path) == LITERAL


def test_literal_readers_take_dotenv_quotes_literally(tmp_path: Path, keys: Keys) -> None:
    """Why the literal dialect exists: these readers keep the dotenv format's quotes."""
    path = rendered(tmp_path, keys, {"a": "x"}, "dotenv")
    assert kubectl_from_env_file(path, ["a"]) == {"a": "'x'"}


def test_literal_refuses_what_its_readers_cannot_take(tmp_path: Path, keys: Keys) -> None:
    for key in [*sorted(LITERAL_REFUSED), "trailing_cr"]:
        value = VALUES.get(key, "ends in\r")
        with pytest.raises(SealerError) as caught:
            rendered(tmp_path, keys, {key: value}, "dotenv-literal")
        assert str(caught.value).startswith(f"{tmp_path / 'app.sealed.yaml'}: {key}: a value ")
        assert value not in str(caught.value)


def test_literal_line_length_is_kubectls_limit(tmp_path: Path, keys: Keys) -> None:
    """kubectl and kustomize silently drop a line of more than 65535 bytes and every line
    after it (Go's bufio.Scanner); docker fails. sealer writes the longest line they read."""
    longest = "x" * (MAX_LITERAL_LINE - len("K="))
    path = rendered(tmp_path, keys, {"A": "1", "K": longest, "Z": "2"}, "dotenv-literal")
    assert kubectl_from_env_file(path, []) == {"A": "1", "K": longest, "Z": "2"}
    with pytest.raises(SealerError) as caught:
        rendered(tmp_path, keys, {"A": "1", "K": longest + "x", "Z": "2"}, "dotenv-literal")
    assert "longer than 65535 bytes" in str(caught.value)
    (tmp_path / "long.env").write_text(f"A=1\nK={longest}x\nZ=2\n", encoding="utf-8")
    assert kubectl_from_env_file(tmp_path / "long.env", []) == {"A": "1"}  # what sealer avoids


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_a_shell_sourcing_a_literal_file_stops_before_any_value(tmp_path: Path, keys: Keys,
                                                                shell: str) -> None:
    """A literal file is no shell script: `$(...)` in a value would run. Its second line is a
    syntax error to a shell, so sourcing stops there, before any value (docs/SECURITY.md B7)."""
    path = rendered(tmp_path, keys, {"A": "$(touch PWNED)", "B": "`touch PWNED`", "C": "ok"},
                    "dotenv-literal")
    assert path.read_text(encoding="utf-8").split("\n")[1] + "\n" == LITERAL_GUARD
    for script in ('set -a; . ./out.env; echo "A=$A C=$C"', 'eval "$(cat out.env)"; echo "$C"',
                   "./out.env"):
        path.chmod(0o700)
        done = subprocess.run([require_tool(shell), "-c", script], cwd=tmp_path,
                              capture_output=True, timeout=TIMEOUT, check=False, env=CLEAN_ENV)
        assert not (tmp_path / "PWNED").exists(), script
        assert b"ok" not in done.stdout, (script, done.stdout)
        assert b"syntax error" in done.stderr.lower(), (script, done.stderr)


# -- yaml and k8s: strings stay strings for YAML 1.1 readers --------------------------------------

# Every form of the YAML 1.1 spec's implicit types (yaml.org/type: bool, null, int, float,
# timestamp, merge, value), and go-yaml v2's (kubectl's, Helm's) extra numbers.
YAML11: list[str] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    "~", "null", "Null", "NULL", "",
    "0", "-0", "+12", "0123", "012_3", "0b1010", "0b1_0", "0x1F", "0x_1f", "1_000", "1:20",
    "190:20:30", "-1:20",
    "1.5", "1.", ".5", "-.5", "+1.5", "1.5e+3", "6.8523015e+5", "1_0.5", "190:20:30.15", "1.2.3",
    "10.0.0.1", ".inf", "-.inf", "+.Inf", ".INF", ".nan", ".NaN", ".NAN", ".",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
    "2001-12-15T02:59:43.1Z", "2001-1-2",
    "<<", "=",
    "1e3", "1E3", "1.5e3", "08", "0128", "0o17", "0O17", "0X1F", "0B11", "-0b11", "1__0",
    "12345678901234567890123",
]
STRINGS: list[str] = ["hello", "no way", "yesterday", "onion", "nullable", "v1.2", "1.2.3-rc1",
                      "2001-12-14x", "0x", "0b", "1e", "e3", "-", "+", "y n", "@at", "true!"]


def test_the_dumper_quotes_every_yaml11_non_string() -> None:
    for text in YAML11:
        assert yamlio.misread(text), text
        dumped = yamlio.dump({"k": text})
        assert dumped.startswith("k: '"), (text, dumped)
    for text in STRINGS:
        assert not yamlio.misread(text), text


def test_pyyaml_default_loaders_read_every_string_back() -> None:
    tree = {text or "(empty)": text for text in YAML11 + STRINGS}
    tree.update({text: "as a key" for text in YAML11 + STRINGS if text})
    dumped = yamlio.dump(tree)
    assert yaml.safe_load(dumped) == tree
    assert yaml.full_load(dumped) == tree
    assert yamlio.load(dumped, source="test") == tree


def kubectl_manifest(path: Path) -> dict[str, Any]:
    """The object kubectl reads from a manifest file: `kubectl label --local -f` parses it as
    `kubectl create -f` does (YAML to JSON with go-yaml), without needing an API server."""
    done = subprocess.run([kubectl_tool(), "label", "--local", "-f", str(path), "-o", "json",
                           "sealer.dev/read=yes"], capture_output=True, timeout=TIMEOUT,
                          check=False, env=CLEAN_ENV)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def k8s_safe(texts: list[str]) -> dict[str, str]:
    """Secret keys made of the texts that are valid keys; each value is the text itself."""
    import re

    return {text: text for text in texts if re.fullmatch(r"[-._A-Za-z0-9]+", text)
            and text not in (".", "..")}


def test_kubectl_reads_every_k8s_string_data_back(tmp_path: Path, keys: Keys) -> None:
    data = k8s_safe(YAML11 + STRINGS)
    values = {f"v{i}": text for i, text in enumerate(YAML11 + STRINGS) if text != ".inf"}
    # kubectl cannot even read `.inf` unquoted (JSON has no infinity): the file would fail
    values["vinf"] = ".inf"
    sealed = seal_to(tmp_path / "app.sealed.yaml", {**data, **values}, keys)
    spec = RenderSpec("k8s", kubernetes=KubernetesOptions(name="app", string_data=True))
    (tmp_path / "secret.yaml").write_bytes(render([sealed], spec, keys.identities).content)
    assert kubectl_manifest(tmp_path / "secret.yaml")["stringData"] == {**data, **values}


def test_kubectl_reads_every_yaml_string_back(tmp_path: Path, keys: Keys) -> None:
    """The yaml format rendering a ConfigMap: data keys and values read as the strings they are."""
    data = {**k8s_safe(YAML11 + STRINGS), **{f"v{i}": t for i, t in enumerate(YAML11 + STRINGS)}}
    document = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"},
                "data": data}
    path = rendered(tmp_path, keys, document, "yaml", name="configmap.yaml")
    assert kubectl_manifest(path)["data"] == data


def test_kubectl_misreads_what_the_dumper_quotes(tmp_path: Path) -> None:
    """The other side: written plain, kubectl retypes these (and then refuses or corrupts)."""
    (tmp_path / "plain.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: y\n  b: 0128\n"
        "  c: 0o17\n  d: 1e3\n  e: 1_000\n", encoding="utf-8")
    assert kubectl_manifest(tmp_path / "plain.yaml")["data"] == {
        "a": True, "b": 128, "c": 15, "d": 1000, "e": 1000}


# -- github: what is masked ----------------------------------------------------------------------


def github_masks(tmp_path: Path, keys: Keys, data: dict[str, Any],
                 clear_suffix: str | None = None) -> list[str]:
    path = tmp_path / "app.sealed.yaml"
    metadata = {"clear": {"suffix": clear_suffix}} if clear_suffix else None
    path.write_text(seal(data, recipients=[keys.recipient], source=str(path),
                         metadata=metadata).to_yaml(), encoding="utf-8")
    out = render([path], RenderSpec("github", output=tmp_path / "env"), keys.identities)
    lines = out.commands.decode().splitlines()
    assert all(line.startswith("::add-mask::") for line in lines)
    return [line.removeprefix("::add-mask::").replace("%0D", "\r").replace("%0A", "\n")
            .replace("%25", "%") for line in lines]


def test_github_masks_only_encrypted_values(tmp_path: Path, keys: Keys,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    masks = github_masks(tmp_path, keys, {"token": "ghp_secret-token-1", "region_public":
                                          "eu-west-1-public", "db": {"host_public": "db.internal",
                                                                      "password": "hunter22"}},
                         clear_suffix="_public")
    assert masks == ["ghp_secret-token-1", "hunter22"]


def test_github_masks_every_line_but_not_trivial_ones(tmp_path: Path, keys: Keys,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    doc = {"a": "x", "b": {"c": [1, True], "d": "  spaced secret  "}}
    json_value = json.dumps(doc, indent=2)
    masks = github_masks(tmp_path, keys, {
        "creds": json_value, "port": 5432, "flag": True, "nothing": None, "short": "abc",
        "brace": "{", "word": "true", "pin": "4821", "long_number": 1234567, "sa": GCP})
    assert json_value in masks and GCP.strip() in masks
    assert '"d": "  spaced secret  "' in masks  # each line without the indentation around it
    assert '"a": "x",' not in masks  # a one-letter key and value
    for trivial in ("{", "}", "[", "],", "1,", "true", "5432", "4821", "abc", '"c": [', ""):
        assert trivial not in masks, trivial
    assert "1234567" in masks
    assert all(line.strip() in masks for line in GCP.splitlines() if len(line.strip()) > 2)


# -- check: paths relative to the repository's root -----------------------------------------------


def test_check_paths_are_relative_to_the_repository_root(tmp_path: Path) -> None:
    _, ci_r = new_identity()
    _, other_r = new_identity()
    repo = tmp_path / "repo"
    (repo / "deploy" / "prod").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=TIMEOUT)
    (repo / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  ci: {ci_r.text}\nenvironments:\n  prod:\n"
        "    recipients: [ci]\ncreation_rules:\n  - path: deploy/prod/**\n"
        "    environment: prod\n", encoding="utf-8")
    forge(repo / "deploy" / "prod" / "db,x.sealed.yaml", {"password": "long-enough-password"},
          [other_r.text])
    subdir = repo / "deploy"
    sarif = run("check", "prod", "--format", "sarif", cwd=subdir)
    assert sarif.code == 1, sarif.err
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(sarif.out)["runs"][0]["results"]}
    assert uris == {"deploy/prod/db%2Cx.sealed.yaml", "sealer.yaml"}
    github = run("check", "prod", "--format", "github", cwd=subdir)
    assert github.code == 1
    files = {line.split(",line=")[0].split(" file=")[1] for line in github.out.splitlines()}
    assert files == {"deploy/prod/db%2Cx.sealed.yaml", "sealer.yaml"}, github.out
    outside = tmp_path / "plain"  # not a git repository: relative to the current directory
    shutil.copytree(repo, outside, ignore=shutil.ignore_patterns(".git"))
    github = run("check", "prod", "--format", "github", cwd=outside / "deploy")
    files = {line.split(",line=")[0].split(" file=")[1] for line in github.out.splitlines()}
    assert files == {"prod/db%2Cx.sealed.yaml", str(outside / "sealer.yaml")}, github.out


def test_cli_renders_dotenv_literal(tmp_path: Path, keys: Keys) -> None:
    seal_to(tmp_path / "app.sealed.yaml", {"db": {"url": "postgres://app:p'w\"d@db/app"}}, keys)
    result = run("render", "app.sealed.yaml", "-f", "dotenv-literal", "--upper", "-o", "app.env",
                 "-i", keys.file, cwd=tmp_path)
    assert (result.code, result.err) == (
        0, "sealer: app.sealed.yaml -> app.env (dotenv-literal, mode 0600)\n")
    assert (tmp_path / "app.env").read_text(encoding="utf-8").split("\n")[1:] == [
        LITERAL_GUARD.rstrip("\n"), "DB_URL=postgres://app:p'w\"d@db/app", ""]
    assert kubectl_from_env_file(tmp_path / "app.env", []) == {
        "DB_URL": "postgres://app:p'w\"d@db/app"}
