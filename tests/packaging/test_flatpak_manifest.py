"""The Flatpak manifest as committed: every file it names exists, the Python modules match
``flatpak-requirements.txt``, every download has a checksum, and the sandbox asks for the
PC/SC socket and a window only (docs/packaging.md, "Flatpak").

flatpak-builder is not run here (no Flatpak runtimes can be installed on this machine);
these checks catch what would make a build fail before it downloads anything: a missing
file, a module without its generated JSON, a stale JSON, a download without a checksum.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from keymanager import resources
from keymanager.gui import APP_ID

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGING = REPOSITORY / "packaging"
MANIFEST = PACKAGING / f"{APP_ID}.yml"
REQUIREMENTS = PACKAGING / "flatpak-requirements.txt"
PYTHON_MODULES = PACKAGING / "python3-requirements.json"

WINDOW_ARGUMENTS = {"--socket=wayland", "--socket=fallback-x11", "--share=ipc"}
"""What a Qt window needs: Wayland, X11 only where there is no Wayland, and the IPC
namespace X11's shared-memory extension needs (docs/packaging.md says why each)."""

ARCHES = ("x86_64", "aarch64")
"""The architectures Flathub builds; a platform wheel must exist for each."""


def _manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _load_module_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert isinstance(loaded, dict), path
    return loaded


def _modules(modules: list[Any], base: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """Every module of the tree with the directory its relative paths start from.

    A module given as a string is a file (relative to the including file's directory)
    holding the module; it must exist.
    """
    for module in modules:
        if isinstance(module, str):
            path = base / module
            assert path.is_file(), f"module file {module} is missing (next to {base})"
            loaded = _load_module_file(path)
            yield from _modules([loaded], path.parent)
            continue
        yield module, base
        yield from _modules(module.get("modules", []), base)


def _all_modules() -> list[tuple[dict[str, Any], Path]]:
    return list(_modules(_manifest()["modules"], PACKAGING))


def _requirements() -> list[Requirement]:
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_manifest_identity_matches_the_package() -> None:
    manifest = _manifest()
    assert manifest["app-id"] == APP_ID
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    assert manifest["command"] in pyproject["project"]["gui-scripts"]
    assert manifest["runtime-version"] == manifest["base-version"]


def test_every_file_the_manifest_names_exists() -> None:
    checked = 0
    for module, base in _all_modules():
        for source in module.get("sources", []):
            if isinstance(source, str):  # a file of sources
                assert (base / source).is_file(), f"{module['name']}: {source} is missing"
                checked += 1
                continue
            kind = source["type"]
            paths = [source["path"]] if "path" in source else list(source.get("paths", []))
            if kind in {"file", "dir", "patch", "script"} and paths:
                for relative in paths:
                    target = base / relative
                    exists = target.is_dir() if kind == "dir" else target.is_file()
                    assert exists, f"{module['name']}: {kind} {relative} is missing"
                    checked += 1
            elif kind in {"archive", "file"}:
                assert source["url"].startswith("https://"), source
                assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), source
                checked += 1
    assert checked >= 3


def _expanded_commands(commands: list[str]) -> Iterator[str]:
    """The build commands with ``for VAR in A B; do ...; done`` loops unrolled."""
    loop = re.compile(r"for (\w+) in ([^;]+); do (.*); done")
    for command in commands:
        match = loop.fullmatch(command.strip())
        if not match:
            yield command
            continue
        name, values, body = match.groups()
        for value in values.split():
            yield body.replace(f"${{{name}}}", value).replace(f"${name}", value)


def _app_module() -> tuple[dict[str, Any], Path]:
    """The module that builds keymanager itself and its source directory (the repository)."""
    for module, base in _all_modules():
        for source in module.get("sources", []):
            if isinstance(source, dict) and source.get("type") == "dir":
                return module, (base / source["path"]).resolve()
    raise AssertionError("no module builds the repository")


def test_installed_files_exist_and_land_where_desktops_look() -> None:
    module, source_root = _app_module()
    assert source_root == REPOSITORY
    installed: dict[str, str] = {}  # destination file -> repository file
    for command in _expanded_commands(module["build-commands"]):
        words = command.split()
        if words[:1] != ["install"]:
            continue
        target = words[words.index("-t") + 1]
        for file in (word for word in words[1:] if word.startswith("keymanager/")):
            assert (source_root / file).is_file(), f"{file} (installed by the manifest) is missing"
            installed[f"{target}/{Path(file).name}"] = file
    share, data = "/app/share", "keymanager/resources"
    expected = {
        f"{share}/applications/{APP_ID}.desktop": f"{data}/{resources.DESKTOP_FILE}",
        f"{share}/metainfo/{APP_ID}.metainfo.xml": f"{data}/{resources.METAINFO_FILE}",
        f"{share}/icons/hicolor/scalable/apps/{APP_ID}.svg": (
            f"{data}/icons/hicolor/scalable/apps/{APP_ID}.svg"
        ),
    }
    for size in resources.APP_ICON_SIZES:
        folder = f"icons/hicolor/{size}x{size}/apps"
        expected[f"{share}/{folder}/{APP_ID}.png"] = f"{data}/{folder}/{APP_ID}.png"
    assert installed == expected


def test_python_modules_cover_every_flatpak_requirement() -> None:
    manifest = _manifest()
    assert PYTHON_MODULES.name in manifest["modules"], "the manifest must include the JSON"
    generated = _load_module_file(PYTHON_MODULES)
    by_name = {module["name"]: module for module in generated["modules"]}
    requirements = _requirements()
    assert requirements
    for requirement in requirements:
        module = by_name.get(f"python3-{requirement.name}")
        assert module, f"{requirement.name} is not in {PYTHON_MODULES.name}: regenerate it"
        # The generator writes the requirement into the pip command as it was written in
        # the requirements file: a changed requirement means a stale JSON.
        assert f'"{requirement}"' in module["build-commands"][0], (
            f"{PYTHON_MODULES.name} was generated from another {requirement.name} "
            "requirement: regenerate it (docs/packaging.md)"
        )
        assert "--no-index" in module["build-commands"][0]  # nothing fetched while building
        names = {_project_of(source["url"]) for source in module["sources"]}
        assert canonicalize_name(requirement.name) in names
    assert len(generated["modules"]) == len(requirements)


def _project_of(url: str) -> str:
    """The normalised project name of a PyPI file URL (sdist or wheel)."""
    filename = url.rsplit("/", 1)[1]
    return canonicalize_name(re.split(r"-\d", filename, maxsplit=1)[0])


@pytest.mark.parametrize("arch", ARCHES)
def test_every_platform_wheel_exists_for_each_architecture(arch: str) -> None:
    generated = _load_module_file(PYTHON_MODULES)
    for module in generated["modules"]:
        projects_with_platform_wheels = set()
        projects_for_arch = set()
        for source in module["sources"]:
            assert source["url"].startswith("https://"), source
            assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), source
            project = _project_of(source["url"])
            arches = source.get("only-arches")
            if arches is None:
                assert source["url"].endswith(("-none-any.whl", ".tar.gz", ".zip")), source
                projects_for_arch.add(project)
                continue
            projects_with_platform_wheels.add(project)
            if arch in arches:
                assert f"_{arch}" in source["url"], source
                projects_for_arch.add(project)
        missing = projects_with_platform_wheels - projects_for_arch
        assert not missing, f"{module['name']}: no {arch} wheel of {sorted(missing)}"


def test_sandbox_asks_only_for_the_pcsc_socket_and_a_window() -> None:
    manifest = _manifest()
    arguments = manifest["finish-args"]
    assert len(arguments) == len(set(arguments))
    assert set(arguments) == {"--socket=pcsc"} | WINDOW_ARGUMENTS, arguments
    text = MANIFEST.read_text(encoding="utf-8")
    for forbidden in ("--device", "--filesystem", "--share=network", "--talk-name", "--socket=x11"):
        assert forbidden not in text, forbidden


def test_pcsc_lite_checksum_is_documented_with_its_origin() -> None:
    (pcsc,) = (module for module, _ in _all_modules() if module["name"] == "pcsc-lite")
    (source,) = pcsc["sources"]
    version = re.search(r"pcsc-lite-(\d+\.\d+\.\d+)\.tar\.xz$", source["url"])
    assert version, source["url"]
    documentation = (REPOSITORY / "docs" / "packaging.md").read_text(encoding="utf-8")
    assert source["sha256"] in documentation, "docs/packaging.md must say where it came from"
    assert f"pcsc-lite_{version.group(1)}.orig.tar.xz" in documentation
