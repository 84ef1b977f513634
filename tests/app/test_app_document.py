"""The scene document and the painting tools, without Qt."""

from __future__ import annotations

import numpy as np
import pytest

from app.doc import TILE, HistoryEntry, RerollRegion, Scene, tools


def blank(h: int = 64, w: int = 64, value: int = 0) -> Scene:
    return Scene.blank(h, w, value)


# --------------------------------------------------------------------- rasterisers and tools
def test_brush_paints_a_round_stamp_of_the_given_size():
    s = blank()
    tools.paint_stroke(s, [(32.0, 32.0)], size=11, value=3)
    painted = s.labels == 3
    ys, xs = np.nonzero(painted)
    assert ys.min() == 27 and ys.max() == 36 and xs.min() == 27 and xs.max() == 36
    assert abs(painted.sum() - np.pi * 5.5**2) < 12  # a disc, not a square
    assert not painted[27, 27]  # corners of the box stay unpainted


def test_brush_interpolates_between_far_apart_mouse_points():
    s = blank()
    tools.paint_stroke(s, [(5.0, 5.0), (60.0, 50.0)], size=3, value=1)
    # every column between the two points is touched: no gaps along the line
    cols = np.flatnonzero((s.labels == 1).any(axis=0))
    assert cols.min() <= 5 and cols.max() >= 59 and len(cols) == cols.max() - cols.min() + 1


def test_one_pixel_brush_always_paints_the_pixel_under_the_cursor():
    s = blank()
    tools.paint_stroke(s, [(10.0, 20.0)], size=1, value=2)  # a pixel corner
    assert s.labels[20, 10] == 2


def test_eraser_is_a_brush_with_another_value():
    s = blank(value=4)
    tools.paint_stroke(s, [(10.0, 10.0), (30.0, 10.0)], size=5, value=0, name="Eraser")
    assert (s.labels[10, 10:30] == 0).all()
    assert s.undo_name == "Eraser"


def test_flood_fill_stays_inside_the_four_connected_region():
    s = blank()
    with s.edit("setup"):
        s.write((0, 32, 64, 33), None, 1)  # a vertical wall
        s.write((10, 10, 11, 11), None, 1)  # a speck left of it
    tools.flood_fill(s, 5, 5, 2)
    assert (s.labels[:, :32][s.labels[:, :32] != 1] == 2).all()
    assert (s.labels[:, 33:] == 0).all()
    assert s.labels[10, 10] == 1


def test_flood_fill_does_not_leak_through_diagonal_gaps():
    s = blank(8, 8)
    with s.edit("setup"):
        for i in range(8):
            s.write((i, 7 - i, i + 1, 8 - i), None, 1)  # an anti-diagonal line
    tools.flood_fill(s, 0, 0, 3)
    assert s.labels[7, 7] == 0  # the other side is not reached
    assert s.labels[0, 0] == 3


def test_polygon_fill_covers_pixel_centres_inside():
    s = blank()
    tools.fill_polygon(s, [(10, 10), (20, 10), (20, 30), (10, 30)], 5)
    assert (s.labels == 5).sum() == 10 * 20
    assert (s.labels[10:30, 10:20] == 5).all()


def test_free_lasso_with_many_points_fills_a_disc():
    pts = [(32 + 20 * np.cos(a), 32 + 20 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 400, endpoint=False)]
    mask = tools.select_polygon((64, 64), pts)
    assert abs(mask.sum() - np.pi * 400) < 40


def test_concave_polygon_uses_even_odd_rule():
    # a "U": the notch stays empty
    u = [(0, 0), (30, 0), (30, 30), (20, 30), (20, 10), (10, 10), (10, 30), (0, 30)]
    mask = tools.select_polygon((40, 40), u)
    assert mask[5, 15] and mask[20, 5] and mask[20, 25]
    assert not mask[20, 15]


def test_rectangle_includes_both_corner_pixels():
    s = blank()
    tools.fill_rect(s, (40.7, 30.2), (10.1, 5.9), 6)
    ys, xs = np.nonzero(s.labels == 6)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (5, 30, 10, 40)


def test_eyedropper_reads_the_value_and_ignores_outside():
    s = blank()
    tools.fill_rect(s, (3, 3), (5, 5), 7)
    assert tools.pick(s, 4.5, 4.5) == 7
    assert tools.pick(s, 0.5, 0.5) == 0
    assert tools.pick(s, -1, 4) is None and tools.pick(s, 64.0, 4) is None


def test_tools_clip_at_the_canvas_border():
    s = blank()
    tools.paint_stroke(s, [(-20.0, -20.0), (2.0, 2.0)], size=9, value=1)
    assert s.labels[0, 0] == 1
    assert tools.fill_polygon(s, [(-50, -50), (-40, -50), (-40, -40)], 3) is None


def test_selection_brush_adds_and_removes():
    sel = np.zeros((32, 32), dtype=bool)
    tools.select_segment(sel, (5, 5), (25, 5), 6)
    n = sel.sum()
    assert n > 100
    tools.select_segment(sel, (15, 5), (15, 5), 6, add=False)
    assert 0 < sel.sum() < n


# --------------------------------------------------------------------- undo / redo
def test_a_stroke_of_many_segments_is_one_undo_step():
    s = blank()
    s.begin_edit("Brush")
    for x in range(5, 60, 5):
        tools.paint_segment(s, (x - 5, 20), (x, 20), 4, 2)
    assert s.end_edit()
    tools.paint_stroke(s, [(5, 40), (50, 40)], 4, 3)
    assert s.can_undo and (s.labels == 2).any() and (s.labels == 3).any()
    s.undo()
    assert (s.labels == 2).any() and not (s.labels == 3).any()
    s.undo()
    assert not s.labels.any() and not s.can_undo
    s.redo()
    s.redo()
    assert (s.labels == 2).any() and (s.labels == 3).any() and not s.can_redo


def test_undo_stores_only_touched_tiles():
    s = Scene.blank(1024, 1024, 0)
    tools.paint_stroke(s, [(10, 10), (20, 12)], 5, 1)
    edit = s._undo[-1]
    assert len(edit.tiles) == 1
    before, after = next(iter(edit.tiles.values()))
    assert before.shape == (TILE, TILE) and after.shape == (TILE, TILE)


def test_an_edit_that_changes_nothing_is_not_recorded():
    s = blank(value=4)
    tools.paint_stroke(s, [(10, 10), (20, 20)], 5, 4)
    assert not s.can_undo and not s.dirty


def test_new_edit_clears_redo():
    s = blank()
    tools.fill_rect(s, (0, 0), (5, 5), 1)
    s.undo()
    assert s.can_redo
    tools.fill_rect(s, (10, 10), (15, 15), 2)
    assert not s.can_redo


def test_label_writes_outside_an_edit_group_are_refused():
    s = blank()
    with pytest.raises(RuntimeError):
        s.write((0, 0, 4, 4), None, 1)


def test_dirty_flag_follows_save_undo_and_redo():
    s = blank()
    assert not s.dirty
    tools.fill_rect(s, (0, 0), (5, 5), 1)
    assert s.dirty
    s.mark_saved()
    assert not s.dirty
    s.undo()
    assert s.dirty
    s.redo()
    assert not s.dirty


def test_the_first_image_of_an_untouched_scene_leaves_it_unmodified():
    """A new canvas gets its first image at once: nothing the user made would be lost, so no "Save first?"."""
    s = blank()
    s.add_history(HistoryEntry(s.labels, s.style_seed, ()))
    assert not s.dirty
    s.add_history(HistoryEntry(s.labels, 7, ()))  # a second image (a new style): the user's choice, worth keeping
    assert s.dirty
    edited = blank()
    tools.fill_rect(edited, (0, 0), (5, 5), 1)
    edited.mark_saved()
    edited.add_history(HistoryEntry(edited.labels, 0, ()))
    assert not edited.dirty  # saved, then its image: the saved file is what the user has
    other = blank()
    other.mark_dirty()  # e.g. a label map opened from a file: unsaved as a project
    other.add_history(HistoryEntry(other.labels, 0, ()))
    assert other.dirty


# --------------------------------------------------------------------- seeds, regions, history
def test_seed_changes_are_undoable():
    s = blank()
    s.set_style_seed(5)
    s.set_style_seed(9)
    assert s.style_seed == 9
    s.undo()
    assert s.style_seed == 5
    s.undo()
    assert s.style_seed == 0


def test_reroll_regions_build_the_noise_recipe_in_order():
    s = blank()
    m1 = tools.select_rect(s.shape, (0, 0), (10, 10))
    m2 = tools.select_rect(s.shape, (20, 20), (30, 30))
    s.set_style_seed(42)
    s.add_region(RerollRegion.make(m1, 7, 1.0))
    s.add_region(RerollRegion.make(m2, 8, 0.25))
    r = s.noise_recipe()
    assert (r.height, r.width, r.style_seed) == (64, 64, 42)
    assert [(x.seed, x.strength, x.area) for x in r.regions] == [(7, 1.0, 121), (8, 0.25, 121)]
    key = r.key()
    s.undo()
    assert len(s.regions) == 1 and s.noise_recipe().key() != key
    s.redo()
    assert s.noise_recipe().key() == key
    s.clear_regions()
    assert s.regions == ()
    s.undo()
    assert len(s.regions) == 2


def test_region_masks_are_frozen_copies():
    m = np.zeros((8, 8), dtype=bool)
    r = RerollRegion.make(m, 1)
    m[:] = True
    assert r.area == 0
    with pytest.raises(ValueError):
        r.mask[0, 0] = True
    with pytest.raises(ValueError):
        RerollRegion.make(m, 1, strength=1.5)


def test_region_must_match_the_canvas():
    s = blank()
    with pytest.raises(ValueError):
        s.add_region(RerollRegion.make(np.ones((8, 8), bool), 1))


def test_history_restore_brings_back_labels_seed_and_regions_as_one_step():
    s = blank()
    s.set_style_seed(11)
    s.add_history(HistoryEntry(s.labels.copy(), s.style_seed, s.regions))
    tools.fill_rect(s, (0, 0), (30, 30), 2)
    s.set_style_seed(12)
    s.add_region(RerollRegion.make(np.ones(s.shape, bool), 3))
    s.add_history(HistoryEntry(s.labels.copy(), s.style_seed, s.regions))
    assert s.history_index == 1
    s.restore_entry(0)
    assert s.history_index == 0 and s.style_seed == 11 and s.regions == () and not s.labels.any()
    assert s.matches_entry(s.history[0]) and not s.matches_entry(s.history[1])
    s.undo()
    assert s.style_seed == 12 and len(s.regions) == 1 and (s.labels == 2).any()


def test_history_shares_identical_label_maps_and_drops_old_images():
    s = blank()
    img = np.zeros((64, 64, 3), np.uint8)
    for seed in range(40):
        s.add_history(HistoryEntry(s.labels.copy(), seed, (), image=img), keep_images=4)
    assert all(e.labels is s.history[0].labels for e in s.history)
    assert sum(e.image is not None for e in s.history) == 4
    assert s.history[-1].image is not None


def test_scene_validates_its_label_map():
    with pytest.raises(ValueError):
        Scene(np.zeros((4, 4), dtype=np.int32))
    with pytest.raises(ValueError):
        Scene(np.zeros((4,), dtype=np.uint8))


def test_undo_and_redo_leave_the_seed_lock_as_the_user_set_it():
    """The lock is a setting, not an edit: undoing a stroke made while the seed was unlocked must not unlock it
    again after the user locked it (the next stroke would replace the whole style)."""
    from app.doc import Scene, tools

    s = Scene.blank(32, 32, 1, seed_locked=False)
    with s.edit("Brush"):
        s.set_style_seed(77)  # an unlocked seed draws a new style with each stroke
        tools.fill_rect(s, (0, 0), (8, 8), 2)
    s.set_seed_locked(True)
    s.undo()
    assert s.seed_locked, "undo kept the lock"
    s.redo()
    assert s.seed_locked and s.style_seed == 77
    s.set_seed_locked(False)
    s.undo()
    assert not s.seed_locked


def test_user_edits_are_what_differs_from_the_segmentation_and_its_clean_up_plus_the_mapped_strokes() -> None:
    """The pixels a clean-up or a new segmentation keeps: those that differ from both the raw segmentation and the
    last clean-up; and after a switch to another model's classes, the strokes found before the mapping (a stroke of
    a class the new model lacks may become equal to the mapped segmentation beneath it)."""
    from app.doc import PhotoReference, keep_user_edits

    seg = np.zeros((4, 6), np.uint8)
    seg[2:] = 1
    cleaned = seg.copy()
    cleaned[0, 0] = 1  # the clean-up changed this pixel
    photo = PhotoReference(np.zeros((4, 6, 3), np.uint8), seg, np.ones((4, 6), np.float32), applied=cleaned)
    current = cleaned.copy()
    current[1, 4] = 5  # the user's stroke
    assert not photo.stale
    assert photo.user_edits(current).tolist() == (current != cleaned).tolist()
    new_seg = np.full((4, 6), 2, np.uint8)
    out = keep_user_edits(new_seg, current, photo)
    assert out[1, 4] == 5 and (np.delete(out.reshape(-1), 10) == 2).all()

    strokes = np.zeros((4, 6), bool)
    strokes[3, 0] = True  # painted before the mapping; mapped, it equals the segmentation beneath it
    mapped = PhotoReference(photo.photo, seg, photo.confidence, mapped_edits=strokes)
    assert mapped.stale
    out = keep_user_edits(new_seg, seg, mapped)
    assert out[3, 0] == 1 and (out[~strokes] == 2).all()
    with pytest.raises(ValueError, match="mapped_edits"):
        PhotoReference(photo.photo, seg, photo.confidence, mapped_edits=np.zeros((2, 2), bool))
