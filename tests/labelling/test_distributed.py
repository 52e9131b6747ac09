"""Two CPU processes (`accelerate launch --multi_gpu --num_processes 2`, gloo) write the JSON of one."""

import os
import subprocess
import sys

import pytest
from labelling_helpers import CLASSES, assert_same_coco, read_json
from network import free_port

from samptx_hf.cli.main import main
from samptx_hf.labelling.resume import SHARDS_FOLDER


@pytest.mark.slow
def test_two_processes_give_the_json_of_one(adapter_repo, parts_images, tmp_path):
    folder, _ = parts_images
    options = ["--model", str(adapter_repo), "--images", str(folder), "--classes", ",".join(CLASSES)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(free_port()), "-m", "samptx_hf.cli", "label"]
    two = subprocess.run(
        [*launch, *options, "--output", str(tmp_path / "two"), "--batch-size", "2"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    shards = sorted(path.name for path in (tmp_path / "two" / SHARDS_FOLDER).iterdir())
    assert shards == ["part-00000.jsonl", "part-00001.jsonl"]  # both processes labelled a share
    assert all((tmp_path / "two" / SHARDS_FOLDER / shard).stat().st_size > 0 for shard in shards)
    assert main(["label", *options, "--output", str(tmp_path / "one")]) == 0
    assert_same_coco(read_json(tmp_path / "two" / "annotations.json"), read_json(tmp_path / "one" / "annotations.json"))

    # Another vocabulary on the same output: every process stops with the main process's error, none waits for it.
    other = [*options[:-1], "red,blue", "--output", str(tmp_path / "two")]
    refused = subprocess.run([*launch, *other], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert refused.returncode != 0 and "holds a run with classes=" in refused.stderr
