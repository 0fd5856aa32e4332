"""The attack settings form, generated from the config classes' option metadata.

Each mode's options marked `gui=True` (guiapp.core.options) get a row with a widget that
fits their type, bounds and help; only the current mode's rows are shown, and each mode
keeps its own values (the transfer mode's centroid weight is not the default mode's). A
new option or mode appears here without a change to this file.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from ..core.attacks import MODES, STRATEGIES, make_config, options_of
from ..core.models import available_models, model_status
from ..core.options import OptionSpec


class ModelChecklist(QListWidget):
    """The installed models, to tick (surrogates, judges); the others are named in the tooltip."""

    changed = Signal()

    def __init__(self, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        missing = []
        for name in available_models():
            ok, why = model_status(name)
            if not ok:
                missing.append(f"{name}: {why}")
                continue
            item = QListWidgetItem(name)
            item.setData(Qt.UserRole, name)
            item.setToolTip(why)
            item.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled)
            item.setCheckState(Qt.Unchecked)
            self.addItem(item)
        self.setToolTip(tooltip + ("\n\nNot installed here:\n" + "\n".join(missing) if missing else ""))
        rows = max(1, min(self.count(), 3))
        self.setFixedHeight(rows * self.sizeHintForRow(0) + 2 * self.frameWidth() if self.count() else 24)
        self.itemChanged.connect(lambda _item: self.changed.emit())

    def _items(self) -> list[QListWidgetItem]:
        return [self.item(i) for i in range(self.count())]

    def checked(self) -> list[str]:
        return [it.data(Qt.UserRole) for it in self._items() if it.checkState() == Qt.Checked]

    def set_checked(self, names: list[str] | tuple[str, ...]) -> None:
        for it in self._items():
            it.setCheckState(Qt.Checked if it.data(Qt.UserRole) in names else Qt.Unchecked)


def _tooltip(spec: OptionSpec) -> str:
    bounds = spec.bounds_text()
    return spec.meta.help[:1].upper() + spec.meta.help[1:] + "." + (
        f"\nRange {bounds}{' ' + spec.meta.unit if spec.meta.unit else ''}." if bounds else "")


class OptionField:
    """One option's widget: `value()` in the config's type, `set_value(v)` from it."""

    def __init__(self, spec: OptionSpec) -> None:
        self.spec = spec
        self.widget: Any = self._make()
        self.widget.setToolTip(_tooltip(spec))
        self.set_value(spec.default)

    def _make(self) -> Any:
        s, meta = self.spec, self.spec.meta
        if s.kind is tuple:
            return ModelChecklist(_tooltip(s))
        if s.kind is str:
            box = QComboBox()
            for choice in meta.choices:
                box.addItem(choice, choice)
            return box
        low = meta.low if meta.low is not None else -1e9
        high = meta.high if meta.high is not None else 1e9
        if s.kind is int:
            spin: Any = QSpinBox(minimum=int(low) - (1 if s.optional else 0), maximum=int(min(high, 2**31 - 1)))
            spin.setSingleStep(max(1, int(meta.step)))
        else:
            spin = QDoubleSpinBox(decimals=meta.decimals, singleStep=meta.step)
            tiny = 10.0**-meta.decimals
            spin.setRange(low + (tiny if meta.low_open else 0) - (tiny if s.optional else 0), high)
        if s.optional:  # the lowest value stands for None: the mode's own choice
            spin.setSpecialValueText(meta.none or "auto")
        if meta.unit and meta.unit != "steps":
            spin.setSuffix(" " + meta.unit)
        return spin

    def value(self) -> Any:
        w = self.widget
        if isinstance(w, ModelChecklist):
            return tuple(w.checked())
        if isinstance(w, QComboBox):
            return w.currentData()
        if self.spec.optional and w.value() == w.minimum():
            return None
        return w.value()

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, ModelChecklist):
            w.set_checked(tuple(value or ()))
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif value is None:
            w.setValue(w.minimum())
        else:
            w.setValue(value)


class SettingsForm(QWidget):
    """The attack mode and the settings that matter in it, with the engine's defaults."""

    mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        for mode in MODES:
            self.mode.addItem(mode, mode)
            self.mode.setItemData(self.mode.count() - 1, STRATEGIES[mode].summary, Qt.ToolTipRole)
        self.mode.setToolTip("\n\n".join(f"{m}: {STRATEGIES[m].summary}" for m in MODES))
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("Mode", self.mode)
        self.fields: dict[str, dict[str, OptionField]] = {}
        for mode in MODES:
            self.fields[mode] = {}
            for spec in options_of(mode):
                if spec.meta.gui:
                    field = OptionField(spec)
                    self.fields[mode][spec.name] = field
                    self.form.addRow(spec.label, field.widget)
        self.judges = ModelChecklist("After the run, ask each ticked model what it sees in the saved 8-bit image.\n"
                                     "A fair judge is a model that took no part in crafting the noise.")
        self.form.addRow("Judges", self.judges)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    def current_mode(self) -> str:
        return self.mode.currentData()

    def set_mode(self, mode: str) -> None:
        i = self.mode.findData(mode)
        if i >= 0:
            self.mode.setCurrentIndex(i)

    def field(self, name: str, mode: str | None = None) -> Any:
        """The widget of option `name` in `mode` (default: the current mode)."""
        return self.fields[mode or self.current_mode()][name].widget

    def _mode_changed(self) -> None:
        current = self.current_mode()
        for mode, fields in self.fields.items():
            for field in fields.values():
                self.form.setRowVisible(field.widget, mode == current)
        self.mode_changed.emit(current)

    def values(self, mode: str | None = None) -> dict[str, Any]:
        return {name: f.value() for name, f in self.fields[mode or self.current_mode()].items()}

    def config(self) -> Any:
        """The engine's config for these settings (GuiappError for a bad combination)."""
        return make_config(self.current_mode(), **self.values())
