"""Opening secure messaging on a session: the device key, chip authentication, the state.

:func:`open_channel` runs chip authentication against the public key of the device
certificate (EF 2F02), but only once the chain verified up to a root keymanager knows:
the channel then proves the device as well.  :class:`SecureMessagingState` is what a
:class:`~keymanager.card.hsm.SmartCardHsm` session remembers of it: the mode the user
chose, whether a channel runs, and in words why not.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.apdu import LE_MAX, SW_OK, ApduConnection, CommandApdu
from keymanager.card.cvc import CvcError, DeviceCertificate
from keymanager.card.secure_messaging import (
    ChipAuthenticationRequest,
    SecureChannel,
    SecureMessagingMode,
    SecureMessagingStatus,
    SecureMessagingUnavailable,
)

_NO_SUPPORT = (0x6A80, 0x6A81, 0x6A86, 0x6A88, 0x6D00, 0x6E00)
"""Answers to MSE SET AT / GENERAL AUTHENTICATE that mean "no chip authentication here"."""


def device_channel_key(certificate: DeviceCertificate) -> ec.EllipticCurvePublicKey:
    """The device key a channel is opened against: from a verified chain only.

    :raises SecureMessagingUnavailable: the chain does not verify, or its key is not an
        EC key on a curve :mod:`cryptography` offers.
    """
    identity = certificate.identity()
    if not identity.verdict.verified:
        raise SecureMessagingUnavailable(
            f"the device certificate does not verify ({identity.text}), so a channel "
            "could not prove the device"
        )
    public_key = certificate.device.public_key
    if not public_key.is_ec:
        raise SecureMessagingUnavailable("the device key is not an EC key")
    try:
        key = public_key.ec_public_key(certificate.device_domain())
    except CvcError as error:
        raise SecureMessagingUnavailable(f"the device key is not usable ({error})") from None
    if key is None:
        raise SecureMessagingUnavailable("the device key is on a curve keymanager cannot use")
    return key


def open_channel(connection: ApduConnection, certificate: DeviceCertificate) -> SecureChannel:
    """Chip authentication (MSE SET AT, GENERAL AUTHENTICATE) and the channel it opens.

    Both commands go in the clear (they end any channel the card ran before).

    :raises SecureMessagingUnavailable: the card does not do chip authentication.
    :raises DeviceAuthenticationFailed: its token does not prove the device key.
    """
    device_key = device_channel_key(certificate)
    request = ChipAuthenticationRequest.new(device_key)
    connection.end_channel()
    commands = (
        CommandApdu(
            0x00,
            0x22,
            0x41,
            0xA4,
            request.mse_set_at_data(),
            name="MSE SET AT (chip authentication)",
            protect=False,
        ),
        CommandApdu(
            0x00,
            0x86,
            0x00,
            0x00,
            request.general_authenticate_data(),
            le=LE_MAX,
            name="GENERAL AUTHENTICATE (chip authentication)",
            protect=False,
        ),
    )
    answer = b""
    for command in commands:
        response = connection.transmit(command)
        if response.sw != SW_OK:
            known = "does not support" if response.sw in _NO_SUPPORT else "refused"
            raise SecureMessagingUnavailable(
                f"the card {known} chip authentication ({command.name.split(' (')[0]} "
                f"answered {response.sw:04X})"
            )
        answer = response.data
    channel = request.finish(device_key, answer)
    connection.channel = channel
    return channel


@dataclass
class SecureMessagingState:
    """What a session knows of its secure messaging."""

    mode: SecureMessagingMode = SecureMessagingMode.OFF
    available: bool = False
    reason: str = ""
    """Why there is no channel (empty while one runs)."""

    @property
    def status(self) -> SecureMessagingStatus:
        """``off`` when turned off, ``active`` while a channel runs, else ``unavailable``."""
        if self.mode is SecureMessagingMode.OFF:
            return SecureMessagingStatus.OFF
        return SecureMessagingStatus.ACTIVE if self.available else SecureMessagingStatus.UNAVAILABLE

    @property
    def text(self) -> str:
        """The words for the outline, ``status``, diagnose and audit."""
        match self.status:
            case SecureMessagingStatus.ACTIVE:
                return "active: PINs and shares cross the reader encrypted"
            case SecureMessagingStatus.OFF:
                return "off (turned off): PINs and shares cross the reader in the clear"
        return f"unavailable ({self.reason}): PINs and shares cross the reader in the clear"
