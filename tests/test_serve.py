"""`sealer serve` against its real clients: boto3 (every read operation, paging, error types),
the AWS caching client (aws-secretsmanager-caching), and plain HTTP for the Agent's routes and
for the requests no SDK would send (bad JSON, huge bodies, wrong tokens, slow clients).

The server is the real CLI process (tests/serve_helpers.py). Nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import Repo, Served, make_repo

pytest.importorskip("boto3", reason="boto3 is a test dependency (pip install -e '.[test]')")
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    base = tmp_path_factory.mktemp("serve")
    home = base / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_STATE_HOME": str(home / ".state")}
    return make_repo(base, env)


@pytest.fixture(scope="module")
def served(repo: Repo) -> Iterator[Served]:
    server = Served.start(repo)
    yield server
    server.stop()


def code_of(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


# -- GetSecretValue -------------------------------------------------------------------------


def test_a_whole_file_is_its_json(served: Served) -> None:
    got = served.client().get_secret_value(SecretId="prod/db")
    assert json.loads(got["SecretString"]) == {
        "engine": "postgres", "host": "db.internal.example.com", "port": 5432,
        "username": "app", "password": "c0rrect-horse", "dbname": "orders"}
    assert got["Name"] == "prod/db" and got["VersionStages"] == ["AWSCURRENT"]
    assert got["ARN"].startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-")
    assert len(got["ARN"].rsplit("-", 1)[1]) == 6
    assert got["CreatedDate"].year >= 2026


def test_key_paths_give_one_value(served: Served) -> None:
    client = served.client()
    assert client.get_secret_value(SecretId="prod/db#password")["SecretString"] \
        == "c0rrect-horse"
    assert client.get_secret_value(SecretId="prod/db#port")["SecretString"] == "5432"
    assert json.loads(client.get_secret_value(SecretId="staging/example#admins")
                      ["SecretString"]) == ["alice@example.com", "bob@example.com"]
    assert client.get_secret_value(SecretId="staging/example#flags.zip")["SecretString"] \
        == "01234"
    binary = client.get_secret_value(SecretId="prod/app#api.blob")
    assert binary["SecretBinary"] == b"\x00\x01\x02\xff" and "SecretString" not in binary
    whole = json.loads(client.get_secret_value(SecretId="prod/app")["SecretString"])
    assert base64.b64decode(whole["api"]["blob"]) == b"\x00\x01\x02\xff"


def test_full_and_partial_arns(served: Served) -> None:
    client = served.client()
    arn = client.describe_secret(SecretId="prod/db")["ARN"]
    assert client.get_secret_value(SecretId=arn)["Name"] == "prod/db"
    partial = arn.rsplit("-", 1)[0]
    assert client.get_secret_value(SecretId=partial)["Name"] == "prod/db"
    assert client.get_secret_value(SecretId=arn.replace("prod/db-", "prod/db#username-")
                                   )["SecretString"] == "app"
    for wrong in (arn.replace("us-east-1", "eu-west-1"),
                  arn.replace("000000000000", "123456789012")):
        with pytest.raises(ClientError) as caught:
            client.get_secret_value(SecretId=wrong)
        assert code_of(caught) == "ResourceNotFoundException"


def test_versions_and_stages_of_a_rotated_key(served: Served, repo: Repo) -> None:
    client = served.client()
    described = client.describe_secret(SecretId="prod/app#api.token")
    stages = described["VersionIdsToStages"]
    current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
    previous = next(v for v, s in stages.items() if "AWSPREVIOUS" in s)
    now = client.get_secret_value(SecretId="prod/app#api.token")
    assert now["VersionId"] == current and now["VersionStages"] == ["AWSCURRENT"]
    assert now["SecretString"] == repo.sealer("get", repo.secrets / "prod/app.sealed.yaml",
                                              "api.token").out
    old = client.get_secret_value(SecretId="prod/app#api.token", VersionStage="AWSPREVIOUS")
    assert old["SecretString"] == "tok-9f8e7d" and old["VersionId"] == previous
    assert client.get_secret_value(SecretId="prod/app#api.token", VersionId=current,
                                   VersionStage="AWSCURRENT")["SecretString"] \
        == now["SecretString"]
    # the whole file's versions follow its one rotated key
    whole_old = client.get_secret_value(SecretId="prod/app", VersionStage="AWSPREVIOUS")
    assert json.loads(whole_old["SecretString"])["api"]["token"] == "tok-9f8e7d"
    for kwargs in ({"VersionStage": "AWSPENDING"}, {"VersionId": "f" * 36},
                   {"VersionId": current, "VersionStage": "AWSPREVIOUS"}):
        with pytest.raises(ClientError) as caught:
            client.get_secret_value(SecretId="prod/app#api.token", **kwargs)
        assert code_of(caught) == "ResourceNotFoundException"


def test_missing_secrets_and_keys(served: Served) -> None:
    client = served.client()
    for secret_id in ("prod/nothing", "prod/db#nokey", "prod", "../prod/db", "/etc/passwd",
                      "prod/db.sealed.yaml", "prod/db#"):
        with pytest.raises(ClientError) as caught:
            client.get_secret_value(SecretId=secret_id)
        assert code_of(caught) == "ResourceNotFoundException", secret_id


def test_a_file_no_identity_opens_is_a_decryption_failure(served: Served) -> None:
    with pytest.raises(ClientError) as caught:
        served.client().get_secret_value(SecretId="other/locked")
    assert code_of(caught) == "DecryptionFailure"
    assert "not-yours" not in served.log()
    names = [s["Name"] for s in served.client().list_secrets()["SecretList"]]
    assert "other/locked" not in names


# -- Describe, List, Batch, GetRandomPassword ----------------------------------------------


def test_describe_secret_from_sealed_metadata(served: Served) -> None:
    client = served.client()
    db = client.describe_secret(SecretId="prod/db")
    assert db["Description"] == "Primary orders database"
    assert db["Tags"] == [{"Key": "team", "Value": "payments"}, {"Key": "pci", "Value": ""}]
    assert db["RotationEnabled"] is False and "RotationRules" not in db
    assert list(db["VersionIdsToStages"].values()) == [["AWSCURRENT"]]
    token = client.describe_secret(SecretId="prod/app#api.token")
    assert token["Description"] == "Partner API token"
    assert token["RotationEnabled"] is True
    assert token["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert token["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    gap = token["NextRotationDate"] - token["LastRotatedDate"]
    assert gap.days == 30


def test_list_secrets_filters_and_paging(served: Served) -> None:
    client = served.client()

    def names(**kwargs: Any) -> list[str]:
        return [s["Name"] for s in client.list_secrets(**kwargs)["SecretList"]]

    assert names() == ["prod/app", "prod/db", "staging/example"]
    assert names(SortOrder="desc") == ["staging/example", "prod/db", "prod/app"]
    assert names(Filters=[{"Key": "name", "Values": ["prod/"]}]) == ["prod/app", "prod/db"]
    assert names(Filters=[{"Key": "name", "Values": ["Prod/"]}]) == []  # case-sensitive
    assert names(Filters=[{"Key": "description", "Values": ["primary"]}]) == ["prod/db"]
    assert names(Filters=[{"Key": "tag-key", "Values": ["pci"]}]) == ["prod/db"]
    assert names(Filters=[{"Key": "tag-value", "Values": ["web", "pay"]}]) \
        == ["prod/app", "prod/db"]
    assert names(Filters=[{"Key": "name", "Values": ["!prod/"]}]) == ["staging/example"]
    assert names(Filters=[{"Key": "all", "Values": ["Orders"]}]) == ["prod/db"]
    assert names(Filters=[{"Key": "name", "Values": ["prod"]},
                          {"Key": "tag-key", "Values": ["team"]}]) == ["prod/app", "prod/db"]
    pages = list(client.get_paginator("list_secrets").paginate(PaginationConfig={
        "PageSize": 1}))
    assert [p["SecretList"][0]["Name"] for p in pages] == names()
    listed = client.list_secrets()["SecretList"][0]
    assert listed["SecretVersionsToStages"] and "VersionIdsToStages" not in listed
    with pytest.raises(ClientError) as caught:
        client.list_secrets(NextToken="bm90LWEtdG9rZW4=")
    assert code_of(caught) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as caught:
        client.list_secrets(Filters=[{"Key": "owner", "Values": ["x"]}])
    assert code_of(caught) in ("InvalidParameterException", "ValidationException")


def test_batch_get_secret_value(served: Served) -> None:
    client = served.client()
    got = client.batch_get_secret_value(SecretIdList=["prod/db#username", "prod/nothing",
                                                      "other/locked"])
    assert [v["SecretString"] for v in got["SecretValues"]] == ["app"]
    assert {(e["SecretId"], e["ErrorCode"]) for e in got["Errors"]} == {
        ("prod/nothing", "ResourceNotFoundException"), ("other/locked", "DecryptionFailure")}
    pages, token = [], None  # botocore has no paginator for it: NextToken by hand
    while True:
        page = client.batch_get_secret_value(
            Filters=[{"Key": "name", "Values": ["prod/", "staging/"]}], MaxResults=2,
            **({"NextToken": token} if token else {}))
        pages.append([v["Name"] for v in page["SecretValues"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [["prod/app", "prod/db"], ["staging/example"]]
    with pytest.raises(ClientError) as caught:
        client.batch_get_secret_value(SecretIdList=["prod/db"],
                                      Filters=[{"Key": "name", "Values": ["prod"]}])
    assert code_of(caught) == "InvalidParameterException"


def test_get_random_password(served: Served) -> None:
    client = served.client()
    text = client.get_random_password(PasswordLength=40, ExcludePunctuation=True,
                                      ExcludeCharacters="abc")["RandomPassword"]
    assert len(text) == 40 and text.isalnum() and not set("abc") & set(text)
    assert len(client.get_random_password()["RandomPassword"]) == 32
    with pytest.raises(ClientError) as caught:
        client.get_random_password(ExcludeNumbers=True, ExcludePunctuation=True,
                                   ExcludeUppercase=True, ExcludeLowercase=True)
    assert code_of(caught) == "InvalidParameterException"


def test_the_aws_caching_client_reads_through_it(served: Served) -> None:
    caching = pytest.importorskip("aws_secretsmanager_caching")
    cache = caching.SecretCache(config=caching.SecretCacheConfig(), client=served.client())
    assert json.loads(cache.get_secret_string("prod/db"))["username"] == "app"
    assert cache.get_secret_string("prod/db#password") == "c0rrect-horse"
    assert cache.get_secret_binary("prod/app#api.blob") == b"\x00\x01\x02\xff"


# -- the Agent's routes ----------------------------------------------------------------------


def test_agent_routes(served: Served) -> None:
    status, _, body = served.http("GET", "/secretsmanager/get?secretId=prod/db")
    assert status == 200 and json.loads(json.loads(body)["SecretString"])["dbname"] == "orders"
    status, _, body = served.http("GET", "/secretsmanager/get?secretId=prod%2Fdb%23password")
    assert status == 200 and json.loads(body)["SecretString"] == "c0rrect-horse"
    status, _, body = served.http("GET", "/v1/prod%2Fdb%23username")
    assert status == 200 and json.loads(body)["SecretString"] == "app"
    status, _, body = served.http(
        "GET", "/secretsmanager/get?secretId=prod/app%23api.token&versionStage=AWSPREVIOUS")
    assert status == 200 and json.loads(body)["SecretString"] == "tok-9f8e7d"
    status, _, body = served.http("GET", "/secretsmanager/get?secretId=prod/nothing")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"
    status, _, body = served.http("GET", "/ping", token=False)
    assert (status, body) == (200, b"healthy")


@pytest.mark.parametrize("headers", [{}, {"X-Aws-Parameters-Secrets-Token": "wrong"},
                                     {"X-Aws-Parameters-Secrets-Token": ""}])
def test_agent_routes_need_the_token(served: Served, headers: dict[str, str]) -> None:
    status, _, body = served.http("GET", "/secretsmanager/get?secretId=prod/db",
                                  headers=headers, token=False)
    assert status == 401 and b"c0rrect" not in body
    assert json.loads(body)["__type"] == "UnrecognizedClientException"


def test_requests_through_a_proxy_are_refused(served: Served) -> None:
    for method, target in (("GET", "/secretsmanager/get?secretId=prod/db"),
                           ("GET", "/v1/prod%2Fdb")):
        status, _, body = served.http(method, target, headers={"X-Forwarded-For": "10.0.0.1"})
        assert status == 403 and b"c0rrect" not in body
    status, answer = served.api("GetSecretValue", {"SecretId": "prod/db"},
                                headers={"X-Forwarded-For": "10.0.0.1"})
    assert status == 403 and answer["__type"] == "AccessDeniedException"


# -- authentication and bad input -----------------------------------------------------------


def test_a_wrong_or_missing_signature_is_refused(served: Served) -> None:
    with pytest.raises(ClientError) as caught:
        served.client(secret_key="not-the-token").get_secret_value(SecretId="prod/db")
    assert code_of(caught) == "InvalidSignatureException"
    status, _, body = served.http("POST", "/", body=b'{"SecretId": "prod/db"}', token=False,
                                  headers={"X-Amz-Target": "secretsmanager.GetSecretValue"})
    assert status == 403 and b"c0rrect" not in body
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException"


def test_a_captured_signature_cannot_be_used_for_another_request(served: Served) -> None:
    """Change the body, the operation or the time of a validly signed request: refused."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{served.url}/"
    body = b'{"SecretId": "prod/db#username"}'
    request = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "secretsmanager.GetSecretValue"})
    SigV4Auth(Credentials("AKID", served.token), "secretsmanager", "us-east-1") \
        .add_auth(request)
    signed = {k: v for k, v in request.headers.items()}
    status, _, answer = served.http("POST", "/", body=body, headers=signed, token=False)
    assert status == 200 and json.loads(answer)["SecretString"] == "app"
    tampered = b'{"SecretId": "prod/db#password"}'
    status, _, answer = served.http("POST", "/", body=tampered, headers=signed, token=False)
    assert status == 400 and json.loads(answer)["__type"] == "InvalidSignatureException"
    other_op = {**signed, "X-Amz-Target": "secretsmanager.DescribeSecret"}
    status, _, answer = served.http("POST", "/", body=body, headers=other_op, token=False)
    assert status == 400 and json.loads(answer)["__type"] == "InvalidSignatureException"
    # the same signature 20 minutes later (the server's clock, moved): expired
    from datetime import UTC, datetime, timedelta

    from sealer.serve.sigv4 import SignatureProblem, verify

    lower = {k.lower(): v for k, v in signed.items()} | {"host": url.split("/")[2]}
    verify("POST", "/", lower, body, served.token)
    with pytest.raises(SignatureProblem, match="expired"):
        verify("POST", "/", lower, body, served.token,
               now=datetime.now(UTC) + timedelta(minutes=20))


@pytest.mark.parametrize(("operation", "body", "code"), [
    ("GetSecretValue", b"{not json", "SerializationException"),
    ("GetSecretValue", b"[1, 2]", "SerializationException"),
    ("GetSecretValue", b"{}", "InvalidParameterException"),
    ("GetSecretValue", b'{"SecretId": 5}', "InvalidParameterException"),
    ("GetSecretValue", b'{"SecretId": "prod/db", "VersionStage": ["x"]}',
     "InvalidParameterException"),
    ("DeleteSecret", b'{"SecretId": "prod/db"}', "UnknownOperationException"),
    ("CreateSecret", b'{"Name": "x", "SecretString": "y"}', "UnknownOperationException"),
    ("PutSecretValue", b'{"SecretId": "prod/db", "SecretString": "{}"}',
     "AccessDeniedException"),
])
def test_bad_requests_get_aws_errors(served: Served, operation: str, body: bytes,
                                     code: str) -> None:
    status, answer = served.api(operation, body)
    assert status == 400 and answer["__type"] == code, answer
    assert "c0rrect" not in json.dumps(answer)
    assert served.api("GetSecretValue", {"SecretId": "prod/db#username"})[1][
        "SecretString"] == "app"  # still serving


def test_huge_bodies_and_unknown_routes(served: Served) -> None:
    # the server answers from the headers, without reading (or waiting for) the body
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: secretsmanager."
                     b"GetSecretValue\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 1000)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"RequestEntityTooLargeException" in answer
    assert served.http("GET", "/etc/passwd")[0] == 404
    assert served.http("DELETE", "/")[0] == 405
    assert served.api("GetSecretValue", {"SecretId": "prod/db#username"})[0] == 200


def test_slow_clients_do_not_hold_up_others(served: Served) -> None:
    """Idle and trickling connections: others are served meanwhile."""
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(20)]
    trickle = socket.create_connection(("127.0.0.1", served.port))
    trickle.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    try:
        for _ in range(5):
            status, answer = served.api("GetSecretValue", {"SecretId": "prod/db#username"})
            assert status == 200 and answer["SecretString"] == "app"
    finally:
        for conn in [*idle, trickle]:
            conn.close()
    time.sleep(0.3)  # the trickling request is cut short: routine, not a failure to log
    assert served.api("GetSecretValue", {"SecretId": "prod/db#username"})[0] == 200
    assert "failed inside sealer" not in served.log()


def test_many_clients_at_once(served: Served) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            client = served.client()
            for _ in range(20):
                assert client.get_secret_value(SecretId="prod/db#username")["SecretString"] \
                    == "app"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_values_never_reach_the_log(served: Served) -> None:
    served.client().get_secret_value(SecretId="prod/db")
    assert "c0rrect-horse" not in served.log() and "tok-9f8e7d" not in served.log()


# -- audit ----------------------------------------------------------------------------------


def test_every_value_handed_out_is_audited(served: Served, repo: Repo) -> None:
    client = served.client()
    log = Path(repo.env["XDG_STATE_HOME"]) / "sealer" / "audit.log"
    client.get_secret_value(SecretId="prod/db#dbname")  # marks where this test starts
    client.batch_get_secret_value(SecretIdList=["prod/db", "staging/example"])
    served.http("GET", "/v1/prod%2Fdb%23host")
    entries: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10  # entries not required are written in the background
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        starts = [i for i, e in enumerate(lines) if e["keys"] == ["dbname"]]
        entries = lines[starts[-1]:] if starts else []
        if any(e["keys"] == ["host"] for e in entries):
            break
        time.sleep(0.05)
    assert [(e["action"], e["keys"]) for e in entries] == [
        ("get-secret-value", ["dbname"]), ("batch-get-secret-value", []),
        ("batch-get-secret-value", []), ("get-secret-value", ["host"])]
    assert entries[0]["file"].endswith("prod/db.sealed.yaml")
    assert entries[1]["file"].endswith("prod/db.sealed.yaml")
    assert entries[2]["file"].endswith("staging/example.sealed.yaml")
    assert "c0rrect" not in log.read_text(encoding="utf-8")
    assert repo.sealer("audit", "verify", "--log", log).code == 0


def test_required_audit_that_cannot_be_written_releases_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    log_dir = tmp_path / "logdir"
    log_dir.mkdir()
    repo = make_repo(tmp_path, {"HOME": str(home), "SEALER_AUDIT_REQUIRED": "1",
                                "SEALER_AUDIT_LOG": str(log_dir / "audit.log")})
    server = Served.start(repo)
    try:
        client = server.client()
        assert client.get_secret_value(SecretId="prod/db#username")["SecretString"] == "app"
        (log_dir / "audit.log").unlink()
        log_dir.rmdir()
        log_dir.write_text("a file where the log's directory was\n", encoding="utf-8")
        with pytest.raises(ClientError) as caught:
            client.get_secret_value(SecretId="prod/db#password")
        assert code_of(caught) == "InternalServiceError"
        assert "c0rrect" not in str(caught.value.response)
        status, _, body = server.http("GET", "/v1/prod%2Fdb%23password")
        assert status == 500 and b"c0rrect" not in body
    finally:
        server.stop()


# -- security of the listener ---------------------------------------------------------------


def test_only_loopback_by_default(repo: Repo) -> None:
    everywhere = "0.0.0.0"  # noqa: S104 (the address being refused)
    result = repo.sealer("serve", repo.secrets, "--host", everywhere, "--port", "0", code=2)
    assert "not a loopback address" in result.err and "--allow-remote" in result.err


def test_the_token_file_is_private(repo: Repo, tmp_path: Path) -> None:
    token = tmp_path / "t.token"
    token.write_text("x" * 40 + "\n", encoding="utf-8")
    token.chmod(0o644)
    result = repo.sealer("serve", repo.secrets, "--port", "0", "--token-file", token, code=2)
    assert "readable by others" in result.err and "x" * 40 not in result.err
    made = tmp_path / "new" / "serve.token"
    server_args = ("--token-file", str(made))
    server = Served.start(repo, *server_args)
    try:
        assert stat.S_IMODE(made.stat().st_mode) == 0o600
        assert len(made.read_text(encoding="utf-8").strip()) >= 32
    finally:
        server.stop()


def test_a_unix_socket(repo: Repo, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = Served.start(repo, "--socket", str(path))
    try:
        assert server.socket_path == str(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(path))
            conn.sendall(b"GET /v1/prod%2Fdb%23username HTTP/1.1\r\nHost: x\r\n"
                         b"X-Aws-Parameters-Secrets-Token: " + server.token.encode()
                         + b"\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and b'"SecretString":"app"' in answer
    finally:
        server.stop()
    assert not path.exists()
