"""Bech32 (BIP 173) as age uses it: no length limit, one case throughout, checksum over lowercase.

Hybrid recipients are about 1,950 characters long, far past BIP 173's 90, so no general-purpose
Bech32 library applies as is.
"""

from __future__ import annotations

__all__ = ["decode", "encode"]

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_VALUES = {char: value for value, char in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LENGTH = 6


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                check ^= generator
    return check


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: bytes | list[int], source: int, target: int, *, pad: bool) -> list[int]:
    """Regroup bits; without `pad`, leftover bits must be fewer than `source` and all zero."""
    accumulator, bits, out = 0, 0, []
    mask, keep = (1 << target) - 1, (1 << (source + target - 1)) - 1
    for value in data:
        accumulator = (accumulator << source | value) & keep
        bits += source
        while bits >= target:
            bits -= target
            out.append(accumulator >> bits & mask)
    if pad and bits:
        out.append(accumulator << (target - bits) & mask)
    elif not pad and (bits >= source or accumulator << (target - bits) & mask):
        raise ValueError("non-zero padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Lowercase Bech32 of `data` under `hrp` (callers uppercase secret keys themselves)."""
    hrp = hrp.lower()
    words = _regroup(data, 8, 5, pad=True)
    polymod = _polymod(_expand_hrp(hrp) + words + [0] * _CHECKSUM_LENGTH) ^ 1
    checksum = [polymod >> 5 * (5 - i) & 31 for i in range(_CHECKSUM_LENGTH)]
    return hrp + "1" + "".join(CHARSET[w] for w in words + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """(lowercase hrp, data); ValueError for mixed case, bad characters or a bad checksum."""
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise ValueError("invalid character")
    lowered = text.lower()
    if text not in (lowered, text.upper()):
        raise ValueError("mixed case")
    split = lowered.rfind("1")
    if split < 1 or len(lowered) - split - 1 < _CHECKSUM_LENGTH:
        raise ValueError("missing separator, prefix or checksum")
    hrp, rest = lowered[:split], lowered[split + 1 :]
    if any(c not in _VALUES for c in rest):
        raise ValueError("invalid data character")
    words = [_VALUES[c] for c in rest]
    if _polymod(_expand_hrp(hrp) + words) != 1:
        raise ValueError("bad checksum")
    return hrp, bytes(_regroup(words[:-_CHECKSUM_LENGTH], 5, 8, pad=False))
