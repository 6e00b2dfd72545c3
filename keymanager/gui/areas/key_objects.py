"""The key objects area: labels, certificates, certificate requests and data objects.

Rename key…, Export certificate…, Export public key…, Create certificate request…,
Import certificate… on keys (and certificate exports on CA certificates); View, Export
and Delete data object… on data objects.  Each opens its dialog
(:mod:`keymanager.gui.dialogs`) and then runs the workflow of
:mod:`keymanager.workflows.key_objects` / :mod:`keymanager.workflows.csr` on the
card's worker; the workflow asks the PIN and confirmations through the job's
interaction.  Files are written atomically by the workflows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from keymanager.card.keystore import DCOD_PREFIX, CaCertificateInfo, DataObjectInfo, KeyInfo, fid
from keymanager.card.pkcs15 import KeyKind
from keymanager.gui.actions import MENU_KEYS, MenuAction
from keymanager.gui.areas.host import AreaHost
from keymanager.gui.dialogs.csr import CsrDialog
from keymanager.gui.dialogs.data_object import DataObjectDialog
from keymanager.gui.dialogs.export import ExportDialog
from keymanager.gui.dialogs.rename_key import RenameKeyDialog
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import NodeKind, OutlineNode

KEY_KINDS = frozenset({NodeKind.KEY})
CERTIFICATE_KINDS = frozenset({NodeKind.KEY, NodeKind.CERTIFICATE, NodeKind.CA_CERTIFICATE})
DATA_KINDS = frozenset({NodeKind.DATA_OBJECT})

AES_REASON = "an AES key has no public key, so no certificate belongs to it"
NO_PUBLIC_KEY_REASON = (
    "the card does not tell this key's public key (it has no certificate or CV request): "
    "import its certificate first"
)
NO_FILE_REASON = "the description names no data object file"
CERTIFICATE_FILTER = "Certificates (*.pem *.crt *.cer *.der);;All files (*)"


@dataclass(frozen=True)
class WrittenFile:
    """A job's result: what was written where (the status bar shows :meth:`summary`)."""

    what: str
    path: Path

    def summary(self) -> str:
        return f"{self.what} written to {self.path}"


def _key(node: OutlineNode) -> KeyInfo | None:
    data = node.data
    return data if isinstance(data, KeyInfo) and data.key_reference != 0 else None


def _file_name(text: str, fallback: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or fallback


def aes_refused(node: OutlineNode) -> str | None:
    """Public-key actions on an AES key say why not."""
    key = _key(node)
    return AES_REASON if key is not None and key.kind is KeyKind.AES else None


def public_key_unknown(node: OutlineNode) -> str | None:
    """Actions that need the public key say why not: AES, or none on the card."""
    reason = aes_refused(node)
    if reason is not None:
        return reason
    key = _key(node)
    if key is not None and key.certificate_loaded and key.public_key is None:
        return NO_PUBLIC_KEY_REASON
    return None


def has_certificate(node: OutlineNode) -> bool:
    """A key (or its certificate node) with an X.509 certificate, or a readable CA one."""
    if isinstance(node.data, CaCertificateInfo):
        return node.data.certificate is not None
    key = _key(node)
    if key is None or key.cv_request is not None:
        return False
    return key.certificate is not None or bool(key.description and key.description.subject)


def _data_object(node: OutlineNode) -> DataObjectInfo:
    assert isinstance(node.data, DataObjectInfo)
    return node.data


def data_file(info: DataObjectInfo) -> int:
    """The file that names a data object for the workflows (its file, else its ``C9xx``)."""
    return info.fid if info.fid is not None else fid(DCOD_PREFIX, info.number)


def no_data_file(node: OutlineNode) -> str | None:
    info = node.data
    return NO_FILE_REASON if isinstance(info, DataObjectInfo) and info.fid is None else None


# --- keys ---------------------------------------------------------------------------------


def rename_key(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the new label; rename on the worker thread."""
    key = _key(node)
    assert key is not None
    reference = key.key_reference
    dialog = RenameKeyDialog(reference, key.label, host.dialog_parent())

    def start() -> None:
        label = dialog.label()

        def run(context: JobContext) -> object:
            from keymanager.workflows.key_objects import rename_key as rename

            return rename(context.hsm, context.interaction, reference, label)

        host.select_next(f"key:{reference}")
        host.submit("Renaming a key", run, changes_card=True)

    host.open_dialog(dialog, start)


def export_certificate(host: AreaHost, node: OutlineNode) -> None:
    """Ask PEM or DER, then the file; export on the worker thread."""
    ca = node.data if isinstance(node.data, CaCertificateInfo) else None
    key = _key(node)
    if ca is not None:
        what, name = f"CA certificate {ca.number} ({ca.label})", _file_name(ca.label, "ca")
    else:
        assert key is not None
        what = f"the certificate of key {key.key_reference} ({key.label})"
        name = _file_name(key.label, f"key-{key.key_reference}")
    dialog = ExportDialog(what, parent=host.dialog_parent())

    def start() -> None:
        pem = dialog.chosen_format() == "pem"
        suffix = dialog.suffix()

        def chosen(path: Path) -> None:
            def run(context: JobContext) -> object:
                from keymanager.workflows.key_objects import export_ca_certificate, write_export
                from keymanager.workflows.keys import export_certificate as export

                if ca is not None:
                    data = export_ca_certificate(context.hsm, ca.number, pem=pem)
                else:
                    assert key is not None
                    data = export(context.hsm, key.key_reference, pem=pem)
                write_export(path, data)
                return WrittenFile("The certificate", path)

            host.submit("Exporting a certificate", run)

        host.open_file_dialog(
            "Export the certificate",
            chosen,
            save=True,
            name_filter=CERTIFICATE_FILTER,
            default_name=f"{name}.{suffix}",
            default_suffix=suffix,
            setting="certificates",
        )

    host.open_dialog(dialog, start)


def export_public_key(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the file; export the PEM public key on the worker thread."""
    key = _key(node)
    assert key is not None
    reference = key.key_reference

    def chosen(path: Path) -> None:
        def run(context: JobContext) -> object:
            from keymanager.workflows.key_objects import write_export
            from keymanager.workflows.keys import export_public_key as export

            write_export(path, export(context.hsm, reference))
            return WrittenFile("The public key", path)

        host.submit("Exporting a public key", run)

    host.open_file_dialog(
        "Export the public key",
        chosen,
        save=True,
        name_filter="PEM public keys (*.pem);;All files (*)",
        default_name=f"{_file_name(key.label, f'key-{reference}')}.pub.pem",
        default_suffix="pem",
        setting="certificates",
    )


def create_request(host: AreaHost, node: OutlineNode) -> None:
    """Ask subject and extensions, then the file; the card signs on the worker thread."""
    key = _key(node)
    assert key is not None
    reference = key.key_reference
    dialog = CsrDialog(reference, key.label, key.kind, host.dialog_parent())

    def start() -> None:
        content = dialog.content()

        def chosen(path: Path) -> None:
            def run(context: JobContext) -> object:
                from keymanager.workflows.csr import create_certificate_request
                from keymanager.workflows.key_objects import write_export

                request = create_certificate_request(
                    context.hsm, context.interaction, reference, content
                )
                write_export(path, request.encoded(pem=path.suffix.lower() != ".der"))
                return request

            def made(result: object) -> None:
                subject = getattr(result, "subject", "")
                host.show_result(
                    "Certificate request created",
                    [
                        f"Key {reference} ({key.label}) signed a request for {subject}.",
                        f"Written to {path}.",
                        "Give it to your CA; import the certificate it issues with "
                        "“Import certificate…” on this key.",
                    ],
                )

            host.submit("Creating a certificate request", run, on_result=made)

        host.open_file_dialog(
            "Save the certificate request",
            chosen,
            save=True,
            name_filter="Certificate requests (*.csr *.pem *.der);;All files (*)",
            default_name=f"{_file_name(key.label, f'key-{reference}')}.csr",
            default_suffix="csr",
            setting="certificates",
        )

    host.open_dialog(dialog, start)


def import_certificate(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the certificate file; check and store it on the worker thread."""
    key = _key(node)
    assert key is not None
    reference = key.key_reference

    def chosen(path: Path) -> None:
        def run(context: JobContext) -> object:
            from keymanager.workflows.certificates import import_certificate as store

            return store(context.hsm, context.interaction, reference, path.read_bytes())

        host.select_next(f"certificate:{reference}")
        host.submit("Importing a certificate", run, changes_card=True)

    host.open_file_dialog(
        f"Certificate for key {reference} ({key.label})",
        chosen,
        save=False,
        name_filter=CERTIFICATE_FILTER,
        setting="certificates",
    )


# --- data objects ---------------------------------------------------------------------------


def view_data_object(host: AreaHost, node: OutlineNode) -> None:
    """Read the content on the worker thread, then show it."""
    info = _data_object(node)
    file = data_file(info)

    def run(context: JobContext) -> object:
        from keymanager.workflows.key_objects import read_data_object

        return read_data_object(context.hsm, context.interaction, file)

    def show(result: object) -> None:
        if isinstance(result, bytes):
            host.open_dialog(
                DataObjectDialog(info.label, info.fid, result, host.dialog_parent()),
                lambda: None,
            )

    host.submit("Reading a data object", run, on_result=show)


def export_data_object(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the file; write the content on the worker thread."""
    info = _data_object(node)
    file = data_file(info)

    def chosen(path: Path) -> None:
        def run(context: JobContext) -> object:
            from keymanager.workflows.key_objects import export_data_object as export

            export(context.hsm, context.interaction, file, path)
            return WrittenFile(f"The data object {info.label!r}", path)

        host.submit("Exporting a data object", run)

    host.open_file_dialog(
        "Export the data object",
        chosen,
        save=True,
        name_filter="All files (*)",
        default_name=f"{_file_name(info.label, f'{file:04X}')}.bin",
        setting="data-objects",
    )


def delete_data_object(host: AreaHost, node: OutlineNode) -> None:
    """Delete on the worker thread; the workflow asks for the confirmation and the PIN."""
    file = data_file(_data_object(node))

    def run(context: JobContext) -> object:
        from keymanager.workflows.key_objects import delete_data_object as delete

        return delete(context.hsm, context.interaction, file)

    host.submit("Deleting a data object", run, changes_card=True)


def actions(host: AreaHost) -> list[MenuAction]:
    """The key-object actions (see the module docstring)."""

    return [
        MenuAction(
            "rename-key",
            "Rename key…",
            KEY_KINDS,
            gui=lambda node: rename_key(host, node),
            needs_card=True,
            description="Change the key's label",
            menu=MENU_KEYS,
            group="key-objects",
        ),
        MenuAction(
            "export-certificate",
            "Export certificate…",
            CERTIFICATE_KINDS,
            gui=lambda node: export_certificate(host, node),
            needs_card=True,
            available=has_certificate,
            description="Write the X.509 certificate to a file (PEM or DER)",
            menu=MENU_KEYS,
            group="key-objects",
        ),
        MenuAction(
            "export-public-key",
            "Export public key…",
            KEY_KINDS,
            gui=lambda node: export_public_key(host, node),
            needs_card=True,
            disabled=public_key_unknown,
            description="Write the public key to a file (PEM)",
            menu=MENU_KEYS,
            group="key-objects",
        ),
        MenuAction(
            "create-csr",
            "Create certificate request…",
            KEY_KINDS,
            gui=lambda node: create_request(host, node),
            needs_card=True,
            disabled=public_key_unknown,
            description="A PKCS#10 request the card signs with the key, for a CA",
            menu=MENU_KEYS,
            group="certificates",
        ),
        MenuAction(
            "import-certificate",
            "Import certificate…",
            KEY_KINDS,
            gui=lambda node: import_certificate(host, node),
            needs_card=True,
            disabled=aes_refused,
            description="Store the certificate a CA issued for this key",
            menu=MENU_KEYS,
            group="certificates",
        ),
        MenuAction(
            "view-data-object",
            "View data object…",
            DATA_KINDS,
            gui=lambda node: view_data_object(host, node),
            needs_card=True,
            disabled=no_data_file,
            description="Show the content as hex and text",
            menu=MENU_KEYS,
            group="data-objects",
        ),
        MenuAction(
            "export-data-object",
            "Export data object…",
            DATA_KINDS,
            gui=lambda node: export_data_object(host, node),
            needs_card=True,
            disabled=no_data_file,
            description="Write the content to a file",
            menu=MENU_KEYS,
            group="data-objects",
        ),
        MenuAction(
            "delete-data-object",
            "Delete data object…",
            DATA_KINDS,
            gui=lambda node: delete_data_object(host, node),
            needs_card=True,
            description="Remove the data object and its description from the card",
            menu=MENU_KEYS,
            group="data-objects",
            destructive=True,
        ),
    ]
