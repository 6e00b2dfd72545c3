"""Import from PKCS#12 through a transient key domain (Smart Card Shell's import plug-in).

Needs no custodians: the card gets a one-off DKEK just for the transfer.

1. Open the PKCS#12 file (its own password) first, so a wrong password or a key the
   card cannot hold changes nothing on the card; verify the user PIN.
2. Find an empty key domain: query 0, 1, 2… until a slot answers ``6A88`` (empty);
   ``6A86`` or ``6D00`` first means :class:`NoEmptyKeyDomain`.
3. Write the journal (:class:`~keymanager.workflows.import_p12.ImportJournal`: card
   serial, domain number, step; no secrets) **before** creating the domain.
4. Create a DKEK domain expecting one share; draw one random 32-byte share on the host
   (``os.urandom``: the seed's plug-in uses the host's generator too, and the share must
   exist on the host anyway); import it into the domain; XOR it into the host DKEK;
   check the card's KCV equals the host's.
5. The same encode / UNWRAP / PRKD / certificate / test-signature steps as the classic
   path (:class:`~keymanager.workflows.import_p12.ImportSession`), with its "more
   entries" and "another file" loop.
   Every key is **sealed**: its blob carries an allowed-algorithm list without WRAP
   (:func:`keymanager.card.seal.sealed_algorithms`), and before the import reports it
   a WRAP attempt must be refused by the card (``6985``) while the KEK still exists.
   The seal, enforced by the card, is what keeps the key on the card: a share later
   imported into the domain gives it a new, known DKEK, but the card still refuses to
   export a sealed key.  The domain is recorded in keymanager's key-domain registry
   (:mod:`keymanager.card.domain_registry`) as a transient import before it is created,
   and each key with it, so keymanager refuses to complete that domain with a share.
6. **Delete the domain's KEK even when a step failed** (``finally``); when no key
   ended up in the domain, delete the domain too so the slot is free again (and its
   registry entry).  The journal is cleared once the KEK is gone.

If the process dies or the card is pulled before step 6 completes, the journal keeps
the domain number and :func:`recover_leftovers` (also exported here) removes the KEK on
the next connection to that card.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from keymanager.card.domain_registry import DomainPurpose, editing
from keymanager.card.errors import ApduError, CardError, NoKeyDomainSupport
from keymanager.card.hsm import SmartCardHsm
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.secret import wipe
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import DkekKcvMismatch, WorkflowError
from keymanager.workflows.import_p12 import (
    ImportJournal,
    ImportSession,
    Pkcs12ImportResult,
    RecoveryResult,
    ask_and_open,
    delete_domain_if_unused,
    import_pkcs12,
    recover_leftovers,
)
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.plugins import Action, ActionContext, NodeKind

__all__ = [
    "PLUGIN",
    "NoEmptyKeyDomain",
    "RecoveryResult",
    "TransientImportPlugin",
    "find_empty_key_domain",
    "recover_leftovers",
    "transient_import",
]

SHARE_LENGTH = 32
MAX_DOMAINS = 256


class NoEmptyKeyDomain(WorkflowError):
    """The card has no empty key-domain slot (or no key domains at all)."""


def find_empty_key_domain(hsm: SmartCardHsm) -> int:
    """The first key-domain slot that answers ``6A88`` (empty).

    :raises NoEmptyKeyDomain: ``6A86`` (no more slots) or ``6D00`` (no key domains)
        came first.
    """
    for domain in range(MAX_DOMAINS):
        try:
            status = hsm.key_domain_status(domain)
        except NoKeyDomainSupport:
            raise NoEmptyKeyDomain(
                "No empty key domain: the card has no key domains (initialise it with "
                "key-domain slots to use the transient import)"
            ) from None
        except ApduError as error:
            if error.sw in (0x6A86, 0x6B00):
                break
            raise
        if status is None:
            return domain
    raise NoEmptyKeyDomain(
        "No empty key domain: every key-domain slot of the card is in use; use the classic "
        "import with the DKEK shares of an existing domain"
    )


@ceremony_step("transient PKCS#12 import", witness=True)
def transient_import(
    hsm: SmartCardHsm,
    interaction: Interaction,
    *,
    path: Path | None = None,
    journal: ImportJournal | None = None,
    offer_more: bool = True,
) -> Pkcs12ImportResult:
    """Import PKCS#12 keys through a one-off key domain whose KEK is deleted afterwards.

    :param path: the first file (``None``: asked with :meth:`Interaction.ask_text`).
    :param journal: where the domain is recorded (default: the user's state dir).
    :raises Pkcs12Error: the first file cannot be opened or holds nothing importable
        (the card is unchanged).
    :raises PinNotVerified: the user PIN could not be verified (card unchanged).
    :raises NoEmptyKeyDomain: no free slot (card unchanged).
    :raises DkekKcvMismatch: the card's KCV after the share import is not the host's
        (the KEK is deleted again).
    """
    journal = ImportJournal() if journal is None else journal
    serial = hsm.serial()
    if path is None:
        text = interaction.ask_text("PKCS#12 file to import")
        if not text.strip():
            raise WorkflowError("no PKCS#12 file given; nothing was changed")
        path = Path(text.strip())
    contents = ask_and_open(interaction, path)
    try:
        contents.check_importable()
        verify_user_pin(hsm, interaction, "importing keys")
        domain = find_empty_key_domain(hsm)
    except BaseException:
        contents.forget()
        raise

    result = Pkcs12ImportResult(domain=domain, kcv="", transient=True, kek_deleted=False)
    journal.begin_transient(serial, domain)
    dkek = Dkek()
    session: ImportSession | None = None
    try:
        with editing(hsm) as registry:
            registry.forget_domain(domain)
            registry.record_domain(
                domain, DomainPurpose.TRANSIENT, "import-p12 --transient", shares=1
            )
        hsm.create_dkek_domain(domain, 1)
        journal.set_step(serial, "transient key domain created")
        share = bytearray(os.urandom(SHARE_LENGTH))
        try:
            status = hsm.import_dkek_share(bytes(share), domain)
            dkek.import_share(share)
        finally:
            wipe(share)
        journal.set_step(serial, "transient DKEK share imported")
        result.kcv = format_kcv(dkek.kcv())
        if status.kcv != dkek.kcv():
            raise DkekKcvMismatch(
                domain, result.kcv, format_kcv(status.kcv) if status.kcv else "hidden"
            )
        interaction.inform(
            f"Transient key domain {domain} created (KCV {result.kcv}).  Each key is sealed "
            "(its algorithm list lacks WRAP, proven by a WRAP the card refuses) and the "
            "domain's KEK is deleted after the import."
        )
        session = ImportSession(hsm, interaction, dkek, journal, serial, domain=domain, seal=True)
        result.files = session.run_files(contents, None, offer_more=offer_more)
    finally:
        dkek.clear()
        contents.forget()
        _tear_down(hsm, interaction, journal, serial, domain, session, result)
    return result


def _tear_down(
    hsm: SmartCardHsm,
    interaction: Interaction,
    journal: ImportJournal,
    serial: str,
    domain: int,
    session: ImportSession | None,
    result: Pkcs12ImportResult,
) -> None:
    """Delete the KEK (always tried) and the domain if no key belongs to it.

    Never raises: a failure is told to the user and left to :func:`recover_leftovers`.
    """
    try:
        try:
            hsm.delete_kek(domain)
        except ApduError as error:
            if error.sw != 0x6A88:  # 6A88: the domain was never created
                raise
        result.kek_deleted = True
    except CardError as error:
        interaction.warn(
            f"The transient KEK of key domain {domain} could not be deleted ({error}); it "
            "is removed on the next connection to this card."
        )
        return
    journal.end_transient(serial)
    if session is None or session.keys_unwrapped == 0:
        try:
            result.domain_deleted = delete_domain_if_unused(hsm, domain)
            if result.domain_deleted:
                with editing(hsm) as registry:
                    registry.forget_domain(domain)
        except CardError as error:
            interaction.warn(f"Key domain {domain} could not be removed ({error}).")


# --- the plug-in --------------------------------------------------------------------


def _journal(context: ActionContext) -> ImportJournal:
    path = context.options.get("journal_path")
    return ImportJournal(Path(path) if path is not None else None)


def _run_transient(context: ActionContext) -> Pkcs12ImportResult:
    path = context.options.get("path")
    return transient_import(
        context.hsm,
        context.interaction,
        path=Path(path) if path is not None else None,
        journal=_journal(context),
    )


def _domain_of(node: object) -> int:
    """The key-domain number of an outline node (``node_id`` ``domain:N``) or a plain int."""
    if isinstance(node, int):
        return node
    node_id = getattr(node, "node_id", node)
    if isinstance(node_id, str) and node_id.startswith("domain:"):
        return int(node_id.partition(":")[2])
    return 0


def _run_classic(context: ActionContext) -> Pkcs12ImportResult:
    path = context.options.get("path")
    domain = _domain_of(context.node)
    return import_pkcs12(
        context.hsm,
        context.interaction,
        domain=domain,
        path=Path(path) if path is not None else None,
        journal=_journal(context),
        seal=bool(context.options.get("seal", False)),
    )


def _run_recovery(context: ActionContext) -> RecoveryResult:
    return recover_leftovers(context.hsm, context.interaction, _journal(context))


class TransientImportPlugin:
    """The PKCS#12 import actions: transient domain (device node), classic (key domain)."""

    name = "pkcs12-import"

    def actions(self) -> Sequence[Action]:
        return (
            Action(
                id="pkcs12.transient-import",
                label="Import from PKCS#12 (transient key domain)…",
                node_kinds=frozenset({NodeKind.DEVICE}),
                run=_run_transient,
                description=(
                    "Import keys through a one-off key domain whose KEK is deleted "
                    "afterwards: no DKEK shares needed; each key is sealed, so the card refuses "
                    "to export it."
                ),
            ),
            Action(
                id="pkcs12.import",
                label="Import from PKCS#12…",
                node_kinds=frozenset({NodeKind.KEY_DOMAIN}),
                run=_run_classic,
                description="Import keys under this key domain's DKEK, from its shares.",
            ),
            Action(
                id="pkcs12.recover",
                label="Clean up an interrupted PKCS#12 import",
                node_kinds=frozenset({NodeKind.DEVICE}),
                run=_run_recovery,
                description="Remove what an interrupted import left on this card.",
            ),
        )


PLUGIN = TransientImportPlugin()
"""The plug-in object (the entry point ``keymanager.plugins`` names it)."""
