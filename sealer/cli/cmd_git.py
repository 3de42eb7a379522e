"""`sealer git setup`, and the drivers git calls: `sealer git textconv` and `merge-driver`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from .common import IdentityOption, note, write_stdout
from .declare import App, Argument, app

git_app = App(help="Make git diff and merge sealed files key by key.",
                      no_args_is_help=True)
app.add_typer(git_app, name="git")


@git_app.command("setup", epilog="Example:\n\n  sealer git setup     # then: git diff, git merge")
def setup(
    repository: Annotated[Path, Argument(help="The repository (default: .).")] = Path("."),
) -> None:
    """Register sealer's diff and merge drivers for *.sealed.yaml in this repository.

    Adds two lines to .gitattributes (commit them) and sets the drivers in .git/config (each
    clone runs `sealer git setup` once).
    """
    from ..git import repository_root
    from ..git.drivers import setup as do_setup

    for change in do_setup(repository_root(repository)):
        note(change)


@git_app.command("textconv",
                 epilog="Example (what git runs):\n\n  sealer git textconv app.sealed.yaml")
def textconv(
    file: Annotated[Path, Argument(help="A sealed file (git passes a temporary copy).")],
    identity: IdentityOption = None,
) -> None:
    """Print a sealed file for `git diff`: values when your key opens it, else a redacted view."""
    from ..discovery import discover_identities
    from ..errors import SealerError
    from ..git.drivers import textconv as convert

    try:
        ids = discover_identities(identity or [])
    except SealerError:
        ids = []
    write_stdout(convert(file, ids))


@git_app.command("merge-driver", epilog="Example (what git runs):\n\n"
                 "  sealer git merge-driver %O %A %B %P")
def merge_driver(
    base: Annotated[Path, Argument(help="%O: the common ancestor.")],
    ours: Annotated[Path, Argument(help="%A: our version; the result is written here.")],
    theirs: Annotated[Path, Argument(help="%B: their version.")],
    name: Annotated[str, Argument(help="%P: the file's path in the repository.")] = "",
    identity: IdentityOption = None,
) -> None:
    """Three-way merge of a sealed file, key by key, sealed once; exit 1 on a real conflict."""
    from ..access import resolve_identities
    from ..git.drivers import merge_files
    from .common import identities

    merge_files(base, ours, theirs, name or str(ours), resolve_identities(identities(identity)))
    note(f"{name or ours}: merged key by key")
