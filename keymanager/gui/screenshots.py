"""Screenshots of the main window and of single dialogs, for tests and documentation.

:data:`DIALOGS` is the dialog catalog (:data:`keymanager.gui.dialog_catalog.CATALOG`):
a name (``keymanager --screenshot FILE --dialog NAME``) maps to a function that builds
that dialog on top of a main window with its outline loaded.  The builders of the PIN
dialogs, the share input dialog and the PKCS#12 wizard live here; the catalog lists
them with the others.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from keymanager.gui.dialog_catalog import CATALOG
from keymanager.gui.main_window import MainWindow
from keymanager.gui.pin_dialog import PinDialog
from keymanager.workflows.interaction import SecretKind, SecretRequest

DialogBuilder = Callable[[MainWindow], QWidget]
DIALOGS = CATALOG

LOAD_TIMEOUT_MS = 60_000
SCREENSHOT_NODE = "domain:0"
PNG_QUALITY = 0
"""For PNG, Qt maps quality 0 to the strongest compression (smaller files for docs)."""


def register_dialog(name: str, builder: DialogBuilder) -> None:
    """Make a dialog available to ``--dialog NAME``."""
    DIALOGS.register(name, builder)


def _pin_dialog(window: MainWindow) -> QWidget:
    return PinDialog(SecretRequest(SecretKind.USER_PIN, "verification", tries_left=1), window)


def _so_pin_dialog(window: MainWindow) -> QWidget:
    return PinDialog(SecretRequest(SecretKind.SO_PIN, "unblocking the PIN", tries_left=15), window)


def _share_dialog(window: MainWindow) -> QWidget:
    """Share 2 of 2 for the demo card's domain 0: share 1 accepted, a PaperKey being typed
    with a mistyped group (the demo secrets are public)."""
    from datetime import datetime

    from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
    from keymanager.dkek.paperkey import encode_paperkey
    from keymanager.gui.shares import ShareDialog, ShareSession
    from keymanager.simulator.demo import DEMO_SHARES
    from keymanager.workflows.interaction import ShareOutcome, ShareRequest, ShareRoute

    card_kcv = Dkek.from_shares(DEMO_SHARES).kcv()
    first = ShareRequest(1, 2, domain=0, card_kcv=card_kcv, reports_outcome=True)
    dialog = ShareDialog(ShareSession(), window)
    dialog.set_request(first)
    dialog.log.hand_over(1, ShareRoute.FILE, "share file custodian-1.pbe", datetime.now())
    dialog.report_outcome(
        ShareOutcome(
            first,
            True,
            format_kcv(share_fingerprint(DEMO_SHARES[0])),
            Dkek.from_shares(DEMO_SHARES[:1]).kcv(),
            shares_accepted=1,
        )
    )
    dialog.set_request(ShareRequest(2, 2, domain=0, card_kcv=card_kcv, reports_outcome=True))
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    lines = encode_paperkey(DEMO_SHARES[1]).lines
    second = lines[1]
    position = second.index(" ") + 1 + 7 + 3  # a character of group 2 of line 2
    typo = "7" if second[position] != "7" else "8"
    edits = dialog.paperkey_tab.lines
    edits[0].setText(lines[0])
    edits[1].setText(second[:position] + typo + second[position + 1 : position + 6])
    return dialog


def _pkcs12_wizard(window: MainWindow) -> QWidget:
    """The wizard's entries page for a P-256 key with a two-certificate chain."""
    import datetime
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    from keymanager.gui.p12_wizard import Pkcs12Wizard
    from keymanager.workflows.pkcs12 import open_pkcs12

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    subjects = ["Example Root CA", "Example Issuing CA", "www.example.org"]
    certificates: list[x509.Certificate] = []
    for index, (key, subject) in enumerate(zip(keys, subjects, strict=True)):
        issuer_key = keys[max(0, index - 1)]
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(subjects[max(0, index - 1)]))
            .public_key(key.public_key())
            .serial_number(index + 1)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=365))
        )
        certificates.append(builder.sign(issuer_key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(
        b"TLS server www.example.org",
        keys[2],
        certificates[2],
        certificates[:2][::-1],
        NoEncryption(),
    )
    wizard = Pkcs12Wizard(window, target=0)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "www.example.org.p12"
        path.write_bytes(data)
        wizard.set_contents(open_pkcs12(path, b""), path, bytearray())
        wizard.file_page.path.setText(str(path))
        wizard.show()
        wizard.next()
    return wizard


def wait_for_outline(window: MainWindow, timeout_ms: int = LOAD_TIMEOUT_MS) -> bool:
    """Run the event loop until the window's first read of the card ends; ``True`` if it loaded."""
    if window.model.outline is not None and not (window.worker and window.worker.busy):
        return True
    loop = QEventLoop()
    outcome: list[bool] = []

    def finish(ok: bool) -> None:
        outcome.append(ok)
        loop.quit()

    window.outline_loaded.connect(lambda _outline: finish(True))
    window.outline_failed.connect(lambda _error: finish(False))
    QTimer.singleShot(timeout_ms, lambda: finish(False))
    if not outcome:
        loop.exec()
    return bool(outcome and outcome[0])


def settle(window: QWidget) -> None:
    """Let pending layout and paint events run."""
    for _ in range(3):
        QApplication.processEvents()
    window.repaint()
    QApplication.processEvents()


def render(window: MainWindow, path: Path, dialog: str | None = None) -> Path:
    """Save the main window (or one of :data:`DIALOGS` over it) as a PNG."""
    window.show()
    loaded = wait_for_outline(window)
    if loaded:
        window.tree.expandAll()
        window.select_node(SCREENSHOT_NODE)
    settle(window)
    target: QWidget = window
    if dialog is not None:
        if dialog not in DIALOGS:
            raise KeyError(f"no dialog called {dialog!r}; known: {', '.join(DIALOGS)}")
        target = DIALOGS[dialog](window)
        target.show()
        settle(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not target.grab().save(str(path), "PNG", PNG_QUALITY):
        raise OSError(f"could not write {path}")
    if target is not window:
        target.close()
    return path


def render_dialogs(window: MainWindow, directory: Path, names: list[str]) -> dict[str, str]:
    """Save each of ``names`` (shown on the window) as ``directory/NAME.png``.

    Returns the dialogs that could not be rendered, each with the error; the others are
    written.  One window and one card read for all of them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    window.show()
    if wait_for_outline(window):
        window.tree.expandAll()
        window.select_node(SCREENSHOT_NODE)
    settle(window)
    failures: dict[str, str] = {}
    for name in names:
        try:
            target = DIALOGS[name](window)
            target.show()
            settle(target)
            path = directory / f"{name}.png"
            if not target.grab().save(str(path), "PNG", PNG_QUALITY):
                raise OSError(f"could not write {path}")
        except Exception as error:  # one broken dialog must not hide the others
            failures[name] = f"{type(error).__name__}: {error}"
            continue
        target.close()
        target.deleteLater()
        settle(window)
    return failures
