"""Verifying AWS Signature Version 4 on requests to `sealer serve`.

An SDK client signs every request with its secret access key. sealer serve takes its token as
that key: a client configured with `aws_secret_access_key=<token>` (any access key id) signs
with it, and the server recomputes the signature and compares in constant time. The signature
covers the method, path, query, the signed headers (host, x-amz-date and x-amz-target among
them) and a hash of the body, and the time must be within 15 minutes of the server's: a
captured request cannot be altered, nor be used for another operation.

The algorithm is AWS's published one (Signature Version 4, "AWS4-HMAC-SHA256"); nothing is sent
anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote

__all__ = ["ALGORITHM", "SignatureProblem", "Signed", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)  # AWS refuses requests signed further away in time
REQUIRED_HEADERS = frozenset({"host", "x-amz-date"})


class SignatureProblem(Exception):
    """A request that does not carry a valid signature: (AWS error code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Signed(NamedTuple):
    access_key: str
    region: str
    service: str
    signed_headers: frozenset[str]


def _credential(authorization: str) -> tuple[str, list[str], str, str]:
    """(credential scope parts, signed header names, signature) of an Authorization header."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureProblem("IncompleteSignatureException",
                               f"the Authorization header must use {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value
    try:
        credential, headers, signature = (fields["Credential"], fields["SignedHeaders"],
                                          fields["Signature"])
    except KeyError as missing:
        raise SignatureProblem("IncompleteSignatureException",
                               f"the Authorization header lacks {missing.args[0]}") from None
    return credential, headers.split(";"), signature, rest


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(method: str, target: str, headers: Mapping[str, str], body: bytes, secret: str, *,
           now: datetime | None = None) -> Signed:
    """Check the request's SigV4 signature against `secret`; raises SignatureProblem.

    `target` is the request target (path and query as sent); `headers` maps lowercase names
    to values (repeated headers joined by commas)."""
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureProblem("MissingAuthenticationTokenException",
                               "the request is not signed: set the client's secret access key "
                               "to the server's token")
    credential, names, signature, _ = _credential(authorization)
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureProblem("IncompleteSignatureException",
                               "the credential scope must be KEY/DATE/REGION/SERVICE/aws4_request")
    access_key, date, region, service, _ = scope
    signed = frozenset(names)
    if not signed >= REQUIRED_HEADERS or names != sorted(signed) or len(names) != len(signed):
        raise SignatureProblem("IncompleteSignatureException",
                               "the signed headers must be sorted and include host and x-amz-date")
    missing = [n for n in names if n not in headers]
    if missing:
        raise SignatureProblem("IncompleteSignatureException",
                               f"a signed header is missing: {missing[0]}")
    stamp = headers["x-amz-date"]
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureProblem("IncompleteSignatureException",
                               "X-Amz-Date must be YYYYMMDDTHHMMSSZ") from None
    if stamp[:8] != date:
        raise SignatureProblem("InvalidSignatureException",
                               "the credential scope's date is not X-Amz-Date's")
    if abs((now or datetime.now(UTC)) - when) > MAX_SKEW:
        raise SignatureProblem("InvalidSignatureException",
                               "Signature expired: the request's time is more than 15 minutes "
                               "from the server's (check the client's clock)")
    path, _, query = target.partition("?")
    canonical = "\n".join([
        method,
        quote(unquote(path) or "/", safe="/~"),
        _canonical_query(query),
        "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names),
        ";".join(names),
        headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest(),
    ])
    if headers.get("x-amz-content-sha256") not in (None, hashlib.sha256(body).hexdigest()):
        raise SignatureProblem("InvalidSignatureException",
                               "X-Amz-Content-Sha256 does not match the body")
    to_sign = "\n".join([ALGORITHM, stamp, "/".join(scope[1:]),
                         hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureProblem("InvalidSignatureException",
                               "The request signature we calculated does not match the "
                               "signature you provided: the client's secret access key must "
                               "be the server's token")
    return Signed(access_key, region, service, signed)
