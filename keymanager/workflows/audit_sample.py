"""A sample :class:`~keymanager.workflows.audit.AuditReport` without a card, for pictures.

``AuditView(sample_report())`` shows the auditor view with every kind of row: a labelled
custodian domain with a sealed and an exportable key, a domain waiting for shares, an
empty slot, and a key whose domain keymanager does not know.  The values are made up
(a public example, no real device); tests of the renderings use it as a fixed input.
"""

from __future__ import annotations

from keymanager.workflows.audit import AuditedDomain, AuditedKey, AuditReport

SAMPLE_CREATED = "2026-11-27T09:30:00+00:00"


def sample_report() -> AuditReport:
    """A report of a made-up simulated device (see the module docstring)."""
    signing = AuditedKey(
        key_reference=1,
        label="Document signing 2027",
        kind="EC",
        size=256,
        key_id="1AB0C0FFEE2147",
        certificate=None,
        domain=0,
        domain_source="recorded",
        cv_request=True,
        exportable=False,
    )
    data_key = AuditedKey(
        key_reference=2,
        label="Data key",
        kind="AES",
        size=256,
        key_id="03",
        certificate=None,
        domain=0,
        domain_source="recorded",
        exportable=True,
    )
    stranger = AuditedKey(
        key_reference=3,
        label="Made by another tool",
        kind="RSA",
        size=2048,
        key_id="9A3B5E77AA51",
        certificate="CN=Made by another tool",
        domain=None,
        domain_source="unknown",
    )
    domains = (
        AuditedDomain(
            number=0,
            state="DKEK",
            shares_total=2,
            kcv="8A5B8164414564C7",
            keys=(signing, data_key),
            purpose="custodian",
            label="Payments",
            created="2026-11-20",
            workflow="domain create",
        ),
        AuditedDomain(number=1, state="DKEK", shares_total=2, shares_outstanding=1),
        AuditedDomain(number=2, state="empty"),
    )
    return AuditReport(
        serial="UTSIM000001",
        reader="Simulated card (sample)",
        version="4.0",
        pin="not verified, 3 tries left",
        so_pin="not verified, 15 tries left",
        domains=domains,
        other_keys=(stranger,),
        domains_probed=False,
        device="unverified (simulator)",
        label="Sample card",
        secure_messaging="active",
        secure_messaging_text="active: PINs and shares cross the reader encrypted",
        created=SAMPLE_CREATED,
    )
