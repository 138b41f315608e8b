"""A short report of one run, as a self-contained HTML file or a PNG image: its results, the
per-epoch curves, the test confusion matrix, energy per epoch and its settings.

Both formats are made from one HTML text: the HTML file embeds the curve image as a data URI;
the PNG is the same text laid out by a QTextDocument (the image as a document resource) and
painted into an image, so the two never disagree.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPainter, QTextDocument

from pepr_desktop.core.errors import UserError
from pepr_desktop.gui.widgets.tables import fmt, fmt_sig

CURVES = "curves.png"
PAGE_WIDTH = 900
STYLE = (
    "body{font-family:sans-serif;color:#222;} h1{font-size:18px;} h2{font-size:14px;"
    "margin-top:14px;} table{border-collapse:collapse;} td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:left;} .flag{color:#b3261e;font-weight:bold;}"
)


def curves_image(epochs: list[dict[str, Any]], width: int = 820, height: int = 300) -> QImage:
    """Training loss and validation/test accuracy per epoch, drawn offscreen with pyqtgraph."""
    import pyqtgraph as pg
    import pyqtgraph.exporters

    from pepr_desktop.gui.charts import PALETTE, make_plot

    w = make_plot("Per-epoch curves", "epoch", "accuracy / loss", integer_x=True, legend=True)
    w.resize(width, height)
    w.setBackground("w")  # a report is printed on white, whatever the app's theme
    pi = w.getPlotItem()
    pi.setTitle("Per-epoch curves", color="#222")
    for name in ("bottom", "left"):
        pi.getAxis(name).setPen("#444")
        pi.getAxis(name).setTextPen("#222")
    xs = [int(e["epoch"]) + 1 for e in epochs]
    for key, name, color, style in (
        ("train_loss", "training loss", PALETTE[0], None),
        ("val_acc", "validation accuracy", PALETTE[2], None),
        ("test_acc", "test accuracy", PALETTE[3], "dash"),
    ):
        pts = [(x, e[key]) for x, e in zip(xs, epochs) if e.get(key) is not None]
        if pts:
            pen = pg.mkPen(color, width=2)
            if style:
                pen.setStyle(Qt.PenStyle.DashLine)
            pi.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                pen=pen,
                symbol="o",
                symbolSize=6,
                symbolBrush=color,
                name=name,
            )
    if xs:
        pi.getViewBox().setXRange(0.5, max(xs) + 0.5, padding=0)
    pi.resize(width, height)  # the widget is never shown: lay its plot out at the image's size
    pi.layout.activate()
    exporter = pyqtgraph.exporters.ImageExporter(pi)
    exporter.parameters()["width"] = width
    image = exporter.export(toBytes=True)
    w.deleteLater()
    return image


def _png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def _table(rows: list[tuple[str, str]], head: tuple[str, str] | None = None) -> str:
    cells = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in rows)
    top = f"<tr><th>{html.escape(head[0])}</th><th>{html.escape(head[1])}</th></tr>" if head else ""
    return f"<table>{top}{cells}</table>"


def _confusion(evaluation: dict[str, Any] | None) -> str:
    if not evaluation or not evaluation.get("confusion"):
        return "<p>No test evaluation was stored for this run.</p>"
    cm = evaluation["confusion"]
    names = evaluation.get("class_names") or [str(i) for i in range(len(cm))]
    head = "".join(f"<th>predicted {html.escape(str(n))}</th>" for n in names)
    body = "".join(
        f"<tr><th>true {html.escape(str(names[i]))}</th>"
        + "".join(f"<td>{int(v):,}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(cm)
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _epochs(epochs: list[dict[str, Any]]) -> str:
    head = "<tr><th>epoch</th><th>train loss</th><th>val. acc.</th><th>test acc.</th>"
    head += "<th>time (s)</th><th>energy (Wh)</th></tr>"
    rows = []
    for e in epochs:
        energy = e.get("energy_j")
        rows.append(
            f"<tr><td>{int(e['epoch']) + 1}</td><td>{fmt(e.get('train_loss'), 4)}</td>"
            f"<td>{fmt(e.get('val_acc'), 3)}</td><td>{fmt(e.get('test_acc'), 3)}</td>"
            f"<td>{fmt(e.get('seconds'), 1)}</td>"
            f"<td>{fmt_sig(None if energy is None else energy / 3600, 3)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def report_html(
    run: dict[str, Any],
    epochs: list[dict[str, Any]],
    results: list[tuple[str, str]],
    settings: list[tuple[str, str]],
    curves_src: str,
    flag: str = "",
) -> str:
    """The report's HTML; `curves_src` is where the curve image comes from (a data URI, or a
    document resource name)."""
    title = f"Run {run.get('id')}: {run.get('model')} on {run.get('dataset')}"
    parts = [
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if flag:
        parts.append(f"<p class='flag'>⚠ {html.escape(flag)}</p>")
    parts += [
        "<h2>Results</h2>",
        _table(results),
        "<h2>Curves</h2>",
        f"<p><img src='{curves_src}' width='{PAGE_WIDTH - 80}'></p>"
        if epochs
        else "<p>No epochs.</p>",
        "<h2>Test confusion matrix</h2>",
        _confusion(run.get("evaluation")),
        "<h2>Energy and time per epoch</h2>",
        _epochs(epochs),
        "<h2>Settings</h2>",
        _table(settings),
        "<p style='color:#777'>PePR Desktop report. PePR = accuracy / (1 + normalised "
        "resource), Selvan et al., NLDL 2025.</p></body></html>",
    ]
    return "\n".join(parts)


def write_report(
    path: Path,
    run: dict[str, Any],
    epochs: list[dict[str, Any]],
    results: list[tuple[str, str]],
    settings: list[tuple[str, str]],
    flag: str = "",
) -> Path:
    """Write the report as HTML (.html/.htm) or PNG (.png); UserError when it cannot."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".png"):
        raise UserError(f"{path.name}: save the report as .html or .png.")
    image = curves_image(epochs) if epochs else QImage()
    if suffix == ".png":
        doc = QTextDocument()
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(CURVES), image)
        doc.setHtml(report_html(run, epochs, results, settings, CURVES, flag))
        doc.setTextWidth(PAGE_WIDTH)
        size = doc.size().toSize()
        out = QImage(size.width(), size.height(), QImage.Format.Format_ARGB32)
        out.fill(QColor("white"))
        painter = QPainter(out)
        try:
            doc.drawContents(painter)
        finally:
            painter.end()
        ok = out.save(str(path), "PNG")
    else:
        src = "data:image/png;base64," + base64.b64encode(_png_bytes(image)).decode("ascii")
        try:
            path.write_text(
                report_html(run, epochs, results, settings, src, flag), encoding="utf-8"
            )
            ok = True
        except OSError as exc:
            raise UserError(f"could not write {path}: {exc.strerror or exc}.") from None
    if not ok or not path.is_file():
        raise UserError(f"could not write {path}; choose another folder.")
    return path
