"""The simulated card's persistent state and its file.

Everything a real card keeps across power cycles lives in :class:`CardState`: PINs and
their counters, the options, key domains with their DKEKs (XKEK domains with their
UID and KEK), the keys (as private
numbers), the files, the public-key-authentication keys (registered custodian keys and
the CA / device keys learned from PSO VERIFY CERTIFICATE), the identity (serial and
chain seed) and the position of the seeded random generator.  Volatile state (PIN
verified, custodians authenticated, selected file, pending response) is the card's, not
this module's.

The file is JSON with hexadecimal byte strings, written atomically: a temporary file in
the same directory, flushed and fsynced, renamed over the old one with
:func:`os.replace`, mode 0600 from the start.  It holds secrets in the clear: it is a
test fixture, never a place for real keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FORMAT = 1

DEFAULT_SO_PIN = bytes.fromhex("3537363231383830")
SO_PIN_TRIES = 15
DEFAULT_USER_PIN_TRIES = 3


class StateFileError(ValueError):
    """The state file is not a simulator state this version can read."""


@dataclass
class KeyDomain:
    """One configured key-domain slot: the shares it expects and the DKEK so far.

    An XKEK domain (:mod:`~keymanager.simulator.xkek`) has a non-empty ``uid`` (the
    group signer's public point X ‖ Y), no shares, and its KEK in ``dkek`` (zeros until
    a KEK was derived).
    """

    total: int
    imported: int
    dkek: bytes = field(repr=False, default=bytes(32))
    uid: bytes = b""

    @property
    def outstanding(self) -> int:
        """Shares still to import."""
        return max(0, self.total - self.imported)

    @property
    def is_xkek(self) -> bool:
        """Whether this is an XKEK domain (created from a key-domain membership)."""
        return bool(self.uid)

    @property
    def complete(self) -> bool:
        """Whether the DKEK is fully assembled (keys can be wrapped and unwrapped).

        An XKEK domain is complete only once a KEK was derived.
        """
        if self.uid:
            return self.dkek != bytes(32)
        return self.outstanding == 0


@dataclass
class KeyRecord:
    """A key on the card.

    ``kind`` is ``rsa`` (``n``, ``e``, ``p``, ``q``), ``ec`` (``curve`` name and
    private value ``d``) or ``aes`` (``secret``).  ``algorithms`` is the allowed
    algorithm list (empty: unrestricted), ``domain`` the key domain the key belongs to
    (``None``: not exportable), ``use_counter`` the remaining uses (``None``: unlimited).
    """

    kind: str
    n: int = 0
    e: int = 0
    p: int = 0
    q: int = 0
    curve: str = ""
    d: int = field(default=0, repr=False)
    secret: bytes = field(default=b"", repr=False)
    algorithms: bytes = b""
    domain: int | None = None
    use_counter: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": _hex_int(self.n),
            "e": _hex_int(self.e),
            "p": _hex_int(self.p),
            "q": _hex_int(self.q),
            "curve": self.curve,
            "d": _hex_int(self.d),
            "secret": self.secret.hex(),
            "algorithms": self.algorithms.hex(),
            "domain": self.domain,
            "use_counter": self.use_counter,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(
            kind=str(data["kind"]),
            n=int(data["n"], 16),
            e=int(data["e"], 16),
            p=int(data["p"], 16),
            q=int(data["q"], 16),
            curve=str(data["curve"]),
            d=int(data["d"], 16),
            secret=bytes.fromhex(data["secret"]),
            algorithms=bytes.fromhex(data["algorithms"]),
            domain=None if data["domain"] is None else int(data["domain"]),
            use_counter=None if data["use_counter"] is None else int(data["use_counter"]),
        )


@dataclass
class PkaKey:
    """A public key the card keeps for public-key authentication (PKA).

    Either a custodian's registered key (by slot) or a CA / device key the card learned
    from PSO VERIFY CERTIFICATE (by CHR).  ``public_key`` is the *value* of the ``7F49``
    template, ``curve`` the name of its curve (inherited from the issuer when the
    template holds the point only).
    """

    chr: str
    public_key: bytes
    curve: str

    def to_json(self) -> dict[str, Any]:
        return {"chr": self.chr, "public_key": self.public_key.hex(), "curve": self.curve}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PkaKey:
        return cls(
            chr=str(data["chr"]),
            public_key=bytes.fromhex(data["public_key"]),
            curve=str(data["curve"]),
        )


def _hex_int(value: int) -> str:
    return format(value, "x")


@dataclass
class CardState:
    """Everything the card remembers across power cycles."""

    identity_seed: bytes
    serial: str
    drbg_seed: bytes | None = None
    drbg_counter: int = 0
    initialised: bool = False
    options: int = 0
    user_pin: bytes = field(default=b"", repr=False)
    user_pin_max: int = DEFAULT_USER_PIN_TRIES
    user_pin_tries: int = DEFAULT_USER_PIN_TRIES
    transport_pin: bool = False
    so_pin: bytes = field(default=DEFAULT_SO_PIN, repr=False)
    so_pin_tries: int = SO_PIN_TRIES
    key_domains: list[KeyDomain | None] | None = None
    """``None``: initialised without DKEK (INS 52 answers 6D00)."""
    public_key_authentication: bytes = b""
    keys: dict[int, KeyRecord] = field(default_factory=dict)
    files: dict[int, bytes] = field(default_factory=dict)
    profile: str = "genuine"
    """The card's personality (:mod:`keymanager.simulator.profiles`); older files: genuine."""
    unsaved_dkek_domains: list[int] = field(default_factory=list)
    """Pico profile: domains whose DKEK was completed before any VERIFY (lost on reset)."""
    pka_keys: dict[int, PkaKey] = field(default_factory=dict)
    """PKA: the registered custodian keys by slot (0 … N-1); older files: none."""
    pka_known_keys: dict[str, PkaKey] = field(default_factory=dict)
    """PKA: public keys learned by PSO VERIFY CERTIFICATE, by CHR; older files: none."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "identity_seed": self.identity_seed.hex(),
            "serial": self.serial,
            "drbg_seed": None if self.drbg_seed is None else self.drbg_seed.hex(),
            "drbg_counter": self.drbg_counter,
            "initialised": self.initialised,
            "options": self.options,
            "user_pin": self.user_pin.hex(),
            "user_pin_max": self.user_pin_max,
            "user_pin_tries": self.user_pin_tries,
            "transport_pin": self.transport_pin,
            "so_pin": self.so_pin.hex(),
            "so_pin_tries": self.so_pin_tries,
            "key_domains": None
            if self.key_domains is None
            else [
                None
                if domain is None
                else {
                    "total": domain.total,
                    "imported": domain.imported,
                    "dkek": domain.dkek.hex(),
                    "uid": domain.uid.hex(),
                }
                for domain in self.key_domains
            ],
            "public_key_authentication": self.public_key_authentication.hex(),
            "keys": {str(kid): key.to_json() for kid, key in sorted(self.keys.items())},
            "files": {f"{fid:04X}": data.hex() for fid, data in sorted(self.files.items())},
            "profile": self.profile,
            "unsaved_dkek_domains": list(self.unsaved_dkek_domains),
            "pka_keys": {str(slot): key.to_json() for slot, key in sorted(self.pka_keys.items())},
            "pka_known_keys": {
                name: key.to_json() for name, key in sorted(self.pka_known_keys.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardState:
        if data.get("format") != STATE_FORMAT:
            raise StateFileError(f"unknown simulator state format {data.get('format')!r}")
        domains_data = data["key_domains"]
        domains: list[KeyDomain | None] | None = None
        if domains_data is not None:
            domains = [
                None
                if item is None
                else KeyDomain(
                    int(item["total"]),
                    int(item["imported"]),
                    bytes.fromhex(item["dkek"]),
                    bytes.fromhex(item.get("uid", "")),
                )
                for item in domains_data
            ]
        drbg_seed = data["drbg_seed"]
        return cls(
            identity_seed=bytes.fromhex(data["identity_seed"]),
            serial=str(data["serial"]),
            drbg_seed=None if drbg_seed is None else bytes.fromhex(drbg_seed),
            drbg_counter=int(data["drbg_counter"]),
            initialised=bool(data["initialised"]),
            options=int(data["options"]),
            user_pin=bytes.fromhex(data["user_pin"]),
            user_pin_max=int(data["user_pin_max"]),
            user_pin_tries=int(data["user_pin_tries"]),
            transport_pin=bool(data["transport_pin"]),
            so_pin=bytes.fromhex(data["so_pin"]),
            so_pin_tries=int(data["so_pin_tries"]),
            key_domains=domains,
            public_key_authentication=bytes.fromhex(data["public_key_authentication"]),
            keys={int(kid): KeyRecord.from_json(item) for kid, item in data["keys"].items()},
            files={int(fid, 16): bytes.fromhex(value) for fid, value in data["files"].items()},
            profile=str(data.get("profile", "genuine")),
            unsaved_dkek_domains=[int(i) for i in data.get("unsaved_dkek_domains", [])],
            pka_keys={
                int(slot): PkaKey.from_json(item) for slot, item in data.get("pka_keys", {}).items()
            },
            pka_known_keys={
                str(name): PkaKey.from_json(item)
                for name, item in data.get("pka_known_keys", {}).items()
            },
        )


def load_state(path: Path) -> CardState | None:
    """Read a state file; ``None`` if it does not exist.

    :raises StateFileError: the file exists but is not a readable state.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return CardState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, StateFileError):
            raise
        raise StateFileError(
            f"{path} is not a simulator state file ({type(exc).__name__})"
        ) from None


def save_state(path: Path, state: CardState) -> None:
    """Write the state atomically, readable by the owner only (mode 0600)."""
    payload = json.dumps(state.to_json(), indent=1, sort_keys=True).encode("utf-8")
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name[:40]}.", suffix=".tmp", dir=directory
    )
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):
        directory_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)
