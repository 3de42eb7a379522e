"""sealer.digest's SHA-256 (CPython's own module, no OpenSSL) is hashlib's."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from sealer.digest import sha256


def test_it_is_hashlibs_sha256() -> None:
    for size in (0, 1, 55, 56, 63, 64, 65, 1000, 1 << 20):
        data = os.urandom(size)
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        pieces = sha256()
        for start in range(0, size, 7919):
            pieces.update(data[start:start + 7919])
        assert pieces.digest() == hashlib.sha256(data).digest()


def test_it_does_not_load_hashlib() -> None:
    script = ("import sys\nfrom sealer.digest import sha256\nsha256(b'x').hexdigest()\n"
              "print('hashlib' in sys.modules, '_hashlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
