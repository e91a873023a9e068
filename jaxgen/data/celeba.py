"""CelebA (aligned and cropped faces) as a case of `image_folder`, with its 40
binary attributes for latent arithmetic (e.g. mean latent of "Smiling" minus
mean of not smiling).

    jaxgen train --family=vae --config.dataset=celeba --config.data_path=DIR \\
        --config.image_size=64

DIR holds img_align_celeba/ (the 178x218 JPEGs) and list_attr_celeba.txt, as
distributed by the CelebA authors; list_eval_partition.txt is optional.
Images are decoded exactly as image_folder decodes them (short side resized
to image_size with Lanczos, centre-cropped: the whole 178-wide face is kept;
`image_size` 0 means 32, `channels` 0 means 3) and cached the same way.

Fields {"image": uint8 [S, S, C], "attributes": int32 [40] in {0, 1}}
(1 where list_attr_celeba.txt says 1, 0 where it says -1), attribute k being
ATTRIBUTES[k]. There is no single "label" (num_classes 0): the attributes are
not exclusive classes.

Splits: with list_eval_partition.txt, CelebA's own: "train" (partition 0),
"validation" (1) and "test" (2). Without it, image_folder's
rule over the files in list_attr_celeba.txt order: every tenth is a test image.
Only the images listed in list_attr_celeba.txt are used; a listed image that
is missing is an error naming it.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from jaxgen import data as _data
from jaxgen.data import image_folder
from jaxgen.data.specs import Dataset, DatasetSpec, Field, image_field
from jaxgen.errors import DatasetError

IMAGES_DIR = "img_align_celeba"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
PARTITIONS = {"train": 0, "validation": 1, "test": 2}  # the partition file's codes

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young")

HOW_TO_GET = (f"download CelebA's aligned images ({IMAGES_DIR}.zip, unzipped) and "
              f"{ATTRIBUTES_FILE} (and optionally {PARTITION_FILE}) from "
              "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into one folder DIR, then "
              "--config.dataset=celeba --config.data_path=DIR")


def root_folder(config) -> str:
    root = image_folder.data_path(config, "celeba", f"the folder holding {IMAGES_DIR}/ "
                                                    f"and {ATTRIBUTES_FILE}")
    for name, check in ((IMAGES_DIR, os.path.isdir), (ATTRIBUTES_FILE, os.path.isfile)):
        if not check(os.path.join(root, name)):
            raise DatasetError(f"celeba: {root} has no {name}. {HOW_TO_GET}")
    return root


def splits(root: str) -> tuple:
    if os.path.isfile(os.path.join(root, PARTITION_FILE)):
        return ("train", "validation", "test")
    return image_folder.SPLITS


def _file_key(path: str) -> tuple:
    stat = os.stat(path)
    return path, stat.st_size, stat.st_mtime_ns


def parse_attributes(lines, path: str):
    """list_attr_celeba.txt: a count, the 40 names, then "file v1 ... v40" rows
    of -1/1 -> (file names [N], attributes int32 [N, 40] in {0, 1})."""
    if len(lines) < 2:
        raise DatasetError(f"{path} is too short: expected a count line and a names line")
    names = tuple(lines[1].split())
    if names != ATTRIBUTES:
        raise DatasetError(f"{path} names the attributes {names[:3]}...; expected CelebA's "
                           f"40: {', '.join(ATTRIBUTES)}")
    rows = [line.split() for line in lines[2:] if line.strip()]
    bad = next((i for i, row in enumerate(rows) if len(row) != 1 + len(ATTRIBUTES)), None)
    if bad is not None:
        raise DatasetError(f"{path} line {bad + 3} has {len(rows[bad])} fields, expected "
                           f"a file name and {len(ATTRIBUTES)} values")
    try:
        declared = int(lines[0].split()[0])
        values = np.array([row[1:] for row in rows], np.int64).reshape(len(rows), -1)
    except (ValueError, IndexError) as err:
        raise DatasetError(f"{path} is not a CelebA attribute file ({err})") from err
    if declared != len(rows):
        raise DatasetError(f"{path} declares {declared} images but lists {len(rows)}")
    if not np.isin(values, (-1, 1)).all():
        raise DatasetError(f"{path} holds attribute values other than -1 and 1")
    return [row[0] for row in rows], ((values + 1) // 2).astype(np.int32)


@functools.lru_cache(maxsize=4)
def _attributes(key: tuple):
    path = key[0]
    with open(path) as f:
        return parse_attributes(f.read().splitlines(), path)


@functools.lru_cache(maxsize=4)
def _partition(key: tuple) -> dict:
    path = key[0]
    with open(path) as f:
        rows = [line.split() for line in f if line.strip()]
    try:
        return {name: int(code) for name, code in rows}
    except ValueError as err:
        raise DatasetError(f"{path} is not a CelebA partition file ({err})") from err


def split_indices(root: str, files, split: str) -> np.ndarray:
    """Rows of list_attr_celeba.txt that belong to `split`."""
    partition_path = os.path.join(root, PARTITION_FILE)
    if os.path.isfile(partition_path):
        partition = _partition(_file_key(partition_path))
        missing = next((f for f in files if f not in partition), None)
        if missing is not None:
            raise DatasetError(f"{partition_path} does not list {missing}")
        codes = np.array([partition[f] for f in files])
        return np.flatnonzero(codes == PARTITIONS[split])
    rows = np.arange(len(files))
    in_test = rows % image_folder.TEST_EVERY == image_folder.TEST_EVERY - 1
    return rows[in_test] if split == "test" else rows[~in_test]


def spec(config) -> DatasetSpec:
    size, num_channels = image_folder.image_size(config), image_folder.channels(config)
    split_names = splits(root_folder(config))
    return DatasetSpec(name="celeba", kind="images",
                       fields={"image": image_field(size, size, num_channels),
                               "attributes": Field((len(ATTRIBUTES),), np.dtype(np.int32), 0, 1)},
                       splits=split_names)


def _split_listing(config, split: str) -> tuple:
    """(paths, attributes [N, 40], cache extra) of one split."""
    root = root_folder(config)
    if split not in splits(root):
        raise DatasetError(f"celeba in {root} has no split {split!r}; choose one of "
                           f"{', '.join(splits(root))}")
    files, attributes = _attributes(_file_key(os.path.join(root, ATTRIBUTES_FILE)))
    rows = split_indices(root, files, split)
    if not len(rows):
        raise DatasetError(f"celeba in {root} has no {split} images")
    paths = [os.path.join(root, IMAGES_DIR, files[i]) for i in rows]
    return paths, attributes[rows], {"root": root, "split": split, "celeba": True}


def load(config, split: str) -> dict:
    paths, attributes, extra = _split_listing(config, split)
    images = image_folder.load_images(
        paths, image_folder.image_size(config), image_folder.channels(config), extra, "celeba")
    return {"image": images, "attributes": attributes}


def stream(config, split: str):
    paths, attributes, extra = _split_listing(config, split)
    return image_folder.stream_files(paths, {"attributes": attributes}, config, extra, "celeba")


_data.register(Dataset(
    name="celeba",
    description="CelebA aligned faces from --config.data_path (img_align_celeba/ and "
                "list_attr_celeba.txt), resized to image_size, with 40 binary attributes",
    spec=spec, load=load, config_keys=("data_path", "image_size", "channels"), stream=stream,
    how_to_get=HOW_TO_GET))
