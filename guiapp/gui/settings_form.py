"""The attack settings form, generated from the config classes' option metadata.

Each mode's options marked `gui=True` (guiapp.core.options) get a row with a widget that
fits their type, bounds and help; only the current mode's rows are shown, and each mode
keeps its own values (the transfer mode's centroid weight is not the default mode's). A
new option or mode appears here without a change to this file. A value that differs from
its default has a bold label (remembered values are never silent), and *Defaults* puts
the current mode's values back. The Judges list greys out the models that craft the noise
in the run as set (the chosen model, or the surrogates) and says so when one is ticked.
Each option's widget is made in option_fields.py.
"""

from __future__ import annotations

import html
from typing import Any, cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from ..core.attacks import MODES, STRATEGIES, make_config, options_of, presets_of, strategy_of
from ..core.errors import GuiappError
from .option_fields import ModelChecklist, OptionField, option_tooltip

PRESET_TIPS = {
    "transfer": "quiet (default): brightness-only noise where the photo's texture hides it, about 33 dB: the "
                "image looks unchanged.\nloud: the published 16/255 recipe: fools unseen models more often, but "
                "the noise is plainly visible (about 25 dB, coloured swirls).",
}
JUDGES_TIP = ("Judges: models that took no part in crafting the noise. After the run each one is asked what it "
              "sees in the saved 8-bit image, so you learn whether the noise fools models it never saw.\n"
              "Models that craft this run's noise (the chosen model, or the surrogates) are greyed out: they "
              "would not be a fair test.")


class SettingsForm(QWidget):
    """The attack mode and the settings that matter in it, with the engine's defaults."""

    mode_changed = Signal(str)
    changed = Signal()  # any value, the mode or the judges

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_name = ""  # the window's chosen model (it crafts in the white-box modes)
        self.mode = QComboBox()
        for mode in MODES:
            self.mode.addItem(mode, mode)
            self.mode.setItemData(self.mode.count() - 1, STRATEGIES[mode].summary, Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip("\n\n".join(f"{m}: {STRATEGIES[m].summary}" for m in MODES))
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("Mode", self.mode)
        self.fields: dict[str, dict[str, OptionField]] = {}
        self.presets: dict[str, QComboBox] = {}  # the modes with named settings
        self._attached: list[tuple[str, QWidget]] = []  # (mode, widget): rows the window adds under a field
        for mode in MODES:
            self.fields[mode] = {}
            if presets_of(mode):
                box = QComboBox()
                for name in presets_of(mode):
                    box.addItem(name, name)
                box.setToolTip(PRESET_TIPS.get(mode, "Named settings of the mode; Preset sets the fields shown."))
                self.presets[mode] = box
                self.form.addRow("Preset", box)
                box.activated.connect(lambda _i, m=mode: self.apply_preset(m))
            for spec in options_of(mode):
                if spec.meta.gui:
                    field = OptionField(spec)
                    self.fields[mode][spec.name] = field
                    self.form.addRow(spec.label, field.widget)
                    field.connect(self._values_changed)
        self.judges = ModelChecklist(JUDGES_TIP)
        self.form.addRow("Judges", self.judges)
        self.judges_note = QLabel("")
        self.judges_note.setWordWrap(True)
        self.judges_note.setTextFormat(Qt.TextFormat.RichText)
        self.form.addRow(self.judges_note)
        self.judges.changed.connect(self._values_changed)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    def current_mode(self) -> str:
        return self.mode.currentData()

    def attach(self, mode: str, field_name: str, widget: QWidget) -> None:
        """Show `widget` as a row under option `field_name` of `mode`, while `mode` is chosen
        (the query mode's Test button under the Victim field)."""
        position = self.form.getWidgetPosition(self.fields[mode][field_name].widget)
        row, _ = cast(tuple[int, QFormLayout.ItemRole], position)  # PySide6's stub says object
        self.form.insertRow(row + 1, "", widget)
        self._attached.append((mode, widget))
        self.form.setRowVisible(widget, mode == self.current_mode())

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
        for mode, box in self.presets.items():
            self.form.setRowVisible(box, mode == current)
        for mode, widget in self._attached:
            self.form.setRowVisible(widget, mode == current)
        self.mode_changed.emit(current)
        self._values_changed()

    def values(self, mode: str | None = None) -> dict[str, Any]:
        return {name: f.value() for name, f in self.fields[mode or self.current_mode()].items()}

    def preset(self, mode: str | None = None) -> str | None:
        """The chosen preset of `mode` (None for a mode without presets)."""
        box = self.presets.get(mode or self.current_mode())
        return box.currentData() if box is not None else None

    def set_preset(self, mode: str, name: str) -> None:
        """Choose preset `name` of `mode` without touching the fields (restoring a session)."""
        box = self.presets.get(mode)
        if box is not None and box.findData(name) >= 0:
            box.setCurrentIndex(box.findData(name))
            self._values_changed()

    def apply_preset(self, mode: str, name: str | None = None) -> None:
        """Choose a preset and set the mode's fields to its values (the defaults where it names none)."""
        if name is not None:
            self.set_preset(mode, name)
        values = presets_of(mode).get(self.preset(mode) or "", {})
        for field_name, field in self.fields[mode].items():
            field.set_value(values.get(field_name, field.spec.default))
        self._values_changed()

    def config(self) -> Any:
        """The engine's config for these settings (GuiappError for a bad combination): the
        preset's values (the hidden ones too), then every field shown."""
        return make_config(self.current_mode(), preset=self.preset(), **self.values())

    # ---------------------------------------------------------------- defaults
    def reset_defaults(self) -> None:
        """The current mode's values back to the engine's defaults."""
        mode = self.current_mode()
        if mode in self.presets:
            self.presets[mode].setCurrentIndex(0)  # the first preset is the config's own defaults
        for field in self.fields[mode].values():
            field.set_value(field.spec.default)

    def changed_from_default(self, mode: str | None = None) -> list[OptionField]:
        return [f for f in self.fields[mode or self.current_mode()].values() if not f.is_default()]

    def _baseline(self, mode: str, field: OptionField) -> Any:
        """What the field is compared with: the chosen preset's value where it sets one
        (loud's own Iterations is not a change), else the engine's default."""
        preset = self.preset(mode) if mode in self.presets else None
        return presets_of(mode).get(preset or "", {}).get(field.spec.name, field.spec.default)

    def _mark_changed(self) -> None:
        for mode, fields in self.fields.items():
            for field in fields.values():
                label = self.form.labelForField(field.widget)
                if isinstance(label, QLabel):
                    baseline = self._baseline(mode, field)
                    same = field.is_default(baseline)
                    font = QFont(label.font())
                    font.setBold(not same)
                    label.setFont(font)
                    where = ("the default" if baseline is field.spec.default
                             else f"the {self.preset(mode)} preset's value")
                    shown = field.spec.describe(baseline)
                    label.setToolTip("" if same else f"Changed from {where} ({shown}); Defaults puts the mode's "
                                     "defaults back.")

    # ---------------------------------------------------------------- judges
    def set_model_name(self, name: str) -> None:
        self.model_name = name
        self._values_changed()

    def crafters(self) -> set[str]:
        """The models that craft the noise in the run as set now."""
        try:
            config = self.config()
        except GuiappError:
            config = self._config_without_victim()
            if config is None:
                return set()
        return set(strategy_of(config).crafter_names(config, self.model_name)) if self.model_name else set()

    def _config_without_victim(self) -> Any:
        """The query mode's settings as if nobody were asked (None if they are bad anyway):
        who crafts the noise does not depend on the victim, so the Judges list can grey the
        surrogates before a victim is typed."""
        values = self.values()
        if "max_queries" not in values:
            return None
        try:
            return make_config(self.current_mode(), preset=self.preset(), **{**values, "max_queries": 0})
        except GuiappError:
            return None

    def judge_problem(self) -> str:
        """Why a ticked judge will give no verdict ('' if every ticked judge will)."""
        unfair = [n for n in self.judges.checked() if n in self.crafters()]
        if not unfair:
            return ""
        names = ", ".join(unfair)
        one = len(unfair) == 1
        return (f"{names} {'helps' if one else 'help'} craft this run's noise, so {'it' if one else 'they'} "
                f"cannot judge it: tick a model that takes no part, or change the models that craft it.")

    def _mark_inactive(self) -> None:
        """Grey out the fields that mean nothing in the run as set (the perceptual budget's
        figures under the loud preset's L-inf budget)."""
        try:
            config = self.config()
        except GuiappError:
            return
        for field in self.fields[self.current_mode()].values():
            condition = field.spec.meta.only_with
            if condition is not None:
                name, value = condition
                active = getattr(config, name) == value
                field.widget.setEnabled(active)
                field.widget.setToolTip(option_tooltip(field.spec) + ("" if active else f"\n\nNot used: {name} is "
                                                                f"{getattr(config, name)}."))

    def _values_changed(self) -> None:
        self._mark_inactive()
        crafters = self.crafters()
        self.judges.mark_unfair(crafters, "Crafts the noise in the run as set: not a fair judge of it.")
        problem = self.judge_problem()
        note = html.escape(problem, quote=False)
        self.judges_note.setText(f"<span style='color:#b06000'>{note}</span>" if problem else "")
        self.judges_note.setVisible(bool(problem))
        self._mark_changed()
        self.changed.emit()
