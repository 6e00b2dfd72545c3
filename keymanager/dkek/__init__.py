"""Host-side cryptography of the SmartCard-HSM key-management formats.

Pure Python (with an optional C accelerator for the share-file key derivation), no
Qt and no card I/O.  Byte-compatible with Smart Card Shell and OpenSC's sc-hsm-tool:

* :mod:`.dkek` - the DKEK assembled from XORed shares, its KCV, Kenc and Kmac;
* :mod:`.sharefile` and :mod:`.kdf` - password-protected share files (``.pbe``);
* :mod:`.nofm` - n-of-m password shares (Shamir), as sc-hsm-tool prints them;
* :mod:`.paperkey` - our printable PaperKey format for a share;
* :mod:`.keyblob` and :mod:`.curves` - the card's wrapped key blob;
* :mod:`.wky` - the key backup container.

All errors derive from :class:`~keymanager.dkek.errors.DkekError`.
"""

from __future__ import annotations

from keymanager.dkek.dkek import Dkek, format_kcv, kcv_of, share_fingerprint
from keymanager.dkek.errors import DkekError

__all__ = ["Dkek", "DkekError", "format_kcv", "kcv_of", "share_fingerprint"]
