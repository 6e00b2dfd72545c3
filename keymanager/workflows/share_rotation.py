"""Custodian rotation: protect an existing DKEK share file anew, the share unchanged.

When a custodian leaves, or a password is suspected, the share file need not be
replaced (which would mean a new DKEK and re-importing every key): the same share is
protected again.

* :func:`rotate_share_file` opens the file the way it is protected now (its password,
  or the threshold of its n-of-m fragments, as the custodians type them) and saves the
  same share again as the new plan says: under a new password the custodian types, or
  under a new random password split into a new n-of-m set (new fragments handed out one
  custodian at a time, as when the share was made).  The old password, or the old
  fragments, no longer open the file; the share and its fingerprint stay.
* The file is replaced atomically only after the new form read back as the share.  If
  anything fails (a fragment could not be handed out, a read-back, a cancel), the
  original file is put back byte for byte: nothing is lost.

Both are card-free; the ceremony record (when one runs) notes the rotation with the
share fingerprint, the old and the new protection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keymanager.dkek.dkek import format_kcv, share_fingerprint
from keymanager.dkek.fileio import write_private_file
from keymanager.dkek.secret import wipe
from keymanager.workflows.ceremony import (
    FileProtection,
    ShareCreationPlan,
    ShareCreationResult,
    _ask_new_password,
    save_share,
)
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import (
    FileShareInput,
    Interaction,
    NofMShareInput,
)
from keymanager.workflows.shares import read_share

__all__ = ["ShareRotationResult", "rotate_share_file"]


@dataclass(frozen=True)
class ShareRotationResult:
    """What a rotation did.  No secret: fingerprints, routes and files only."""

    share_file: Path
    fingerprint: str
    old_protection: str
    saved: ShareCreationResult

    @property
    def checks(self) -> tuple[str, ...]:
        """What was read back (for the ceremony record)."""
        return (
            f"the old {self.old_protection} opened {self.share_file.name}",
            *self.saved.checks,
            "the share fingerprint is unchanged",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        data = self.saved.to_dict()
        data["old_protection"] = self.old_protection
        data["share_file"] = str(self.share_file)
        return data


def rotate_share_file(
    interaction: Interaction,
    old: FileShareInput | NofMShareInput,
    plan: ShareCreationPlan,
) -> ShareRotationResult:
    """Protect the share in ``old.path`` as ``plan`` says (``plan.share_file`` must be
    ``old.path``: the file is protected anew in place).

    :raises WorkflowError: the plan names another file, or asks for PaperKey only.
    :raises ShareFileError, PasswordShareError: the old password / fragments do not open
        the file (nothing changed).
    :raises ShareVerificationFailed, Cancelled: the new form failed; the original file
        is back as it was.
    """
    return _rotate(interaction, old, plan)


@ceremony_step("share rotation")
def _rotate(
    interaction: Interaction,
    old: FileShareInput | NofMShareInput,
    plan: ShareCreationPlan,
) -> ShareRotationResult:
    path = old.path
    if plan.share_file != path:
        raise WorkflowError(
            f"a rotation protects {path} anew in place, not as {plan.share_file}; "
            "nothing was changed"
        )
    plan = dataclasses.replace(plan, share_file=path, overwrite=True)
    for output in plan.output_files():
        if output != path and output.exists():
            raise WorkflowError(f"{output} already exists; nothing was changed")
    old_route = "n-of-m fragments" if isinstance(old, NofMShareInput) else "password"
    try:
        original = path.read_bytes()
    except OSError as error:
        raise WorkflowError(f"{path}: cannot read the share file ({error.strerror})") from None
    share = read_share(old, interaction)
    password: bytearray | None = None
    try:
        fingerprint = format_kcv(share_fingerprint(share))
        if plan.protection is FileProtection.PASSWORD:
            password = _ask_new_password(interaction, path)
        try:
            saved = save_share(interaction, plan, share, password, source="existing", device=None)
        except BaseException:
            write_private_file(path, original, overwrite=True)
            raise
    finally:
        wipe(share, password)
    if saved.fingerprint != fingerprint:  # cannot happen: the same bytes were saved
        write_private_file(path, original, overwrite=True)
        raise WorkflowError("the share changed during the rotation; the original is back")
    interaction.inform(
        f"{path.name} is protected anew ({plan.protection.value}); the old {old_route} no "
        f"longer opens it.  Share fingerprint unchanged: {fingerprint}."
    )
    return ShareRotationResult(path, fingerprint, old_route, saved)
