"""Turning what a custodian hands over into a DKEK share, and assembling a host DKEK.

Used by every workflow that takes shares: PKCS#12 import, share import into a key
domain, restore.  The three routes of :class:`~keymanager.workflows.interaction.ShareRoute`
each end in the same 32 bytes:

* a share file and its password: the file is decrypted (seconds of key derivation,
  with progress and cancel);
* a share file whose password is rebuilt from n-of-m fragments (sc-hsm-tool's
  scheme): the fragments give candidate passwords, each is tried on the file;
* a PaperKey: its lines are decoded and checked.

Every share is wiped once it has been XORed into the host DKEK.
"""

from __future__ import annotations

import threading

from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.dkek.errors import (
    DerivationCancelled,
    DkekError,
    PasswordShareError,
    WrongPassword,
)
from keymanager.dkek.nofm import (
    PasswordShare,
    candidate_passwords,
    parse_prime,
    parse_share_id,
    parse_share_value,
)
from keymanager.dkek.paperkey import decode_paperkey
from keymanager.dkek.secret import wipe
from keymanager.dkek.sharefile import decrypt_share, read_share_file
from keymanager.workflows.interaction import (
    Cancelled,
    FileShareInput,
    Interaction,
    NofMShareInput,
    PaperKeyShareInput,
    ShareInput,
    ShareOutcome,
    ShareRequest,
)


class ShareInputError(DkekError):
    """A share could not be read from what the custodian gave; the message says why."""


class InteractionCancelFlag:
    """Adapts :meth:`Interaction.cancel_requested` to the key derivation's cancel flag."""

    def __init__(self, interaction: Interaction) -> None:
        self._interaction = interaction

    def is_set(self) -> bool:
        return self._interaction.cancel_requested()


def _read_file(path: object) -> bytes:
    try:
        return read_share_file(str(path))
    except OSError as error:
        raise ShareInputError(f"cannot read the share file {path}: {error.strerror}") from None


def _decrypt(data: bytes, password: bytes | bytearray, interaction: Interaction) -> bytearray:
    try:
        return decrypt_share(
            data,
            password,
            progress=interaction.progress_for("Decrypting the share (key derivation)"),
            cancel=InteractionCancelFlag(interaction),
        )
    except DerivationCancelled:
        raise Cancelled("cancelled during the key derivation") from None


def read_share(share_input: ShareInput, interaction: Interaction) -> bytearray:
    """The 32-byte share ``share_input`` stands for (the caller wipes it).

    Secrets inside ``share_input`` (the password) are wiped here.

    :raises ShareFileError: the file is not a share file, or the password is wrong.
    :raises PasswordShareError: the n-of-m entries are malformed or do not open the file.
    :raises PaperKeyError: the PaperKey has a mistyped group (the message says which).
    :raises Cancelled: the user cancelled during the key derivation.
    """
    if isinstance(share_input, FileShareInput):
        try:
            return _decrypt(_read_file(share_input.path), share_input.password, interaction)
        finally:
            wipe(share_input.password)
    if isinstance(share_input, NofMShareInput):
        data = _read_file(share_input.path)
        prime = parse_prime(share_input.prime)
        fragments = [
            PasswordShare(parse_share_id(share_id), parse_share_value(value))
            for share_id, value in share_input.fragments
        ]
        # The candidates are immutable bytes (the DKEK library returns them so); they
        # live only for these few lines.
        for password in candidate_passwords(prime, fragments):
            try:
                return _decrypt(data, password, interaction)
            except WrongPassword:
                continue
        raise PasswordShareError(
            "the n-of-m fragments do not open the share file: a fragment is mistyped, "
            "belongs to another split, or the prime is wrong"
        )
    if isinstance(share_input, PaperKeyShareInput):
        return bytearray(decode_paperkey(share_input.lines))
    raise ShareInputError(f"unknown share route {share_input!r}")


def collect_dkek(
    interaction: Interaction,
    count: int,
    *,
    domain: int | None = None,
    card_kcv: bytes | None = None,
    on_share: threading.Event | None = None,
) -> Dkek:
    """Ask for ``count`` shares, one custodian at a time, and XOR them into a host DKEK.

    A share that cannot be read (wrong password, mistyped fragment or PaperKey group)
    is reported and asked for again; cancelling stops the whole collection.  Each
    share's fingerprint is shown so the custodian can confirm it is theirs, and
    :meth:`Interaction.share_checked` is told each outcome with the running KCV (front
    ends show it beside ``card_kcv``; it may raise to stop, the DKEK is then wiped).
    """
    dkek = Dkek()
    number = 1
    try:
        while number <= count:
            request = ShareRequest(
                number=number,
                total=count,
                domain=domain,
                card_kcv=card_kcv,
                reports_outcome=True,
            )
            share_input = interaction.ask_share(request)
            try:
                share = read_share(share_input, interaction)
            except DkekError as error:  # share file, n-of-m, PaperKey or input errors
                interaction.share_checked(
                    ShareOutcome(request, False, shares_accepted=number - 1, problem=str(error))
                )
                interaction.warn(f"Share {number} of {count} was not accepted: {error}")
                continue
            try:
                fingerprint = format_kcv(share_fingerprint(share))
                dkek.import_share(share)
            finally:
                wipe(share)
            interaction.inform(
                f"Share {number} of {count} accepted (share fingerprint {fingerprint})."
            )
            if on_share is not None:
                on_share.set()
            interaction.share_checked(
                ShareOutcome(request, True, fingerprint, dkek.kcv(), shares_accepted=number)
            )
            number += 1
    except BaseException:
        dkek.clear()
        raise
    return dkek
