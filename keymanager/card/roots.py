"""The root CVCAs a SmartCard-HSM's device certificate chain may end in.

``GENUINE_ROOTS`` holds CardContact's published SmartCard-HSM root CVCA
``DESRCACC100001`` (brainpoolP256r1, ECDSA-SHA-256), the certificate Smart Card
Shell's ``SmartCardHSM.rootCerts`` carries and Nitrokey HSM 2 chains verify against.
CardContact also publishes a test root ``UTSRCACC100001`` for development cards; it is
deliberately **not** here: its CHR is the one this project's simulator uses (see
``docs/card.md``), and a development card is no genuine device either.

The simulator's root is not a certificate shipped here: :mod:`keymanager.card.cvc`
derives its public key from the published private scalar
``int(sha256(SIMULATOR_ROOT_KEY_LABEL)) mod n`` on brainpoolP256r1.

Pico HSM (an independent re-implementation) has its own PKI: root CVCAs
``ESPICOHSMCA00001`` and ``ESPICOHSMCA00002`` sign the DVs ``ESPICOHSMDV00001`` and
``ESPICOHSMDV00002``, which sign each device's certificate (CHR ``ESPICOHSMTR…``); EF
2F02 holds device CVC ‖ DV CVC.  The root CVCA certificates themselves are handed out
by Pico's PKI web service and are in none of Pico's public sources (pico-hsm,
pypicohsm, pico-keys-sdk): ``PICO_ROOTS`` is therefore empty, and Pico chains are
anchored at the two DV certificates found in pico-hsm's test sources (``PICO_DVS``).
A device certificate verified under one of them is reported as a Pico HSM; the DV's
own signature by its root is not checked until a root certificate is added to
``PICO_ROOTS`` (then the whole chain is verified, DV included).
"""

from __future__ import annotations

DESRCACC100001 = bytes.fromhex(
    "7F218201B47F4E82016C5F290100420E44455352434143433130303030317F4982011D060A04007F0007"
    "02020202038120A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E537782207D"
    "5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9832026DC5C6CE94A4B44F3"
    "30B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B68441048BD2AEB9CB7E57CB2C4B482FFC81B7AF"
    "B9DE27E1E3BD23C23A4453BD9ACE3262547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D"
    "54C72F0469978520A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A78641"
    "046D025A8026CDBA245F10DF1B72E9880FFF746DAB40A43A3D5C6BEBF27707C30F6DEA72430EE3287B06"
    "65C1EAA6EAA4FA26C46303001983F82BD1AA31E03DA0628701015F200E44455352434143433130303030"
    "317F4C10060B2B0601040181C31F0301015301C05F25060102010100095F24060302010100085F37409D"
    "BB382B1711D2BAACB0C623D40C6267D0B52BA455C01F56333DC9554810B9B2878DAF9EC3ADA19C7B065D"
    "780D6C9C3C2ECEDFD78DEB18AF40778ADF89E861CA"
)
"""CardContact's SmartCard-HSM root CVCA, CHR ``DESRCACC100001`` (self-signed)."""

GENUINE_ROOTS: dict[str, bytes] = {"DESRCACC100001": DESRCACC100001}
"""Root CVCAs whose chains count as genuine, by CHR."""

SIMULATOR_ROOT_CHR = "UTSRCACC100001"
"""CHR of the simulator's root CVCA (see ``docs/card.md``)."""

SIMULATOR_ROOT_KEY_LABEL = b"keymanager simulator root CVCA - not a secret"
"""The simulator root's private scalar is ``sha256(label) mod n``: public by design."""

CARDCONTACT_DICA_CHRS: frozenset[str] = frozenset({"DEDINK0400001"})
"""Device issuer CAs known to sit under ``DESRCACC100001`` (a chain naming one claims
CardContact's root even when EF 2F02 lacks the DICA certificate).  ``DEDINK0400001`` is
the Nitrokey HSM 2 DICA of ``tests/card/vectors/nitrokey-hsm2-ef2f02.hex``."""

PICO_ROOT_CHRS: tuple[str, ...] = ("ESPICOHSMCA00001", "ESPICOHSMCA00002")
"""CHRs of Pico HSM's public root CVCAs."""

PICO_ROOTS: dict[str, bytes] = {}
"""Pico's root CVCA certificates by CHR: none shipped (not found in Pico's public
sources, see the module text).  A chain whose DV names a root here is verified in full."""

PICO_DV_00001 = bytes.fromhex(
    "7F2181E97F4E81A25F290100421045535049434F48534D434130303030317F494F060A04007F00070202"
    "02020386410421EE4A21C16A10F737F12E78E5091B266612038CDABEBB722B15BF6D41B877FBF64D9AB6"
    "9C39B9831B1AE00BEF2A4E81976F7688D45189BB232A24703D8A96A55F201045535049434F48534D4456"
    "30303030317F4C12060904007F000703010202530580000000005F25060202000801085F240602030006"
    "01045F37403F75C08FFFC9186B56E6147199E82BFC327CEEF72495BC567961CD54D702F13E3C2766FCD1"
    "D11BD6A9D1F4A229B76B248CEB9AF88D59A74D0AB149448705159B"
)
"""Pico's DV ``ESPICOHSMDV00001`` (CAR ``ESPICOHSMCA00001``), point only, secp256r1.

Source: polhenarejos/pico-hsm, ``tests/pico-hsm/test_090_xkek.py`` (the ``KDM``
constant, tag ``61``; an earlier revision of the file).  The device certificate
``ESPICOHSMTRJZX1J`` of tag ``62`` verifies under it on secp256r1 (and on no other
256-bit curve), which is how the curve is known."""

PICO_DV_00002 = bytes.fromhex(
    "7F2181E97F4E81A25F290100421045535049434F48534D434130303030327F494F060A04007F00070202"
    "020203864104E66B473EC328CAF39EAED840F9C7A4BA237E1DD19004861FA3F4F134BD2D5EA5F71C6C2E"
    "6321ADD4C8A7793BA41119C5783F48A5D9DFC0898D9AE9E7B14DA8D65F201045535049434F48534D4456"
    "30303030327F4C12060904007F000703010202530580000000045F25060205000400065F240602060004"
    "00065F3740A645594C6C338CD6BDA6CAD039CEE54FD822B1011C0AF1E4E3A2A6D03D43BDBB8BE68A66A8"
    "757E7B1F963589BDD80D8E65DE5055B722609041EC63F0498DDC8B"
)
"""Pico's DV ``ESPICOHSMDV00002`` (CAR ``ESPICOHSMCA00002``), point only, secp256k1.

Source: polhenarejos/pico-hsm, ``tests/const.py`` (``DICA_CERT``); the device
certificate ``TERM_CERT`` (``ESPICOHSMTRLRA4C``) beside it verifies under it on
secp256k1 only."""

PICO_DVS: dict[str, tuple[bytes, str]] = {
    "ESPICOHSMDV00001": (PICO_DV_00001, "secp256r1"),
    "ESPICOHSMDV00002": (PICO_DV_00002, "secp256k1"),
}
"""Pico DV certificates used as trust anchors, by CHR: (certificate, curve name)."""

PICO_NAME_PREFIXES: tuple[str, ...] = ("ESPICOHSMCA", "ESPICOHSMDV")
"""A chain naming a CA or DV with these prefixes claims Pico's PKI."""
