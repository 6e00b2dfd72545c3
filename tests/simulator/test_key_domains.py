"""Key domains over INS 52: share import, KCV, create / delete domain, delete KEK."""

from __future__ import annotations

import os

from keymanager.dkek import Dkek
from keymanager.dkek.curves import curve_by_name
from tests.simulator.conftest import Card, ec_request_body, ready_card


def test_share_import_and_kcv_match_the_host_dkek(card: Card) -> None:
    card.initialise(shares=2)
    shares = [os.urandom(32), os.urandom(32)]
    data, sw = card.domain(data=shares[0])  # domain 0 accepts shares without the PIN
    assert sw == 0x9000 and data[:2] == b"\x02\x01"
    data, sw = card.domain(data=shares[1])
    assert sw == 0x9000 and data[:2] == b"\x02\x00"
    with Dkek.from_shares(shares) as dkek:
        assert data[2:10] == dkek.kcv()
    assert card.domain()[0] == data  # the query answers the same status
    assert card.domain(data=shares[0])[1] == 0x6986  # nothing outstanding any more
    assert card.domain(data=shares[0][:31])[1] == 0x6700


def test_kcv_visible_before_login_by_default() -> None:
    card = ready_card(b"kcv")
    share = bytes(range(32))
    card.domain(data=share)
    card.select()  # logged out
    with Dkek.from_shares([share]) as dkek:
        assert card.domain()[0][2:10] == dkek.kcv()


def test_pico_mode_hides_the_kcv_until_verify() -> None:
    card = ready_card(b"pico", hide_kcv_until_login=True)
    share = bytes(range(32))
    card.select()
    data, sw = card.domain(data=share)
    assert sw == 0x9000 and data == b"\x01\x00" + bytes(8)
    assert card.verify() == 0x9000
    with Dkek.from_shares([share]) as dkek:
        assert card.domain()[0][2:10] == dkek.kcv()


def test_create_and_delete_domains() -> None:
    card = ready_card(b"domains", shares=1, slots=3)
    assert card.domain(p1=0x01, domain=1, data=b"\x02")[0] == b"\x02\x02" + bytes(8)
    assert card.domain(p1=0x01, domain=1, data=b"\x02")[1] == 0x6A89  # already there
    assert card.domain(p1=0x01, domain=1, data=b"")[1] == 0x6700
    assert card.domain(p1=0x01, domain=3, data=b"\x01")[1] == 0x6A86
    share_a, share_b = os.urandom(32), os.urandom(32)
    card.domain(domain=1, data=share_a)
    status, sw = card.domain(domain=1, data=share_b)
    with Dkek.from_shares([share_a, share_b]) as dkek:
        assert sw == 0x9000 and status == b"\x02\x00" + dkek.kcv()
    # a key generated in domain 1 keeps the domain from being deleted
    body = ec_request_body(curve_by_name("secp256r1"), bytes.fromhex("920101"))
    assert card.generate(5, body)[1] == 0x9000
    assert card.domain(p1=0x03, domain=1)[1] == 0x6A89
    assert card.delete(0xCC05) == 0x9000
    data, sw = card.domain(p1=0x03, domain=1)
    assert sw == 0x9000 and data == bytes(10)
    assert card.domain(domain=1)[1] == 0x6A88
    assert card.domain(p1=0x03, domain=1)[1] == 0x6A88
    assert card.domain(p1=0x02, domain=2, data=b"\x00")[1] == 0x6A80  # no membership (test_xkek)
    assert card.domain(p1=0x07, domain=2)[1] == 0x6A86


def test_domain_management_needs_the_pin() -> None:
    card = ready_card(b"domains-pin", shares=1, slots=2)
    card.select()
    assert card.domain(p1=0x01, domain=1, data=b"\x01")[1] == 0x6982
    assert card.domain(p1=0x04, domain=0)[1] == 0x6982
    assert card.domain(p1=0x03, domain=0)[1] == 0x6982
    card.verify()
    card.domain(p1=0x01, domain=1, data=b"\x01")
    card.select()
    assert card.domain(domain=1, data=bytes(32))[1] == 0x6982  # only domain 0 imports freely


def test_delete_kek_makes_all_shares_outstanding_again() -> None:
    card = ready_card(b"clear-kek", shares=2)
    card.domain(data=os.urandom(32))
    card.domain(data=os.urandom(32))
    data, sw = card.domain(p1=0x04)
    assert sw == 0x9000 and data == b"\x02\x02" + bytes(8)
    share_a, share_b = os.urandom(32), os.urandom(32)
    card.domain(data=share_a)
    with Dkek.from_shares([share_a, share_b]) as dkek:
        assert card.domain(data=share_b)[0][2:] == dkek.kcv()


def test_import_into_unconfigured_domain_is_refused() -> None:
    card = ready_card(b"unconfigured", shares=None, slots=2)
    assert card.domain(data=bytes(32))[1] == 0x6986
