"""Write the PKCS#12 fixtures whose keys are too slow to generate at test time.

Run from the repository root: ``.venv/bin/python -m tests.corpus.p12.make_fixtures``.
The keys come from the corpus seed (:mod:`tests.reliability._p12_support`), so they are
the same on every run; the files differ only in the salts and IVs :mod:`cryptography`
draws when it encrypts them.
"""

from __future__ import annotations

import time

from tests.reliability._p12_support import (
    DSA_FIXTURE,
    RSA8192_FIXTURE,
    seeded_dsa,
    seeded_rsa,
    standard_p12,
)


def main() -> None:
    for path, make in (
        (RSA8192_FIXTURE, lambda: seeded_rsa(8192, "too large")),
        (DSA_FIXTURE, lambda: seeded_dsa("key")),
    ):
        started = time.monotonic()
        key = make()
        path.write_bytes(standard_p12(key))
        print(f"{path.name}: {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
