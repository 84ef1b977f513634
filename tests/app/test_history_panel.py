"""The history panel updates in place: a new generation adds one row and leaves the others' items alone."""

import numpy as np
from PySide6.QtCore import Qt

from app.doc import MAX_HISTORY, HistoryEntry
from app.ui.panels import HistoryPanel


def entry(seed: int, thumb: bool = False) -> HistoryEntry:
    t = np.full((6, 8, 3), seed % 255, np.uint8) if thumb else None
    return HistoryEntry(np.zeros((4, 4), np.uint8), seed, (), ms=5.0, thumbnail=t)


def test_history_rows_are_updated_not_rebuilt(qtbot):
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    entries = [entry(i, thumb=True) for i in range(3)]
    panel.show_history(entries, 2)
    for row in range(3):  # a marker on each existing item: a rebuild would lose it
        panel.list.item(row).setData(Qt.ItemDataRole.UserRole + 1, f"kept{row}")
    entries.append(entry(3))
    panel.show_history(entries, 3)
    assert panel.list.count() == 4
    top = panel.list.item(0)
    assert top.text().startswith("#4  seed 3") and top.data(Qt.ItemDataRole.UserRole + 1) is None
    assert [panel.list.item(r).data(Qt.ItemDataRole.UserRole + 1) for r in (1, 2, 3)] == ["kept0", "kept1", "kept2"]
    assert panel.list.currentRow() == 0 and panel.back.isEnabled() and not panel.forward.isEnabled()
    panel.show_history(entries, 3)  # nothing changed: nothing touched
    assert panel.list.item(1).data(Qt.ItemDataRole.UserRole + 1) == "kept0"
    # stepping back selects the row; a click reports the entry's index
    panel.show_history(entries, 1)
    assert panel.list.currentRow() == 2 and panel.forward.isEnabled()
    with qtbot.waitSignal(panel.entry_chosen) as sig:
        panel.list.itemClicked.emit(panel.list.item(3))
    assert sig.args == [0]


def test_history_at_the_cap_drops_the_oldest_row_and_renumbers(qtbot):
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    entries = [entry(i) for i in range(MAX_HISTORY)]
    panel.show_history(entries, MAX_HISTORY - 1)
    newest = panel.list.item(0)
    newest.setData(Qt.ItemDataRole.UserRole + 1, "newest")
    entries = entries[1:] + [entry(MAX_HISTORY)]  # what Scene.add_history does at the cap
    panel.show_history(entries, MAX_HISTORY - 1)
    assert panel.list.count() == MAX_HISTORY
    assert panel.list.item(1).data(Qt.ItemDataRole.UserRole + 1) == "newest"  # kept, moved down one row
    assert panel.list.item(1).text().startswith(f"#{MAX_HISTORY - 1}  seed {MAX_HISTORY - 1}")
    bottom = panel.list.item(MAX_HISTORY - 1)
    assert bottom.text().startswith("#1  seed 1") and bottom.data(Qt.ItemDataRole.UserRole) == 0
    # another scene: rebuilt from scratch
    panel.show_history([entry(7)], 0)
    assert panel.list.count() == 1 and panel.list.item(0).text().startswith("#1  seed 7")
