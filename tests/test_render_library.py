"""The render library in-process: merging and overlays, naming, every format's refusals, the
content digest, writing and checking outputs, `sealer.load` and the exec environment.

Every error is checked for the file and key path it names, and for not showing the value.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_render_support import Keys, seal_to

import sealer
from sealer.errors import IntegrityError, NoIdentityError, SealerError, UsageError
from sealer.render import (
    KubernetesOptions,
    NameRule,
    Rendered,
    RenderSpec,
    Secrets,
    is_current,
    load,
    render,
    secret_environment,
    write_output,
)
from sealer.render.kubernetes import DIGEST_ANNOTATION

pytest_plugins = ["test_render_support"]

SECRET = "c4n4ry-v4lue-9d1e"  # must never appear in an error message


def files(tmp_path: Path, keys: Keys, *docs: dict[str, Any]) -> list[Path]:
    names = ["base", "prod", "extra"]
    return [seal_to(tmp_path / f"{names[i]}.sealed.yaml", doc, keys) for i, doc in enumerate(docs)]


def text(paths: list[Path], keys: Keys, fmt: str = "dotenv", **options: Any) -> str:
    return render(paths, RenderSpec(fmt, **options), keys.identities).content.decode()


def fails(paths: list[Path], keys: Keys, fmt: str = "dotenv", **options: Any) -> SealerError:
    with pytest.raises(SealerError) as info:
        render(paths, RenderSpec(fmt, **options), keys.identities)
    assert SECRET not in str(info.value) and SECRET not in (info.value.hint or "")
    return info.value


def lines(rendered: str) -> list[str]:
    return rendered.splitlines()[1:]  # without the banner


# -- merging -------------------------------------------------------------------------------------


def test_files_merge_in_order(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"host": "h", "port": 1}, "a": "x"},
                  {"db": {"password": SECRET}, "b": "y"})
    assert lines(text(paths, keys)) == ["db_host='h'", "db_port='1'", f"db_password='{SECRET}'",
                                        "a='x'", "b='y'"]


def test_a_key_defined_twice_names_both_files_and_the_key(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"password": "old"}}, {"db": {"password": SECRET}})
    error = fails(paths, keys)
    assert str(error) == f"{paths[1]}: db.password is already defined in {paths[0]}"
    assert error.hint is not None and "--allow-override" in error.hint


def test_the_earlier_file_named_is_the_one_defining_the_key(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": 1}, {"b": {"c": 2}}, {"b": {"c": SECRET}})
    assert str(fails(paths, keys)) == f"{paths[2]}: b.c is already defined in {paths[1]}"


def test_a_mapping_and_a_value_at_one_key_conflict(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"host": "h"}}, {"db": SECRET})
    assert str(fails(paths, keys)) == f"{paths[1]}: db is already defined in {paths[0]}"


def test_allow_override_lets_the_later_file_win(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"host": "h", "password": "old"}, "list": [1, 2, 3]},
                  {"db": {"password": SECRET}, "list": ["only"]})
    assert lines(text(paths, keys, allow_override=True)) == [
        "db_host='h'", f"db_password='{SECRET}'", "list_0='only'"]


def test_select_renders_one_mapping(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"app": {"db": {"password": SECRET}}, "other": "x"})
    assert lines(text(paths, keys, select="app.db")) == [f"password='{SECRET}'"]
    assert str(fails(paths, keys, select="app.nope")).startswith("no key app.nope in ")
    error = fails(paths, keys, select="other")
    assert str(error) == f"{paths[0]}: other: not a mapping of keys"


def test_a_missing_second_file_fails_before_decrypting(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": SECRET})
    error = fails([*paths, tmp_path / "missing.sealed.yaml"], keys)
    assert str(error) == f"{tmp_path / 'missing.sealed.yaml'}: no such file"


# -- names ---------------------------------------------------------------------------------------


def test_names_with_separator_prefix_and_upper(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"password": "p"}, "admins": ["a", "b"], "empty": {}})
    rule = NameRule(separator="__", prefix="APP_", upper=True)
    assert lines(text(paths, keys, names=rule)) == [
        "APP_DB__PASSWORD='p'", "APP_ADMINS__0='a'", "APP_ADMINS__1='b'"]


def test_an_invalid_name_names_the_key_not_the_value(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"host-name": SECRET}})
    error = fails(paths, keys)
    assert str(error) == (f"{paths[0]}: db.host-name: 'db_host-name' is not a valid "
                          "environment variable name")
    assert error.hint is not None and "letters, digits and _" in error.hint


def test_a_name_starting_with_a_digit_is_refused_unless_prefixed(tmp_path: Path,
                                                                 keys: Keys) -> None:
    paths = files(tmp_path, keys, {"2fa": {"seed": SECRET}})
    assert "'2fa_seed' is not a valid" in str(fails(paths, keys))
    assert lines(text(paths, keys, names=NameRule(prefix="X_"))) == [f"X_2fa_seed='{SECRET}'"]


def test_two_keys_becoming_one_name_is_an_error(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"host": "a"}, "DB_HOST": SECRET})
    assert str(fails(paths, keys, names=NameRule(upper=True))) == (
        f"{paths[0]}: DB_HOST: db.host and this key both become DB_HOST")


def test_a_nul_character_cannot_go_into_an_environment(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"k": SECRET + "\x00"})
    for fmt in ("dotenv", "shell", "systemd", "github"):
        error = fails(paths, keys, fmt, output=tmp_path / "out") if fmt == "github" else \
            fails(paths, keys, fmt)
        assert str(error) == (f"{paths[0]}: k: the value contains a NUL character, which an "
                              "environment variable cannot hold")


def test_scalars_become_text(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"i": -5, "f": 0.1, "inf": float("inf"), "t": True,
                                   "n": None, "b": b"\x00\xff", "s": "0123"})
    assert lines(text(paths, keys)) == ["i='-5'", "f='0.1'", "inf='inf'", "t='true'", "n=''",
                                        "b='AP8='", "s='0123'"]


# -- format-specific refusals --------------------------------------------------------------------


def test_dotenv_refuses_a_trailing_backslash(tmp_path: Path, keys: Keys) -> None:
    for value in ("C:\\dir\\", SECRET + "\n\\"):
        paths = files(tmp_path, keys, {"k": value})
        error = fails(paths, keys)
        assert str(error).startswith(f"{paths[0]}: k: a value holding two backslashes in a row, "
                                     "or ending in one, cannot be written")
        assert SECRET not in str(error)


def test_json_refuses_infinity(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": {"b": float("nan")}})
    assert str(fails(paths, keys, "json")) == f"{paths[0]}: a.b: nan cannot be written as JSON"


def test_systemd_refuses_what_systemd_refuses(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"k": "\ufeff" + SECRET})
    assert "U+FEFF" in str(fails(paths, keys, "systemd"))


def test_github_refuses_a_trailing_carriage_return(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"k": SECRET + "\r"})
    assert "carriage return" in str(fails(paths, keys, "github", output=tmp_path / "env"))


def test_github_writes_to_the_runner_files(tmp_path: Path, keys: Keys,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    paths = files(tmp_path, keys, {"k": "v"})
    monkeypatch.delenv("GITHUB_ENV", raising=False)
    error = fails(paths, keys, "github")
    assert (str(error), error.hint) == ("$GITHUB_ENV is not set", "run this in a GitHub "
                                        "Actions step, or pass -o FILE")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    out = render(paths, RenderSpec("github", github="output"), keys.identities)
    assert (out.output, out.append, out.content) == (tmp_path / "out", True, b"k=v\n")


@pytest.mark.parametrize(("spec", "message"), [
    (RenderSpec("xml"), "unknown format 'xml'"),
    (RenderSpec("template"), "the template format needs a template file"),
    (RenderSpec("json", names=NameRule(upper=True)),
     "key naming options (--prefix, --separator, --upper): not used by the json format"),
    (RenderSpec("dotenv", kubernetes=KubernetesOptions(name="x")),
     "Secret options (--name, --namespace, --type, --label, --annotation, --string-data): not "
     "used by the dotenv format"),
    (RenderSpec("dotenv", template=Path("t.j2")),
     "a template file (--template): not used by the dotenv format"),
    (RenderSpec("dotenv", names=NameRule(separator="-")),
     "the key separator '-' would make invalid names for dotenv"),
    (RenderSpec("dotenv", names=NameRule(separator="")), "the key separator must not be empty"),
    (RenderSpec("k8s", kubernetes=KubernetesOptions(name="App_1")),
     "invalid Kubernetes name 'App_1'"),
    (RenderSpec("k8s", kubernetes=KubernetesOptions(namespace="a.b")),
     "invalid Kubernetes namespace 'a.b'"),
    (RenderSpec("k8s", kubernetes=KubernetesOptions(labels={"a/b/c": "x"})),
     "invalid label key 'a/b/c'"),
    (RenderSpec("k8s", kubernetes=KubernetesOptions(labels={"app": "-x"})),
     "invalid value for label app: at most 63 letters, digits, -, _ and ., starting and "
     "ending with a letter or digit"),
    (RenderSpec("k8s", kubernetes=KubernetesOptions(annotations={"": "x"})),
     "invalid annotation key ''"),
    (RenderSpec("k8s", kubernetes=KubernetesOptions(type="my type")),
     "invalid Secret type 'my type'"),
    (RenderSpec("dotenv", select="a..b"), "invalid key path 'a..b': unexpected '.'"),
])
def test_bad_specs_fail_before_any_file_is_read(spec: RenderSpec, message: str) -> None:
    with pytest.raises(UsageError) as info:
        render([Path("/nonexistent.sealed.yaml")], spec, [])
    assert str(info.value) == message


def test_spec_errors_name_their_origin() -> None:
    with pytest.raises(UsageError) as info:
        render([Path("x")], RenderSpec("xml", origin="sealer.yaml: targets.prod"), [])
    assert str(info.value) == "sealer.yaml: targets.prod: unknown format 'xml'"


# -- Kubernetes ----------------------------------------------------------------------------------


def secret(paths: list[Path], keys: Keys, **options: Any) -> Any:
    return yaml.safe_load(text(paths, keys, "k8s", kubernetes=KubernetesOptions(**options)))


def test_secret_metadata(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"k": "v"})
    manifest = secret(paths, keys, namespace="prod", labels={"app": "web"},
                      annotations={"team": "a"})
    assert manifest["metadata"]["name"] == "base"
    assert manifest["metadata"]["namespace"] == "prod"
    assert manifest["metadata"]["labels"] == {"app": "web"}
    assert list(manifest["metadata"]["annotations"]) == ["team", DIGEST_ANNOTATION]
    assert list(manifest) == ["apiVersion", "kind", "metadata", "type", "data"]


def test_secret_default_name_must_be_valid(tmp_path: Path, keys: Keys) -> None:
    path = seal_to(tmp_path / "My_App.sealed.yaml", {"k": "v"}, keys)
    error = fails([path], keys, "k8s")
    assert str(error) == "invalid Kubernetes name 'My_App'"
    assert error.hint is not None and error.hint.endswith("; or pass --name")


@pytest.mark.parametrize(("secret_type", "data", "message"), [
    ("kubernetes.io/tls", {"tls.crt": SECRET}, "a kubernetes.io/tls Secret needs the key tls.key"),
    ("kubernetes.io/basic-auth", {"user": SECRET},
     "a kubernetes.io/basic-auth Secret needs the key username or password"),
    ("kubernetes.io/dockerconfigjson", {"x": SECRET},
     "a kubernetes.io/dockerconfigjson Secret needs the key .dockerconfigjson"),
    ("kubernetes.io/ssh-auth", {}, "a kubernetes.io/ssh-auth Secret needs the key ssh-privatekey"),
])
def test_secret_types_need_their_keys(tmp_path: Path, keys: Keys, secret_type: str,
                                      data: dict[str, str], message: str) -> None:
    paths = files(tmp_path, keys, data)
    error = fails(paths, keys, "k8s", kubernetes=KubernetesOptions(type=secret_type))
    assert str(error) == f"{paths[0]}: {message}"


def test_basic_auth_needs_only_one_of_its_keys(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"password": SECRET})
    assert secret(paths, keys, type="kubernetes.io/basic-auth")["type"] == \
        "kubernetes.io/basic-auth"


def test_dockerconfigjson_must_be_a_json_object(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {".dockerconfigjson": '{"auths": ' + SECRET})
    error = fails(paths, keys, "k8s",
                  kubernetes=KubernetesOptions(type="kubernetes.io/dockerconfigjson"))
    assert str(error) == (f'{paths[0]}: ".dockerconfigjson": the value of .dockerconfigjson '
                          "must be a JSON object, and is not")


def test_secret_keys_may_hold_dots_but_not_slashes(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"tls.crt": "c", "a/b": SECRET})
    assert str(fails(paths, keys, "k8s")) == f"{paths[0]}: a/b: 'a/b' is not a valid Secret key"


def test_secret_size_limit(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": "x" * 600_000, "b": "y" * 600_000})
    assert "Kubernetes allows at most 1048576" in str(fails(paths, keys, "k8s"))


def test_string_data_refuses_binary_that_is_not_utf8(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"blob": b"\xff\xfe"})
    error = fails(paths, keys, "k8s", kubernetes=KubernetesOptions(string_data=True))
    assert str(error) == (f"{paths[0]}: blob: a binary value that is not UTF-8 cannot go in "
                          "stringData")


def digest(paths: list[Path], keys: Keys, **options: Any) -> str:
    value: str = secret(paths, keys, **options)["metadata"]["annotations"][DIGEST_ANNOTATION]
    return value


def test_digest_is_stable_and_follows_the_content(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": "1", "b": "2"})
    first = digest(paths, keys)
    assert len(first) == 64 and digest(paths, keys) == first
    assert digest(paths, keys, name="other", labels={"x": "y"}) == first  # metadata: no
    assert digest(paths, keys, type="custom/type") != first  # the type: yes
    sealer.set_value(paths[0], "b", "3", keys.identities)
    assert digest(paths, keys) != first
    sealer.set_value(paths[0], "b", "2", keys.identities)
    assert digest(paths, keys) == first  # same content, same data key: same digest


def test_digest_is_keyed(tmp_path: Path, keys: Keys) -> None:
    """Nobody without the data key can test guesses against it: it is no plain hash, and the
    same content sealed in another file (another data key) gives another digest."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = digest(files(tmp_path / "a", keys, {"pin": "1234"}), keys)
    two = digest(files(tmp_path / "b", keys, {"pin": "1234"}), keys)
    assert one != two
    assert one not in {hashlib.sha256(c).hexdigest() for c in (b"1234", b"pin=1234")}


def test_digest_ignores_key_order(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": "1", "b": "2"})
    first = digest(paths, keys)
    opened = sealer.open_file(paths[0], keys.identities)
    reordered = sealer.seal({"b": "2", "a": "1"}, previous=opened, source=str(paths[0]))
    paths[0].write_text(reordered.to_yaml())
    assert digest(paths, keys) == first


# -- template errors -----------------------------------------------------------------------------


def template_error(tmp_path: Path, keys: Keys, source: str) -> str:
    template = tmp_path / "t.j2"
    template.write_text(source)
    paths = files(tmp_path, keys, {"db": {"password": SECRET}})
    return str(fails(paths, keys, "template", template=template))


@pytest.mark.parametrize(("source", "message"), [
    ("ok\n{{ db.password }\n", "line 2: unexpected '}'"),
    ("{% for x in db %}\n", "line 1: Unexpected end of template. Jinja was looking for the "
                            "following tags: 'endfor' or 'else'. The innermost block that needs "
                            "to be closed is 'for'."),
    ("{{ x | nosuchfilter }}", "line 1: No filter named 'nosuchfilter'."),
])
def test_template_syntax_errors_name_the_line(tmp_path: Path, keys: Keys, source: str,
                                              message: str) -> None:
    assert template_error(tmp_path, keys, source) == f"{tmp_path / 't.j2'}: {message}"


def test_template_undefined_names_the_line_and_name(tmp_path: Path, keys: Keys) -> None:
    assert template_error(tmp_path, keys, "a\nb\n{{ db.passwrd }}\n") == (
        f"{tmp_path / 't.j2'}: line 3: 'passwrd' is undefined")
    assert template_error(tmp_path, keys, "{{ nothing }}") == (
        f"{tmp_path / 't.j2'}: line 1: 'nothing' is undefined")


def test_template_errors_never_show_values(tmp_path: Path, keys: Keys) -> None:
    t = f"{tmp_path / 't.j2'}: line 2: "
    assert template_error(tmp_path, keys, "\n{{ {}[db.password] }}") == (
        t + "a name or key is undefined (not shown: it was computed from a value)")
    assert template_error(tmp_path, keys, "\n{{ db.password.index('zz') }}").startswith(
        t + "rendering failed (ValueError; the details are not shown")
    assert template_error(tmp_path, keys, "\n{{ db.password.encode('ascii').decode('x') }}"
                          ).startswith(t + "rendering failed (LookupError")
    assert template_error(tmp_path, keys, "\n{{ db.password.__class__ }}") == (
        t + "the sandbox refused an unsafe operation")
    assert template_error(tmp_path, keys, "\n{% set _ = db.update({}) %}") == (
        t + "the sandbox refused an unsafe operation")


def test_template_file_problems(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": "b"})
    missing = tmp_path / "missing.j2"
    assert str(fails(paths, keys, "template", template=missing)) == f"{missing}: no such file"
    (tmp_path / "bad.j2").write_bytes(b"\xff")
    assert str(fails(paths, keys, "template", template=tmp_path / "bad.j2")) == (
        f"{tmp_path / 'bad.j2'}: the template is not UTF-8 text (byte 0)")
    (tmp_path / "inc.j2").write_text("x\n{% include 'nope.j2' %}")
    assert str(fails(paths, keys, "template", template=tmp_path / "inc.j2")) == (
        f"{tmp_path / 'inc.j2'}: line 2: included template 'nope.j2' not found")


def test_template_includes_work(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": "b"})
    (tmp_path / "part.j2").write_text("[{{ a }}]")
    (tmp_path / "main.j2").write_text("{% include 'part.j2' %}\n")
    assert text(paths, keys, "template", template=tmp_path / "main.j2") == "[b]\n"


# -- writing and checking ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_are_private(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "app.env"
    write_output(Rendered(b"A='1'\n", target, "dotenv"))
    assert target.read_bytes() == b"A='1'\n"
    assert (mode(target), mode(target.parent), mode(target.parent.parent)) == (0o600, 0o700,
                                                                               0o700)
    target.chmod(0o644)
    write_output(Rendered(b"A='2'\n", target, "dotenv"))
    assert mode(target) == 0o600 and target.read_bytes() == b"A='2'\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["app.env"]  # no temp files


def test_github_output_is_appended(tmp_path: Path) -> None:
    target = tmp_path / "github_env"
    target.write_bytes(b"EARLIER=1\n")
    write_output(Rendered(b"A=2\n", target, "github", append=True))
    assert target.read_bytes() == b"EARLIER=1\nA=2\n"


def test_is_current(tmp_path: Path) -> None:
    target = tmp_path / "app.env"
    rendered = Rendered(b"A='1'\n", target, "dotenv")
    assert not is_current(rendered)
    target.write_bytes(b"A='1'\n")
    assert is_current(rendered)
    target.write_bytes(b"A='1'\nB='2'\n")
    assert not is_current(rendered)


def test_a_sealed_file_is_never_overwritten(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"a": "b"}, {"c": "d"})
    for target in paths:
        error = fails(paths, keys, output=target)
        assert str(error) == f"{target}: refusing to overwrite a sealed file with plaintext"


# -- sealer.load ---------------------------------------------------------------------------------


def test_load_returns_read_only_secrets(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"password": SECRET, "port": 5432},
                                   "admins": ["a", {"b": 1}]})
    secrets = sealer.load(str(paths[0]), identities=keys.identities)
    assert isinstance(secrets, Secrets) and sealer.load is load
    assert secrets["db"]["password"] == SECRET and secrets["db"]["port"] == 5432
    assert secrets["admins"][1]["b"] == 1 and isinstance(secrets["admins"], tuple)
    with pytest.raises(TypeError):
        secrets["db"]["password"] = "x"
    with pytest.raises(AttributeError):
        secrets._data = {}
    with pytest.raises(AttributeError):
        del secrets._data
    assert SECRET not in repr(secrets) and SECRET not in str(secrets["db"])
    assert repr(secrets) == "<sealer secrets: db, admins>"
    assert secrets.to_dict() == {"db": {"password": SECRET, "port": 5432},
                                 "admins": ["a", {"b": 1}]}
    assert dict(secrets["db"]) == {"password": SECRET, "port": 5432}


def test_load_merges_several_files(tmp_path: Path, keys: Keys) -> None:
    paths = files(tmp_path, keys, {"db": {"host": "h", "password": "old"}},
                  {"db": {"password": SECRET}})
    with pytest.raises(SealerError, match=r"db\.password is already defined"):
        load(paths, keys.identities)
    assert load(paths, keys.identities, allow_override=True)["db"] == {"host": "h",
                                                                       "password": SECRET}


def test_load_verifies_like_the_cli(tmp_path: Path, keys: Keys,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    paths = files(tmp_path, keys, {"a": SECRET})
    with pytest.raises(NoIdentityError):
        load(paths[0])  # no identity anywhere (the test HOME is empty)
    monkeypatch.setenv("SEALER_IDENTITY_FILE", str(keys.file))
    assert load(paths[0])["a"] == SECRET  # found as the CLI finds it
    text = paths[0].read_text()
    start = text.index("ENC[str,") + 12
    paths[0].write_text(text[:start] + ("A" if text[start] != "A" else "B") + text[start + 1:])
    with pytest.raises(IntegrityError):
        load(paths[0])


# -- the exec environment ------------------------------------------------------------------------


def test_secret_environment(tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = files(tmp_path, keys, {"db": {"password": SECRET}})
    monkeypatch.setenv("SEALER_IDENTITY", "AGE-SECRET-KEY-1NOTREAL")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", "/x")
    before = dict(os.environ)
    env = secret_environment(paths, keys.identities, names=NameRule(upper=True))
    assert dict(os.environ) == before  # the parent's environment is not touched
    assert env["DB_PASSWORD"] == SECRET and env["HOME"] == os.environ["HOME"]
    assert "SEALER_IDENTITY" not in env and "SOPS_AGE_KEY_FILE" not in env
    kept = secret_environment(paths, keys.identities, keep_key_variables=True)
    assert kept["SEALER_IDENTITY"] == "AGE-SECRET-KEY-1NOTREAL"
    assert secret_environment(paths, keys.identities, base={}) == {"db_password": SECRET}


def test_every_export_resolves_in_any_order() -> None:
    import subprocess
    import sys

    import sealer.render

    assert sorted(sealer.render.__all__) == sorted(sealer.render._EXPORTS)
    script = ("import sealer.render as r; r.Secrets; r.render; "
              "assert callable(r.load) and callable(r.render), (r.load, r.render); "
              "import sealer; assert sealer.load is r.load and sealer.RenderSpec is r.RenderSpec; "
              "assert all(getattr(r, n) is not None for n in r.__all__)")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
