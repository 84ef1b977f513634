"""Label spaces: the built-in datasets' id -> channel mappings, errors, palettes, serialisation, colour mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oasis_core import labels
from oasis_core.labels import LabelError, LabelSpace


@pytest.mark.parametrize(
    ("name", "channels", "classes", "dont_care_value", "valid"),
    [
        ("ade20k", 151, 150, 0, "0..150"),
        ("cityscapes", 35, 34, 0, "0..33"),
        ("coco", 183, 182, 255, "0..181, 255"),
        ("camvid", 12, 11, 11, "0..11"),
        ("facades", 13, 12, 0, "0..12"),
        ("landscapes", 10, 10, None, "0..9"),
    ],
)
def test_builtin_sizes(name: str, channels: int, classes: int, dont_care_value, valid: str) -> None:
    space = labels.get(name)
    assert space.num_channels == channels == len(space.names) == len(space.colours)
    assert space.num_classes == classes
    assert space.dont_care_value == dont_care_value
    assert space.describe_valid() == valid


def test_ade20k_value_is_channel() -> None:
    space = labels.ade20k()
    values = np.arange(151).reshape(1, -1)
    assert np.array_equal(space.to_channels(values), values)
    assert space.dont_care == 0 and space.names[0] == "other"
    assert space.name_of(3) == "sky" and space.value_of("Person") == 13


def test_cityscapes_label_ids_and_unused_channel() -> None:
    space = labels.cityscapes()
    assert np.array_equal(space.to_channels(np.arange(34)[None]), np.arange(34)[None])
    assert space.file_values[34] == -1  # channel 34 exists in the official network, no label id maps to it
    with pytest.raises(LabelError, match="label values 34 "):
        space.to_channels(np.array([[34]]))
    assert space.value_of("road") == 7 and space.colour_of(7) == (128, 64, 128)
    # a prediction of the unused channel is written as the don't-care value
    assert space.to_values(np.array([[34, 7]])).tolist() == [[0, 7]]


def test_coco_stuff_shift_and_unlabelled() -> None:
    space = labels.coco_stuff()
    values = np.array([[0, 1, 181, 255]])
    assert space.to_channels(values).tolist() == [[1, 2, 182, 0]]
    assert space.to_values(space.to_channels(values)).tolist() == values.tolist()
    assert space.name_of(0) == "person" and space.name_of(255) == "unlabeled"
    with pytest.raises(LabelError, match="label values 182, 254 "):
        space.to_channels(np.array([[182, 254]]))


def test_camvid_void_is_dont_care() -> None:
    space = labels.camvid()
    assert space.to_channels(np.array([[11, 0, 10]])).tolist() == [[0, 1, 11]]
    assert space.dont_care == 0 and space.name_of(11) == "void"
    assert space.value_of("road") == 3 and space.colour_of(3) == (128, 64, 128)
    with pytest.raises(LabelError, match="label values 12 "):
        space.to_channels(np.array([[12]]))


def test_facades_ids() -> None:
    space = labels.facades()
    assert space.to_channels(np.arange(1, 13)[None]).tolist() == [list(range(1, 13))]
    assert space.value_of("window") == 3 and space.value_of("shop") == 12


def test_errors_name_the_bad_ids_and_the_valid_range() -> None:
    space = labels.ade20k()
    bad = np.array([[0, 200, 151], [3, -1, 151]])
    with pytest.raises(LabelError) as info:
        space.to_channels(bad)
    message = str(info.value)
    assert "-1, 151, 200" in message and "'ade20k'" in message and "valid values: 0..150" in message
    many = np.arange(300, 320)[None]
    with pytest.raises(LabelError, match=r"300, 301, .*309 \.\.\."):
        space.to_channels(many)  # long lists are cut, not dumped


def test_label_map_types() -> None:
    space = labels.camvid()
    assert space.to_channels(np.array([[1.0, 2.0]])).tolist() == [[2, 3]]
    with pytest.raises(LabelError, match="integers"):
        space.to_channels(np.array([[1.5]]))
    with pytest.raises(LabelError, match="2-D"):
        space.to_channels(np.zeros((2, 2, 2), dtype=np.uint8))


def test_palette_lookups_by_name() -> None:
    space = labels.landscapes()
    assert space.value_of("  WATER ") == 5 and space.colour_of(5) == (30, 90, 180)
    with pytest.raises(KeyError, match="'lava' is not a class of 'landscapes'"):
        space.value_of("lava")
    with pytest.raises(KeyError, match="unknown label space 'mars'.*ade20k"):
        labels.get("mars")
    assert labels.get("COCO_STUFF").name == "coco_stuff"


@pytest.mark.parametrize("name", sorted(labels.BUILTIN))
def test_dict_round_trip(name: str) -> None:
    space = labels.get(name)
    again = LabelSpace.from_dict(json.loads(space.to_json()))
    assert again == space
    assert (
        again.to_channels(np.array([space.valid_values()])).tolist()
        == space.to_channels(np.array([space.valid_values()])).tolist()
    )


def test_invalid_descriptions_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid label space description"):
        LabelSpace.from_dict({"name": "x"})
    with pytest.raises(ValueError, match="maps to two channels"):
        LabelSpace("x", ("a", "b"), ((0, 0, 0), (1, 1, 1)), (3, 3))
    with pytest.raises(ValueError, match="not an RGB triple"):
        LabelSpace("x", ("a",), ((0, 0, 300),), (0,))
    with pytest.raises(ValueError, match="2 names but 1 colours"):
        LabelSpace("x", ("a", "b"), ((0, 0, 0),), (0, 1))


def test_colourize_and_palette() -> None:
    space = labels.camvid()
    rgb = space.colourize(np.array([[3, 11]]))
    assert rgb.dtype == np.uint8 and rgb.tolist() == [[[128, 64, 128], [0, 0, 0]]]
    pal = space.palette_values()
    assert pal.shape == (256, 3) and pal[3].tolist() == [128, 64, 128] and pal[200].tolist() == [0, 0, 0]
    assert labels.coco_stuff().palette_values()[255].tolist() == [0, 0, 0]
    assert space.labels_txt().splitlines()[0] == "11 void" and "3 road" in space.labels_txt()


def test_nearest_colour_mapping() -> None:
    space = labels.camvid()
    road, sky, car = space.colour_of(3), space.colour_of(0), space.colour_of(8)
    rgb = np.array([[road, sky], [car, (road[0] + 4, road[1] - 3, road[2] + 2)]], dtype=np.uint8)
    values, exact = space.nearest_values(rgb)
    assert values.tolist() == [[3, 0], [8, 3]]
    assert exact == pytest.approx(0.75)


def test_distinct_colours_are_deterministic_and_distinct() -> None:
    a = labels.distinct_colours(150, seed=1)
    assert a == labels.distinct_colours(150, seed=1)
    assert len(set(a)) == 150
