"""The `command` rotator against a real script: what the script receives (JSON on stdin, the
step in argv, no secret in argv or the environment), create's output, and every way the
script can fail, with messages that never show a secret."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from sealer.errors import UsageError
from sealer.rotation.rotators import RotationError, get_rotator
from sealer.rotation.rotators.command import CommandRotator

CANARY = "canary-S3cr3t-7f3a9c"
CURRENT = {"token": CANARY, "endpoint": "https://api.example"}

SCRIPT = """\
#!{python}
import json, os, sys
raw = sys.stdin.read()
message = json.loads(raw)
step = sys.argv[-1]
settings = message["settings"]
with open(settings["record"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv, "env": dict(os.environ), "stdin": message,
                          "cwd": os.getcwd()}}) + "\\n")
action = settings.get("on", {{}}).get(step, "ok")
if action == "ok" and step == "create":
    print(json.dumps(dict(message["current"], token="rotated-" + step)))
elif action == "fail":
    print("first line", file=sys.stderr)
    print("remote refused the new token", file=sys.stderr)
    sys.exit(3)
elif action == "leak":
    value = (message["pending"] or message["current"])["token"]
    print("bad token " + json.dumps(value), file=sys.stderr)
    sys.exit(1)
elif action == "kill":
    os.kill(os.getpid(), 9)
elif action == "sleep":
    import time
    time.sleep(30)
elif action != "ok":
    sys.stdout.write(action)
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "rotate-token"
    path.write_text(SCRIPT.format(python=sys.executable), encoding="utf-8")
    path.chmod(0o755)
    return path


def settings(script: Path, **extra: Any) -> dict[str, Any]:
    return {"command": [str(script)], "record": str(script.parent / "record.jsonl"), **extra}


def records(script: Path) -> list[dict[str, Any]]:
    lines = (script.parent / "record.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_get_rotator() -> None:
    assert isinstance(get_rotator("command"), CommandRotator)
    assert get_rotator("command").name == "command"
    with pytest.raises(UsageError) as caught:
        get_rotator("oracle")
    assert str(caught.value) == "unknown rotator 'oracle'"
    assert caught.value.hint == "use one of: command, mysql, postgres"


def test_four_steps_receive_json_on_stdin(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_IDENTITY", "AGE-SECRET-KEY-1FAKE")
    monkeypatch.setenv("SOPS_AGE_KEY", "AGE-SECRET-KEY-1FAKE")
    monkeypatch.setenv("UNRELATED_SETTING", "kept")
    rotator, config = CommandRotator(), settings(script, region="eu")
    pending = rotator.create(CURRENT, config)
    assert pending == {"token": "rotated-create", "endpoint": "https://api.example"}
    rotator.set_secret(CURRENT, pending, config)
    rotator.test_secret(pending, config)
    rotator.finish_secret(CURRENT, pending, config)
    seen = records(script)
    assert [r["argv"] for r in seen] == [[str(script), s] for s in
                                         ("create", "set", "test", "finish")]
    assert [r["stdin"] for r in seen] == [
        {"step": "create", "current": CURRENT, "pending": None, "settings": config},
        {"step": "set", "current": CURRENT, "pending": pending, "settings": config},
        {"step": "test", "current": None, "pending": pending, "settings": config},
        {"step": "finish", "current": CURRENT, "pending": pending, "settings": config}]
    for record in seen:
        assert not any(name.startswith(("SEALER_", "SOPS_")) for name in record["env"])
        assert record["env"]["UNRELATED_SETTING"] == "kept"
        outside_stdin = json.dumps([record["argv"], record["env"]])
        assert CANARY not in outside_stdin and "rotated-create" not in outside_stdin


def test_create_may_return_any_json_value(script: Path) -> None:
    config = settings(script, on={"create": '"a-plain-string"'})
    assert CommandRotator().create("old-string", config) == "a-plain-string"
    assert records(script)[0]["stdin"]["current"] == "old-string"


@pytest.mark.parametrize("output", ["", "not json", "null", "{broken"])
def test_create_without_a_json_value_fails(script: Path, output: str) -> None:
    with pytest.raises(RotationError) as caught:
        CommandRotator().create(CURRENT, settings(script, on={"create": output}))
    assert str(caught.value) == (f"rotation step 'create' failed for command {script}: the "
                                 "command printed no JSON value on stdout")
    assert caught.value.step == "create"


def test_non_zero_exit_names_step_and_status_never_stderr(script: Path) -> None:
    with pytest.raises(RotationError) as caught:
        CommandRotator().set_secret(CURRENT, {"token": "new"}, settings(script, on={"set": "fail"}))
    assert str(caught.value) == (f"rotation step 'set' failed for command {script}: the command "
                                 "exited with status 3")
    assert caught.value.reason == "the command exited with status 3"
    assert caught.value.hint is not None and "stderr is not shown" in caught.value.hint


@pytest.mark.parametrize("secret", [CANARY, 'with "quotes" and \\ backslash'])
def test_stderr_with_a_secret_is_not_shown(script: Path, secret: str) -> None:
    current = {"token": secret}
    with pytest.raises(RotationError) as caught:
        CommandRotator().test_secret(current, settings(script, on={"test": "leak"}))
    message = str(caught.value)
    assert message.endswith("the command exited with status 1")
    assert secret not in message and "quotes" not in message and "bad token" not in message


def test_killed_by_a_signal(script: Path) -> None:
    with pytest.raises(RotationError, match=r"the command was killed by SIGKILL$"):
        CommandRotator().finish_secret(CURRENT, CURRENT, settings(script, on={"finish": "kill"}))


def test_timeout(script: Path) -> None:
    with pytest.raises(RotationError) as caught:
        CommandRotator().set_secret(CURRENT, CURRENT,
                                    settings(script, on={"set": "sleep"}, timeout=0.5))
    assert str(caught.value).endswith("the command did not finish within 0.5s; it was stopped")


def test_missing_command(tmp_path: Path) -> None:
    with pytest.raises(RotationError) as caught:
        CommandRotator().create(CURRENT, {"command": [str(tmp_path / "nope"), "--flag"]})
    assert str(caught.value) == (f"rotation step 'create' failed for command {tmp_path / 'nope'}:"
                                 " cannot run the command: No such file or directory")
    assert caught.value.hint and "settings.command" in caught.value.hint


def test_command_as_one_string_and_cwd(script: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = {"command": str(script), "record": str(script.parent / "record.jsonl"),
              "cwd": str(work)}
    CommandRotator().set_secret(CURRENT, CURRENT, config)
    assert records(script)[0]["cwd"] == str(work)


@pytest.mark.parametrize(("config", "message"), [
    ({}, "needs settings.command"),
    ({"command": []}, "needs settings.command"),
    ({"command": ["x", 1]}, "needs settings.command"),
    ({"command": ["x"], "timeout": 0}, "timeout must be a positive number"),
    ({"command": ["x"], "timeout": "5"}, "timeout must be a positive number"),
    ({"command": ["x"], "cwd": 3}, "cwd must be a directory path")])
def test_bad_settings(config: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CommandRotator().set_secret(CURRENT, CURRENT, config)


def test_binary_values_cannot_be_passed(script: Path) -> None:
    with pytest.raises(UsageError, match="JSON cannot carry"):
        CommandRotator().create({"key": b"\x00\x01"}, settings(script))
