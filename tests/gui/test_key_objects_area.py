"""The key objects area on the demo card: rename, export, certificate request and import,
data objects — through the real dialogs, file dialogs and PIN dialogs of the window."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PySide6.QtWidgets import QFileDialog, QMessageBox

from keymanager.card.keystore import KeyInfo
from keymanager.card.pkcs15 import KeyKind
from keymanager.gui.areas import key_objects
from keymanager.gui.dialogs.csr import CsrDialog
from keymanager.gui.dialogs.data_object import DataObjectDialog
from keymanager.gui.dialogs.export import ExportDialog
from keymanager.gui.dialogs.rename_key import RenameKeyDialog
from keymanager.gui.pin_dialog import PinDialog
from keymanager.simulator.demo import DEMO_PIN
from keymanager.workflows.outline import NodeKind, OutlineNode
from tests.support.gui_window import Seen

AREA_IDS = {
    "rename-key",
    "export-certificate",
    "export-public-key",
    "create-csr",
    "import-certificate",
    "view-data-object",
    "export-data-object",
    "delete-data-object",
}


@pytest.fixture
def area_window(window: Any) -> Any:
    """The demo window with this area's actions (until the window registers the module)."""
    if not AREA_IDS & {action.id for action in window.actions_list}:
        window.actions_list.extend(key_objects.actions(window))
    return window


def choose_file(dialog: QFileDialog, path: Path) -> None:
    dialog.selectFile(str(path))
    dialog.accept()


def ids(window: Any, node: OutlineNode) -> set[str]:
    return {action.id for action in window.context_actions(node)}


def issue(request: x509.CertificateSigningRequest) -> x509.Certificate:
    ca_key = ec.derive_private_key(0xBADC0DE, ec.SECP256R1())
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GUI Test CA")]))
        .public_key(request.public_key())
        .serial_number(42)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=10))
    )
    for extension in request.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca_key, hashes.SHA256())


def test_the_actions_apply_where_they_should(qtbot, area_window) -> None:
    outline = area_window.model.outline
    with_certificate = outline.find("key:2")
    assert {"rename-key", "export-certificate", "create-csr", "import-certificate"} <= ids(
        area_window, with_certificate
    )
    without = next(
        n for n in outline.nodes(NodeKind.KEY) if "no certificate" in n.title
    )  # imported without certificate: nothing to export
    assert "export-certificate" not in ids(area_window, without)
    csr_action = next(a for a in area_window.actions_list if a.id == "create-csr")
    assert csr_action.disabled_reason(without) == key_objects.NO_PUBLIC_KEY_REASON
    importing = next(a for a in area_window.actions_list if a.id == "import-certificate")
    assert importing.disabled_reason(without) is None  # a test signature proves the match
    assert "export-certificate" in ids(area_window, outline.nodes(NodeKind.CA_CERTIFICATE)[0])
    data = outline.find("data:CF01")
    assert {"view-data-object", "export-data-object", "delete-data-object"} <= ids(
        area_window, data
    )
    delete = next(a for a in area_window.actions_list if a.id == "delete-data-object")
    assert delete.destructive
    aes = OutlineNode(
        NodeKind.KEY,
        "aes",
        "key:9",
        data=KeyInfo(9, "aes", b"\x09", KeyKind.AES, 128, None, True),
    )
    csr = next(a for a in area_window.actions_list if a.id == "create-csr")
    assert csr.disabled_reason(aes) == key_objects.AES_REASON
    assert csr.disabled_reason(with_certificate) is None


def test_rename_a_key_through_its_dialog(qtbot, area_window) -> None:
    seen = Seen(qtbot, area_window)
    assert area_window.run_action("rename-key", area_window.model.outline.find("key:2"))
    dialog = seen.next(RenameKeyDialog)
    dialog.label_edit.setText("")
    assert not dialog.ok_button.isEnabled() and "needs a label" in dialog.problem_label.text()
    dialog.label_edit.setText("Renamed TLS key")
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    pin = seen.next(PinDialog)
    with qtbot.waitSignal(area_window.outline_loaded, timeout=15_000):
        pin.entry.setText(DEMO_PIN)
        pin.accept()
    assert area_window.model.outline.find("key:2").title.startswith("Renamed TLS key")
    assert area_window.selected_node().node_id == "key:2"


def test_request_a_certificate_and_import_it(qtbot, area_window, tmp_path: Path) -> None:
    seen = Seen(qtbot, area_window)
    assert area_window.run_action("create-csr", area_window.model.outline.find("key:2"))
    dialog = seen.next(CsrDialog)
    dialog.subject_edits["CN"].setText("tls.example.org")
    dialog.subject_edits["O"].setText("Example")
    dialog.subject_edits["C"].setText("Germany")
    assert not dialog.ok_button.isEnabled() and "two letters" in dialog.problem_label.text()
    dialog.subject_edits["C"].setText("DE")
    dialog.names_edit.setPlainText("dns:tls.example.org\nemail:ops@example.org")
    dialog.extended_boxes["serverAuth"].setChecked(True)
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    request_file = tmp_path / "tls.csr"
    choose_file(seen.next(QFileDialog), request_file)
    pin = seen.next(PinDialog)
    with qtbot.waitSignal(area_window.job_done, timeout=15_000):
        pin.entry.setText(DEMO_PIN)
        pin.accept()
    result = seen.next(QMessageBox)
    assert "Written to" in result.informativeText()
    request = x509.load_pem_x509_csr(request_file.read_bytes())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=tls.example.org,O=Example,C=DE"
    assert stat.S_IMODE(request_file.stat().st_mode) == 0o600

    certificate_file = tmp_path / "tls.pem"
    certificate_file.write_bytes(issue(request).public_bytes(serialization.Encoding.PEM))
    assert area_window.run_action("import-certificate", area_window.model.outline.find("key:2"))
    with qtbot.waitSignal(area_window.outline_loaded, timeout=15_000):
        choose_file(seen.next(QFileDialog), certificate_file)  # the PIN is still verified
    node = area_window.model.outline.find("certificate:2")
    assert node.title == "Certificate: tls.example.org"

    # and export it again, as DER (once the selected certificate has been read)
    qtbot.waitUntil(lambda: not area_window.worker.busy, timeout=10_000)
    assert area_window.run_action("export-certificate", node)
    export = seen.next(ExportDialog)
    export.buttons_by_format["der"].setChecked(True)
    export.ok_button.click()
    exported = tmp_path / "tls.der"
    with qtbot.waitSignal(area_window.job_done, timeout=15_000):
        choose_file(seen.next(QFileDialog), exported)
    assert x509.load_der_x509_certificate(exported.read_bytes()).serial_number == 42


def test_view_export_and_delete_a_data_object(qtbot, area_window, tmp_path: Path) -> None:
    seen = Seen(qtbot, area_window)
    node = area_window.model.outline.find("data:CF01")
    assert area_window.run_action("view-data-object", node)
    view = seen.next(DataObjectDialog)
    assert view.text_view.toPlainText().startswith("This public data object")
    assert view.hex_view.toPlainText().startswith("0000  54 68 69 73")
    view.reject()
    out = tmp_path / "notes.bin"
    assert area_window.run_action("export-data-object", node)
    with qtbot.waitSignal(area_window.job_done, timeout=15_000):
        choose_file(seen.next(QFileDialog), out)
    assert out.read_bytes().startswith(b"This public data object")
    assert area_window.run_action("delete-data-object", node)
    confirm = seen.next(QMessageBox)
    assert "Demo notes" in confirm.text()
    next(b for b in confirm.buttons() if b.text() == "Yes, erase").click()
    pin = seen.next(PinDialog)
    with qtbot.waitSignal(area_window.outline_loaded, timeout=15_000):
        pin.entry.setText(DEMO_PIN)
        pin.accept()
    assert area_window.model.outline.find("data:CF01") is None


def test_the_dialogs_standalone(qtbot) -> None:
    export = ExportDialog("the certificate of key 1 (web)")
    qtbot.addWidget(export)
    assert export.chosen_format() == "pem" and export.suffix() == "pem"
    binary = DataObjectDialog("blob", 0xCD02, b"\x00\x01\xfe")
    qtbot.addWidget(binary)
    assert not binary.tabs.isTabEnabled(1)
    assert binary.hex_view.toPlainText() == "0000  00 01 FE" + " " * 39 + "  ..."
    csr = CsrDialog(3, "signer", KeyKind.RSA)
    qtbot.addWidget(csr)
    assert csr.usage_boxes["keyEncipherment"].isChecked()
    csr.rfc4514_edit.setText("CN=a,O=b")
    assert not csr.subject_edits["CN"].isEnabled()
    assert csr.content().subject.rfc4514_string() == "CN=a,O=b"
    csr.rfc4514_edit.setText("CN")
    assert "RFC 4514" in csr.problem_label.text() and not csr.ok_button.isEnabled()
    rename = RenameKeyDialog(3, "signer")
    qtbot.addWidget(rename)
    assert not rename.ok_button.isEnabled()  # the same label
    rename.label_edit.setText("x" * 256)
    assert "at most 255" in rename.problem_label.text()
