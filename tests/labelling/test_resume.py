"""The run's record on disk: a torn last line is cut off, every complete line counts once, headers must agree."""

import json

import pytest

from samptx_hf.labelling import ShardWriter, check_or_write_header, done_indices, merge_shards, read_records


def test_a_torn_last_line_is_cut_and_appends_start_on_a_line(tmp_path):
    with ShardWriter(tmp_path, rank=0) as writer:
        writer.append({"index": 0, "image": {"id": 1, "file_name": "a.png"}, "annotations": []})
    with open(writer.path, "ab") as file:  # a kill in the middle of a write
        file.write(b'{"index": 1, "image": {"id"')
    assert done_indices(tmp_path) == {0}
    with ShardWriter(tmp_path, rank=0) as writer:
        writer.append({"index": 1, "image": {"id": 2, "file_name": "b.png"}, "annotations": []})
    assert [record["index"] for record in read_records(tmp_path)] == [0, 1]
    assert all(json.loads(line) for line in writer.path.read_text().splitlines())


def test_shards_of_several_processes_merge_in_source_order(tmp_path):
    annotation = {"category_id": 1, "segmentation": {"size": [1, 1], "counts": "01"}, "area": 1, "bbox": [0, 0, 1, 1]}
    with ShardWriter(tmp_path, rank=1) as writer:
        writer.append({"index": 1, "image": {"id": 2, "file_name": "b.png"}, "annotations": [annotation] * 2})
    with ShardWriter(tmp_path, rank=0) as writer:
        writer.append({"index": 2, "image": {"id": 3, "file_name": "c.png"}, "error": "cannot read"})
        writer.append({"index": 0, "image": {"id": 1, "file_name": "a.png"}, "annotations": [annotation]})
    counts = merge_shards(tmp_path, ["dog"])
    assert counts == {"images": 2, "annotations": 3, "unreadable": 1}
    document = json.loads((tmp_path / "annotations.json").read_text())
    assert [image["id"] for image in document["images"]] == [1, 2]
    assert [(a["id"], a["image_id"]) for a in document["annotations"]] == [(1, 1), (2, 2), (3, 2)]
    assert (tmp_path / "unreadable.txt").read_text() == "c.png: cannot read\n"


def test_a_header_must_match_and_a_foreign_folder_is_refused(tmp_path):
    header = {"model": "m", "classes": ["a", "b"], "mode": "instances"}
    check_or_write_header(tmp_path / "run", header)
    check_or_write_header(tmp_path / "run", dict(header))  # the same run: resumed
    with pytest.raises(ValueError, match=r'holds a run with classes=\["a", "b"\], this run has classes=\["a"\]'):
        check_or_write_header(tmp_path / "run", {**header, "classes": ["a"]})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "photo.jpg").write_bytes(b"")
    with pytest.raises(FileExistsError, match="is a folder with files but no run.json"):
        check_or_write_header(tmp_path / "other", header)
