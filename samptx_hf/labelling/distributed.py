"""Labelling on several processes (`accelerate launch`): who labels which image, and one JSON from every shard.

Every process reads which images are done (all shards), takes its share of the rest
(`PartialState.split_between_processes`) and appends to its own shard; the main process then merges the shards
into `annotations.json`, ordered by image and numbered as a one-process run numbers them, so the file is the same
whatever the number of processes (and across a resumed run).
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelerate import PartialState

from .coco_writer import coco_document, write_json_atomically
from .resume import read_records

ANNOTATIONS_NAME = "annotations.json"
UNREADABLE_NAME = "unreadable.txt"


def share_of_images(state: PartialState, pending: Sequence[int]) -> list[int]:
    """This process's share of the `pending` source positions: consecutive runs of about equal length."""
    with state.split_between_processes(list(pending)) as share:
        return list(share)


def merge_shards(output: str | os.PathLike, classes: Sequence[str]) -> dict[str, Any]:
    """Merge every shard of `output` into `output/annotations.json` (and the unreadable images into
    `output/unreadable.txt`, one `file_name: reason` a line); return the counts.

    Images are in source order, annotations numbered from 1 in that order.

    Raises:
        ValueError: When two shards hold the same image with different results (the output was written by runs
            that disagree).
    """
    output = Path(output)
    records: dict[int, dict[str, Any]] = {}
    for record in read_records(output):
        earlier = records.setdefault(record["index"], record)
        if earlier != record:
            raise ValueError(
                f"{os.fspath(output)!r}: image {record['index']} ({record['image']['file_name']!r}) is in two shards "
                "with different results; delete the folder and label again"
            )
    ordered = [records[index] for index in sorted(records)]
    labelled = [record for record in ordered if "error" not in record]
    document = coco_document(
        [record["image"] for record in labelled],
        {record["image"]["id"]: record["annotations"] for record in labelled},
        classes,
    )
    write_json_atomically(output / ANNOTATIONS_NAME, document)
    unreadable = [record for record in ordered if "error" in record]
    lines = "".join(f"{record['image']['file_name']}: {record['error']}\n" for record in unreadable)
    (output / UNREADABLE_NAME).write_text(lines, encoding="utf-8")
    return {"images": len(labelled), "annotations": len(document["annotations"]), "unreadable": len(unreadable)}


__all__ = ["ANNOTATIONS_NAME", "UNREADABLE_NAME", "merge_shards", "share_of_images"]
