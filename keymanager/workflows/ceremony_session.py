"""Recording card-changing workflows into the ceremony record while a ceremony runs.

A front end (``keymanager-cli --ceremony RECORD --as NAME``, or the desktop app's
Ceremony menu) makes a :class:`CeremonySession` current with :func:`recording`; every
workflow decorated with :func:`ceremony_step` then appends one entry to the record
(:mod:`keymanager.workflows.ceremony_record`) when it ends, done or failed.  Without a
current session the decorator costs one context-variable lookup.

What an entry says is read from the card, not taken from the workflow's word: the
device's public state (key domains with shares and KCV, keys with reference, ID, label,
type, size and public-key fingerprint, PIN tries left) is read before and after the
step, and the entry holds what changed.  The workflow's own result, where it has a
``to_dict()`` (the plain data the CLI prints as JSON), is added with any field whose
name says PIN, password or the like left out; its ``checks`` (``test signature
verified``, ``share read back``, …), where it names them, go into the entry's checks.

Witness sign-off: a step decorated with ``witness=True`` (initialise, share import,
key-domain deletion, …) stops before it starts until a witness of the ceremony
confirms on screen by typing their name, through the workflow's :class:`Interaction`;
the witness's name goes into the entry, and a refusal is recorded as "not started".
A ceremony without a witness skips the sign-off (the entry then names no witness).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from keymanager.workflows.ceremony_record import (
    Participant,
    append_entry,
    is_secret_name,
    participants_of,
)
from keymanager.workflows.interaction import Cancelled, Interaction

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "CeremonySession",
    "ceremony_step",
    "current_session",
    "device_facts",
    "device_snapshot",
    "recording",
]


@dataclass
class CeremonySession:
    """The record being written and who operates the tool now."""

    record: Path
    actor: str
    rehearsal: bool = False

    def participants(self) -> list[Participant]:
        """The record's participants."""
        return participants_of(self.record)

    def witnesses(self) -> list[str]:
        """Names of the participants with the witness role."""
        return [p.name for p in self.participants() if p.role == "witness"]


_current: contextvars.ContextVar[CeremonySession | None] = contextvars.ContextVar(
    "keymanager_ceremony", default=None
)


def current_session() -> CeremonySession | None:
    """The session of the running ceremony, if any."""
    return _current.get()


@contextlib.contextmanager
def recording(session: CeremonySession | None) -> Iterator[None]:
    """Make ``session`` current for the block (``None``: no ceremony)."""
    token = _current.set(session)
    try:
        yield
    finally:
        _current.reset(token)


# --- what the card shows ---------------------------------------------------------------


def device_facts(hsm: Any) -> dict[str, Any]:
    """Serial, applet version and authenticity verdict of a device (public)."""
    facts: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        facts["serial"] = hsm.serial()
    with contextlib.suppress(Exception):
        facts["firmware"] = hsm.info.version_text
    with contextlib.suppress(Exception):
        facts["authenticity"] = hsm.device_certificate().identity().text()
    return facts


def _fingerprint(public_key: Any) -> str | None:
    from cryptography.hazmat.primitives import serialization

    try:
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except Exception:
        return None
    return hashlib.sha256(der).hexdigest()[:32].upper()


def device_snapshot(hsm: Any) -> dict[str, Any]:
    """The device's public state: key domains, keys, PIN tries (what can be read)."""
    from keymanager.card.keystore import KeyStore

    snapshot: dict[str, Any] = {"domains": {}, "keys": {}, "pins": {}}
    with contextlib.suppress(Exception):
        for slot in hsm.key_domains():
            status = slot.status
            if status is None:
                snapshot["domains"][str(slot.index)] = "empty"
                continue
            kcv = status.kcv.hex().upper() if status.kcv else "none"
            text = (
                f"{status.shares_total} share(s), {status.shares_outstanding} outstanding, "
                f"KCV {kcv}"
            )
            if status.uid:
                text = f"XKEK group {status.uid.hex()[:16].upper()}, KCV {kcv}"
            snapshot["domains"][str(slot.index)] = text
    with contextlib.suppress(Exception):
        for key in KeyStore(hsm).list_keys():
            snapshot["keys"][str(key.key_reference)] = {
                "label": key.label,
                "id": key.id.hex().upper() if key.id else None,
                "type": key.kind.name if key.kind is not None else None,
                "size": key.size,
                "public_key_sha256": _fingerprint(key.public_key)
                if key.public_key is not None
                else None,
            }
    for name, reader in (("user", "pin_status"), ("so", "so_pin_status")):
        with contextlib.suppress(Exception):
            status = getattr(hsm, reader)()
            snapshot["pins"][name] = (
                status.describe() if hasattr(status, "describe") else str(status)
            )
    return snapshot


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for area in ("domains", "keys", "pins"):
        old, new = before.get(area, {}), after.get(area, {})
        differences = {
            name: {"before": old.get(name), "after": new.get(name)}
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name)
        }
        if differences:
            changes[area] = differences
    return changes


def _public(value: Any) -> Any:
    """``value`` with secret-named fields left out, bytes as hex, paths as text."""
    if isinstance(value, Mapping):
        return {
            str(key): _public(item) for key, item in value.items() if not is_secret_name(str(key))
        }
    if isinstance(value, list | tuple):
        return [_public(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex().upper()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _result_data(result: Any) -> tuple[dict[str, Any], list[str]]:
    data: dict[str, Any] = {}
    to_dict = getattr(result, "to_dict", None) or getattr(result, "to_json", None)
    if callable(to_dict):
        with contextlib.suppress(Exception):
            data = _public(to_dict())
    checks = getattr(result, "checks", None)
    checked = [str(check) for check in checks] if isinstance(checks, list | tuple) else []
    return data, checked


# --- the decorator -----------------------------------------------------------------------


def _first(arguments: tuple[Any, ...], values: Mapping[str, Any], kind: type) -> Any:
    for value in (*arguments, *values.values()):
        if isinstance(value, kind):
            return value
    return None


def _witness_sign_off(session: CeremonySession, interaction: Any, workflow: str) -> str | None:
    """The witness types their name to confirm they observe ``workflow`` (not a yes/no:
    a scripted ``--yes`` run cannot sign for a witness)."""
    witnesses = session.witnesses()
    if not witnesses or interaction is None:
        return None
    typed = interaction.ask_text(
        f"Witness ({', '.join(witnesses)}): type your name to confirm that you observe "
        f"this step ({workflow}) before it starts"
    )
    for name in witnesses:
        if " ".join(str(typed).split()).casefold() == name.casefold():
            return name
    if not str(typed).strip():
        raise Cancelled(
            f"no witness confirmed '{workflow}' (the witness types their name when asked, "
            "on a terminal or on screen); nothing was changed"
        )
    raise Cancelled(
        f"the witness did not confirm '{workflow}' (the name typed is not a witness of "
        "this ceremony); nothing was changed"
    )


def ceremony_step(
    workflow: str, *, witness: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record every run of the decorated workflow in the current ceremony, if one runs.

    The workflow's first :class:`~keymanager.card.hsm.SmartCardHsm` argument is the
    device whose state is read before and after; its :class:`Interaction` argument
    asks the witness (``witness=True``).
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            session = _current.get()
            if session is None:
                return function(*args, **kwargs)
            from keymanager.card.hsm import SmartCardHsm

            hsm = _first(args, kwargs, SmartCardHsm)
            interaction = _first(args, kwargs, Interaction)
            try:
                observer = _witness_sign_off(session, interaction, workflow) if witness else None
            except Cancelled as refusal:
                device = device_facts(hsm) if hsm is not None else {}
                append_entry(
                    session.record,
                    workflow=workflow,
                    actor=session.actor,
                    result=f"not started: {refusal}",
                    device=device,
                )
                raise
            before = device_snapshot(hsm) if hsm is not None else {}
            device = device_facts(hsm) if hsm is not None else {}
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                after = device_snapshot(hsm) if hsm is not None else {}
                outcome = (
                    "cancelled" if isinstance(error, Cancelled | KeyboardInterrupt) else "failed"
                )
                _append(session, workflow, device, before, after, None, outcome, error, observer)
                raise
            after = device_snapshot(hsm) if hsm is not None else {}
            _append(session, workflow, device, before, after, result, "done", None, observer)
            return result

        return run

    return decorate


def _append(
    session: CeremonySession,
    workflow: str,
    device: dict[str, Any],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    result: Any,
    outcome: str,
    error: BaseException | None,
    observer: str | None,
) -> None:
    data, checks = _result_data(result) if result is not None else ({}, [])
    changes = _changes(before, after)
    if data:
        changes["result"] = data
    text = outcome if error is None else f"{outcome}: {type(error).__name__}: {error}"
    try:
        append_entry(
            session.record,
            workflow=workflow,
            actor=session.actor,
            result=text,
            device=device,
            changes=changes,
            checks=checks,
            witness=observer,
        )
    except Exception:
        # The card changed; the record must say so.  Failing here would hide the change
        # from the operator: log it (without the details, which may be long) and re-raise
        # only if the workflow itself succeeded.
        logger.exception("the ceremony record %s could not be written", session.record)
        if error is None:
            raise


# --- closing with a key on a card -------------------------------------------------------

_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def close_with_card_key(
    record: Path, hsm: Any, interaction: Interaction, key_reference: int, signer: str
) -> Any:
    """Close ``record`` with the signature of key ``key_reference`` on ``hsm``.

    EC keys sign with ECDSA on the head digest (algorithm ``70``), RSA keys with PKCS#1
    v1.5 over its SHA-256 DigestInfo (``30``).  The key's X.509 certificate goes into
    the record when the card holds one, else its public key.  The user PIN is asked and
    verified first.

    :raises WorkflowError: no such key, or an AES key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from keymanager.card.hsm_types import Algorithm
    from keymanager.card.keystore import KeyStore
    from keymanager.workflows.ceremony_record import RecordSignature, close_record
    from keymanager.workflows.common import verify_user_pin
    from keymanager.workflows.errors import WorkflowError

    verify_user_pin(hsm, interaction, "to sign the ceremony record")
    store = KeyStore(hsm)
    key = next((k for k in store.list_keys() if k.key_reference == key_reference), None)
    if key is None:
        raise WorkflowError(f"there is no key {key_reference} on this card; nothing was signed")
    key = store.load_certificate(key)
    public_key = key.public_key
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        algorithm, card_algorithm = "ecdsa-sha256", Algorithm.ECDSA

        def data(digest: bytes) -> bytes:
            return digest

    elif isinstance(public_key, rsa.RSAPublicKey):
        algorithm, card_algorithm = "rsa-pkcs1-sha256", Algorithm.RSA_PKCS1

        def data(digest: bytes) -> bytes:
            return _SHA256_DIGEST_INFO + digest

    else:
        raise WorkflowError(
            f"key {key_reference} ({key.label}) cannot sign a record: an RSA or EC key is "
            "needed; nothing was signed"
        )
    certificate = (
        key.certificate.public_bytes(serialization.Encoding.DER) if key.certificate else b""
    )
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    identity = RecordSignature(
        algorithm,
        signer=signer,
        certificate=certificate,
        public_key=b"" if certificate else spki,
        key={
            **device_facts(hsm),
            "key_reference": key_reference,
            "label": key.label,
            "key_id": key.id.hex().upper() if key.id else None,
        },
    )
    return close_record(
        record, identity, lambda digest: hsm.sign(key_reference, card_algorithm, data(digest))
    )
