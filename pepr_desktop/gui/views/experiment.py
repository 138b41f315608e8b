"""New experiment: a guided path from a dataset to a trained model.

Three steps, one primary action each: (1) pick or import a dataset, (2) set a budget and the
device, (3) "Find the best model" (the budgeted search), or Recommend models that fit, or train
one model by name. The training recipe is "Suggested for this data" (paper protocol plus what the
data call for: class-balanced sampling on imbalanced data, upscaling of small images) or "Paper
protocol" one choice away; every setting is under Advanced settings, folded away. The whole view
scrolls, so it fits a laptop screen whatever is unfolded. The last dataset, budget, recipe and
device are remembered (gui/settings.py).

Slow work (the recommender's cost probe, the recipe search, the budgeted search) runs through the
context's `TaskWorker` (task bodies: views/experiment_tasks.py); the view renders `TaskProgress`
messages and results routed by their type. The budgeted search is watched in its own window
(views/find_best.py, imported on the first click: it brings pyqtgraph). Bad input becomes a
dialog, never a traceback.
"""

from __future__ import annotations

import html
import logging
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
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
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.gui import file_dialogs, recipes
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.gui_text import for_gui
from pepr_desktop.gui.import_dialog import ImportDialog, free_name
from pepr_desktop.gui.views.experiment_tasks import CancelControl, recommend_task, tune_task
from pepr_desktop.gui.widgets.budget_box import BudgetBox
from pepr_desktop.gui.widgets.candidates import CandidateTable
from pepr_desktop.gui.widgets.collapsible import Collapsible
from pepr_desktop.gui.widgets.tables import fmt, read_only_table
from pepr_desktop.gui.widgets.train_settings import TrainSettings
from pepr_desktop.gui.worker import TaskProgress

log = logging.getLogger(__name__)

TRIAL_COLUMNS = (
    "Model",
    "Recipe",
    "Status",
    "Score (val)",
    "Epochs",
    "Time (s)",
    "Energy (Wh)",
    "Note",
)
FIND_BEST_PENDING = "coming with the budgeted search"
FIND_BEST_TIP = (
    "Search the models that fit the budget here: short trials of models, input sizes and "
    "recipes, pruned on validation, then the best trained again on all the data"
)
FIND_BEST_NO_BUDGET = (
    "The search needs a budget to stay within: set Time (minutes) and/or Energy (Wh) in "
    "step 2, e.g. Time 10 min. Memory is optional."
)
EMPTY_STATE = (
    "<h3>Start here</h3>"
    "<ol>"
    "<li><b>Pick a dataset</b> in step 1, or <b>Import data…</b> to use your own images "
    "(a .npz file or a folder with one sub-folder per class).</li>"
    "<li><b>Set a budget</b> in step 2, or leave it at 'no limit'.</li>"
    "<li><b>Find the best model</b> in step 3; or <b>Recommend models</b> to see what fits the "
    "budget here, ranked; or type one model name and click <b>Train</b>.</li>"
    "</ol>"
    "<p>The training recipe is suggested from your data; <i>Paper protocol</i> reproduces the "
    "paper. Every setting is under <i>Advanced settings</i>.</p>"
)


def dataset_label(info: DatasetInfo, sizes: dict[str, int] | None = None) -> str:
    sizes = info.split_sizes or sizes or {}
    n = sum(sizes.values()) if sizes else None
    size = f"{n:,} images" if n else "size unknown"
    where = {"medmnist": "MedMNIST", "imported": "imported", "bundled": "bundled sample"}.get(
        info.source, info.source
    )
    return f"{info.name}  ({where}, {info.image_size} px, {info.n_classes} classes, {size})"


class ExperimentView(QWidget):
    """Set up a run: emits `train_requested` with the configurations to queue, and
    `find_best_requested` when a budgeted search starts (its panel: views/find_best.py)."""

    train_requested = Signal(list)
    find_best_requested = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.candidates: list[Any] = []
        # None: the recommender's whole catalogue; a list restricts the pool (tests, power users)
        self.recommend_pool: list[str] | None = None
        # None: core.tune's default recipes; a list restricts the search (tests, power users)
        self.tune_recipes: list[Any] | None = None
        self.tune_result: Any = None
        # None: the search's default pool; a list restricts it (tests, power users)
        self.find_best_pool: list[str] | None = None
        # more AutoSpec fields for the search (tests, power users), e.g. {"trial_epochs": 2}
        self.find_best_options: dict[str, Any] = {}
        self.find_best_panel: Any = None  # the last search's panel (views/find_best.py)
        self.facts: dict[str, recipes.DataFacts] = {}
        self._failure_title = "Recommendation failed"  # the dialog title if the task fails
        self._tune_control: Any = None
        self._restoring = True
        self._build()
        self._restore()
        self.refresh_datasets(prefer=ctx.settings.last_dataset)
        self._restoring = False
        ctx.datasets_changed.connect(self.refresh_datasets)
        ctx.tasks.progress.connect(self._on_progress)
        ctx.tasks.finished_ok.connect(self._on_task_result)
        ctx.tasks.user_error.connect(self._on_task_error)
        ctx.tasks.crashed.connect(self._on_task_crash)
        ctx.tasks.busy_changed.connect(self._on_task_busy)
        ctx.training.busy_changed.connect(self._update_find_best)

    # layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        root = QVBoxLayout(body)
        self.scroll.setWidget(body)
        outer.addWidget(self.scroll)

        steps = QHBoxLayout()
        steps.addWidget(self._build_dataset_box(), 4)
        self.budget_box = BudgetBox()
        self.budget_box.setTitle("2  Budget and device (0 = no limit)")
        b = self.budget_box
        self.energy_spin, self.time_spin = b.energy_spin, b.time_spin
        self.memory_spin, self.params_spin = b.memory_spin, b.params_spin
        self.device_combo = b.device_combo
        steps.addWidget(b, 3)
        steps.addWidget(self._build_model_box(), 4)
        root.addLayout(steps)

        self.settings_panel = TrainSettings()
        sp = self.settings_panel
        for name in (
            "batch_spin",
            "lr_spin",
            "fraction_spin",
            "seed_spin",
            "pretrained_check",
            "class_weights_combo",
            "sampler_combo",
            "augment_combo",
            "schedule_combo",
            "smoothing_spin",
            "early_check",
            "patience_spin",
            "min_gain_spin",
            "image_size_spin",
        ):
            setattr(self, name, getattr(sp, name))
        sp.recipe_edited.connect(self._on_recipe_field_edited)
        self.advanced = Collapsible("Advanced settings", sp)
        root.addWidget(self.advanced)

        from pepr_desktop.gui.widgets.preview_grid import PreviewGrid

        self.preview_box = QGroupBox("Dataset preview")
        pl = QVBoxLayout(self.preview_box)
        self.preview = PreviewGrid(per_class=8, thumb_px=48)
        pl.addWidget(self.preview)
        self.preview_box.setFixedHeight(300)  # counts table + two rows of thumbnails; scrolls
        self.preview_box.setVisible(False)
        root.addWidget(self.preview_box)
        root.addWidget(self._build_recommend_box(), 1)
        self._update_advanced_summary()

    def _build_dataset_box(self) -> QGroupBox:
        data_box = QGroupBox("1  Dataset")
        dl = QVBoxLayout(data_box)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setMinimumContentsLength(24)
        self.dataset_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        dl.addWidget(self.dataset_combo)
        row = QHBoxLayout()
        self.import_btn = QPushButton("Import data…")
        self.import_btn.setObjectName("primary")
        self.import_btn.setToolTip("Your own images: a MedMNIST-layout .npz, or a folder of images")
        menu = QMenu(self.import_btn)
        menu.addAction(".npz file…", self._import_file)
        menu.addAction("Image folder (one sub-folder per class)…", self._import_folder)
        self.import_btn.setMenu(menu)
        row.addWidget(self.import_btn)
        self.preview_btn = QPushButton("Preview images")
        self.preview_btn.setCheckable(True)
        self.preview_btn.setToolTip("Sample images per class, class counts, imbalance warnings")
        self.preview_btn.toggled.connect(self._toggle_preview)
        row.addWidget(self.preview_btn)
        row.addStretch(1)
        dl.addLayout(row)
        self.dataset_summary = QLabel()
        self.dataset_summary.setWordWrap(True)
        self.dataset_summary.setObjectName("summary")
        self.dataset_summary.setTextFormat(Qt.TextFormat.RichText)
        dl.addWidget(self.dataset_summary)
        dl.addStretch(1)
        return data_box

    def _build_model_box(self) -> QGroupBox:
        box = QGroupBox("3  Choose and train a model")
        lay = QVBoxLayout(box)
        self.find_best_btn = QPushButton("Find the best model")
        self.find_best_btn.setObjectName("primary")
        self.find_best_btn.clicked.connect(self.find_best)
        self.set_find_best_available(True)
        lay.addWidget(self.find_best_btn)
        rec = QHBoxLayout()
        self.recommend_btn = QPushButton("Recommend models")
        self.recommend_btn.setToolTip(
            "Probe the costs here and rank the models that fit the budget"
        )
        self.recommend_btn.clicked.connect(self.recommend)
        self.by_combo = QComboBox()
        self.by_combo.addItems(list(resources.NAMES))
        self.by_combo.setToolTip("The resource the ranking's PePR divides by")
        rec.addWidget(self.recommend_btn)
        rec.addWidget(QLabel("by PePR of"))
        rec.addWidget(self.by_combo, 1)
        lay.addLayout(rec)
        one = QHBoxLayout()
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("or one model, e.g. mobilenetv3_small_050")
        self.model_edit.returnPressed.connect(self.train_one)
        self.train_one_btn = QPushButton("Train")
        self.train_one_btn.setToolTip("Train the model named on the left")
        self.train_one_btn.clicked.connect(self.train_one)
        one.addWidget(self.model_edit, 1)
        one.addWidget(self.train_one_btn)
        lay.addLayout(one)
        form = QFormLayout()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10_000)
        self.epochs_spin.setValue(10)
        self.recipe_combo = QComboBox()
        for key, label in recipes.LABELS.items():
            self.recipe_combo.addItem(label, key)
        self.recipe_combo.currentIndexChanged.connect(self._on_recipe_chosen)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Recipe", self.recipe_combo)
        lay.addLayout(form)
        self.recipe_note = QLabel()
        self.recipe_note.setObjectName("hint")
        self.recipe_note.setWordWrap(True)
        lay.addWidget(self.recipe_note)
        lay.addStretch(1)
        return box

    def _build_recommend_box(self) -> QGroupBox:
        rec_box = QGroupBox("Recommendation")
        rl = QVBoxLayout(rec_box)
        bar = QHBoxLayout()
        self.tune_btn = QPushButton("Tune recipe")
        self.tune_btn.setToolTip(
            "Short trial runs of a few training recipes on the top fitting candidates, within the "
            "search budget; the best by validation (never test) fills the training settings"
        )
        self.tune_btn.clicked.connect(self.tune)
        self.tune_min_spin = _dspin(0.05, 600, 5.0, " min", "Wall-clock budget of the search")
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
        self.progress.setMinimumWidth(120)
        self.tune_widgets = (
            self.tune_btn,
            self.tune_min_spin,
            self.tune_top_spin,
            self.tune_epochs_spin,
        )
        for w in self.tune_widgets:
            bar.addWidget(w)
        bar.addWidget(self.cancel_btn)
        bar.addWidget(self.progress, 1)
        self.task_bar = QWidget()  # shown once there is something to tune or a task runs
        self.task_bar.setLayout(bar)
        bar.setContentsMargins(0, 0, 0, 0)
        self.task_bar.setVisible(False)
        rl.addWidget(self.task_bar)
        self.cands = CandidateTable()
        self.table = self.cands.table
        self.table.setMinimumHeight(120)
        self.cands.selection_changed.connect(self._update_train_label)
        self.empty = QLabel(EMPTY_STATE)
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.cands)
        rl.addWidget(self.stack, 1)
        self.skipped_label = QLabel()
        self.skipped_label.setObjectName("hint")
        self.skipped_label.setWordWrap(True)
        self.skipped_label.setVisible(False)
        rl.addWidget(self.skipped_label)
        rl.addWidget(self._build_tune_box())
        queue_row = QHBoxLayout()
        self.train_label = QLabel()
        self.train_label.setObjectName("hint")
        self.train_btn = QPushButton("Train selected")
        self.train_btn.setObjectName("primary")
        self.train_btn.setToolTip("Queue the selected models (the #1 is selected after Recommend)")
        self.train_btn.clicked.connect(self.queue_selected)
        queue_row.addWidget(self.train_label, 1)
        queue_row.addWidget(self.train_btn)
        rl.addLayout(queue_row)
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
        self.trials_table.setMaximumHeight(160)
        tl.addWidget(self.trials_table)
        self.tune_box.setVisible(False)
        return self.tune_box

    def set_find_best_available(self, on: bool, tooltip: str = "") -> None:
        """Enable "Find the best model" once its handler (the budgeted search) is connected."""
        self.find_best_btn.setEnabled(on)
        self.find_best_btn.setToolTip(tooltip or (FIND_BEST_TIP if on else FIND_BEST_PENDING))

    def _search_running(self) -> bool:
        return bool(self.find_best_panel is not None and self.find_best_panel.running)

    def _update_find_best(self, *_a: Any) -> None:
        """Free while nothing else runs; during its own search it shows the search again."""
        idle = not self.ctx.tasks.busy and not self.ctx.training.busy
        self.find_best_btn.setEnabled(idle or self._search_running())

    def find_best_spec(self) -> Any:
        """The budgeted search the fields describe (`core.search.auto.AutoSpec`), checked;
        raises UserError in the GUI's words."""
        from dataclasses import replace

        from pepr_desktop.core.search.auto.spec import AutoSpec
        from pepr_desktop.gui.context import make_meter_settings

        name = self.dataset_name()
        if not name:
            raise UserError("Choose a dataset first (step 1).")
        b = self.budget()
        if b.time_min is None and b.energy_wh is None:
            raise UserError(FIND_BEST_NO_BUDGET)
        meter = make_meter_settings(self.ctx.settings)
        if meter is not None:  # idle power before each short trial would cost seconds of each
            meter = replace(meter, idle_baseline_s=0.0)
        spec = AutoSpec(
            dataset=name,
            time_min=b.time_min,
            energy_wh=b.energy_wh,
            memory_mb=b.memory_mb,
            by=self.by_combo.currentText(),
            models=self.find_best_pool,
            device=self.budget_box.device(),
            seed=self.seed_spin.value(),
            batch_size=self.batch_spin.value(),
            meter=meter,
            **self.find_best_options,
        )
        return spec.validate()

    def find_best(self) -> Any:
        """Start the budgeted search in its own panel (or show the running one); the panel."""
        if self._search_running():
            self.find_best_panel.show()
            self.find_best_panel.raise_()
            return self.find_best_panel
        if self.ctx.tasks.busy or self.ctx.training.busy:
            show_error(
                self,
                "Find the best model",
                "Another task or a training run is in progress; wait for it to end (or stop it "
                "in Live training), then search: the search measures this machine's speed.",
            )
            return None
        try:
            spec = self.find_best_spec()
        except UserError as exc:
            show_error(self, "Find the best model", str(exc))
            return None
        from pepr_desktop.gui.views.find_best import FindBestPanel  # built on demand: pyqtgraph

        if self.find_best_panel is not None:  # the last search's panel: one at a time
            self.find_best_panel.close()
            self.find_best_panel.deleteLater()
        panel = self.find_best_panel = FindBestPanel(self.ctx, spec, self)
        self._failure_title = "Find the best model"
        self.progress.setRange(0, 0)
        self.progress.setFormat("finding the best model (see its window)…")
        panel.start()
        panel.show()
        self.find_best_requested.emit()
        return panel

    # remembered settings ------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.ctx.settings
        b = s.last_budget
        self.energy_spin.setValue(b.energy_wh or 0)
        self.time_spin.setValue(b.time_min or 0)
        self.memory_spin.setValue(b.memory_mb or 0)
        self.params_spin.setValue((b.max_params or 0) / 1e6)
        i = self.device_combo.findData(s.last_device) if s.last_device else -1
        if i >= 0:
            self.device_combo.setCurrentIndex(i)
        if s.last_epochs:
            self.epochs_spin.setValue(s.last_epochs)
        j = self.recipe_combo.findData(s.last_recipe) if s.last_recipe else -1
        self.recipe_combo.blockSignals(True)
        self.recipe_combo.setCurrentIndex(max(j, 0))
        self.recipe_combo.blockSignals(False)
        if self.recipe() == recipes.CUSTOM:
            self.settings_panel.apply(s.advanced)
        for spin in (self.energy_spin, self.time_spin, self.memory_spin, self.params_spin):
            spin.valueChanged.connect(self._remember)
        self.device_combo.currentIndexChanged.connect(self._remember)
        self.epochs_spin.valueChanged.connect(self._remember)
        self.epochs_spin.valueChanged.connect(self._update_advanced_summary)
        self.batch_spin.valueChanged.connect(self._update_advanced_summary)

    def _remember(self, *_a: Any) -> None:
        if self._restoring:
            return
        s = self.ctx.settings
        s.last_budget = self.budget()
        s.last_device = self.budget_box.device()
        s.last_epochs = self.epochs_spin.value()
        s.last_recipe = self.recipe()
        s.last_dataset = self.dataset_name() or ""
        if self.recipe() == recipes.CUSTOM:
            s.advanced = self.settings_panel.recipe_values()

    # recipes ------------------------------------------------------------------------------------
    def recipe(self) -> str:
        return self.recipe_combo.currentData() or recipes.SUGGESTED

    def _facts(self) -> recipes.DataFacts | None:
        info: DatasetInfo | None = self.dataset_combo.currentData()
        if info is None:
            return None
        if info.name not in self.facts:
            self.facts[info.name] = recipes.facts_for(info)
        return self.facts[info.name]

    def _on_recipe_chosen(self, *_a: Any) -> None:
        self.apply_chosen_recipe()
        self._remember()

    def apply_chosen_recipe(self) -> None:
        """Put the chosen recipe's settings in the fields (Custom leaves them as they are)."""
        kind, facts = self.recipe(), self._facts()
        if kind == recipes.PAPER:
            self.settings_panel.apply(recipes.paper())
            note = "The paper's protocol: " + recipes.describe(recipes.paper()) + "."
        elif kind == recipes.SUGGESTED and facts is not None:
            settings, reasons = recipes.suggested(facts)
            self.settings_panel.apply(settings)
            note = "Suggested: " + ("; ".join(reasons) if reasons else "as in the paper") + "."
        elif kind == recipes.SUGGESTED:
            self.settings_panel.apply(recipes.paper())
            note = "Suggested: as in the paper (pick a dataset)."
        else:
            note = "Custom: " + recipes.describe(self.settings_panel.recipe_values()) + "."
        self.recipe_note.setText(note)
        self._update_advanced_summary()

    def _on_recipe_field_edited(self) -> None:
        """A recipe field changed by hand: the recipe is now the user's own."""
        if self.recipe() != recipes.CUSTOM:
            self.recipe_combo.blockSignals(True)
            self.recipe_combo.setCurrentIndex(self.recipe_combo.findData(recipes.CUSTOM))
            self.recipe_combo.blockSignals(False)
        values = self.settings_panel.recipe_values()
        self.recipe_note.setText("Custom: " + recipes.describe(values) + ".")
        self._update_advanced_summary()
        self._remember()

    def _update_advanced_summary(self, *_a: Any) -> None:
        values = self.settings_panel.recipe_values()
        self.advanced.set_summary(
            f"{self.epochs_spin.value()} epochs, batch {self.batch_spin.value()}, "
            f"{recipes.describe(values)}"
        )

    # datasets -----------------------------------------------------------------------------------
    def refresh_datasets(self, prefer: str | None = None) -> None:
        current = prefer or self.dataset_name()
        self.facts.clear()  # a dataset imported again under its name has other facts
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        try:
            infos = datasets.list_datasets(self.ctx.store)
        except UserError as exc:
            show_error(self, "Datasets", str(exc))
            infos = []
        for info in infos:
            sizes = None
            if not info.split_sizes and info.source == "bundled":
                sizes = recipes.facts_for(info).split_sizes
            self.dataset_combo.addItem(dataset_label(info, sizes), info)
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
        facts = self._facts()
        sizes = (facts.split_sizes if facts else None) or info.split_sizes
        splits = ", ".join(f"{k} {v:,}" for k, v in sizes.items()) or "sizes known once downloaded"
        classes = ", ".join(info.class_names[:6]) + (" …" if len(info.class_names) > 6 else "")
        lines = [
            f"<b>{html.escape(info.name)}</b> — {info.task}, {info.image_size} px, "
            f"{info.channels} channel{'s' * (info.channels > 1)}",
            f"splits: {splits}",
            f"classes: {html.escape(classes)}",
        ]
        if facts and facts.imbalance and facts.imbalance >= recipes.IMBALANCE_RATIO:
            lines.append(
                f"<span style='color:#b45309'>imbalanced: {facts.imbalance:.1f}x between the "
                "largest and smallest class; watch balanced accuracy</span>"
            )
        if info.source == "medmnist" and info.path is None:
            lines.append("<i>Not downloaded yet: the first run downloads it (needs internet).</i>")
        self.dataset_summary.setText("<br>".join(lines))
        self.apply_chosen_recipe()
        self._update_preview()
        self._remember()

    def _toggle_preview(self, on: bool) -> None:
        self.preview_box.setVisible(on)
        if on:
            self._update_preview()
            self.scroll.ensureWidgetVisible(self.preview_box)

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
            self.import_with_dialog(Path(path))

    def _import_folder(self) -> None:
        path = file_dialogs.existing_dir(self, "Import an image folder (one sub-folder per class)")
        if path:
            self.import_with_dialog(Path(path))

    def _taken(self, name: str) -> bool:
        return bool(self.ctx.store.get_dataset(name))

    def import_dialog(self, path: Path) -> ImportDialog:
        return ImportDialog(path, self._taken, self)

    def import_with_dialog(self, path: Path) -> bool:
        """Ask for the name (a free one suggested) and class names, then import."""
        dlg = self.import_dialog(path)
        if not dlg.exec():
            return False
        name, classes = dlg.values()
        return self.import_path(path, name, classes)

    def import_path(
        self, path: Path, name: str | None = None, class_names: list[str] | None = None
    ) -> bool:
        """Validate and register `path` (under a free name when none is given); a bad file shows
        a dialog and changes nothing."""
        name = name or free_name(Path(path).stem, self._taken)
        try:
            info = datasets.import_dataset(path, name, self.ctx.store, class_names=class_names)
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
        if self.ctx.tasks.busy:
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
        self.cands.clear()
        self.stack.setCurrentWidget(self.cands)
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
        recipe_list = list(self.tune_recipes or DEFAULT_RECIPES)
        total = min(top, len(fitting)) * len(recipe_list)
        self._tune_control = CancelControl()
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
            recipes=recipe_list,
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
                item = QTableWidgetItem(fmt(v, 4 if col in (3, 6) else 1 if col == 5 else 3))
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
        unknown = self.settings_panel.apply(trial.overrides)
        if unknown:
            log.warning("recipe settings not shown in the view: %s", unknown)
        self.recipe_combo.blockSignals(True)
        self.recipe_combo.setCurrentIndex(self.recipe_combo.findData(recipes.CUSTOM))
        self.recipe_combo.blockSignals(False)
        self.recipe_note.setText(f"From the recipe search: {trial.recipe}.")
        self._update_advanced_summary()
        self._remember()
        self.cands.select_model(trial.model)

    def _on_task_busy(self, busy: bool) -> None:
        if busy:
            self.task_bar.setVisible(True)
        self.recommend_btn.setEnabled(not busy)
        self.tune_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        self._update_find_best()
        if not busy:
            self._tune_control = None
            self.progress.setRange(0, 100)
            if self._failure_title == "Find the best model" and self.progress.format() != "failed":
                self.progress.setFormat("search ended (its window has the leaderboard)")

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

    def _on_task_crash(self, message: str) -> None:
        """A bug, not a mistake: say so, and where the details are."""
        self._on_task_error(
            f"{message}\n\nThis is a fault in the app, not in your settings. Try again; if it "
            "happens again, Help > Open log file shows the details to report."
        )

    def _on_recommendation(self, rec: Any) -> None:
        cands = list(getattr(rec, "candidates", rec) or [])
        self.show_candidates(cands, rec)
        self.progress.setRange(0, 100)
        self.progress.setValue(100)
        fitting = sum(1 for c in cands if getattr(c, "fits", False))
        self.progress.setFormat(
            f"{len(cands)} candidate{'s' * (len(cands) != 1)}, {fitting} fit{'s' * (fitting == 1)}"
            " the budget"
        )
        skipped = list(getattr(rec, "skipped", []) or [])
        self.skipped_label.setVisible(bool(skipped))
        if skipped:
            parts = [f"{d.get('model')} ({for_gui(str(d.get('why', '')))})" for d in skipped[:4]]
            more = f" and {len(skipped) - 4} more" if len(skipped) > 4 else ""
            self.skipped_label.setText("Not probed: " + "; ".join(parts) + more + ".")
        message = getattr(rec, "message", "")
        if message:
            self.ctx.status_message.emit(for_gui(message))

    def show_candidates(self, cands: list[Any], rec: Any = None) -> None:
        """The candidates in rank order, #1 selected."""
        self.cands.fill(cands, rec)
        self.candidates = list(self.cands.candidates)
        self.stack.setCurrentWidget(self.cands if cands else self.empty)
        if cands:
            self.task_bar.setVisible(True)
        self._update_train_label()

    def _update_train_label(self) -> None:
        sel = self.cands.selected()
        if not sel:
            self.train_label.setText("")
            return
        names = ", ".join(c.model for c in sel[:3]) + (" …" if len(sel) > 3 else "")
        self.train_label.setText(f"Selected: {names}")

    # queueing -----------------------------------------------------------------------------------
    def selected_configs(self) -> list[TrainConfig]:
        """The selected candidates; with none selected, the model typed in step 3."""
        cfgs = [
            self.base_config(c.model, pretrained=bool(getattr(c, "pretrained", False)))
            for c in self.cands.selected()
        ]
        typed = self.model_edit.text().strip()
        if typed and not cfgs:
            cfgs.append(self.base_config(typed))
        return cfgs

    def train_one(self) -> None:
        """Train the model typed in step 3 (whatever the table selects)."""
        typed = self.model_edit.text().strip()
        if not typed:
            show_error(self, "Train", "Type a model name first, e.g. mobilenetv3_small_050.")
            return
        self._queue([self.base_config(typed)])

    def queue_selected(self) -> None:
        cfgs = self.selected_configs()
        if self.dataset_name() and not cfgs:
            show_error(
                self,
                "Train",
                "Select one or more models in the table (Recommend models fills it), or type a "
                "model name in step 3, then Train.",
            )
            return
        self._queue(cfgs)

    def _queue(self, cfgs: list[TrainConfig]) -> None:
        if not self.dataset_name():
            show_error(self, "Train", "Choose a dataset first.")
            return
        if self._search_running():  # a run beside it would skew what the search measures
            show_error(
                self,
                "Train",
                "Find the best model is measuring this machine; train when it has ended, or "
                "cancel it in its window.",
            )
            return
        try:
            for c in cfgs:
                c.validate()
        except UserError as exc:
            show_error(self, "Train", str(exc))
            return
        self.train_requested.emit(cfgs)


def _dspin(lo: float, hi: float, value: float, suffix: str, tip: str) -> Any:
    from PySide6.QtWidgets import QDoubleSpinBox

    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(1)
    s.setValue(value)
    s.setSuffix(suffix)
    s.setToolTip(tip)
    return s
