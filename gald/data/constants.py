"""Class names, colour palettes and normalisation constants shared by the data code.

Kept apart from the dataset classes so the app and the model code can import
the palettes / class lists without pulling in PIL loading or Hugging Face.
"""

from __future__ import annotations

IGNORE_INDEX = 255

# The backbone is ImageNet-pretrained, so inputs are normalised with ImageNet stats.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# SegNet CamVid: ids 0..10, 11 = void (mapped to IGNORE_INDEX on load).
CAMVID_CLASSES: list[str] = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
]
CAMVID_PALETTE: list[tuple[int, int, int]] = [
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
]
CAMVID_VOID = 11

# Split used to report GALD's claim (local distribution helps thin/small objects).
SMALL_CAMVID_CLASSES: list[str] = ["Pole", "SignSymbol", "Fence", "Pedestrian", "Bicyclist"]
LARGE_CAMVID_CLASSES: list[str] = ["Sky", "Building", "Road", "Pavement", "Tree", "Car"]

# Cityscapes 19 evaluation classes, in trainId order.
CITYSCAPES_CLASSES: list[str] = [
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
]
CITYSCAPES_PALETTE: list[tuple[int, int, int]] = [
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
]
# Official cityscapesScripts labels.py: labelId -> trainId; every other labelId is ignored.
CITYSCAPES_LABELID_TO_TRAINID: dict[int, int] = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}


def generate_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """Deterministic, well-separated colours (the PASCAL VOC bit-interleaving scheme).

    Used when a dataset ships no palette, so the same class always gets the same colour.
    """
    palette = []
    for index in range(num_classes):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette
