"""The app's file dialogs: Qt's own dialog, with icons and types chosen by file name only.

Qt's default icon provider asks the MIME database for each listed file, which opens files whose
name does not decide their type (`pepr.sqlite-wal`, `-shm`) to sniff their content. The GUI process
holds no SQLite connection (core/store/remote.py), so such a sniff cannot release the store's locks
any more; matching by name keeps dialogs from opening other programs' files as well, and is faster
in folders of large files. Every dialog of the app goes through these functions (a test checks
that no module calls QFileDialog's static functions directly).
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo, QMimeDatabase
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFileDialog, QFileIconProvider, QWidget


class NameOnlyIconProvider(QFileIconProvider):
    """Icons and type names from the file name alone: never opens a file."""

    def __init__(self) -> None:
        super().__init__()
        self._mime = QMimeDatabase()
        self.setOptions(QFileIconProvider.Option.DontUseCustomDirectoryIcons)

    def _mime_type(self, info: QFileInfo):
        return self._mime.mimeTypeForFile(info.fileName(), QMimeDatabase.MatchMode.MatchExtension)

    def icon(self, what):  # type: ignore[override]  # (IconType) or (QFileInfo)
        if isinstance(what, QFileInfo):
            if what.isDir():
                return super().icon(QFileIconProvider.IconType.Folder)
            themed = QIcon.fromTheme(self._mime_type(what).iconName())
            return themed if not themed.isNull() else super().icon(QFileIconProvider.IconType.File)
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:  # type: ignore[override]
        if info.isDir():
            return "Folder"
        mime = self._mime_type(info)
        if mime.isDefault() and info.suffix():  # no type known for the name: say its extension
            return f"{info.suffix().upper()} file"
        return mime.comment() or "File"


_PROVIDER: NameOnlyIconProvider | None = None


def _dialog(parent: QWidget | None, title: str, directory: str, filters: str) -> QFileDialog:
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = NameOnlyIconProvider()  # one for the app: dialogs keep a pointer to it
    dlg = QFileDialog(parent, title, directory, filters)
    # Qt's own dialog on every platform: a native one would bring its platform's content sniffing.
    dlg.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dlg.setIconProvider(_PROVIDER)
    return dlg


def _run(dlg: QFileDialog) -> list[str]:
    return dlg.selectedFiles() if dlg.exec() == QFileDialog.DialogCode.Accepted else []


def open_file(parent: QWidget | None, title: str, directory: str = "", filters: str = "") -> str:
    """One existing file, or '' when cancelled."""
    dlg = _dialog(parent, title, directory, filters)
    dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
    files = _run(dlg)
    return files[0] if files else ""


def open_files(
    parent: QWidget | None, title: str, directory: str = "", filters: str = ""
) -> list[str]:
    dlg = _dialog(parent, title, directory, filters)
    dlg.setFileMode(QFileDialog.FileMode.ExistingFiles)
    return _run(dlg)


def save_file(
    parent: QWidget | None,
    title: str,
    directory: str = "",
    filters: str = "",
    *,
    confirm_overwrite: bool = True,
) -> str:
    dlg = _dialog(parent, title, directory, filters)
    dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dlg.setOption(QFileDialog.Option.DontConfirmOverwrite, not confirm_overwrite)
    dlg.setFileMode(QFileDialog.FileMode.AnyFile)
    files = _run(dlg)
    return files[0] if files else ""


def existing_dir(parent: QWidget | None, title: str, directory: str = "") -> str:
    dlg = _dialog(parent, title, directory, "")
    dlg.setFileMode(QFileDialog.FileMode.Directory)
    dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)
    files = _run(dlg)
    return files[0] if files else ""
