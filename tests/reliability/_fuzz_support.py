"""Input generators for the systematic parser fuzz tests (``test_fuzz_parsers.py``).

Three families of input, each a hypothesis strategy:

* **random** data: :func:`random_bytes` (weighted towards the sizes a format has) and
  :func:`alphabet_text` (random text over a text format's own alphabet);
* **mutations of a valid seed** (:func:`mutated`): one to six edits of bit flips, byte
  overwrites with boundary values, byte insertion and deletion, truncation, appended
  bytes, duplicated slices and **length-field edits** (a TLV length replaced by a wrong,
  non-minimal, indefinite, reserved or huge encoding); :func:`mutated_text` does the
  same for typed text (substitution, insertion, deletion, swaps, case changes);
* **nested TLV re-encoding** (:func:`reencoded`): the seed is parsed as a tree of TLVs
  (recursing into constructed tags) and written back node by node, where each node may
  get a wrong length (off by a few, zero, non-minimal long form, ``80``, ``FF``, 4 GiB),
  be dropped, duplicated, swapped with its neighbour, have its value replaced by random
  bytes or cut short.

:func:`authentic_blob` wraps an arbitrary (possibly mutated) plaintext into a key blob
with the right KCV and a valid AES-CMAC, so that a fuzzed blob gets past the MAC and
reaches the decoder's structural and mathematical checks.

:func:`outcome` runs a parser and turns "returned a result" or "raised one of the
documented errors" into a value; any other exception propagates and fails the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import strategies as st

from keymanager.dkek.dkek import Dkek
from keymanager.dkek.tlv import TlvError, encode_length, is_constructed, iter_tlvs, read_tag
from keymanager.dkek.tlv import read_length as _read_length

T = TypeVar("T")

MAX_TREE_DEPTH = 12
"""Deepest TLV nesting the re-encoder descends into."""

BOUNDARY_BYTES = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF)

SLOW_INPUT_SECONDS = 10.0
"""No single input may keep a parser busy this long (every valid input takes milliseconds)."""


# --- running a parser ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a parser did with one input: its result, or the documented error it raised."""

    result: Any = None
    error: BaseException | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


def outcome(call: Callable[[], T], allowed: tuple[type[BaseException], ...]) -> Outcome:
    """Run ``call``; a result or an ``allowed`` error is an :class:`Outcome`.

    Anything else (``IndexError``, ``struct.error``, a ``ValueError`` from
    :mod:`cryptography`, ``RecursionError``, ``MemoryError``…) propagates: that is a
    crash, and hypothesis reports and shrinks it.  So does an input that keeps the
    parser busy for :data:`SLOW_INPUT_SECONDS` or more (a hang in the making).
    """
    start = time.monotonic()
    try:
        return Outcome(result=call())
    except allowed as error:
        assert str(error), f"{type(error).__name__} raised without a message"
        return Outcome(error=error)
    finally:
        elapsed = time.monotonic() - start
        assert elapsed < SLOW_INPUT_SECONDS, f"one input kept the parser busy {elapsed:.1f} s"


# --- random data --------------------------------------------------------------------


def random_bytes(
    typical_sizes: Sequence[int] = (), max_size: int = 600
) -> st.SearchStrategy[bytes]:
    """Random bytes: any length up to ``max_size``, or exactly one of ``typical_sizes``."""
    strategies: list[st.SearchStrategy[bytes]] = [st.binary(max_size=max_size)]
    strategies += [st.binary(min_size=size, max_size=size) for size in typical_sizes]
    return st.one_of(strategies)


def alphabet_text(alphabet: str, max_size: int = 120) -> st.SearchStrategy[str]:
    """Random text over a format's alphabet (plus the separators it allows)."""
    return st.text(alphabet=alphabet, max_size=max_size)


# --- TLV structure --------------------------------------------------------------------


@dataclass
class Node:
    """One TLV of a parsed tree; ``children`` is ``None`` for primitive values."""

    tag: bytes
    value: bytes
    children: list[Node] | None


def parse_tree(data: bytes, depth: int = 0) -> list[Node] | None:
    """The TLVs that fill ``data`` exactly, recursively; ``None`` if it is not TLVs."""
    try:
        elements = list(iter_tlvs(data))
    except TlvError:
        return None
    nodes: list[Node] = []
    for element in elements:
        children = None
        if is_constructed(element.tag) and element.value and depth < MAX_TREE_DEPTH:
            children = parse_tree(element.value, depth + 1)
        nodes.append(Node(element.tag, element.value, children))
    return nodes


@dataclass(frozen=True)
class LengthField:
    """Where a TLV's length bytes are (``start``..``end``) and the length they encode."""

    start: int
    end: int
    length: int


def length_fields(data: bytes, base: int = 0, depth: int = 0) -> list[LengthField]:
    """Every length field of the TLV tree in ``data`` (outermost first), as offsets."""
    found: list[LengthField] = []
    offset = 0
    while offset < len(data):
        try:
            tag, after_tag = read_tag(data, offset)
            length, value_offset = _read_length(data, after_tag)
        except TlvError:
            return found
        end = value_offset + length
        if end > len(data):
            return found
        found.append(LengthField(base + after_tag, base + value_offset, length))
        if is_constructed(tag) and depth < MAX_TREE_DEPTH:
            found += length_fields(data[value_offset:end], base + value_offset, depth + 1)
        offset = end
    return found


def _length_encoding(draw: st.DrawFn, true_length: int) -> bytes:
    """A length field for a value of ``true_length`` bytes: right, wrong or malformed."""
    kind = draw(
        st.sampled_from(
            (
                "plus",
                "minus",
                "zero",
                "random",
                "non-minimal",
                "indefinite",
                "reserved",
                "huge",
                "too-many-octets",
                "cut",
            )
        )
    )
    if kind == "plus":
        return encode_length(true_length + draw(st.integers(1, 300)))
    if kind == "minus":
        return encode_length(max(0, true_length - draw(st.integers(1, 300))))
    if kind == "zero":
        return b"\x00"
    if kind == "random":
        return encode_length(draw(st.integers(0, 0xFFFF)))
    if kind == "non-minimal":
        octets = draw(st.integers(1, 4))
        if true_length >= 1 << (8 * octets):
            octets = 4
        return bytes([0x80 | octets]) + true_length.to_bytes(octets, "big")
    if kind == "indefinite":
        return b"\x80"
    if kind == "reserved":
        return b"\xff"
    if kind == "huge":
        return b"\x84" + draw(st.sampled_from((0xFFFFFFFF, 0x7FFFFFFF, 0x01000000))).to_bytes(
            4, "big"
        )
    if kind == "too-many-octets":
        return bytes([0x80 | draw(st.integers(5, 0x7E))]) + bytes(draw(st.integers(0, 8)))
    return draw(st.sampled_from((b"\x81", b"\x82\x01", b"\x83\x00\x00")))  # "cut"


def _encode_nodes(draw: st.DrawFn, nodes: list[Node], edit_rate: int) -> bytes:
    """Write ``nodes`` back; each node is edited with probability 1 / ``edit_rate``."""
    out = bytearray()
    order = list(nodes)
    if len(order) > 1 and draw(st.integers(0, edit_rate)) == 0:
        index = draw(st.integers(0, len(order) - 2))
        order[index], order[index + 1] = order[index + 1], order[index]
    for node in order:
        if node.children is not None:
            value = _encode_nodes(draw, node.children, edit_rate)
        else:
            value = node.value
        edit = draw(st.integers(0, edit_rate)) == 0
        action = draw(st.sampled_from(("length", "drop", "twice", "random", "cut"))) if edit else ""
        if action == "drop":
            continue
        if action == "random":
            value = draw(st.binary(max_size=max(4, 2 * len(value))))
        elif action == "cut":
            value = value[: draw(st.integers(0, len(value)))]
        length = (
            _length_encoding(draw, len(value)) if action == "length" else encode_length(len(value))
        )
        encoded = node.tag + length + value
        out += encoded
        if action == "twice":
            out += encoded
    return bytes(out)


@st.composite
def reencoded(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A seed parsed as a TLV tree and re-encoded with wrong lengths and shuffled nodes."""
    seed = draw(st.sampled_from(list(seeds)))
    tree = parse_tree(seed)
    if tree is None:  # not TLV-structured: fall back to byte mutations
        return draw(mutated([seed]))
    total = _count_nodes(tree)
    # About one or two edits per tree, wherever they fall.
    edit_rate = max(1, total // draw(st.integers(1, 3)))
    return _encode_nodes(draw, tree, edit_rate)


def _count_nodes(nodes: list[Node]) -> int:
    return sum(1 + (_count_nodes(node.children) if node.children else 0) for node in nodes)


# --- byte mutations -----------------------------------------------------------------

_MUTATIONS = (
    "flip",
    "set",
    "insert",
    "delete",
    "truncate",
    "append",
    "duplicate",
    "length",
    "length",
)


def _mutate_once(draw: st.DrawFn, data: bytearray) -> bytearray:
    operation = draw(st.sampled_from(_MUTATIONS))
    if not data:
        return bytearray(draw(st.binary(min_size=1, max_size=8)))
    position = draw(st.integers(0, len(data) - 1))
    if operation == "flip":
        data[position] ^= 1 << draw(st.integers(0, 7))
    elif operation == "set":
        data[position] = draw(st.sampled_from(BOUNDARY_BYTES) | st.integers(0, 255))
    elif operation == "insert":
        data[position:position] = draw(st.binary(min_size=1, max_size=16))
    elif operation == "delete":
        del data[position : position + draw(st.integers(1, 16))]
    elif operation == "truncate":
        del data[position:]
    elif operation == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    elif operation == "duplicate":
        end = min(len(data), position + draw(st.integers(1, 64)))
        data[end:end] = data[position:end]
    else:  # "length": rewrite one TLV length field
        fields = length_fields(bytes(data))
        if not fields:
            data[position] ^= 0x80
        else:
            field = draw(st.sampled_from(fields))
            data[field.start : field.end] = _length_encoding(draw, field.length)
    return data


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes], max_edits: int = 6) -> bytes:
    """A seed with one to ``max_edits`` byte-level edits (see the module description)."""
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, max_edits))):
        data = _mutate_once(draw, data)
    return bytes(data)


# --- text mutations -----------------------------------------------------------------


@st.composite
def mutated_text(draw: st.DrawFn, seeds: Sequence[str], alphabet: str, max_edits: int = 4) -> str:
    """A typed seed with one to ``max_edits`` edits over ``alphabet`` (or any character)."""
    text = list(draw(st.sampled_from(list(seeds))))
    characters = st.sampled_from(alphabet) | st.characters()
    for _ in range(draw(st.integers(1, max_edits))):
        operation = draw(
            st.sampled_from(("replace", "insert", "delete", "swap", "case", "cut", "twice"))
        )
        if not text:
            text = [draw(characters)]
            continue
        position = draw(st.integers(0, len(text) - 1))
        if operation == "replace":
            text[position] = draw(characters)
        elif operation == "insert":
            text.insert(position, draw(characters))
        elif operation == "delete":
            del text[position]
        elif operation == "swap" and position + 1 < len(text):
            text[position], text[position + 1] = text[position + 1], text[position]
        elif operation == "case":
            text[position] = text[position].swapcase()
        elif operation == "cut":
            del text[position:]
        elif operation == "twice":
            end = min(len(text), position + draw(st.integers(1, 12)))
            text[end:end] = text[position:end]
    return "".join(text)


# --- key blobs ----------------------------------------------------------------------

_BLOCK = 16


def cbc(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    """AES-CBC with a zero IV and no padding, as the blob format uses it."""
    cipher = Cipher(algorithms.AES(key), modes.CBC(bytes(_BLOCK)))
    context = cipher.decryptor() if decrypt else cipher.encryptor()
    return context.update(data) + context.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    authenticator = cmac.CMAC(algorithms.AES(key))
    authenticator.update(data)
    return authenticator.finalize()


def blob_plaintext(dkek: Dkek, blob: bytes, header_length: int) -> bytes:
    """The decrypted plaintext of an authentic blob (padding included)."""
    return cbc(dkek.kenc(), blob[header_length:-16], decrypt=True)


def authentic_blob(
    dkek: Dkek, key_type: int, plaintext: bytes, fields: Sequence[bytes] = (b"", b"", b"", b"")
) -> bytes:
    """A blob with the right KCV and a valid MAC around ``plaintext`` (zero-filled to 16)."""
    padded = plaintext + bytes(-len(plaintext) % _BLOCK)
    body = bytearray(dkek.kcv()) + bytes([key_type & 0xFF])
    for field in fields:
        body += (len(field) & 0xFFFF).to_bytes(2, "big") + field
    body += cbc(dkek.kenc(), padded)
    return bytes(body) + aes_cmac(dkek.kmac(), bytes(body))


def component_length_offsets(plaintext: bytes) -> list[int]:
    """Offsets of the 2-byte length fields of a blob plaintext (after randomize and size)."""
    offsets: list[int] = []
    offset = 10
    while offset + 2 <= len(plaintext):
        offsets.append(offset)
        offset += 2 + int.from_bytes(plaintext[offset : offset + 2], "big")
    return offsets


@st.composite
def mutated_plaintext(draw: st.DrawFn, plaintext: bytes) -> bytes:
    """A blob plaintext with byte edits or a component length field set to another value."""
    data = bytearray(plaintext)
    for _ in range(draw(st.integers(1, 3))):
        offsets = component_length_offsets(bytes(data))
        if len(offsets) > 0 and draw(st.booleans()):
            where = draw(st.sampled_from(offsets))
            current = int.from_bytes(data[where : where + 2], "big")
            new = draw(
                st.sampled_from((0, 1, current - 1, current + 1, current + 16, 0xFFFF))
                | st.integers(0, 0xFFFF)
            )
            data[where : where + 2] = (new % 0x10000).to_bytes(2, "big")
        elif draw(st.booleans()) and len(data) > 10:
            # the key size field
            data[8:10] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        else:
            data = _mutate_once(draw, data)
    return bytes(data)
