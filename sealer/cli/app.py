"""The Typer application: one module per group of commands registers itself here."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="sealer",
    help="Encrypted secrets in git: seal YAML for named age/SSH keys, read and change it, "
         "and keep every change reviewable.\n\nRun `sealer COMMAND --help` for examples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sealer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Encrypted secrets in git."""


from . import cmd_edit, cmd_keys, cmd_seal, cmd_values  # noqa: E402,F401  (registration)
