"""`samptx label`: label a whole dataset by class name, into COCO instances JSON; resumable, on one process or many.

The run reads top to bottom: arguments → images → model → the images not done yet, this process's share → label
and append, image by image → the main process merges every shard into `OUT/annotations.json`.
"""

import argparse
import hashlib
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..cli.model_arguments import add_model_arguments, load_model, parse_presence_threshold, parse_threshold
from ..processing.class_prompts import check_vocabulary
from ..processing.input_checks import check_output_path
from .annotator import DTYPES, BatchAnnotator, ClassPrediction, check_dtype
from .coco_writer import (
    class_masks_folder,
    image_annotations,
    label_map_path,
    picture_name,
    save_class_masks,
    save_label_map,
)
from .distributed import ANNOTATIONS_NAME, UNREADABLE_NAME, merge_shards, share_of_images
from .prompts import ImagePrompt, prompts_fingerprint, prompts_of_entries, read_prompts
from .resume import ShardWriter, check_or_write_header, done_indices, read_header
from .sources import ImageEntry, LoadedImage, open_image_source

# How label maps and class masks are named, recorded in run.json: an image's file_name, extension and sub-folders
# kept (`coco_writer.picture_name`).
PICTURE_NAMES = "label_maps/<file_name>.png, masks/<file_name>/<class>.png"

LABEL_EXAMPLE = """examples:
  samptx label --model user/sam-ptx-coco --images photos/ --classes dog,cat,person --output labels/
  (writes labels/annotations.json, COCO instances with RLE masks: one annotation per connected region of each
  present class, score = presence x predicted IoU; labels/unreadable.txt lists the files that could not be read)

  accelerate launch -m samptx_hf.cli label --model user/sam-ptx-coco --images photos/ --classes-file classes.txt \\
      --output labels/ --semantic --label-maps
  (each process labels its share; one annotation per present class; labels/label_maps/<file_name>.png, e.g.
  labels/label_maps/sub/a.jpg.png: 0 background, i for the i-th class)

  samptx label --model user/sam-ptx-coco --images photos/ --classes dog,cat --prompts detections.json --output labels/
  (re-segment a detector's boxes: one annotation per box of detections.json, a COCO file whose file_names are paths
  under photos/; the images without boxes are labelled text only)

Run the same command again on the same --output to resume: images already labelled are skipped. An --output
written by another model, class list or options is refused."""


def add_label_parser(commands: Any) -> None:
    """Register `samptx label` on the subcommands of `samptx`'s parser."""
    label = commands.add_parser(
        "label",
        help="label a dataset by class names, into COCO JSON",
        description="Segment every class of --classes in every image of --images, text only (every X, or none), or at "
        "the point/box prompts of --prompts, and "
        "write COCO instances annotations to --output; resumable, and spread over processes by `accelerate launch`.",
        epilog=LABEL_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(label)
    label.add_argument(
        "--images",
        required=True,
        help="a folder (every file under it, recursively), a COCO .json (its image list), a datasets save_to_disk "
        "folder or a Hub dataset id",
    )
    label.add_argument("--image-root", default=None, help="the folder of a COCO file's images (default: its folder)")
    label.add_argument("--image-column", default="image", help="the dataset column of the images (default: image)")
    label.add_argument(
        "--split",
        default=None,
        help="the dataset split (default: train; a save_to_disk folder of one split is that split)",
    )
    vocabulary = label.add_mutually_exclusive_group(required=True)
    vocabulary.add_argument("--classes", help="class names separated by commas, e.g. 'dog,cat,person'")
    vocabulary.add_argument("--classes-file", help="a text file with one class name per line")
    label.add_argument(
        "--prompts",
        default=None,
        help="a COCO instances file (each bbox a box prompt for its category) or a JSON file "
        '{"<file_name>": [{"class": ..., "points": [[x, y], ...], "point_labels": [1, ...], '
        '"box": [x1, y1, x2, y2]}, ...]}: '
        "one annotation per prompt; images without prompts are labelled text only",
    )
    label.add_argument("--output", required=True, help="the output folder (created; an earlier run's to resume it)")
    mode = label.add_mutually_exclusive_group()
    mode.add_argument(
        "--instances",
        dest="mode",
        action="store_const",
        const="instances",
        help="one annotation per connected region (8-connected) of a class's mask (the default)",
    )
    mode.add_argument(
        "--semantic", dest="mode", action="store_const", const="semantic", help="one annotation per present class"
    )
    label.set_defaults(mode="instances")
    label.add_argument(
        "--label-maps",
        action="store_true",
        help="also write OUTPUT/label_maps/<file_name>.png, e.g. label_maps/sub/a.jpg.png (0 background, i class i)",
    )
    label.add_argument(
        "--class-masks",
        action="store_true",
        help="also write OUTPUT/masks/<file_name>/<class>.png, e.g. masks/sub/a.jpg/dog.png (0/255) per class",
    )
    label.add_argument("--threshold", type=parse_threshold, default=0.0, help="mask logit threshold (default 0.0)")
    label.add_argument(
        "--presence-threshold",
        type=parse_presence_threshold,
        default=0.5,
        help="presence probability below which a class is absent (default 0.5)",
    )
    label.add_argument(
        "--dtype", choices=list(DTYPES), default="float32", help="compute dtype (float16: GPUs only; default float32)"
    )
    label.add_argument("--batch-size", type=_positive, default=4, help="images per batch (default 4)")
    label.add_argument(
        "--num-workers", type=_non_negative, default=0, help="DataLoader workers reading images (default 0)"
    )
    label.set_defaults(run=run_label)


def _positive(value: str) -> int:
    if not re.fullmatch(r"\s*\d+\s*", value) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return int(value)


def _non_negative(value: str) -> int:
    if not re.fullmatch(r"\s*\d+\s*", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a non-negative integer")
    return int(value)


def read_classes(classes: str | None, classes_file: str | None) -> list[str]:
    """The vocabulary of `--classes` (comma-separated) or `--classes-file` (a name a line, blank lines skipped).

    Raises:
        ValueError: On an empty list or a class named twice. FileNotFoundError: On a missing classes file.
    """
    if classes_file is not None:
        if not os.path.isfile(classes_file):
            raise FileNotFoundError(f"--classes-file {classes_file!r} does not exist")
        with open(classes_file, encoding="utf-8") as file:
            names = [line.strip() for line in file if line.strip()]
        where = f"--classes-file {classes_file!r}"
    else:
        names = [name.strip() for name in classes.split(",")] if classes.strip() else []
        where = f"--classes {classes!r}"
    if any(not name for name in names):
        raise ValueError(f"{where} has an empty class name, expected names separated by commas")
    try:
        return check_vocabulary(names)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def model_fingerprint(model: torch.nn.Module) -> str:
    """A hash of the weights the model computes with, frozen and trained: the same folder retrained is another model.

    Left out: the base copies of the modules peft trains in full (`original_module`, read only with the adapter
    disabled), which say nothing of the annotations.
    """
    return _state_fingerprint(model, lambda name: ".original_module." not in f".{name}")


def _state_fingerprint(model: torch.nn.Module, keep: Callable[[str], bool] = lambda name: True) -> str:
    digest = hashlib.sha256()
    for name, parameter in model.state_dict().items():
        if keep(name):
            digest.update(name.encode())
            digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _earlier_runs_fingerprint(output: str, header: dict[str, Any], model: torch.nn.Module) -> str:
    """The `model_fingerprint` to record: this run's, or `output`'s when that is this model's by the hash of earlier
    versions (the whole `state_dict()`), so that their runs resume."""
    existing = read_header(output).get("model_fingerprint")
    if existing not in (None, header["model_fingerprint"]) and existing == _state_fingerprint(model):
        return existing
    return header["model_fingerprint"]


def run_label(args: argparse.Namespace) -> None:
    """Run `samptx label` with the parsed `args` of [`add_label_parser`]'s parser (on this process's share under
    `accelerate launch`).

    Ctrl-C stops the run with one line on stderr (the images done are on disk; the command that resumes) and exit
    status 130.

    Raises:
        FileNotFoundError: On missing images, classes file or model.
        FileExistsError: When `--output` is a folder with files that no labelling run wrote.
        ValueError: On an `--output` that is a file, lies under one or cannot be written, a bad vocabulary, a bad
            prompts file (or one naming images not among --images), images whose label maps or class masks would
            share a name, a dtype the device does not compute in, or an output of another run.
    """
    try:
        _label(args)
    except KeyboardInterrupt:
        print(_interrupted_line(args), file=sys.stderr)
        raise SystemExit(130) from None


def _interrupted_line(args: argparse.Namespace) -> str:
    """What Ctrl-C leaves: the images done (each on disk as it was done), and the command that resumes."""
    command = shlex.join(["samptx", *args.argv]) if getattr(args, "argv", None) else "the same command"
    if not read_header(args.output):
        return f"samptx label: interrupted before the first image; {args.output!r} holds no labels: run {command}"
    done = len(done_indices(args.output))
    return (
        f"samptx label: interrupted; the {done} images labelled so far are kept in {args.output!r}: "
        f"resume with {command}"
    )


def _label(args: argparse.Namespace) -> None:
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # 1. Arguments, images and the output folder, checked before the model loads.
    classes = read_classes(args.classes, args.classes_file)
    if len(classes) > 65535 and args.label_maps:
        raise ValueError(f"--label-maps holds at most 65535 classes (16-bit PNG), --classes has {len(classes)}")
    if args.class_masks:
        _check_class_mask_names(classes)
    source = open_image_source(args.images, args.image_column, args.split, args.image_root)
    if args.label_maps or args.class_masks:
        _check_picture_names(source.entries)
    prompts: dict[int, list[ImagePrompt]] = {}
    if args.prompts is not None:
        prompts = prompts_of_entries(read_prompts(args.prompts, classes), source.entries, args.prompts)
    check_output_path(args.output, "--output", "a folder (new, or an earlier run's)")
    # `accelerate launch --multi_gpu` on a CPU machine says so by ACCELERATE_USE_CPU; a bare PartialState() would
    # then run each process as a single one.
    on_cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or (args.device is not None and args.device.startswith("cpu"))
    state = PartialState(cpu=on_cpu)
    device = args.device or str(state.device)
    dtype = check_dtype(args.dtype, device)

    # 2. The model, and the run's header: an output of another model, vocabulary or options is refused.
    model, processor = load_model(args.model, device)
    header = _run_header(args, classes, model)
    header["model_fingerprint"] = _earlier_runs_fingerprint(args.output, header, model)
    _check_header_once(state, args.output, header)
    model = model.to(dtype=dtype).eval()
    annotator = BatchAnnotator(
        model,
        classes,
        processor=processor,
        threshold=args.threshold,
        presence_threshold=args.presence_threshold,
        keep_logits=args.label_maps,
    )

    # 3. This process's share of the images not done yet.
    done = done_indices(args.output)
    state.wait_for_everyone()  # every process has read the shards before any appends
    pending = [position for position, entry in enumerate(source.entries) if entry.index not in done]
    share = source.subset(share_of_images(state, pending))
    loader = DataLoader(share, batch_size=args.batch_size, num_workers=args.num_workers, collate_fn=list)

    # 4. Label, appending each image's record as it is done.
    _label_images(args, state, loader, annotator, prompts, classes)

    # 5. One JSON from every shard.
    state.wait_for_everyone()
    if state.is_main_process:
        _merge_and_report(Path(args.output), classes)


def _run_header(args: argparse.Namespace, classes: list[str], model: Any) -> dict[str, Any]:
    """What an output folder records of its run: an earlier run of another model, vocabulary or options is refused."""
    header = {
        "model": os.path.abspath(args.model) if os.path.isdir(args.model) else args.model,
        "model_fingerprint": model_fingerprint(model),
        "images": os.path.abspath(args.images) if os.path.exists(args.images) else args.images,
        "image_column": args.image_column,
        "split": args.split or "train",
        "classes": classes,
        "mode": args.mode,
        "threshold": args.threshold,
        "presence_threshold": args.presence_threshold,
        "dtype": args.dtype,
        "prompts": None
        if args.prompts is None
        else {"file": os.path.abspath(args.prompts), "sha256": prompts_fingerprint(args.prompts), "unprompted": "text"},
    }
    if args.label_maps or args.class_masks:  # runs before the names kept the extension recorded none
        header["picture_names"] = PICTURE_NAMES
    return header


def _label_images(
    args: argparse.Namespace,
    state: Any,
    loader: DataLoader,
    annotator: BatchAnnotator,
    prompts: dict[int, list[ImagePrompt]],
    classes: list[str],
) -> None:
    """Label this process's images, appending each image's record (or its error) to the process's shard."""
    output = Path(args.output)
    found = unreadable = 0
    with ShardWriter(output, state.process_index) as writer, _progress(state, len(loader.dataset)) as progress:
        for batch in loader:
            labelable, errors = _split_labelable(batch, annotator, prompts)
            image_prompts = [prompts.get(item.entry.index) for item in labelable]
            predictions = annotator.annotate([item.image for item in labelable], image_prompts)
            for item, image_predictions, prompted in zip(labelable, predictions, image_prompts, strict=True):
                _write_pictures(
                    args, output, item, _per_class(image_predictions, classes) if prompted else image_predictions
                )
                # A prompt's mask is one annotation, whatever --instances says: the prompt names one object.
                annotations = image_annotations(image_predictions, classes, "semantic" if prompted else args.mode)
                found += len(annotations)
                image = {
                    "id": item.entry.image_id,
                    "file_name": item.entry.file_name,
                    "height": item.image.height,
                    "width": item.image.width,
                }
                writer.append({"index": item.entry.index, "image": image, "annotations": annotations})
            for item, error in errors:
                image = {"id": item.entry.image_id, "file_name": item.entry.file_name}
                writer.append({"index": item.entry.index, "image": image, "error": error})
            progress.update(len(batch))
            unreadable += len(errors)
            progress.set_postfix(annotations=found, unreadable=unreadable, refresh=False)


def _merge_and_report(output: Path, classes: list[str]) -> None:
    """Merge every shard into one JSON and print what it holds."""
    counts = merge_shards(output, classes)
    left_out = ""
    if counts["unreadable"]:
        left_out = f", {counts['unreadable']} unreadable (listed in {output / UNREADABLE_NAME})"
    print(
        f"labelled {counts['images']} images with {len(classes)} classes{left_out}: "
        f"{counts['annotations']} annotations; wrote {output / ANNOTATIONS_NAME}"
    )


def _check_header_once(state: Any, output: str, header: dict[str, Any]) -> None:
    """The main process checks (or writes) the header; every process raises its error, none waits forever."""
    from accelerate.utils import broadcast_object_list

    problem: list[Exception | None] = [None]
    if state.is_main_process:
        try:
            check_or_write_header(output, header)
        except (OSError, ValueError) as error:
            problem = [error]
    if state.num_processes > 1:
        broadcast_object_list(problem)
    if problem[0] is not None:
        raise problem[0]


def _split_labelable(
    batch: list[LoadedImage], annotator: BatchAnnotator, prompts: dict[int, list[ImagePrompt]]
) -> tuple[list, list]:
    """The images the model can take, and `(image, reason)` for the others (unreadable, empty, too elongated, or
    with a prompt outside the image)."""
    labelable, errors = [], []
    for item in batch:
        if item.image is None:
            errors.append((item, item.error))
            continue
        try:
            annotator.processor.check_image_size((item.image.height, item.image.width))
            for number, prompt in enumerate(prompts.get(item.entry.index, [])):
                where = f"prompt {number} ({prompt.class_name!r}) of {item.entry.file_name!r}"
                prompt.check_inside(item.image.width, item.image.height, where)
        except ValueError as error:
            errors.append((item, str(error)))
            continue
        labelable.append(item)
    return labelable, errors


def _per_class(predictions: list[ClassPrediction], classes: list[str]) -> list[ClassPrediction]:
    """The predictions of an image's prompts as one per class of the vocabulary, for its label map and class masks:
    the union of the masks of a class's prompts, each pixel's logit the highest among the masks that hold it."""
    height, width = predictions[0].mask.shape
    merged = []
    for name in classes:
        own = [prediction for prediction in predictions if prediction.class_name == name]
        mask = np.zeros((height, width), dtype=bool)
        logits = np.full((height, width), -np.inf, dtype=np.float32) if predictions[0].logits is not None else None
        for prediction in own:
            mask |= prediction.mask
            if logits is not None:
                logits = np.maximum(logits, np.where(prediction.mask, prediction.logits, -np.inf))
        score = max((prediction.score for prediction in own), default=0.0)
        merged.append(ClassPrediction(name, mask, None, score, logits))
    return merged


def _write_pictures(args: argparse.Namespace, output: Path, item: LoadedImage, predictions: list) -> None:
    if args.label_maps:
        from ..inference.semantic import label_map_of

        save_label_map(label_map_path(output, item.entry.file_name), label_map_of(predictions))
    if args.class_masks:
        save_class_masks(class_masks_folder(output, item.entry.file_name), predictions)


def _check_picture_names(entries: Sequence[ImageEntry]) -> None:
    """`ValueError` naming two images whose label maps or class masks would share a name."""
    named: dict[str, str] = {}
    for entry in entries:
        name = picture_name(entry.file_name)
        if name in named:
            raise ValueError(
                f"images {named[name]!r} and {entry.file_name!r} would both write label_maps/{name}.png and "
                f"masks/{name}/: --label-maps and --class-masks need a distinct file_name per image"
            )
        named[name] = entry.file_name


def _check_class_mask_names(classes: list[str]) -> None:
    files: dict[str, str] = {}
    for name in classes:
        file = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:64]
        if file in files:
            raise ValueError(f"--class-masks: classes {files[file]!r} and {name!r} would both write {file}.png")
        files[file] = name


def _progress(state: Any, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc="labelling", disable=not state.is_main_process, dynamic_ncols=True)


__all__ = ["add_label_parser", "model_fingerprint", "read_classes", "run_label"]
