"""Key domains as keymanager records them: which key is in which domain, and what a domain is for.

The card tells neither, so keymanager keeps its key-domain registry on the card
(:mod:`keymanager.card.domain_registry`).  This module is the workflows' side of it:

* :func:`keys_with_domains`: the keys with their domain (``recorded`` by keymanager,
  ``probed`` by a WRAP, else ``unknown``) and whether they are sealed;
* :func:`record` / :func:`record_quietly`: change the registry in the workflow's card
  session (a failure to write it is told as a warning; it never undoes the workflow);
* :func:`check_share_import`: the guard before a DKEK share goes into a domain.  A
  domain recorded as a **transient import** that holds keys is refused: it looks like a
  domain waiting for a custodian, but completing it would give its keys a new, known
  DKEK.  For any other domain that holds keys and has no KEK (a custodian domain after
  "Clear KEK" is legitimate to complete again) the keys that would become exportable
  under the new DKEK are named and the user asked; keys whose domain is not recorded
  are named in a warning when the domain was not set up by keymanager;
* :func:`rename_domain` gives a domain a label;
* :func:`find_key_domains` runs the WRAP probe and writes what it found into the registry.

The registry is a display aid anyone with the user PIN can change: the guarantee that a
key stays on the card is its seal (:mod:`keymanager.card.seal`), which the card enforces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from keymanager.card.domain_registry import (
    DomainPurpose,
    DomainRecord,
    Registry,
    annotate_keys,
    editing,
    read_registry,
)
from keymanager.card.errors import ApduError, CardError, NoKeyDomainSupport, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import DEVICE_KEY_REFERENCE, KeyInfo, KeyStore
from keymanager.dkek.dkek import KCV_LENGTH
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import DomainNotReady
from keymanager.workflows.interaction import Cancelled, Interaction

__all__ = [
    "DomainKeys",
    "ProbeResult",
    "TransientDomainHoldsKeys",
    "check_share_import",
    "find_key_domains",
    "keys_with_domains",
    "record",
    "record_quietly",
    "rename_domain",
]


class TransientDomainHoldsKeys(DomainNotReady):
    """A share was to go into a transient-import domain that still holds keys."""


def keys_with_domains(hsm: SmartCardHsm) -> tuple[Registry, list[KeyInfo]]:
    """The registry and the card's keys annotated from it (the device key left out)."""
    registry = read_registry(hsm)
    keys = [key for key in KeyStore(hsm).list_keys() if key.key_reference != DEVICE_KEY_REFERENCE]
    return registry, annotate_keys(keys, registry)


def record(hsm: SmartCardHsm, change: Callable[[Registry], object]) -> None:
    """Read the registry, apply ``change``, write it back (errors are raised)."""
    with editing(hsm) as registry:
        change(registry)


def record_quietly(
    hsm: SmartCardHsm, interaction: Interaction, change: Callable[[Registry], object]
) -> bool:
    """:func:`record`, with a card refusal told as a warning; transport errors are raised.

    A damaged registry is written anew, and the user told that its entries are lost.

    :returns: whether the registry was written.
    """

    def changed(registry: Registry) -> None:
        if registry.damaged is not None:
            interaction.warn(
                f"keymanager's key-domain registry on the card was damaged ({registry.damaged}); "
                "it is written anew, and what it recorded before is lost (Find key domains "
                "places the keys again)."
            )
        change(registry)

    try:
        record(hsm, changed)
    except TransportError:
        raise
    except CardError as error:
        interaction.warn(f"The key-domain registry on the card could not be updated ({error}).")
        return False
    return True


# --- the share-import guard --------------------------------------------------------------


@dataclass(frozen=True)
class DomainKeys:
    """What the guard found about a domain before a share goes in."""

    record: DomainRecord | None
    damaged: str | None
    """Why the registry could not be read (then nothing is known of the domain)."""
    recorded_keys: tuple[KeyInfo, ...]
    """Keys the registry places in the domain."""
    unplaced_keys: tuple[KeyInfo, ...]
    """Keys whose domain is not recorded (they may belong to it)."""


def _describe_keys(keys: tuple[KeyInfo, ...] | list[KeyInfo]) -> str:
    return ", ".join(f"{key.key_reference} {key.label!r}" for key in keys)


def domain_keys(hsm: SmartCardHsm, domain: int) -> DomainKeys:
    """The registry entry of ``domain`` and the keys that are, or may be, in it."""
    registry, keys = keys_with_domains(hsm)
    recorded = tuple(
        key for key in keys if key.key_domain == domain and key.domain_source != "unknown"
    )
    unplaced = tuple(key for key in keys if key.domain_source == "unknown")
    status = hsm.key_domain_status(domain)
    return DomainKeys(registry.domain(domain, status), registry.damaged, recorded, unplaced)


def check_share_import(
    hsm: SmartCardHsm, interaction: Interaction, domain: int, shares_imported: int
) -> None:
    """Refuse or confirm a share import into ``domain`` (see the module docstring).

    :param shares_imported: shares the domain already holds (0: it has no KEK yet).
    :raises TransientDomainHoldsKeys: a recorded transient-import domain with keys.
    :raises Cancelled: the user did not confirm completing a domain that holds keys.
    """
    found = domain_keys(hsm, domain)
    record_ = found.record
    if record_ is not None and record_.purpose is DomainPurpose.TRANSIENT:
        holds = (
            f"it holds key(s) {_describe_keys(found.recorded_keys)}"
            if found.recorded_keys
            else "keys imported through it may still belong to it"
        )
        raise TransientDomainHoldsKeys(
            f"key domain {domain} is a {record_.describe()} whose KEK was deleted; {holds}.  "
            "A share imported now would give that domain a new DKEK known to whoever holds "
            "the share (sealed keys stay sealed, but it is not a domain waiting for a "
            "custodian).  Delete those keys first, then the domain (keymanager-cli domain "
            f"delete --domain {domain}), and create a new domain for the custodians."
        )
    if found.damaged is not None and not interaction.confirm(
        f"keymanager's key-domain registry on this card cannot be read ({found.damaged}), "
        f"so it cannot tell whether key domain {domain} is a transient import whose keys "
        "would become exportable.  Import the share anyway?",
        destructive=True,
    ):
        raise Cancelled("not confirmed; no share was imported")
    if shares_imported:
        return  # the ceremony has begun: the first share was asked about already
    exportable = [key for key in found.recorded_keys if key.exportable is not False]
    sealed = [key for key in found.recorded_keys if key.exportable is False]
    maybe = _maybe_in_a_domain_without_kek(hsm, found.unplaced_keys)
    if not exportable and not maybe:
        return
    parts = []
    if exportable:
        parts.append(
            f"key(s) {_describe_keys(exportable)} belong to key domain {domain} and would "
            "become exportable under the DKEK these shares make up"
        )
    if maybe:
        parts.append(
            f"key(s) {_describe_keys(maybe)} have no recorded domain and are in no domain with "
            "a KEK: any of them in this domain would become exportable too"
        )
    if sealed:
        parts.append(f"key(s) {_describe_keys(sealed)} are sealed and stay on the card")
    if not interaction.confirm(
        f"Key domain {domain} has no KEK, but {'; '.join(parts)}.  Import the share anyway?",
        destructive=True,
    ):
        raise Cancelled("not confirmed; no share was imported")


def _maybe_in_a_domain_without_kek(hsm: SmartCardHsm, keys: tuple[KeyInfo, ...]) -> list[KeyInfo]:
    """Of keys whose domain is not recorded, those that may be in a domain without KEK.

    Each is asked for a WRAP (the user PIN is verified): a blob means its domain has a
    KEK (another domain: the blob is dropped at once), ``6985`` that it is sealed;
    ``6A88`` (no complete domain) leaves it a candidate, and so does an answer that
    tells nothing.
    """
    maybe: list[KeyInfo] = []
    for key in keys:
        if key.kind is None:
            continue  # no description: nothing to say what it is
        try:
            hsm.wrap_key(key.key_reference)
        except TransportError:
            raise
        except ApduError as error:
            if error.sw != 0x6985:
                maybe.append(key)
        except CardError:
            maybe.append(key)
    return maybe


# --- labels --------------------------------------------------------------------------------


def rename_domain(
    hsm: SmartCardHsm, interaction: Interaction, domain: int, label: str
) -> DomainRecord:
    """Give key domain ``domain`` a label (kept in the registry; empty: none).

    :raises DomainNotReady: the slot is empty.
    :raises ValueError: the label is too long or holds control characters.
    """
    try:
        status = hsm.key_domain_status(domain)
    except NoKeyDomainSupport:
        raise DomainNotReady("the device has no key domains") from None
    if status is None:
        raise DomainNotReady(f"key domain {domain} is empty")
    verify_user_pin(hsm, interaction, f"renaming key domain {domain}")
    renamed: list[DomainRecord] = []
    record(hsm, lambda registry: renamed.append(registry.rename_domain(domain, label.strip())))
    interaction.inform(
        f"Key domain {domain} is now labelled {label.strip()!r}."
        if label.strip()
        else f"Key domain {domain} has no label now."
    )
    return renamed[0]


# --- the WRAP probe ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """What :func:`find_key_domains` learnt per key reference."""

    domains: dict[int, int | None]
    """Key reference → domain (``None``: in no complete domain)."""
    sealed: tuple[int, ...]
    """Keys the card refused to wrap because of their algorithm list."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "domains": {str(k): v for k, v in sorted(self.domains.items())},
            "sealed": list(self.sealed),
        }


def find_key_domains(
    hsm: SmartCardHsm, interaction: Interaction, *, keys: list[KeyInfo] | None = None
) -> ProbeResult:
    """Wrap each key whose domain is not recorded, match the blob's KCV, record the answer.

    A key the card refuses to wrap with ``6985`` is sealed (recorded as such, domain
    unknown); ``6A88`` means it is in no complete domain.  The blobs are dropped at once.
    """
    verify_user_pin(hsm, interaction, "finding the key domains")
    if keys is None:
        _registry, keys = keys_with_domains(hsm)
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    by_kcv: dict[bytes, int] = {}
    for slot in slots:
        status = slot.status
        if status is not None and status.complete and status.kcv is not None:
            by_kcv.setdefault(status.kcv, slot.index)
    found: dict[int, int | None] = {}
    sealed: list[int] = []
    for key in keys:
        if key.domain_source == "recorded" or key.kind is None:
            continue
        interaction.check_cancelled()
        try:
            blob = hsm.wrap_key(key.key_reference)
        except TransportError:
            raise
        except NoKeyDomainSupport:
            found[key.key_reference] = None
            continue
        except ApduError as error:
            if error.sw == 0x6985:
                sealed.append(key.key_reference)
            elif error.sw == 0x6A88:
                found[key.key_reference] = None
            continue
        except CardError:
            continue
        found[key.key_reference] = by_kcv.get(bytes(blob[:KCV_LENGTH]))
    if found or sealed:

        def change(registry: Registry) -> None:
            for key in keys or []:
                reference = key.key_reference
                if reference in sealed:
                    old = registry.keys.get(reference)
                    domain = old.domain if old is not None and old.matches(key.id) else None
                    registry.record_key(reference, key.id, domain, sealed=True, probed=True)
                elif reference in found and found[reference] is not None:
                    registry.record_key(
                        reference, key.id, found[reference], sealed=False, probed=True
                    )

        record_quietly(hsm, interaction, change)
    interaction.inform(
        f"Probed {len(found) + len(sealed)} key(s): "
        f"{sum(d is not None for d in found.values())} placed in a key domain, "
        f"{len(sealed)} sealed."
    )
    return ProbeResult(found, tuple(sealed))


def with_recorded(keys: list[KeyInfo], probe: ProbeResult) -> list[KeyInfo]:
    """``keys`` with what a probe found filled in (for a report made in the same session)."""
    result = []
    for key in keys:
        if key.key_reference in probe.sealed:
            result.append(replace(key, exportable=False, domain_source="probed"))
        elif probe.domains.get(key.key_reference) is not None:
            result.append(
                replace(
                    key,
                    key_domain=probe.domains[key.key_reference],
                    domain_source="probed",
                    exportable=True,
                )
            )
        else:
            result.append(key)
    return result
