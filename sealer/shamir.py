"""Shamir's secret sharing over GF(2^8) (x^8 + x^4 + x^3 + x + 1), byte by byte: the one home
of the arithmetic for sealer's key groups (FORMAT.md §1.6) and SOPS's (sops `shamir/shamir.go`,
HashiCorp Vault's scheme).

A share is the secret's length plus one byte: the y values, then the x coordinate, last (the
layout sops and Vault use). x is never 0 (the secret is the polynomial's value at 0).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from .errors import IntegrityError

__all__ = ["MAX_SHARES", "combine", "split"]

MAX_SHARES = 255  # x coordinates 1..255

# log and exp tables for generator 3 (a primitive element for this polynomial)
_EXP = [0] * 510
_LOG = [0] * 256


def _mult_slow(a: int, b: int) -> int:
    out = 0
    for _ in range(8):
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
    return out


def _tables() -> None:
    value = 1
    for power in range(255):
        _EXP[power] = _EXP[power + 255] = value
        _LOG[value] = power
        value = _mult_slow(value, 3)


_tables()


def _mult(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


def split(secret: bytes, xs: Sequence[int], threshold: int, *,
          random: Callable[[int], bytes] = secrets.token_bytes) -> list[bytes]:
    """One share per x coordinate in `xs` (distinct, 1..255), any `threshold` of which give
    `secret` back; fewer give no information about it. `random` supplies the polynomials'
    coefficients (a CSPRNG: `secrets.token_bytes`, or a test seam's)."""
    if not secret or not 1 <= threshold <= len(xs) \
            or len(set(xs)) != len(xs) or not all(1 <= x <= MAX_SHARES for x in xs):
        raise ValueError("shamir.split: needs a secret, 1 <= threshold <= shares and distinct "
                         "x coordinates in 1..255")
    degree = threshold - 1
    coefficients = random(len(secret) * degree)
    if len(coefficients) != len(secret) * degree:
        raise ValueError("shamir.split: the random source returned too few bytes")
    shares = [bytearray() for _ in xs]
    for index, byte in enumerate(secret):
        poly = coefficients[index * degree:(index + 1) * degree]
        for share, x in zip(shares, xs, strict=True):
            share.append(_evaluate(byte, poly, x))
    return [bytes(share) + bytes([x]) for share, x in zip(shares, xs, strict=True)]


def _evaluate(constant: int, poly: bytes, x: int) -> int:
    """constant + poly[0]·x + poly[1]·x² + … (Horner, highest degree first)."""
    value = 0
    for coefficient in reversed(poly):
        value = _mult(value, x) ^ coefficient
    return _mult(value, x) ^ constant if poly else constant


def combine(parts: Sequence[bytes]) -> bytes:
    """The secret from `parts` (Lagrange interpolation at 0, byte by byte). Parts of unequal
    length, or two with one x coordinate, are an integrity failure (no detail)."""
    if not parts:
        raise IntegrityError("authentication failed")
    length = len(parts[0])
    xs = [p[-1] for p in parts]
    if length < 2 or any(len(p) != length for p in parts) or len(set(xs)) != len(xs) \
            or 0 in xs:
        raise IntegrityError("authentication failed")
    basis = []
    for i, xi in enumerate(xs):
        weight = 1
        for j, xj in enumerate(xs):
            if i != j:
                weight = _mult(weight, _div(xj, xi ^ xj))
        basis.append(weight)
    secret = bytearray()
    for index in range(length - 1):
        value = 0
        for part, weight in zip(parts, basis, strict=True):
            value ^= _mult(part[index], weight)
        secret.append(value)
    return bytes(secret)
