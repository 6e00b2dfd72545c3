"""The custodian's side of public key authentication: the key on the custodian's card.

:func:`create_custodian_key` makes the key and its ``.pka`` file (see
:mod:`keymanager.workflows.pka`); :func:`custodian_keys` lists the keys a custodian card
holds with the CHR of each (read from the CV request the card keeps in ``CExx``), so
the authentication finds the one registered on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keymanager.card.cvc import CvcError, CvRequest
from keymanager.card.errors import CardError, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    CardFiles,
    KeyStore,
    fid,
)
from keymanager.card.pka_file import PkaFile, PkaFileError
from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.errors import UnsupportedKey
from keymanager.dkek.fileio import write_private_file
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import CustodianKeyNotCreated, WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.key_support import Rollback, choose_reference

CUSTODIAN_CURVES = ("brainpoolP256r1", "secp256r1")
"""The curves a custodian key may use (``prime256v1`` / ``P-256`` name the second)."""
DEFAULT_CUSTODIAN_CURVE = "brainpoolP256r1"


@dataclass(frozen=True)
class CustodianKey:
    """A custodian key :func:`create_custodian_key` made, and its ``.pka`` file."""

    key_ref: int
    chr: str
    label: str
    path: Path
    pka: PkaFile

    @property
    def device_serial(self) -> str:
        return self.pka.device_serial

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_reference": self.key_ref,
            "chr": self.chr,
            "label": self.label,
            "file": str(self.path),
            "device_serial": self.device_serial,
        }


@dataclass(frozen=True)
class CardKey:
    """A key on a custodian card that could be a custodian key: its CHR and curve size."""

    key_ref: int
    chr: str
    field_bytes: int


def custodian_curve(name: str) -> str:
    """The canonical name of a curve a custodian key may use.

    :raises WorkflowError: another curve (the message names the two).
    """
    try:
        curve = curve_by_name(name).name
    except UnsupportedKey:
        curve = name
    if curve not in CUSTODIAN_CURVES:
        raise WorkflowError(
            f"a custodian key is brainpoolP256r1 or P-256 (prime256v1), not {name!r}"
        )
    return curve


@ceremony_step("create custodian key")
def create_custodian_key(
    custodian: SmartCardHsm,
    interaction: Interaction,
    *,
    label: str,
    out: Path,
    curve: str = DEFAULT_CUSTODIAN_CURVE,
) -> CustodianKey:
    """Generate a custodian key on ``custodian`` and write its ``.pka`` file to ``out``.

    The user PIN of the custodian card is verified first; ``out`` must not exist (a
    custodian's earlier file is never overwritten).  A key whose file cannot be
    written is deleted again.

    :raises WorkflowError: no label, another curve, ``out`` exists (nothing changed).
    :raises CustodianKeyNotCreated: the card's answer does not make a valid ``.pka``
        file, or the file cannot be written (the key is deleted again).
    """
    if not label.strip():
        raise WorkflowError("a custodian key needs a label; nothing was changed")
    curve = custodian_curve(curve)
    if out.exists():
        raise WorkflowError(f"{out} exists already: choose another file; nothing was changed")
    verify_user_pin(custodian, interaction, f"creating the custodian key {label!r}")
    serial = custodian.serial()
    chain = custodian.device_certificate()
    files = CardFiles.enumerate(custodian)
    reference = choose_reference(files, None)
    holder = f"{serial}{reference:05d}"
    key = KeyStore(custodian).generate_key(
        EcKeySpec(curve),
        label,
        key_reference=reference,
        holder=holder.encode("latin-1"),
        car_is_holder=True,
    )
    rollback = Rollback(custodian, reference)
    try:
        try:
            pka = PkaFile(CvRequest.parse(key.cv_request or b""), chain.device, chain.issuer)
            pka.check()
        except (PkaFileError, CvcError) as error:
            raise CustodianKeyNotCreated(
                f"the custodian card's answer does not make a valid .pka file ({error}); "
                "the key was deleted again"
            ) from None
        try:
            write_private_file(out, pka.encode(), overwrite=False)
        except OSError as error:
            raise CustodianKeyNotCreated(
                f"cannot write {out}: {error.strerror or error}; the key was deleted again"
            ) from None
    except TransportError:
        raise
    except BaseException:
        rollback.run()
        raise
    interaction.inform(
        f"Created the custodian key {label!r} ({holder}, {curve}) in key reference "
        f"{reference} and wrote {out}: give this file to the officer of the device it is "
        "to unlock."
    )
    return CustodianKey(reference, holder, label, out, pka)


def custodian_keys(card: SmartCardHsm) -> list[CardKey]:
    """The EC keys on ``card`` with their CHR (from the CV request in ``CExx``).

    Keys whose ``CExx`` holds an X.509 certificate or nothing are left out.
    """
    files = CardFiles.enumerate(card)
    keys = []
    for reference in sorted(files.numbers(KEY_PREFIX)):
        try:
            data = files.read(fid(EE_CERTIFICATE_PREFIX, reference))
        except TransportError:
            raise
        except CardError:
            continue
        if not data:
            continue
        try:
            request = CvRequest.parse(data)
        except CvcError:
            continue  # an X.509 certificate: not a custodian key
        point = request.public_key.get(0x86)
        if not request.public_key.is_ec or point is None:
            continue
        keys.append(CardKey(reference, request.chr, (len(point) - 1) // 2))
    return keys
