"""``keymanager-cli`` on secure messaging through pcscd when one protected answer is altered.

The simulator behind vpcd is wrapped in a :class:`~keymanager.simulator.hostile.HostileCard`
that flips one byte of one protected answer (the card wraps it, the byte changes on its
way): the command fails with exit status 1 and a message that names the broken channel
(no traceback, nothing taken from the altered answer), and the next command, on a new
channel, works.
"""

from __future__ import annotations

import json

import pytest

from keymanager.card.hsm import DEFAULT_SO_PIN, InitParams, SmartCardHsm
from keymanager.card.secure_messaging import MODE_VARIABLE, SecureMessagingMode
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard
from tests.support.pcscd import PcscdHarness

PIN = "648219"
READER = 1


def initialised(seed: bytes) -> SmartCardHsmSimulator:
    card = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(card), secure_messaging=SecureMessagingMode.OFF)
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    return card


@pytest.mark.parametrize(
    ("rule", "kind"),
    [
        ("ins:20,nth:3@flip:3", "ResponseMacInvalid"),  # the status word in DO99
        ("ins:20,nth:3@flip:0", "ResponseNotProtected"),  # the tag of DO99
    ],
)
def test_an_altered_answer_fails_the_command_clearly_and_the_next_one_works(
    pcscd: PcscdHarness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    rule: str,
    kind: str,
) -> None:
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    monkeypatch.setenv("KM_TEST_PIN", PIN)
    # pin verify asks the PIN's status twice (VERIFY without data); the third VERIFY
    # carries the PIN
    hostile = HostileCard(initialised(b"pcsc tamper " + rule.encode()), rule)
    verify = ["pin", "verify", "--reader", "", "--pin-env", "KM_TEST_PIN"]
    with pcscd.inserted(hostile, index=READER) as (reader, _bridge):
        verify[3] = reader
        status = main(verify)
        out, err = capsys.readouterr()
        assert status == 1, out + err
        assert hostile.log.replaced == 1
        assert "Traceback" not in out + err
        assert "verified" not in out.lower()
        message = err.strip().splitlines()[-1]
        assert message.startswith("keymanager-cli: "), err
        assert "VERIFY" in err and ("MAC" in err or "protected" in err), err
        assert main([*verify, "--json"]) == 0  # the rule hit once: a new session works
        capsys.readouterr()
        hostile.set_rules(rule)
        assert main([*verify, "--json"]) == 1
        document = json.loads(capsys.readouterr().out)
        assert document["error"]["kind"] == kind
        assert document["error"]["nothing_changed"] is None  # the card may have done it
        hostile.enabled = False
        assert main([*verify]) == 0
        assert "verified" in capsys.readouterr().out.lower()
        assert main(["status", "--reader", reader, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["secure_messaging"] == "active"
