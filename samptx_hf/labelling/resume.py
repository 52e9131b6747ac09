"""A labelling run's record on disk: its header, and one appended line per labelled image.

- `OUT/run.json`, the header: the model, the vocabulary and every option that changes the annotations. A run on an
  existing `OUT` must have the same header: another model or vocabulary is refused, never mixed in.
- `OUT/shards/part-<rank>.jsonl`, one file per process: a line per image, written in one `write` and flushed to
  disk (`fsync`) before the next image starts. A run killed mid-way leaves at most a torn last line, which the next
  run cuts off; every complete line is an image done, so a resumed run labels the others only: no image twice, none
  lost. Whatever the number of processes, the images done are those of every shard.
"""

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .coco_writer import write_json_atomically

HEADER_NAME = "run.json"
SHARDS_FOLDER = "shards"


def check_or_write_header(output: str | os.PathLike, header: Mapping[str, Any]) -> None:
    """Write `header` as `output/run.json`, or check that the one there is equal.

    Raises:
        ValueError: When `output` holds the run of another model, vocabulary or options; the message names the
            first field that differs.
        FileExistsError: When `output` is a non-empty folder without a run header (not a labelling run's folder).
    """
    output = Path(output)
    path = output / HEADER_NAME
    header = json.loads(json.dumps(header))  # as it reads back: tuples as lists
    if path.is_file():
        existing = read_header(output)
        for key in sorted(set(existing) | set(header)):
            if existing.get(key) != header.get(key):
                raise ValueError(
                    f"{os.fspath(output)!r} holds a run with {key}={_short(existing.get(key))}, this run has "
                    f"{key}={_short(header.get(key))}: choose another --output, or delete that folder to start over"
                )
        return
    if output.is_dir() and any(not name.startswith(".") for name in os.listdir(output)):
        raise FileExistsError(
            f"--output {os.fspath(output)!r} is a folder with files but no {HEADER_NAME}: not a labelling run's "
            "output, choose an empty or new folder"
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, header)
    except OSError as error:
        raise OSError(f"--output {os.fspath(output)!r} cannot be written ({error.strerror or error})") from None


def read_header(output: str | os.PathLike) -> dict[str, Any]:
    """The header `output/run.json` of an earlier run; empty when there is none."""
    path = Path(output) / HEADER_NAME
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ShardWriter:
    """Appends one JSON line per image to `output/shards/part-<rank>.jsonl`, durably.

    Opening cuts a torn last line (of a killed run) off the shard, so appends start on a line boundary.
    """

    def __init__(self, output: str | os.PathLike, rank: int):
        folder = Path(output) / SHARDS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"part-{rank:05d}.jsonl"
        self._cut_torn_tail()
        self._descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with open(self.path, "r+b") as file:
                file.truncate(keep)
                file.flush()
                os.fsync(file.fileno())

    def append(self, record: Mapping[str, Any]) -> None:
        """Write `record` as one line and wait until it is on disk."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        written = os.write(self._descriptor, line)
        if written != len(line):  # a regular file takes it all or raises; a short write would tear the line
            raise OSError(f"wrote {written} of {len(line)} bytes to {self.path}")
        os.fsync(self._descriptor)

    def close(self) -> None:
        os.close(self._descriptor)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def read_records(output: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every complete image record of every shard of `output` (a torn last line is skipped), shard by shard."""
    folder = Path(output) / SHARDS_FOLDER
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("part-*.jsonl")):
        with open(path, "rb") as file:
            for line in file:
                if line.endswith(b"\n"):
                    yield json.loads(line)


def done_indices(output: str | os.PathLike) -> set[int]:
    """The source indices of the images `output`'s shards hold (labelled, or found unreadable)."""
    return {record["index"] for record in read_records(output)}


__all__ = [
    "HEADER_NAME",
    "SHARDS_FOLDER",
    "ShardWriter",
    "check_or_write_header",
    "done_indices",
    "read_header",
    "read_records",
]
