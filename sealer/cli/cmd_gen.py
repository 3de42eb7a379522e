"""`sealer gen KIND`: print a new random value, made as `sealer rotate` makes them."""

from __future__ import annotations

import sys
from typing import Annotated, Any

from .common import check_format, dump, write_stdout
from .declare import App, Argument, Option, app

gen_app = App(
    help="Print a new random value: a password, token, bytes, UUID, SSH key pair or TLS "
         "certificate. Pipe it into `sealer set` to store it without it touching the disk.",
    no_args_is_help=True,
    epilog="Example:\n\n  sealer gen password | sealer set app.sealed.yaml db.password",
)
app.add_typer(gen_app, name="gen")

FormatOption = Annotated[str, Option("--format", "-f", help="yaml (default) or json.")]


def _print_text(value: str) -> None:
    """As `sealer get` prints strings: exact, with a newline only on a terminal."""
    write_stdout(value + ("\n" if sys.stdout.isatty() else ""))


def _print_tree(value: dict[str, Any], fmt: str) -> None:
    check_format(fmt, ("yaml", "json"))
    write_stdout(dump(value, fmt))


@gen_app.command("password", epilog="""Examples:

  sealer gen password                              # 32 characters, all four types

  sealer gen password --length 40 --exclude-punctuation

  sealer gen password --exclude-characters '/@"' | sealer set app.sealed.yaml db.password
""")
def password(
    length: Annotated[int, Option("--length", "-l", help="Length, 1 to 4096.")] = 32,
    exclude_characters: Annotated[str, Option(
        "--exclude-characters", "-x", metavar="CHARS",
        help="Characters never to use.")] = "",
    exclude_numbers: Annotated[bool, Option("--exclude-numbers", help="No digits.")
                               ] = False,
    exclude_punctuation: Annotated[bool, Option(
        "--exclude-punctuation", help="No punctuation (!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~).")
    ] = False,
    exclude_uppercase: Annotated[bool, Option("--exclude-uppercase",
                                                    help="No upper-case letters.")] = False,
    exclude_lowercase: Annotated[bool, Option("--exclude-lowercase",
                                                    help="No lower-case letters.")] = False,
    include_space: Annotated[bool, Option("--include-space",
                                                help="Spaces may appear too.")] = False,
    require_each: Annotated[bool, Option(
        "--require-each-included-type/--no-require-each-included-type",
        help="At least one character of every included type.")] = True,
) -> None:
    """Print a random password, with AWS Secrets Manager's GetRandomPassword rules.

    By default 32 characters from upper- and lower-case letters, digits and punctuation, with at
    least one of each. Every allowed password is equally likely.
    """
    from ..rotation.generators import password as make_password

    _print_text(make_password(
        length=length, exclude_characters=exclude_characters, exclude_numbers=exclude_numbers,
        exclude_punctuation=exclude_punctuation, exclude_uppercase=exclude_uppercase,
        exclude_lowercase=exclude_lowercase, include_space=include_space,
        require_each_included_type=require_each))


@gen_app.command("token", epilog="""Examples:

  sealer gen token                                 # 32 random bytes, 43 characters

  sealer gen token --bytes 48 | sealer set app.sealed.yaml api.token
""")
def token(
    nbytes: Annotated[int, Option("--bytes", "-n", metavar="N",
                                        help="Random bytes to encode.")] = 32,
) -> None:
    """Print a random URL-safe token: random bytes as base64url, without padding."""
    from ..rotation.generators import token as make_token

    _print_text(make_token(nbytes))


@gen_app.command("bytes", epilog="""Examples:

  sealer gen bytes -n 64 > hmac.key

  sealer gen bytes | sealer set app.sealed.yaml session.key --type bytes
""")
def bytes_(
    count: Annotated[int, Option("--count", "-n", metavar="N",
                                       help="How many bytes.")] = 32,
    force: Annotated[bool, Option("--force", help="Print them to a terminal anyway.")
                     ] = False,
) -> None:
    """Print random bytes, raw. Refuses to write them to a terminal unless --force."""
    from ..rotation.generators import random_bytes

    write_stdout(random_bytes(count), binary=True, force=force)


@gen_app.command("uuid", epilog="Example:\n\n  sealer gen uuid")
def uuid() -> None:
    """Print a random (version 4) UUID."""
    from ..rotation.generators import uuid as make_uuid

    _print_text(make_uuid())


@gen_app.command("ssh-ed25519", epilog="""Examples:

  sealer gen ssh-ed25519 --comment deploy@ci | sealer set app.sealed.yaml deploy_key --type yaml

  sealer gen ssh-ed25519 -f json | jq -r .public_key
""")
def ssh_ed25519(
    comment: Annotated[str, Option("--comment", "-C", help="Comment on the public key.")
                       ] = "",
    fmt: FormatOption = "yaml",
) -> None:
    """Print a new Ed25519 SSH key pair: private_key (OpenSSH format) and public_key."""
    from ..rotation.generators import ssh_ed25519 as make_key

    _print_tree(make_key(comment), fmt)


@gen_app.command("tls-self-signed", epilog="""Examples:

  sealer gen tls-self-signed db.internal --dns db.internal --dns 10.0.0.5 --days 90

  sealer gen tls-self-signed localhost | sealer set app.sealed.yaml tls --type yaml
""")
def tls_self_signed(
    common_name: Annotated[str, Argument(metavar="COMMON_NAME",
                                               help="Subject common name, e.g. db.internal.")],
    days: Annotated[int, Option("--days", help="Validity in days.")] = 365,
    dns: Annotated[list[str] | None, Option(
        "--dns", metavar="NAME", help="Subject alternative name (DNS name or IP address); "
                                      "repeatable. Default: the common name.")] = None,
    key_type: Annotated[str, Option(
        "--key-type", help="ec-p256 (default), rsa-2048 or ed25519.")] = "ec-p256",
    fmt: FormatOption = "yaml",
) -> None:
    """Print a new self-signed TLS certificate and its key: certificate and private_key (PEM)."""
    from ..rotation.generators import tls_self_signed as make_cert

    _print_tree(make_cert(common_name, days=days, dns_names=dns or (), key_type=key_type), fmt)
