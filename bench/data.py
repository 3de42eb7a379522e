"""The bench's test data, made on first use in a temporary directory, with fresh keys.

Keys `key0…keyN` (`KEY0…` for dotenvx), each value a random 32-character token; the small file
is the first ten of the big one, the big one the first 1,000 of the huge one. One age key made
with `sealer keygen` serves sealer (SEALER_IDENTITY_FILE) and sops (SOPS_AGE_KEY_FILE); dotenvx
cannot use age keys and gets its own key pair. `check` gets a repository of sealed files of its
own (sealer.yaml with environments, creation rules, schemas and a key-name policy).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bench.harness import WORK_DIR, BenchError, Tools


@dataclass(frozen=True)
class Sizes:
    small: int = 10
    big: int = 1_000
    huge: int = 100_000
    check_files: int = 2_000

    def count(self, size: str) -> int:
        counts = {"small": self.small, "big": self.big, "huge": self.huge}
        return counts[size]


def base_env(home: Path) -> dict[str, str]:
    """This environment without any tool's key variables, with a private, empty HOME.

    Python may cache bytecode, in bench/.work/pycache, as an installed wheel ships compiled
    modules: an editable install under PYTHONDONTWRITEBYTECODE=1 would compile sealer from
    source in every process.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEALER_", "SOPS_", "DOTENV"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), LC_ALL="C.UTF-8",
               PYTHONPYCACHEPREFIX=str(WORK_DIR / "pycache"))
    return env


class Workspace:
    """Files in `root`, each made by the first comparison that needs it."""

    def __init__(self, root: Path, tools: Tools, sizes: Sizes | None = None) -> None:
        self.root, self.tools, self.sizes = root, tools, sizes or Sizes()
        (root / "home").mkdir()
        self.base_env = base_env(root / "home")
        self._tokens: list[str] = []

    def path(self, name: str) -> Path:
        return self.root / name

    def token(self, index: int) -> str:
        """The value of key{index}."""
        while len(self._tokens) <= index:
            self._tokens.append(secrets.token_urlsafe(24))
        return self._tokens[index]

    def last(self, size: str) -> str:
        """The value of the last key of a file: what a whole-file command must print."""
        return self.token(self.sizes.count(size) - 1)

    def run(self, argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> str:
        """Run a set-up command; its stdout, or BenchError with its stderr."""
        done = subprocess.run(list(argv), cwd=cwd or self.root, env=env, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"set-up failed ({done.returncode}): {' '.join(argv)}\n"
                             f"{done.stderr[-2000:]}")
        return done.stdout

    # ------------------------------------------------------------------ sealer and sops

    @cached_property
    def recipient(self) -> str:
        """The public key of age.key, made with `sealer keygen`; also in recipients.txt."""
        self.run([str(self.tools.sealer), "keygen", "-o", str(self.path("age.key"))],
                 self.base_env)
        text = self.path("age.key").read_text()
        public = re.search(r"^# public key: (age1\S+)$", text, re.MULTILINE)
        if public is None:
            raise BenchError("sealer keygen wrote no '# public key:' line")
        self.path("recipients.txt").write_text(public.group(1) + "\n")
        return public.group(1)

    def recipients_file(self) -> str:
        """`recipients.txt`, which names the age key's public key."""
        assert self.recipient.startswith("age1")
        return "recipients.txt"

    @property
    def sealer_env(self) -> dict[str, str]:
        return {**self.base_env, "SEALER_IDENTITY_FILE": str(self.path("age.key"))}

    @property
    def sops_env(self) -> dict[str, str]:
        return {**self.base_env, "SOPS_AGE_KEY_FILE": str(self.path("age.key"))}

    def plain(self, size: str) -> str:
        """`{size}.yaml`: key0… with quoted tokens."""
        name = f"{size}.yaml"
        if not self.path(name).exists():
            lines = (f'key{i}: "{self.token(i)}"\n' for i in range(self.sizes.count(size)))
            self.path(name).write_text("".join(lines))
        return name

    def sealed(self, size: str) -> str:
        """`{size}.sealed.yaml`, sealed with `sealer seal` for the age key."""
        name = f"{size}.sealed.yaml"
        if not self.path(name).exists():
            self.run([str(self.tools.sealer), "seal", self.plain(size), "-R",
                      self.recipients_file(), "-o", name], self.sealer_env)
        return name

    def sops_file(self, sops: Path, size: str) -> str:
        """`{size}.sops.yaml`, encrypted with `sops encrypt --age` for the same key."""
        name = f"{size}.sops.yaml"
        if not self.path(name).exists():
            if size == "huge":
                print(f"  sops: encrypting the {self.sizes.huge:,}-key input once "
                      "(sops takes ~40 s for 100,000 keys) ...")
            out = self.run([str(sops), "encrypt", "--age", self.recipient, self.plain(size)],
                           self.sops_env)
            self.path(name).write_text(out)
        return name

    # ------------------------------------------------------------------ dotenvx

    def dotenv(self, size: str) -> str:
        """`{size}.env`: the same keys upper-cased, values unquoted."""
        name = f"{size}.env"
        if not self.path(name).exists():
            lines = (f"KEY{i}={self.token(i)}\n" for i in range(self.sizes.count(size)))
            self.path(name).write_text("".join(lines))
        return name

    @cached_property
    def dotenvx_env(self) -> dict[str, str]:
        """dotenvx's key pair (secp256k1), made by encrypting the small file; no .env.keys."""
        dotenvx = self.dotenvx_argv
        folder = self.path("dx-small")
        folder.mkdir()
        (folder / ".env").write_text(self.path(self.dotenv("small")).read_text())
        self.run([*dotenvx, "encrypt", "-f", ".env"], self.base_env, folder)
        keys = folder / ".env.keys"
        private = re.search(r"^DOTENV_PRIVATE_KEY=(\w+)", keys.read_text(), re.MULTILINE)
        public = re.search(r'^DOTENV_PUBLIC_KEY="(\w+)"', (folder / ".env").read_text(),
                           re.MULTILINE)
        if private is None or public is None:
            raise BenchError("dotenvx encrypt wrote no DOTENV_PRIVATE_KEY / DOTENV_PUBLIC_KEY")
        keys.unlink()  # from here on the key comes from the environment, like the other tools
        return {**self.base_env, "DOTENV_PRIVATE_KEY": private.group(1),
                "DOTENV_PUBLIC_KEY": public.group(1)}

    @property
    def dotenvx_argv(self) -> list[str]:
        if self.tools.dotenvx is None:
            raise BenchError("dotenvx is not installed")
        return self.tools.dotenvx

    def dotenvx_dir(self, size: str) -> Path:
        """A folder whose `.env` holds the file encrypted by dotenvx."""
        env = self.dotenvx_env
        folder = self.path(f"dx-{size}")
        if not folder.exists():
            folder.mkdir()
            (folder / ".env").write_text(self.path(self.dotenv(size)).read_text())
            print(f"  dotenvx: encrypting the {self.sizes.count(size):,}-key input once "
                  "(dotenvx takes ~15 s for 1,000 keys) ...")
            self.run([*self.dotenvx_argv, "encrypt", "-f", ".env", "--with",
                      env["DOTENV_PUBLIC_KEY"]], env, folder)
        return folder

    # ------------------------------------------------------------------ check

    @cached_property
    def check_repo(self) -> Path:
        """A git repository of `check_files` sealed files, for `sealer check` without a key."""
        root = self.path("check-repo")
        root.mkdir()
        make_check_repository(root, self.sizes.check_files)
        return root


CHECK_CONFIG = """\
version: 1
principals:
  ci: {recipient}
environments:
  prod: {{recipients: [ci], require: [ci], max_rotation_age: 90d}}
  dev: {{recipients: [ci]}}
creation_rules:
  - {{path: "prod/**", environment: prod, schema: db-credentials}}
  - {{path: "dev/**", environment: dev, schema: db-credentials}}
policy:
  key_name: '^[a-zA-Z_]+$'
"""


def make_check_repository(root: Path, count: int) -> list[Path]:
    """sealer.yaml and `count` files of 8 keys following the db-credentials schema, half in
    prod/ and half in dev/, all sealed (in this process, by the library) for a throwaway key."""
    import pyrage

    from sealer.core import seal
    from sealer.keys import parse_recipient

    recipient = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
    (root / "sealer.yaml").write_text(CHECK_CONFIG.format(recipient=recipient.text))
    files = []
    for i in range(count):
        path = root / ("prod" if i % 2 else "dev") / f"service-{i:05d}.sealed.yaml"
        path.parent.mkdir(exist_ok=True)
        data = {"engine": "postgres", "host": f"db{i}.internal", "port": 5432,
                "username": f"app{i}", "password": os.urandom(12).hex(), "dbname": f"db{i}",
                "dbInstanceIdentifier": f"db-{i}", "masterarn": "none"}
        path.write_text(seal(data, recipients=[recipient], source=str(path)).to_yaml())
        files.append(path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return files


def check_floor_code(count: int) -> str:
    """The floor for `check`: parse every sealed file with PyYAML's CSafeLoader, one process."""
    return ("import pathlib, yaml\n"
            "files = sorted(pathlib.Path('.').rglob('*.sealed.yaml'))\n"
            "docs = [yaml.load(f.read_bytes(), Loader=yaml.CSafeLoader) for f in files]\n"
            f"assert len(docs) == {count}, len(docs)\n")
