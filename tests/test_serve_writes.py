"""`sealer serve --allow-write`: PutSecretValue, UpdateSecretVersionStage and RotateSecret
through the write gate and the version semantics of docs/ROTATION.md, a rotation function
written for AWS's four-step protocol driving a real PostgreSQL through the API, and reloads
(a changed file, a bad file, SIGHUP).

The server is the real CLI process; the database is a real PostgreSQL the tests start.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import Repo, Served, make_repo

pytest.importorskip("boto3", reason="boto3 is a test dependency (pip install -e '.[test]')")
from botocore.exceptions import ClientError

pytest_plugins = ["pg_server"]


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    home = tmp_path / "home"
    home.mkdir()
    return make_repo(tmp_path, {"HOME": str(home), "XDG_STATE_HOME": str(home / ".state")})


def code_of(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_put_secret_value_makes_a_version(repo: Repo) -> None:
    server = Served.start(repo, "--allow-write")
    try:
        client = server.client()
        secret = "prod/app#api.token"
        before = client.get_secret_value(SecretId=secret)
        token = str(uuid.uuid4())
        put = client.put_secret_value(SecretId=secret, SecretString="tok-new",
                                      ClientRequestToken=token)
        assert put["VersionId"] == token and put["VersionStages"] == ["AWSCURRENT"]
        assert client.get_secret_value(SecretId=secret)["SecretString"] == "tok-new"
        old = client.get_secret_value(SecretId=secret, VersionStage="AWSPREVIOUS")
        assert (old["SecretString"], old["VersionId"]) == (before["SecretString"],
                                                           before["VersionId"])
        # on disk, through sealer's own reader
        file = repo.secrets / "prod/app.sealed.yaml"
        assert repo.sealer("get", file, "api.token").out == "tok-new"
        assert "tok-new" not in file.read_text(encoding="utf-8")
        # a retry with the same token is a no-op; another value under it is refused
        again = client.put_secret_value(SecretId=secret, SecretString="tok-new",
                                        ClientRequestToken=token)
        assert again["VersionId"] == token
        with pytest.raises(ClientError) as caught:
            client.put_secret_value(SecretId=secret, SecretString="tok-other",
                                    ClientRequestToken=token)
        assert code_of(caught) in ("InvalidRequestException", "ResourceExistsException")
        assert client.get_secret_value(SecretId=secret)["SecretString"] == "tok-new"
    finally:
        server.stop()


def test_put_whole_files_and_typed_values(repo: Repo) -> None:
    server = Served.start(repo, "--allow-write")
    try:
        client = server.client()
        doc = json.loads(client.get_secret_value(SecretId="prod/db")["SecretString"])
        doc["password"] = "n3w-pass"
        client.put_secret_value(SecretId="prod/db", SecretString=json.dumps(doc))
        assert repo.sealer("get", repo.secrets / "prod/db.sealed.yaml", "password").out \
            == "n3w-pass"
        client.put_secret_value(SecretId="prod/db#port", SecretString="6432")
        typed = repo.sealer("get", repo.secrets / "prod/db.sealed.yaml", "port",
                            "--format", "json").out
        assert json.loads(typed) == 6432  # the stored int stays an int
        for secret_id, text in (("prod/db", "not json"), ("prod/db", "[1]"),
                                ("staging/example#admins", '{"a": 1}')):
            with pytest.raises(ClientError) as caught:
                client.put_secret_value(SecretId=secret_id, SecretString=text)
            assert code_of(caught) == "InvalidParameterException"
        with pytest.raises(ClientError) as caught:
            client.put_secret_value(SecretId="prod/db", SecretString="x" * 70000)
        assert code_of(caught) in ("InvalidParameterException", "ValidationException")
    finally:
        server.stop()


def test_writes_are_off_by_default(repo: Repo) -> None:
    server = Served.start(repo)
    try:
        with pytest.raises(ClientError) as caught:
            server.client().put_secret_value(SecretId="prod/db#password", SecretString="x")
        assert code_of(caught) == "AccessDeniedException"
        assert "--allow-write" in caught.value.response["Error"]["Message"]
    finally:
        server.stop()


def test_writes_pass_the_write_gate(tmp_path: Path) -> None:
    """An environment that requires signatures: without a signing key the server refuses the
    write (the file unchanged); with one, the written file is signed and readers accept it."""
    from cli_helpers import make_identity, run

    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "repo"
    (root / "secrets").mkdir(parents=True)
    env = {"HOME": str(home), "XDG_STATE_HOME": str(home / ".state")}
    key = root / "key.txt"
    me = make_identity(key)
    signer = run("keygen", "--signing", "-o", tmp_path / "signing.key", env=env).out.strip()
    (root / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {me}\n  release: {signer}\n"
        "environments:\n  prod:\n    recipients: [me]\n    signers: [release]\n"
        "    require_signature: true\ncreation_rules:\n  - {path: '**', environment: prod}\n",
        encoding="utf-8")
    (root / "secrets" / "app.yaml").write_text("token: first\n", encoding="utf-8")
    signing = {"SEALER_SIGNING_KEY": str(tmp_path / "signing.key")}
    sealed = run("seal", "secrets/app.yaml", cwd=root, env={**env, **signing})
    assert sealed.code == 0, sealed.err
    (root / "secrets" / "app.yaml").unlink()
    repo = Repo(root, root / "secrets", key, me, env)
    file = root / "secrets" / "app.sealed.yaml"
    before = file.read_bytes()
    server = Served.start(repo, "--allow-write")
    try:
        client = server.client()
        assert client.get_secret_value(SecretId="app#token")["SecretString"] == "first"
        with pytest.raises(ClientError) as caught:
            client.put_secret_value(SecretId="app#token", SecretString="second")
        assert code_of(caught) == "AccessDeniedException"
        assert "SEALER_SIGNING_KEY" in caught.value.response["Error"]["Message"]
    finally:
        server.stop()
    assert file.read_bytes() == before
    server = Served.start(repo, "--allow-write", env=signing)
    try:
        server.client().put_secret_value(SecretId="app#token", SecretString="second")
    finally:
        server.stop()
    assert repo.sealer("get", file, "token").out == "second"  # signed: readers accept it


def test_update_secret_version_stage_and_rotate_secret(repo: Repo) -> None:
    server = Served.start(repo, "--allow-write")
    try:
        client = server.client()
        secret = "prod/app#api.token"
        stages = client.describe_secret(SecretId=secret)["VersionIdsToStages"]
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        previous = next(v for v, s in stages.items() if "AWSPREVIOUS" in s)
        client.update_secret_version_stage(SecretId=secret, VersionStage="blue",
                                           MoveToVersionId=previous)
        assert client.get_secret_value(SecretId=secret, VersionStage="blue")["VersionId"] \
            == previous
        # AWS's rollback: AWSCURRENT moved back to the previous version
        client.update_secret_version_stage(SecretId=secret, VersionStage="AWSCURRENT",
                                           MoveToVersionId=previous,
                                           RemoveFromVersionId=current)
        assert client.get_secret_value(SecretId=secret)["VersionId"] == previous
        rotated = client.rotate_secret(SecretId=secret)
        assert rotated["VersionId"] not in (current, previous)
        now = client.get_secret_value(SecretId=secret)
        assert now["VersionId"] == rotated["VersionId"] and len(now["SecretString"]) == 32
        # a whole file with one rotated key: its versions are that key's
        whole = client.rotate_secret(SecretId="prod/app")
        assert client.get_secret_value(SecretId=secret)["VersionId"] == whole["VersionId"]
        doc = json.loads(client.get_secret_value(SecretId="prod/app")["SecretString"])
        doc["api"]["token"] = "pending-token"
        token = str(uuid.uuid4())
        client.put_secret_value(SecretId="prod/app", SecretString=json.dumps(doc),
                                ClientRequestToken=token, VersionStages=["AWSPENDING"])
        assert client.get_secret_value(SecretId=secret, VersionStage="AWSPENDING")[
            "SecretString"] == "pending-token"
        doc["count"] = 8
        with pytest.raises(ClientError) as caught:
            client.put_secret_value(SecretId="prod/app", SecretString=json.dumps(doc),
                                    VersionStages=["AWSPENDING"])
        assert code_of(caught) == "InvalidParameterException"
        client.update_secret_version_stage(SecretId="prod/app", VersionStage="AWSCURRENT",
                                           MoveToVersionId=token,
                                           RemoveFromVersionId=whole["VersionId"])
        assert client.get_secret_value(SecretId=secret)["SecretString"] == "pending-token"
        # RotationRules configure the schedule (AWS: RotateSecret with rules)
        client.rotate_secret(SecretId="prod/db#password", RotationRules={
            "ScheduleExpression": "rate(10 days)"}, RotateImmediately=False)
        described = client.describe_secret(SecretId="prod/db#password")
        assert described["RotationEnabled"] is True
        assert described["RotationRules"]["ScheduleExpression"] == "rate(10 days)"
        with pytest.raises(ClientError) as caught:
            client.update_secret_version_stage(SecretId=secret, VersionStage="AWSCURRENT",
                                               MoveToVersionId="f" * 36)
        assert code_of(caught) == "InvalidRequestException"
    finally:
        server.stop()


# -- a rotation function written for AWS, run against sealer serve ---------------------------


def rotation_function(client: Any, event: dict[str, str], connect: Any) -> None:
    """The four steps of AWS's rotation protocol for a single-user PostgreSQL secret, as a
    rotation Lambda implements them (createSecret, setSecret, testSecret, finishSecret),
    using only Secrets Manager API calls and the database."""
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step == "createSecret":
        current = json.loads(client.get_secret_value(SecretId=arn,
                                                     VersionStage="AWSCURRENT")["SecretString"])
        try:
            client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
            return
        except client.exceptions.ResourceNotFoundException:
            pass
        current["password"] = client.get_random_password(
            ExcludeCharacters="/@\"'\\")["RandomPassword"]
        client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                SecretString=json.dumps(current), VersionStages=["AWSPENDING"])
    elif step == "setSecret":
        pending = json.loads(client.get_secret_value(
            SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"])
        current = json.loads(client.get_secret_value(SecretId=arn,
                                                     VersionStage="AWSCURRENT")["SecretString"])
        with connect(current) as conn:
            from psycopg import sql

            conn.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(
                sql.Identifier(pending["username"]), sql.Literal(pending["password"])))
    elif step == "testSecret":
        pending = json.loads(client.get_secret_value(
            SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"])
        with connect(pending) as conn:
            conn.execute("SELECT 1")
    elif step == "finishSecret":
        versions = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
        current = next(v for v, s in versions.items() if "AWSCURRENT" in s)
        if current == token:
            return
        client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                           MoveToVersionId=token,
                                           RemoveFromVersionId=current)


def test_a_rotation_function_for_aws_rotates_a_real_database(repo: Repo,
                                                             postgres_app: Any) -> None:
    import psycopg

    secret_file = repo.secrets / "prod/pg.yaml"
    import yaml

    secret_file.write_text(yaml.safe_dump({"db": postgres_app.secret}), encoding="utf-8")
    repo.sealer("seal", secret_file, "-r", repo.recipient)
    secret_file.unlink()
    repo.sealer("rotation", "configure", repo.secrets / "prod/pg.sealed.yaml", "db",
                "--every", "30d", "--no-rotate-immediately")
    server = Served.start(repo, "--allow-write")

    def connect(secret: dict[str, Any]) -> Any:
        return psycopg.connect(host=secret["host"], port=secret["port"],
                               user=secret["username"], password=secret["password"],
                               dbname=secret["dbname"], autocommit=True, connect_timeout=10)

    try:
        client = server.client()
        arn = client.describe_secret(SecretId="prod/pg#db")["ARN"]
        token = str(uuid.uuid4())
        for step in ("createSecret", "createSecret", "setSecret", "testSecret",
                     "finishSecret"):
            rotation_function(client, {"SecretId": arn, "ClientRequestToken": token,
                                       "Step": step}, connect)
            if step == "createSecret":
                stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
                assert stages[token] == ["AWSPENDING"]
        now = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
        assert now["password"] != postgres_app.password
        assert postgres_app.server.can_login(now["username"], now["password"],
                                             postgres_app.dbname)
        assert not postgres_app.server.can_login(now["username"], postgres_app.password,
                                                 postgres_app.dbname)
        stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
        assert stages[token] == ["AWSCURRENT"]
        assert any(s == ["AWSPREVIOUS"] for s in stages.values())
        # sealer's own view of the file agrees
        listing = repo.sealer("versions", repo.secrets / "prod/pg.sealed.yaml", "db").out
        assert token in listing and "PENDING" not in listing
        assert postgres_app.password not in server.log() and now["password"] not in server.log()
    finally:
        server.stop()


# -- reloads ---------------------------------------------------------------------------------


def test_a_changed_file_is_served_and_a_bad_one_keeps_the_previous_set(repo: Repo) -> None:
    server = Served.start(repo, "--reload-interval", "0.2")
    try:
        client = server.client()
        file = repo.secrets / "prod/db.sealed.yaml"
        repo.sealer("set", file, "password", "second-pass")
        wait_until(lambda: client.get_secret_value(SecretId="prod/db#password")
                   ["SecretString"] == "second-pass")
        new = repo.secrets / "prod/new.yaml"
        new.write_text("key: fresh\n", encoding="utf-8")
        repo.sealer("seal", new, "-r", repo.recipient)
        new.unlink()
        wait_until(lambda: "prod/new" in [s["Name"] for s in client.list_secrets()
                                          ["SecretList"]])
        # a tampered file: the whole previous set stays, the log names the file
        good = file.read_text(encoding="utf-8")
        file.write_text(good.replace("mac: ", "mac: A"), encoding="utf-8")
        (repo.secrets / "prod/new.sealed.yaml").unlink()
        server.wait_for_log(r"prod/db\.sealed\.yaml.*still serving the previous set")
        assert client.get_secret_value(SecretId="prod/db#password")["SecretString"] \
            == "second-pass"
        assert client.get_secret_value(SecretId="prod/new#key")["SecretString"] == "fresh"
        file.write_text(good, encoding="utf-8")
        wait_until(lambda: "prod/new" not in [s["Name"] for s in client.list_secrets()
                                              ["SecretList"]])
    finally:
        log = server.stop()
    assert "second-pass" not in log


def test_sighup_reloads_at_once(repo: Repo) -> None:
    server = Served.start(repo, "--reload-interval", "3600")
    try:
        client = server.client()
        repo.sealer("set", repo.secrets / "prod/db.sealed.yaml", "password", "hup-pass")
        server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: client.get_secret_value(SecretId="prod/db#password")
                   ["SecretString"] == "hup-pass")
    finally:
        server.stop()
