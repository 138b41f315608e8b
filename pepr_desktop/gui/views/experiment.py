"""New experiment: dataset, budget, device, training settings, recommendation, and the queue.

Slow work (the recommender's cost probe, the recipe search) runs through the context's
`TaskWorker`; the task bodies are the small functions at the end of this module, over core's
`recommend_for` / `tune_for` with a `RemoteStore`. The view only renders what comes back:
`TaskProgress` messages, and results routed by their type. Bad input becomes a dialog, never a
traceback.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core import resources
from pepr_desktop.core.budget import Budget
from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.search.tune import TuneResult
from pepr_desktop.core.store.remote import RemoteStore
from pepr_desktop.core.training.config import (
    AUGMENTS,
    CLASS_WEIGHTS,
    SAMPLERS,
    SCHEDULES,
    Control,
    TrainConfig,
)
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.widgets.budget_box import BudgetBox
from pepr_desktop.gui.widgets.tables import cell, fmt, read_only_table
from pepr_desktop.gui.worker import TaskProgress

log = logging.getLogger(__name__)

CANDIDATE_COLUMNS = (
    "Model",
    "Params (M)",
    "Pretrained",
    "Pred. time (min)",
    "Pred. energy (Wh)",
    "Pred. memory (MB)",
    "Expected acc.",
    "Expected PePR",
    "Fits",
    "Why",
)
TRIAL_COLUMNS = (
    "Model",
    "Recipe",
    "Status",
    "Score (val)",
    "Epochs",
    "Seconds",
    "Energy (Wh)",
    "Note",
)
# TrainConfig fields a recipe may set, and how to show each in this view's fields
APPLIED_FIELDS = (
    "lr",
    "class_weights",
    "sampler",
    "augment",
    "schedule",
    "label_smoothing",
    "pretrained",
    "image_size",
)


def dataset_label(info: DatasetInfo) -> str:
    n = sum(info.split_sizes.values()) if info.split_sizes else None
    size = f"{n:,} images" if n else "size unknown"
    where = {"medmnist": "MedMNIST", "imported": "imported", "bundled": "bundled sample"}.get(
        info.source, info.source
    )
    return (
        f"{info.name}  ({where}, {info.image_size} px, {info.channels} ch, "
        f"{info.n_classes} classes, {size})"
    )


class ExperimentView(QWidget):
    """Set up a run: emits `train_requested` with the configurations to queue."""

    train_requested = Signal(list)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.candidates: list[Any] = []
        # None: the recommender's whole catalogue; a list restricts the pool (tests, power users)
        self.recommend_pool: list[str] | None = None
        # None: core.tune's default recipes; a list restricts the search (tests, power users)
        self.tune_recipes: list[Any] | None = None
        self.tune_result: Any = None
        self._failure_title = "Recommendation failed"  # the dialog title if the task fails
        self._tune_control: Any = None
        self._build()
        self.refresh_datasets()
        ctx.datasets_changed.connect(self.refresh_datasets)
        ctx.tasks.progress.connect(self._on_progress)
        ctx.tasks.finished_ok.connect(self._on_task_result)
        ctx.tasks.user_error.connect(self._on_task_error)
        ctx.tasks.crashed.connect(self._on_task_error)
        ctx.tasks.busy_changed.connect(self._on_task_busy)

    # layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        root.addLayout(top)
        top.addWidget(self._build_dataset_box(), 3)
        self.budget_box = BudgetBox()
        b = self.budget_box
        self.energy_spin, self.time_spin = b.energy_spin, b.time_spin
        self.memory_spin, self.params_spin = b.memory_spin, b.params_spin
        self.device_combo = b.device_combo
        top.addWidget(b, 2)
        top.addWidget(self._build_training_box(), 2)
        top.addWidget(self._build_quality_box(), 2)

        from pepr_desktop.gui.widgets.preview_grid import PreviewGrid

        self.preview_box = QGroupBox("Dataset preview")
        pl = QVBoxLayout(self.preview_box)
        self.preview = PreviewGrid(per_class=8, thumb_px=48)
        pl.addWidget(self.preview)
        self.preview_box.setMinimumHeight(300)  # counts table + at least two rows of thumbnails
        self.preview_box.setVisible(False)
        root.addWidget(self.preview_box, 2)
        root.addWidget(self._build_recommend_box(), 1)

    def _build_dataset_box(self) -> QGroupBox:
        data_box = QGroupBox("Dataset")
        dl = QVBoxLayout(data_box)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setMinimumContentsLength(40)
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        dl.addWidget(self.dataset_combo)
        row = QHBoxLayout()
        self.import_file_btn = QPushButton("Import .npz…")
        self.import_file_btn.clicked.connect(self._import_file)
        self.import_dir_btn = QPushButton("Import image folder…")
        self.import_dir_btn.clicked.connect(self._import_folder)
        row.addWidget(self.import_file_btn)
        row.addWidget(self.import_dir_btn)
        self.preview_btn = QPushButton("Preview images")
        self.preview_btn.setCheckable(True)
        self.preview_btn.setToolTip("Sample images per class, class counts, imbalance warnings")
        self.preview_btn.toggled.connect(self._toggle_preview)
        row.addWidget(self.preview_btn)
        dl.addLayout(row)
        self.dataset_summary = QLabel()
        self.dataset_summary.setWordWrap(True)
        self.dataset_summary.setObjectName("summary")
        dl.addWidget(self.dataset_summary)
        dl.addStretch(1)
        return data_box

    def _build_training_box(self) -> QGroupBox:
        train_box = QGroupBox("Training (paper defaults)")
        tf = QFormLayout(train_box)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10_000)
        self.epochs_spin.setValue(10)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65_536)
        self.batch_spin.setValue(32)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 9.99)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setValue(5e-4)
        self.fraction_spin = QDoubleSpinBox()
        self.fraction_spin.setRange(0.01, 1.0)
        self.fraction_spin.setSingleStep(0.05)
        self.fraction_spin.setValue(1.0)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.pretrained_check = QCheckBox("Start from pretrained weights")
        self.class_weights_combo = QComboBox()
        self.class_weights_combo.addItems(list(CLASS_WEIGHTS))
        tf.addRow("Epochs", self.epochs_spin)
        tf.addRow("Batch size", self.batch_spin)
        tf.addRow("Learning rate (Adam)", self.lr_spin)
        tf.addRow("Data fraction", self.fraction_spin)
        tf.addRow("Seed", self.seed_spin)
        tf.addRow("Class weights", self.class_weights_combo)
        tf.addRow(self.pretrained_check)
        return train_box

    def _build_quality_box(self) -> QGroupBox:
        # issue 12: every option defaults to the paper's protocol (docs/training.md)
        quality_box = QGroupBox("Training quality (defaults = paper)")
        qf = QFormLayout(quality_box)
        self.sampler_combo = QComboBox()
        self.sampler_combo.addItems(list(SAMPLERS))
        self.sampler_combo.setToolTip("balanced: every class drawn equally often per epoch")
        self.augment_combo = QComboBox()
        self.augment_combo.addItems(list(AUGMENTS))
        self.augment_combo.setToolTip("light: flips and a small affine jitter, on the device")
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(list(SCHEDULES))
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.5)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setDecimals(2)
        self.early_check = QCheckBox("Energy-aware early stop")
        self.early_check.setToolTip(
            "Stop when further epochs are not expected to buy the minimum validation gain per Wh"
        )
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(1, 1000)
        self.patience_spin.setValue(2)
        self.min_gain_spin = QDoubleSpinBox()
        self.min_gain_spin.setRange(0.0, 100.0)
        self.min_gain_spin.setDecimals(3)
        self.min_gain_spin.setSingleStep(0.005)
        self.min_gain_spin.setValue(0.01)
        self.min_gain_spin.setSuffix(" acc/Wh")
        for w in (self.patience_spin, self.min_gain_spin):
            w.setEnabled(False)
        self.early_check.toggled.connect(self.patience_spin.setEnabled)
        self.early_check.toggled.connect(self.min_gain_spin.setEnabled)
        self.image_size_spin = QSpinBox()
        self.image_size_spin.setRange(0, 1024)
        self.image_size_spin.setSpecialValueText("dataset's own")
        self.image_size_spin.setSuffix(" px")
        qf.addRow("Sampler", self.sampler_combo)
        qf.addRow("Augmentation", self.augment_combo)
        qf.addRow("LR schedule", self.schedule_combo)
        qf.addRow("Label smoothing", self.smoothing_spin)
        qf.addRow(self.early_check)
        qf.addRow("Patience (epochs)", self.patience_spin)
        qf.addRow("Min. gain", self.min_gain_spin)
        qf.addRow("Image size", self.image_size_spin)
        return quality_box

    def _build_recommend_box(self) -> QGroupBox:
        rec_box = QGroupBox("Recommendation")
        rl = QVBoxLayout(rec_box)
        bar = QHBoxLayout()
        self.by_combo = QComboBox()
        self.by_combo.addItems(list(resources.NAMES))
        self.recommend_btn = QPushButton("Recommend")
        self.recommend_btn.setObjectName("primary")
        self.recommend_btn.clicked.connect(self.recommend)
        self.tune_btn = QPushButton("Tune recipe")
        self.tune_btn.setToolTip(
            "Short trial runs of a few training recipes on the top fitting candidates, within the "
            "search budget; the best by validation (never test) fills the training settings"
        )
        self.tune_btn.clicked.connect(self.tune)
        self.tune_min_spin = QDoubleSpinBox()
        self.tune_min_spin.setRange(0.05, 600)
        self.tune_min_spin.setDecimals(1)
        self.tune_min_spin.setValue(5.0)
        self.tune_min_spin.setSuffix(" min")
        self.tune_min_spin.setToolTip("Wall-clock budget of the whole recipe search")
        self.tune_top_spin = QSpinBox()
        self.tune_top_spin.setRange(1, 10)
        self.tune_top_spin.setValue(2)
        self.tune_top_spin.setPrefix("top ")
        self.tune_top_spin.setToolTip("How many of the best fitting candidates to try")
        self.tune_epochs_spin = QSpinBox()
        self.tune_epochs_spin.setRange(1, 50)
        self.tune_epochs_spin.setValue(2)
        self.tune_epochs_spin.setSuffix(" epochs/trial")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel_task)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        bar.addWidget(QLabel("Rank by PePR of"))
        bar.addWidget(self.by_combo)
        bar.addWidget(self.recommend_btn)
        bar.addWidget(self.tune_btn)
        bar.addWidget(self.tune_min_spin)
        bar.addWidget(self.tune_top_spin)
        bar.addWidget(self.tune_epochs_spin)
        bar.addWidget(self.cancel_btn)
        bar.addWidget(self.progress, 1)
        rl.addLayout(bar)
        self.table = read_only_table(CANDIDATE_COLUMNS, sortable=True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        rl.addWidget(self.table, 1)
        rl.addWidget(self._build_tune_box(), 1)
        rl.addLayout(self._build_queue_row())
        return rec_box

    def _build_tune_box(self) -> QGroupBox:
        self.tune_box = QGroupBox(
            "Recipe search (chosen by validation; the test split is not read)"
        )
        tl = QVBoxLayout(self.tune_box)
        self.tune_summary = QLabel()
        self.tune_summary.setWordWrap(True)
        self.tune_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tl.addWidget(self.tune_summary)
        self.trials_table = read_only_table(TRIAL_COLUMNS)
        tl.addWidget(self.trials_table)
        self.tune_box.setVisible(False)
        return self.tune_box

    def _build_queue_row(self) -> QHBoxLayout:
        queue_row = QHBoxLayout()
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("or type a timm model name, e.g. mobilenetv3_small_050")
        self.train_btn = QPushButton("Train selected")
        self.train_btn.setObjectName("primary")
        self.train_btn.clicked.connect(self.queue_selected)
        queue_row.addWidget(self.model_edit, 1)
        queue_row.addWidget(self.train_btn)
        return queue_row

    # datasets -----------------------------------------------------------------------------------
    def refresh_datasets(self) -> None:
        current = self.dataset_name()
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        try:
            infos = datasets.list_datasets(self.ctx.store)
        except UserError as exc:
            show_error(self, "Datasets", str(exc))
            infos = []
        for info in infos:
            self.dataset_combo.addItem(dataset_label(info), info)
        names = [i.name for i in infos]
        self.dataset_combo.setCurrentIndex(names.index(current) if current in names else 0)
        self.dataset_combo.blockSignals(False)
        self._on_dataset_changed()

    def dataset_name(self) -> str | None:
        info = self.dataset_combo.currentData()
        return info.name if info else None

    def select_dataset(self, name: str) -> None:
        for i in range(self.dataset_combo.count()):
            if self.dataset_combo.itemData(i).name == name:
                self.dataset_combo.setCurrentIndex(i)
                return
        raise UserError(f"dataset '{name}' is not in the list.")

    def _on_dataset_changed(self) -> None:
        info: DatasetInfo | None = self.dataset_combo.currentData()
        if not info:
            self.dataset_summary.setText("No dataset.")
            return
        splits = ", ".join(f"{k} {v:,}" for k, v in info.split_sizes.items()) or "n/a"
        classes = ", ".join(info.class_names[:6]) + (" …" if len(info.class_names) > 6 else "")
        note = ""
        if info.source == "medmnist" and info.path is None:
            note = "<br><i>Not downloaded yet: the first run downloads it (needs internet).</i>"
        self.dataset_summary.setText(
            f"<b>{info.name}</b> — {info.task}<br>splits: {splits}<br>classes: {classes}{note}"
        )
        self._update_preview()

    def _toggle_preview(self, on: bool) -> None:
        self.preview_box.setVisible(on)
        if on:
            self._update_preview()

    def _update_preview(self) -> None:
        """Fast (~0.15 s: reads only the sampled rows), so it runs on the GUI thread."""
        if not self.preview_btn.isChecked():
            return
        info: DatasetInfo | None = self.dataset_combo.currentData()
        if info is None:
            self.preview.clear()
        else:
            self.preview.show_dataset(info)

    def _import_file(self) -> None:
        path = file_dialogs.open_file(
            self, "Import a dataset (.npz, MedMNIST layout)", "", "NumPy archives (*.npz)"
        )
        if path:
            self.import_path(Path(path))

    def _import_folder(self) -> None:
        path = file_dialogs.existing_dir(self, "Import an image folder (one sub-folder per class)")
        if path:
            self.import_path(Path(path))

    def import_path(self, path: Path, name: str | None = None) -> bool:
        """Validate and register `path`; a bad file shows a dialog and changes nothing."""
        name = name or _safe_name(path.stem)
        try:
            info = datasets.import_dataset(path, name, self.ctx.store)
        except UserError as exc:
            show_error(self, "Import failed", str(exc))
            return False
        self.ctx.datasets_changed.emit()
        self.select_dataset(info.name)
        counts = ", ".join(f"{k} {v:,}" for k, v in info.split_sizes.items())
        self.ctx.status_message.emit(
            f"Imported '{info.name}': {info.n_classes} classes, {info.image_size} px, {counts}"
        )
        return True

    # configuration ------------------------------------------------------------------------------
    def budget(self) -> Budget:
        return self.budget_box.budget()

    def base_config(self, model: str, pretrained: bool | None = None) -> TrainConfig:
        return TrainConfig(
            dataset=self.dataset_name() or "",
            model=model,
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            seed=self.seed_spin.value(),
            device=self.budget_box.device(),
            data_fraction=self.fraction_spin.value(),
            pretrained=self.pretrained_check.isChecked() if pretrained is None else pretrained,
            class_weights=self.class_weights_combo.currentText(),
            sampler=self.sampler_combo.currentText(),
            augment=self.augment_combo.currentText(),
            schedule=self.schedule_combo.currentText(),
            label_smoothing=self.smoothing_spin.value(),
            early_stop=self.early_check.isChecked(),
            early_stop_patience=self.patience_spin.value(),
            early_stop_min_gain=self.min_gain_spin.value(),
            image_size=self.image_size_spin.value() or None,
            **self.budget().train_fields(),
        )

    # recommendation -----------------------------------------------------------------------------
    def recommend(self) -> None:
        name = self.dataset_name()
        if not name:
            show_error(self, "Recommend", "Choose a dataset first.")
            return
        task = partial(
            recommend_task,
            dataset=name,
            db_path=self.ctx.store.path,
            budget=self.budget(),
            cfg=self.base_config("", pretrained=False),
            by=self.by_combo.currentText(),
            names=self.recommend_pool,
        )
        self.table.setRowCount(0)
        self.progress.setRange(0, 0)
        self.progress.setFormat("probing costs on this machine…")
        self._failure_title = "Recommendation failed"
        self.ctx.tasks.start(task)

    def cancel_task(self) -> None:
        """Cancel the background task; a recipe search also stops its running trial."""
        self.ctx.tasks.cancel()
        if self._tune_control is not None:
            self._tune_control.stop("cancelled")

    # recipe search (issue 12) -------------------------------------------------------------------
    def tune(self) -> None:
        """Run `core.tune.tune_recommended` on the top fitting candidates in the background."""
        if self.ctx.tasks.busy:
            return
        if not self.dataset_name():
            show_error(self, "Tune recipe", "Choose a dataset first.")
            return
        fitting = [c for c in self.candidates if getattr(c, "fits", True)]
        if not fitting:
            show_error(
                self,
                "Tune recipe",
                "Recommend first: the search tries recipes on the best fitting candidates "
                "(none fit the budget yet; widen it if Recommend found none).",
            )
            return
        try:
            base = self.base_config(fitting[0].model).validate()
        except UserError as exc:
            show_error(self, "Tune recipe", str(exc))
            return
        from pepr_desktop.core.search.tune import DEFAULT_RECIPES

        top = self.tune_top_spin.value()
        budget_s = self.tune_min_spin.value() * 60
        recipes = list(self.tune_recipes or DEFAULT_RECIPES)
        total = min(top, len(fitting)) * len(recipes)
        self._tune_control = _CancelControl()
        task = partial(
            tune_task,
            dataset=base.dataset,
            db_path=self.ctx.store.path,
            base=base,
            candidates=list(self.candidates),
            control=self._tune_control,
            total=total,
            budget_s=budget_s,
            top=top,
            trial_epochs=self.tune_epochs_spin.value(),
            recipes=recipes,
            meter_factory=self.ctx.meter_factory(),  # read settings here, on the GUI thread
        )
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"tuning: {total} trials, up to {budget_s / 60:g} min…")
        self._failure_title = "Recipe search failed"
        self.ctx.tasks.start(task)

    def _on_task_result(self, result: Any) -> None:
        """Route a task's result by its type (the TaskWorker is shared: ignore what is not ours)."""
        if isinstance(result, TuneResult):
            self._on_tuned(result)
            return
        from pepr_desktop.core.search.recommend import Recommendation

        if isinstance(result, Recommendation):
            self._on_recommendation(result)
        else:
            log.debug("task result not for this view: %s", type(result).__name__)

    def _on_tuned(self, res: Any) -> None:
        self.tune_result = res
        self.show_trials(res)
        self.progress.setRange(0, 100)
        self.progress.setValue(100)
        if res.best is None:
            self.progress.setFormat("recipe search: no trial finished")
            return
        self.apply_recipe(res.best)
        self.progress.setFormat(f"recipe search: {res.best.model} with {res.best.recipe}")
        self.ctx.status_message.emit(
            f"Recipe search chose {res.best.model} with {res.best.recipe} "
            f"({res.metric} {res.best.score:.3f}); its settings are now in the training fields"
        )

    def show_trials(self, res: Any) -> None:
        """What the search tried, what it spent and what it chose."""
        spent = f"spent {res.spent_s:.0f} s of {res.budget_s:.0f} s"
        if res.spent_energy_j is not None:
            spent += f", {res.spent_energy_j / 3600:.3g} Wh"
        if res.best is None:
            chosen = "no trial finished within the search budget; give it more minutes."
        else:
            b = res.best
            settings = ", ".join(f"{k}={v}" for k, v in b.overrides.items()) or "as set"
            chosen = (
                f"chosen: <b>{b.model}</b> with <b>{b.recipe}</b> ({res.metric} {b.score:.4f}; "
                f"{settings}) — applied to the training settings."
            )
        self.tune_summary.setText(
            f"{len(res.trials)} trials of {res.trial_epochs} epochs, {spent}; chosen by "
            f"{res.metric}.<br>{chosen}"
        )
        self.trials_table.setRowCount(len(res.trials))
        for r, t in enumerate(res.trials):
            energy = None if t.energy_j is None else t.energy_j / 3600
            values = [
                t.model,
                t.recipe,
                t.status,
                t.score,
                t.epochs_done,
                round(t.seconds, 1),
                energy,
                t.note,
            ]
            for col, v in enumerate(values):
                item = QTableWidgetItem(fmt(v, 4 if col == 3 else 3))
                if col == 7:
                    item.setToolTip(str(v))
                if res.best is t:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.trials_table.setItem(r, col, item)
        self.tune_box.setVisible(True)

    def apply_recipe(self, trial: Any) -> None:
        """Put a trial's model and settings into the fields, so Train selected trains it."""
        o = trial.overrides
        if "lr" in o:
            self.lr_spin.setValue(float(o["lr"]))
        if "class_weights" in o:
            self.class_weights_combo.setCurrentText(str(o["class_weights"]))
        if "sampler" in o:
            self.sampler_combo.setCurrentText(str(o["sampler"]))
        if "augment" in o:
            self.augment_combo.setCurrentText(str(o["augment"]))
        if "schedule" in o:
            self.schedule_combo.setCurrentText(str(o["schedule"]))
        if "label_smoothing" in o:
            self.smoothing_spin.setValue(float(o["label_smoothing"]))
        if "pretrained" in o:
            self.pretrained_check.setChecked(bool(o["pretrained"]))
        if "image_size" in o:
            self.image_size_spin.setValue(int(o["image_size"] or 0))
        unknown = set(o) - set(APPLIED_FIELDS)
        if unknown:
            log.warning("recipe settings not shown in the view: %s", sorted(unknown))
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == trial.model:
                self.table.clearSelection()
                self.table.selectRow(r)
                break

    def _on_task_busy(self, busy: bool) -> None:
        self.recommend_btn.setEnabled(not busy)
        self.tune_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        if not busy:
            self._tune_control = None
        if not busy:
            self.progress.setRange(0, 100)

    def _on_progress(self, p: Any) -> None:
        if not isinstance(p, TaskProgress):
            return
        if p.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.fraction))
        if p.text:
            self.progress.setFormat(f"{p.text}  %p%" if self.progress.maximum() else p.text)

    def _on_task_error(self, message: str) -> None:
        self.progress.setFormat("failed")
        show_error(self, self._failure_title, message)

    def _on_recommendation(self, rec: Any) -> None:
        cands = list(getattr(rec, "candidates", rec) or [])
        self.show_candidates(cands)
        self.progress.setRange(0, 100)
        self.progress.setValue(100)
        fitting = sum(1 for c in cands if getattr(c, "fits", False))
        self.progress.setFormat(f"{len(cands)} candidates, {fitting} fit the budget")
        message = getattr(rec, "message", "")
        if message:
            self.ctx.status_message.emit(message)
        if cands:
            self.table.selectRow(0)

    def show_candidates(self, cands: list[Any]) -> None:
        self.candidates = cands
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(cands))
        for r, c in enumerate(cands):
            pm = getattr(c, "predicted_time_s", None)
            values = [
                c.model,
                (c.params or 0) / 1e6 if getattr(c, "params", None) else None,
                getattr(c, "pretrained", False),
                pm / 60 if pm is not None else None,
                getattr(c, "predicted_energy_wh", None),
                getattr(c, "predicted_memory_mb", None),
                getattr(c, "expected_acc", None),
                getattr(c, "expected_pepr", None),
                getattr(c, "fits", None),
                getattr(c, "why", "") or getattr(c, "acc_source", ""),
            ]
            for col, v in enumerate(values):
                item = cell(v)
                if col == 9:
                    item.setToolTip(str(v))
                item.setData(Qt.ItemDataRole.UserRole, r)
                if col == 8 and v is False:
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(r, col, item)
        self.table.setSortingEnabled(True)

    # queueing -----------------------------------------------------------------------------------
    def selected_configs(self) -> list[TrainConfig]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        cfgs = []
        for row in rows:
            idx = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
            c = self.candidates[idx]
            cfgs.append(self.base_config(c.model, pretrained=bool(getattr(c, "pretrained", False))))
        typed = self.model_edit.text().strip()
        if typed:
            cfgs.append(self.base_config(typed))
        return cfgs

    def queue_selected(self) -> None:
        if not self.dataset_name():
            show_error(self, "Train", "Choose a dataset first.")
            return
        cfgs = self.selected_configs()
        if not cfgs:
            show_error(
                self,
                "Train",
                "Select one or more candidates in the table, or type a model name, then Train.",
            )
            return
        try:
            for c in cfgs:
                c.validate()
        except UserError as exc:
            show_error(self, "Train", str(exc))
            return
        self.train_requested.emit(cfgs)


class _CancelControl(Control):
    """A training Control that also reads the TaskWorker's cancel flag, so the tuner's running
    trial stops within one batch when the user presses Cancel (or closes the window)."""

    def __init__(self) -> None:
        super().__init__()
        self.should_stop: Any = None

    @property
    def stopped(self) -> bool:
        if not self._stop.is_set() and self.should_stop is not None and self.should_stop():
            self.stop("cancelled")
        return self._stop.is_set()


# task bodies (run on the TaskWorker's thread; the store is a RemoteStore, never a Store) --------
def recommend_task(
    progress: Any,
    should_stop: Any,
    *,
    dataset: str,
    db_path: Path,
    budget: Budget,
    cfg: TrainConfig,
    by: str,
    names: list[str] | None = None,
) -> Any:
    """`core.recommend.recommend_for` with its progress as `TaskProgress` messages."""
    from pepr_desktop.core.search.recommend import recommend_for

    return recommend_for(
        dataset,
        lambda: RemoteStore(db_path),
        budget,
        cfg,
        by=by,
        top=10,
        progress=lambda done, total, text="": progress(TaskProgress(done, total, text)),
        should_stop=should_stop,
        **({"names": names} if names else {}),
    )


def tune_task(
    progress: Any,
    should_stop: Any,
    *,
    dataset: str,
    db_path: Path,
    base: TrainConfig,
    candidates: list[Any],
    control: _CancelControl,
    total: int,
    **kwargs: Any,
) -> TuneResult:
    """`core.tune.tune_for`, cancelled through `control`, one `TaskProgress` per trial."""
    from pepr_desktop.core.search.tune import tune_for

    control.should_stop = should_stop
    done: list[Any] = []

    def on_trial(t: Any) -> None:
        done.append(t)
        score = "" if t.score is None else f" {t.score:.3f}"
        progress(TaskProgress(len(done), total, f"{t.model} / {t.recipe}: {t.status}{score}"))

    return tune_for(
        dataset,
        lambda: RemoteStore(db_path),
        base,
        candidates,
        progress=on_trial,
        control=control,
        **kwargs,
    )


def _safe_name(stem: str) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    return name if name[:1].isalpha() else f"d_{name}"
