"""`sealer edit`."""

from __future__ import annotations

from .common import (
    AllowRevertOption,
    FileArgument,
    FileOnlyOption,
    IdentityOption,
    RecipientOption,
    RecipientsFileOption,
    note,
    write_intent,
)
from .common import identities as load_identities
from .common import recipients as load_recipients
from .declare import app


@app.command(epilog="""Examples:

  sealer edit app.sealed.yaml

  EDITOR="code --wait" sealer edit app.sealed.yaml

  sealer edit new.sealed.yaml -r age1ql3z…          # create a new file
""")
def edit(
    file: FileArgument,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
    file_only: FileOnlyOption = False,
    allow_revert: AllowRevertOption = False,
) -> None:
    """Edit the decrypted file in $SEALER_EDITOR, $VISUAL or $EDITOR, then re-seal it.

    The plaintext copy lives in a private 0700 directory (in memory where the system has
    /dev/shm) and is removed when the editor closes, on Ctrl-C and on SIGTERM. Only values you
    changed get new ciphertext. Invalid YAML reopens the editor with the error shown.
    """
    from ..editor import edit_file

    written = edit_file(file, load_identities(identity),
                        recipients=load_recipients(recipient, recipients_file, context=file),
                        intent=write_intent(file_only, allow_revert))
    if written is None or not written.changed:
        note(f"{file}: no changes")
    else:
        note(f"{file}: saved (serial {written.document.header.serial})")
