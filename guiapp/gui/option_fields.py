"""The widgets of the settings form: one per option (OptionField: a spin box, a choice, a
line of text, or a model checklist), made from the option's metadata, with a tooltip in
plain words, then the engine's exact help, range and default."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from ..core.options import OptionSpec
from .model_list import model_statuses

# What the settings mean, in plain words, before the engine's exact help and range.
PLAIN = {
    "eps": "How much any pixel may change, in 8-bit levels out of 255 (the noise's budget). "
           "Smaller: less visible, harder to reach the target.",
    "max_steps": "The attack gives up after this many optimisation steps.",
    "iterations": "How many optimisation steps on the surrogates. Transfer keeps improving for hundreds.",
    "refine_steps": "Once the target is reached, steps spent making the noise smaller (less visible). "
                    "auto picks a number for you.",
    "confidence": "How sure the classifier must be of the target in the saved image; 0 means being its "
                  "top answer is enough.",
    "centroid_weight": "Also pull the image's features toward what the target class typically looks like "
                       "to the model. 0 turns it off.",
    "budget": "Where the noise may go. linf: any colour change up to the budget. perceptual: a brightness change "
              "only, more in busy texture and next to none on flat areas: far less colour change (CIEDE2000 0.14 "
              "instead of 0.46 on 20 photos), a little more noise energy.",
    "budget_psnr": "How loud the noise may be overall, as a PSNR in dB: higher is quieter and fools fewer "
                   "models. Brightness only, placed where the photo's texture hides it.",
    "surrogates": "Surrogates: models you have here that stand in for the one you want to fool. The noise "
                  "is crafted on them only, hoping it also fools models it never saw.",
}

SHOWN = Qt.ItemDataRole.UserRole + 1  # a checklist item's short name (a user's file: its name, not its path)


class ModelChecklist(QListWidget):
    """The installed models, to tick (surrogates, judges); the others are named in the tooltip.
    Every item is visible (no third item half cut off), up to VISIBLE rows before scrolling."""

    VISIBLE = 4
    changed = Signal()

    def __init__(self, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(True)
        missing = []
        for name, (ok, why) in model_statuses().items():
            if not ok:
                missing.append(f"{name}: {why}")
                continue
            self._add_item(name, name, why)
        self.setToolTip(tooltip + ("\n\nNot installed here:\n" + "\n".join(missing) if missing else ""))
        self._fit()
        self.itemChanged.connect(lambda _item: self.changed.emit())

    def _items(self) -> list[QListWidgetItem]:
        return [self.item(i) for i in range(self.count())]

    def _add_item(self, spec: str, shown: str, tooltip: str) -> None:
        item = QListWidgetItem(shown)
        item.setData(Qt.ItemDataRole.UserRole, spec)
        item.setData(SHOWN, shown)
        item.setToolTip(tooltip)
        item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
        item.setCheckState(Qt.CheckState.Unchecked)
        self.addItem(item)

    def _fit(self) -> None:
        """Tall enough for every item up to VISIBLE rows (none half cut off), then a scroll bar."""
        rows = max(1, min(self.count(), self.VISIBLE))
        row = self.sizeHintForRow(0) if self.count() else 20
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded if self.count() > self.VISIBLE
                                        else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(rows * (row + 2 * self.spacing()) + 2 * self.frameWidth() + 2)

    def add_model(self, spec: str, shown: str) -> None:
        """A user's model (a file, a card), offered unticked after the installed ones."""
        if any(it.data(Qt.ItemDataRole.UserRole) == spec for it in self._items()):
            return
        blocked = self.blockSignals(True)  # an unticked model changes no setting
        try:
            self._add_item(spec, shown, spec)
        finally:
            self.blockSignals(blocked)
        self._fit()  # walked: a fourth item was half cut off under a list sized for three

    def remove_model(self, spec: str) -> None:
        for i, it in enumerate(self._items()):
            if it.data(Qt.ItemDataRole.UserRole) == spec:
                self.takeItem(i)
                self._fit()
                self.changed.emit()
                return

    def checked(self) -> list[str]:
        return [it.data(Qt.ItemDataRole.UserRole) for it in self._items() if it.checkState() == Qt.CheckState.Checked]

    def set_checked(self, names: list[str] | tuple[str, ...]) -> None:
        for it in self._items():
            checked = it.data(Qt.ItemDataRole.UserRole) in names
            it.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def mark_unfair(self, names: set[str], why: str) -> None:
        """Grey out (and explain) the models in `names`; their ticks are kept, not used."""
        blocked = self.blockSignals(True)
        try:
            for it in self._items():
                name = it.data(Qt.ItemDataRole.UserRole)
                font = it.font()
                font.setItalic(name in names)
                it.setFont(font)
                it.setForeground(Qt.GlobalColor.gray if name in names else self.palette().text())
                shown = it.data(SHOWN)
                it.setText(f"{shown} (crafting)" if name in names else shown)
                it.setToolTip(why if name in names else name if shown != name else "")
        finally:
            self.blockSignals(blocked)


def option_tooltip(spec: OptionSpec) -> str:
    """An option's tooltip: what it means in plain words (when PLAIN has it), then the
    engine's exact help, its range and its default."""
    bounds = spec.bounds_text()
    exact = spec.meta.help[:1].upper() + spec.meta.help[1:] + "." + (
        f"\nRange {bounds}{' ' + spec.meta.unit if spec.meta.unit else ''}." if bounds else "")
    plain = PLAIN.get(spec.name)
    return f"{plain}\n\n{exact}\nDefault: {spec.describe_default()}." if plain else f"{exact}\nDefault: " \
        f"{spec.describe_default()}."


class OptionField:
    """One option's widget: `value()` in the config's type, `set_value(v)` from it."""

    def __init__(self, spec: OptionSpec) -> None:
        self.spec = spec
        self.widget: Any = self._make()
        self.widget.setToolTip(option_tooltip(spec))
        self.set_value(spec.default)

    def _make(self) -> Any:
        s, meta = self.spec, self.spec.meta
        if s.kind is tuple:
            return ModelChecklist(option_tooltip(s))
        if s.kind is str and not meta.choices:  # free text: a URL or a model spec
            line = QLineEdit()
            line.setPlaceholderText(meta.placeholder or "")
            line.setClearButtonEnabled(True)
            return line
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
        if isinstance(w, QLineEdit):
            return w.text().strip()
        if self.spec.optional and w.value() == w.minimum():
            return None
        return w.value()

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, ModelChecklist):
            w.set_checked(tuple(value or ()))
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif isinstance(w, QLineEdit):
            w.setText(str(value or ""))
        elif value is None:
            w.setValue(w.minimum())
        else:
            w.setValue(value)

    def is_default(self, default: Any = None) -> bool:
        """The value is `default` (None: the engine's own default for the field)."""
        value = self.value()
        default = self.spec.default if default is None else default
        if isinstance(default, float) and isinstance(value, float):
            return abs(value - default) < 1e-9
        return value == default

    def connect(self, slot) -> None:
        w = self.widget
        signal = (w.changed if isinstance(w, ModelChecklist) else w.currentIndexChanged if isinstance(w, QComboBox)
                  else w.textChanged if isinstance(w, QLineEdit) else w.valueChanged)
        signal.connect(lambda *_: slot())
