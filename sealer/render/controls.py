"""Environment variables that change how a program runs rather than what it is told: the one
list of names a secret may not take in `sealer exec` and the env-style formats.

A sealed file comes from a repository, and whoever can change the repository must not be able
to make the deploy host run their code: `LD_PRELOAD`, `BASH_ENV` or `PATH` from a secret would
do exactly that in the next program started. Such a name is refused, naming the file, the key
and the variable, unless it is allowed from outside the repository: `--allow-env NAME` on the
command line (`RenderSpec.allow_env`, `secret_environment(allow_env=…)`). sealer.yaml cannot
allow one. Names are compared case-sensitively, after flattening (prefix, separator, upper),
as the programs that read them compare them. See docs/RENDER.md, "Names that are refused".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType

from ..errors import UsageError

__all__ = ["CONTROL_VARIABLES", "check_allowed_names", "control_group", "refuse_control"]

# what the variables do -> their names; a name ending in "*" stands for every name it starts
CONTROL_VARIABLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # files shells source at start-up (BASH_ENV: every non-interactive bash; ENV: sh -i; zsh:
    # $ZDOTDIR/.zshenv always), their options (SHELLOPTS=xtrace with PS4='$(cmd)' runs cmd),
    # prompts, word splitting, cd and globbing, and the shell other programs start
    "shell start-up and parsing": (
        "BASH_ENV", "ENV", "ZDOTDIR", "SHELLOPTS", "BASHOPTS", "BASH_XTRACEFD", "PS1", "PS2",
        "PS3", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE", "SHELL"),
    # where programs are found, and where they read their per-user configuration (~/.gitconfig,
    # ~/.ssh/config, ~/.npmrc, Python's user site-packages: a directory of the checkout would do)
    "program and configuration lookup": ("PATH", "HOME", "XDG_CONFIG_HOME"),
    # the dynamic loader and the C library load code or data from these paths
    "dynamic loader and C library": (
        "LD_*", "DYLD_*", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF",
        "GLIBC_TUNABLES"),
    # interpreters and runtimes: code to load first, module search paths, options
    "interpreter start-up": (
        "PYTHON*", "PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB",
        "BUNDLE_GEMFILE", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS", "JAVA_OPTS", "CLASSPATH"),
    # command lines that other programs run (git commit runs $EDITOR, git log runs $PAGER,
    # less runs $LESSOPEN, ssh and sudo run their askpass programs)
    "commands other programs run": (
        "EDITOR", "VISUAL", "PAGER", "MANPAGER", "LESSOPEN", "LESSCLOSE", "BROWSER",
        "SSH_ASKPASS", "SUDO_ASKPASS"),
    # git: configuration injected from the environment (core.fsmonitor, core.sshCommand … run
    # commands), and the programs and directories git runs or reads hooks and config from
    "git configuration and commands": (
        "GIT_CONFIG", "GIT_CONFIG_*", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH",
        "GIT_ASKPASS", "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF", "GIT_EDITOR",
        "GIT_SEQUENCE_EDITOR", "GIT_PAGER", "GIT_DIR", "GIT_TEMPLATE_DIR"),
    # whom TLS clients trust, and where their traffic goes
    "TLS trust and proxies": (
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED", "GIT_SSL_NO_VERIFY",
        "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "PGSSLMODE", "PGREQUIRESSL", "PGSSLROOTCERT",
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    # package indexes and build flags: an install or build at deploy time would fetch or run
    # someone else's code (npm reads npm_config_* in either case; GOFLAGS=-toolexec=…)
    "package indexes and build tools": (
        "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST",
        "PIP_CONFIG_FILE", "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX",
        "UV_CONFIG_FILE", "npm_config_*", "NPM_CONFIG_*", "GOFLAGS", "GOPROXY", "GOSUMDB",
        "GONOSUMDB", "GONOSUMCHECK", "GOINSECURE", "GOPRIVATE"),
    # sealer's and sops's own settings: which keys decrypt, whose signatures are trusted, where
    # the audit log goes (sealer.environ.KEY_VARIABLES are among them)
    "sealer and sops settings": ("SEALER_*", "SOPS_*"),
})


def control_group(name: str) -> str | None:
    """What `name` controls (a group of CONTROL_VARIABLES), or None for an ordinary name.
    The first group naming it wins, exact names and prefixes (`LD_*`) alike, in table order."""
    found = _EXACT.get(name)
    for prefix, at in _PREFIXES:
        if (found is None or at < found[0]) and name.startswith(prefix):
            found = (at, _GROUPS[at])
    return found[1] if found is not None else None


def _tables() -> tuple[list[str], dict[str, tuple[int, str]], list[tuple[str, int]]]:
    """The groups in order, exact names -> (group position, group), and the prefixes: built
    once, at import (a render of 1,000 keys asked the whole table for each name)."""
    groups = list(CONTROL_VARIABLES)
    exact: dict[str, tuple[int, str]] = {}
    prefixes: list[tuple[str, int]] = []
    for at, (group, names) in enumerate(CONTROL_VARIABLES.items()):
        for pattern in names:
            if pattern.endswith("*"):
                prefixes.append((pattern[:-1], at))
            else:
                exact.setdefault(pattern, (at, group))
    return groups, exact, prefixes


_GROUPS, _EXACT, _PREFIXES = _tables()


def refuse_control(name: str, allow_env: Collection[str]) -> str | None:
    """The group that makes `name` refused, or None when it is ordinary or allowed."""
    return None if name in allow_env else control_group(name)


def check_allowed_names(allow_env: Collection[str], *, origin: str | None = None) -> None:
    """`--allow-env` takes exact environment names (no patterns)."""
    from .flatten import ENV_NAME  # flatten uses this module

    for name in allow_env:
        if not ENV_NAME.match(name):
            raise UsageError(f"--allow-env takes an environment variable name, not {name!r}",
                             file=origin, hint="name one variable per --allow-env, e.g. "
                                               "--allow-env JAVA_TOOL_OPTIONS")
