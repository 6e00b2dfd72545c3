"""Build hook for the optional C accelerator of the share-file key derivation.

Everything else is declared in pyproject.toml.  The extension is optional: when no
compiler is available the package installs anyway and falls back to hashlib.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "keymanager.dkek._md5chain",
            sources=["keymanager/dkek/_md5chain.c"],
            optional=True,
        )
    ]
)
