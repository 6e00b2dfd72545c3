"""Personalities of the simulated card: the genuine SmartCard-HSM and Pico HSM.

A :class:`SimulatorProfile` names each behaviour in which the cards of the
SmartCard-HSM family are known to differ.  :data:`GENUINE` follows the genuine
CardContact card as far as its specifications say (and the decisions written in the
"Simulator" section of ``docs/card.md`` where they do not); :data:`PICO` reproduces Pico
HSM's documented behaviours (``pcsc-testing.md``, items 1 to 16, as far as they are about
the card).  The profile is stored in the simulator's state file; a new card takes the
one named by ``KEYMANAGER_SIMULATOR_PROFILE`` (default ``genuine``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "GENUINE",
    "PICO",
    "PROFILES",
    "PROFILE_ENVIRONMENT_VARIABLE",
    "SimulatorProfile",
    "default_profile_name",
    "profile_by_name",
]

PROFILE_ENVIRONMENT_VARIABLE = "KEYMANAGER_SIMULATOR_PROFILE"
DEFAULT_PROFILE_NAME = "genuine"


@dataclass(frozen=True)
class SimulatorProfile:
    """One personality of the simulated card; each field is one behaviour.

    The numbers in brackets are the items of ``pcsc-testing.md`` ("Behaviour of other
    SmartCard-HSM-compatible devices"); ``[SM]`` marks secure-messaging behaviours taken
    from Pico HSM's source (``docs/card.md``, "Secure messaging").
    """

    name: str
    select_p2_0c_rejected: bool = False
    """[1] SELECT of the applet with P2=``0C`` answers ``6A86``."""
    hide_kcv_until_login: bool = False
    """[2] The key-domain KCV reads all zeros until VERIFY in this card session."""
    dkek_lost_on_reset_before_verify: bool = False
    """[3] A reset between the last share import and the first VERIFY loses the DKEK."""
    device_key_in_enumerate: bool = True
    """[4] ENUMERATE OBJECTS lists the device key ``CC00``."""
    malformed_df_name: bool = False
    """[5] The DF name (tag ``84``) in the applet's FCP is malformed."""
    challenge_before_init_fails: bool = False
    """[6] GET CHALLENGE on a blank card answers ``6A82``."""
    enumerate_lists_data_files: bool = True
    """[7] ENUMERATE lists ``CE``/``CA``/``CD``/``CF`` files (READ BINARY works regardless)."""
    domain_delete_answers_6a88: bool = False
    """[8] A successful DELETE KEY DOMAIN answers ``6A88`` (genuine: ``9000`` + status)."""
    domain_ops_need_pin: bool = True
    """[9] Create / delete / clear of a key domain need the user PIN in this session."""
    domain_ops_pin_sw: int = 0x6982
    """[9] The status word of a key-domain command sent without the PIN (Pico: ``6985``)."""
    zero_share_domain_has_dkek: bool = True
    """[10] A domain created with 0 shares gets a random DKEK (Pico: no DKEK at all)."""
    token_label_write_fails: bool = False
    """[11] Writing EF ``2F03`` fails (``6F00``, nothing written): Pico's crash."""
    transport_pin_clearable: bool = True
    """[12] CHANGE REFERENCE DATA ends transport-PIN mode (Pico: it never ends)."""
    rrc_unblock_only_enforced: bool = True
    """[12] Option ``0020`` (reset retry counter: unblock only) is enforced."""
    ec_unwrap_fails_after_key_file: bool = False
    """[13] Opt-in fault: UNWRAP of an EC key creates the key file and answers ``6400``."""
    brainpool320_unsupported: bool = False
    """[14] brainpoolP320r1 is refused with ``6A81``."""
    wrap_enforces_algorithms: bool = True
    """[16] WRAP answers ``6985`` for a key whose non-empty algorithm list lacks ``92``."""
    sm_outer_sw_is_inner: bool = False
    """[SM] A wrapped answer carries the inner status word outside too (Pico's ``sm_wrap``
    keeps it); genuine: ``9000`` outside, the inner status word only in ``99``."""
    sm_pads_whole_extra_block: bool = False
    """[SM] Wrapped answer data of 15 bytes mod 16 is padded with a whole extra zero block
    (Pico's ``sm_wrap``: ``80``, then 16 - len % 16 zeros)."""
    pka_reauthentication_refused: bool = False
    """[PKA] MSE SET AT for a custodian already authenticated in this session answers
    ``6985`` (Pico's ``cmd_mse``); genuine: ``9000`` (a decision, ``docs/card.md``)."""
    xkek_status_total: int = 0x00
    """[XKEK] The "total shares" byte of an XKEK domain's status (Pico's
    ``cmd_key_domain``: ``FF``, the slot's share count never set)."""
    xkek_derive_checks_peer: bool = True
    """[XKEK] DERIVE XKEK checks the peer request's outer signature (by a device key the
    card learned with PSO VERIFY CERTIFICATE) and its self-signature; Pico's
    ``cmd_decrypt_asym`` checks neither."""


GENUINE = SimulatorProfile(name="genuine")

PICO = SimulatorProfile(
    name="pico",
    select_p2_0c_rejected=True,
    hide_kcv_until_login=True,
    dkek_lost_on_reset_before_verify=True,
    device_key_in_enumerate=True,
    malformed_df_name=True,
    challenge_before_init_fails=True,
    enumerate_lists_data_files=False,
    domain_delete_answers_6a88=True,
    domain_ops_need_pin=True,
    domain_ops_pin_sw=0x6985,
    zero_share_domain_has_dkek=False,
    token_label_write_fails=True,
    transport_pin_clearable=False,
    rrc_unblock_only_enforced=False,
    ec_unwrap_fails_after_key_file=False,
    brainpool320_unsupported=True,
    wrap_enforces_algorithms=True,
    sm_outer_sw_is_inner=True,
    sm_pads_whole_extra_block=True,
    pka_reauthentication_refused=True,
    xkek_status_total=0xFF,
    xkek_derive_checks_peer=False,
)

PROFILES: dict[str, SimulatorProfile] = {GENUINE.name: GENUINE, PICO.name: PICO}


def profile_by_name(name: str) -> SimulatorProfile:
    """The profile called ``name``.

    :raises ValueError: no such profile (the message lists the known ones).
    """
    profile = PROFILES.get(name)
    if profile is None:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown simulator profile {name!r} (known profiles: {known})")
    return profile


def default_profile_name() -> str:
    """The profile a new simulated card takes: ``$KEYMANAGER_SIMULATOR_PROFILE`` or genuine.

    :raises ValueError: the environment variable names no known profile.
    """
    name = os.environ.get(PROFILE_ENVIRONMENT_VARIABLE, "").strip() or DEFAULT_PROFILE_NAME
    if name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(
            f"{PROFILE_ENVIRONMENT_VARIABLE}={name!r} names no simulator profile "
            f"(known profiles: {known})"
        )
    return name
