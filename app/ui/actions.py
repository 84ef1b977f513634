"""The window's commands as one table: each row makes a ``QAction`` (text, keys, tip, icon, slot), places it in
a menu, and gives the help dialog its row. Menus, toolbars, shortcuts and the help cannot disagree, because
they are all read from here.

A row's ``slot`` names a method of the main window or of one of its workflows ("files.save"); checkable
actions pass their new state to it. The help lists
the rows with a ``help`` section, in table order, followed by the ``EXTRA_HELP`` rows (keys that are no action:
the mouse, and what the canvas itself handles).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.ui.canvas import TOOLS


@dataclass(frozen=True)
class Command:
    name: str  # the window gets it as ``act_<name>``
    text: str
    slot: str  # a method of the main window
    keys: tuple[str, ...] = ()
    tip: str = ""
    icon: str | None = None
    checkable: bool = False
    help: str | None = None  # help section; None: not listed
    help_text: str = ""  # the help's description (default: the tip, else the text)
    args: tuple = ()  # extra arguments for the slot

    def help_keys(self) -> str:
        return ", ".join(self.keys)

    def description(self) -> str:
        return self.help_text or self.tip or self.text.replace("&", "").rstrip("…")


TOOL_INFO = {
    "brush": ("Brush", "B", "Paint the chosen class with a round brush ([ and ] change the size)"),
    "eraser": ("Eraser", "E", "Paint the don't-care class (or the background class)"),
    "fill": ("Fill", "F", "Flood-fill a connected region with the chosen class"),
    "lasso": ("Lasso fill", "L", "Drag a free lasso, or click polygon corners (double-click or Enter closes)"),
    "rect": ("Rectangle", "R", "Drag a rectangle of the chosen class"),
    "picker": ("Eyedropper", "I", "Pick the class under the cursor"),
    "select": ("Lasso select", "S", "Select a region to reroll (drag or click corners; Shift adds)"),
    "select_brush": ("Selection brush", "M", "Brush a region to reroll (Alt removes)"),
}
VIEW_MODES = (("side", "Side by side"), ("blend", "Blended"), ("split", "Split"))

_C = Command
COMMANDS: tuple[Command, ...] = (
    # files
    _C("new", "&New canvas…", "new_canvas_dialog", ("Ctrl+N",), "Start a new canvas", help="Files",
       help_text="New canvas"),
    _C("open", "&Open project…", "files.open_project_dialog", ("Ctrl+O",), "Open an .oasis project", help="Files",
       help_text="Open a project (.oasis)"),
    _C("open_labels", "Open &label map…", "files.open_label_map_dialog", ("Ctrl+Shift+O",), "Open a label PNG",
       help="Files", help_text="Open a label map (PNG)"),
    _C("import_photo", "Import &photo…", "import_photo_dialog", ("Ctrl+Shift+I",),
       "Segment a photo with the model's discriminator into an editable label map", help="Files",
       help_text="Import a photo: its segmentation becomes the label map"),
    _C("save", "&Save project", "files.save", ("Ctrl+S",), "Save the project", help="Files"),
    _C("save_as", "Save project &as…", "files.save_as", ("Ctrl+Shift+S",), help="Files",
       help_text="Save the project under a new name"),
    _C("export_image", "&Export image…", "files.export_image_dialog", ("Ctrl+E",), "Save the image as PNG/JPEG",
       help="Files", help_text="Export the image (PNG or JPEG)"),
    _C("export_labels", "Export label &map…", "files.export_label_map_dialog", ("Ctrl+Shift+E",),
       "Indexed PNG with palette + NAME.labels.txt", help="Files",
       help_text="Export the label map (indexed PNG + its NAME.labels.txt)"),
    _C("export_sheet", "Export side-by-side &sheet…", "files.export_sheet_dialog"),
    _C("open_model", "Open &model file…", "models.open_model_dialog", ("Ctrl+M",), ".safetensors or official .pth",
       help="Files", help_text="Open a model file (.safetensors or an official .pth)"),
    _C("quit", "&Quit", "close", ("Ctrl+Q",)),
    # editing
    _C("undo", "&Undo", "generation.undo", ("Ctrl+Z",), "Undo (Ctrl+Z)", "undo", help="Painting",
       help_text="Undo (one stroke at a time)"),
    _C("redo", "&Redo", "generation.redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo (Ctrl+Shift+Z)", "redo", help="Painting",
       help_text="Redo"),
    _C("select_all", "Select &all", "select_all", ("Ctrl+A",), help="Painting", help_text="Select everything"),
    _C("deselect", "&Deselect", "clear_selection", ("Ctrl+D",), help="Painting", help_text="Deselect"),
    _C("smaller", "Smaller brush", "scale_brush", ("[",), help="Painting", args=(1 / 1.25,)),
    _C("larger", "Larger brush", "scale_brush", ("]",), help="Painting", args=(1.25,)),
    _C("search", "Search classes", "focus_class_search", ("Ctrl+F",), help="Painting",
       help_text="Search the class palette (Enter picks the first match)"),
    *(_C(f"class_{n}", f"Class {n}", "choose_class_number", (str(n),), args=(n,)) for n in range(10)),
    # tools
    *(_C(f"tool_{name}", TOOL_INFO[name][0], "set_tool", (TOOL_INFO[name][1],),
         f"{TOOL_INFO[name][0]} ({TOOL_INFO[name][1]}): {TOOL_INFO[name][2]}", name, True, "Tools",
         f"{TOOL_INFO[name][0]}: {TOOL_INFO[name][2]}", (name,)) for name in TOOLS),
    # view
    _C("fit", "&Fit to window", "fit_canvas", ("Ctrl+0",), "Fit (Ctrl+0)", "fit", help="View",
       help_text="Fit the canvas to the window"),
    _C("zoom_in", "Zoom &in", "zoom_canvas", ("Ctrl++", "Ctrl+="), help="View", args=(1.25,)),
    _C("zoom_out", "Zoom &out", "zoom_canvas", ("Ctrl+-",), help="View", args=(0.8,)),
    *(_C(f"view_{mode}", label, "set_view_mode", (f"Ctrl+{i + 1}",), checkable=True, help="View",
         help_text=f"{label} view", args=(mode,)) for i, (mode, label) in enumerate(VIEW_MODES)),
    _C("toggle", "&Toggle labels / image", "toggle_layer", ("T",), help="View",
       help_text="Toggle: labels ↔ image (blend), swap sides (side by side, split)"),
    _C("dark", "&Dark theme", "apply_theme", checkable=True),
    # generating
    _C("generate", "&Generate", "generation.generate_now", ("Ctrl+Return", "Ctrl+Enter"), "Generate now",
       help="Generating"),
    _C("cancel", "&Cancel generation", "cancel", ("Esc",), help="Generating",
       help_text="Cancel the running generation"),
    _C("live", "&Live generation", "set_live", checkable=True),
    _C("reroll", "&Reroll selection", "reroll_selection", ("Ctrl+R",), help="Generating",
       help_text="Reroll the noise inside the selection"),
    _C("new_style", "&New style seed", "generation.new_style", ("N",), help="Generating"),
    _C("lock", "&Lock style seed", "generation.toggle_seed_lock", ("Ctrl+L",), help="Generating",
       help_text="Lock / unlock the style seed"),
    _C("variants", "&Variants", "generate_variants_from_panel", ("V",), help="Generating",
       help_text="Generate variants"),
    _C("realism", "Realism &heat map", "set_realism_overlay", ("H",), checkable=True, help="Generating",
       help_text="Realism heat map on the image"),
    _C("reroll_worst", "Reroll &least realistic regions", "reroll_least_realistic", ("Ctrl+Shift+R",),
       "Reroll the noise of the regions the discriminator finds least realistic", help="Generating",
       help_text="Reroll the least realistic regions"),
    _C("older", "Older image", "generation.step_history", ("Alt+Left",), help="Generating",
       help_text="Older image in the history", args=(-1,)),
    _C("newer", "Newer image", "generation.step_history", ("Alt+Right",), help="Generating",
       help_text="Newer image in the history", args=(1,)),
    # help
    _C("help", "&Keyboard shortcuts…", "show_help", ("F1",), help="Files", help_text="This help"),
    _C("about", "&About OASIS Studio", "show_about"),
)
BY_NAME = {c.name: c for c in COMMANDS}

# Menus by title: command names, "-" for a separator, "@name" for a place the window fills (a submenu or the
# dock toggles).
MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("new", "open", "open_labels", "import_photo", "@recent", "-", "save", "save_as", "-",
               "export_image", "export_labels", "export_sheet", "-", "quit")),
    ("&Edit", ("undo", "redo", "-", "select_all", "deselect", "-", "smaller", "larger", "search")),
    ("&Tools", tuple(f"tool_{name}" for name in TOOLS)),
    ("&View", (*(f"view_{m}" for m, _ in VIEW_MODES), "toggle", "-", "fit", "zoom_in", "zoom_out", "-", "@docks",
               "-", "dark")),
    ("&Generate", ("generate", "cancel", "live", "-", "reroll", "new_style", "lock", "variants", "-", "realism",
                   "reroll_worst", "-", "older", "newer")),
    ("&Model", ("open_model", "@models")),
    ("&Help", ("help", "about")),
)  # fmt: skip

# Keys the help lists that are no command of the table (the mouse, and what the canvas handles itself).
EXTRA_HELP: tuple[tuple[str, str, str], ...] = (
    ("Painting", "1 … 9, 0", "Choose class 1 … 10 of the palette"),
    ("Painting", "Enter / Esc", "Close / cancel a polygon"),
    ("View", "Mouse wheel", "Zoom at the cursor"),
    ("View", "Space + drag, middle drag", "Pan"),
)
HELP_SECTIONS = ("Tools", "Painting", "View", "Generating", "Files")


def help_rows() -> list[tuple[str, list[tuple[str, str]]]]:
    """The help dialog's sections: (title, [(keys, description)]), from the table and ``EXTRA_HELP``."""
    rows: dict[str, list[tuple[str, str]]] = {s: [] for s in HELP_SECTIONS}
    for c in COMMANDS:
        if c.help is not None and c.keys:
            rows[c.help].append((c.help_keys(), c.description()))
    for section, keys, what in EXTRA_HELP:
        rows[section].append((keys, what))
    return [(s, items) for s, items in rows.items() if items]
