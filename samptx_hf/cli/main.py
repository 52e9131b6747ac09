"""The `samptx` command: segment an image by class name, evaluate on a dataset, push an adapter to the Hub."""

import argparse
import contextlib
import ipaddress
import os
import re
import signal
import socket
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import huggingface_hub
import numpy as np
from PIL import Image
from tqdm.auto import tqdm
from transformers.utils import logging as transformers_logging

from ..data.sources import DATASETS
from ..labelling.command import add_label_parser
from ..onnx.command import add_export_parser
from .model_arguments import (
    add_model_arguments,
    load_model,
    parse_presence_threshold,
    parse_threshold,
)

# Sources that generate their samples (`--num-samples`, `--seed`) and read no `--data`.
_GENERATED_DATASETS = ("synthetic", "synthetic_attributes")
# How `samptx eval` spells the arguments of `samptx_hf.data.load_split`, for its error messages.
_EVAL_DATA_FLAGS = {
    "data": "--data",
    "annotation_file": "--annotation-file",
    "classes_file": "--classes-file",
    "num_samples": "--num-samples",
    "image_list": "--image-list",
}

_DESCRIPTION = """SAM-PTx: Segment Anything guided by a class name.

commands:
  segment  segment what a class name names in one image (mask PNG + overlay PNG)
  eval     evaluate a model on a dataset (mIoU per class; COD metrics for COD10K)
  push     upload an adapter folder written by training to the Hugging Face Hub
  label    label a whole dataset by class names into COCO JSON (resumable; many processes via accelerate)
  export   export a model to ONNX graphs that onnxruntime runs without torch (needs samptx_hf[onnx])
  demo     serve a demo page: click on an image, type class names, see the masks (needs samptx_hf[demo])
  convert  convert a checkpoint of the authors' SAM-PTx code into an adapter repository

A MODEL is a local folder or a Hub id: a trained adapter repository (the frozen SAM and CLIP it names are loaded
first) or a full saved SamPtxForTextSegmentation. Run `samptx COMMAND --help` for each command's options."""

_SEGMENT_EXAMPLE = """examples:
  samptx segment --model user/sam-ptx-cod10k --image fish.jpg --text batfish --point 320,240 --output fish_mask.png
  (writes fish_mask.png, a 0/255 mask at the image's size, and fish_mask_overlay.png)

  samptx segment --model user/sam-ptx-cod10k --image fish.jpg --text batfish,seahorse,diver --output fish_mask.png
  without --point, --background-point or --box the class names alone are the prompt: every X, or none. Writes
  fish_mask_<class>.png (0/255) for each PRESENT class (characters other than letters, digits, '.', '-' and '_'
  become '_', cut to 64), fish_mask_labels.png (8-bit label map: 0 background, i for the i-th class of --text), and
  fish_mask_overlay.png (the present classes' masks); prints each class as present or absent with its presence
  (a model trained with a presence head; for one without, a class with an empty mask counts as absent)."""

_EVAL_EXAMPLE = """dataset sources (--data):
  synthetic  none: --num-samples samples of the built-in whole-or-part task, seeded by --seed
  synthetic_attributes  none: the same, of the earlier shapes-and-textures task
  cod10k     the folder holding Train/ and Test/ (split: train, test)
  camo       CAMO-V.1.0-CVIU2019: Images/Train, Images/Test, GT/ (split: train, test)
  chameleon  CHAMELEON: Imgs/, GT/ (split: test)
  camouflage a folder holding the three above (split: train = COD10K + CAMO, test = all three)
  coco       the image folder, with --annotation-file instances.json
  ade20k     ADEChallengeData2016 or its parent (split: training, validation)
  folder     root/<class>/images + root/<class>/masks, or a flat folder with --classes-file (split: a sub-folder)
  hf         a Hub dataset id, a local datasets folder or a save_to_disk folder (split: any)

example:
  samptx eval --model outputs/sam-ptx-synthetic --dataset synthetic --num-samples 256 --output-dir eval/"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The `samptx` command line: one sub-command per job."""
    parser = _Parser(prog="samptx", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_segment_parser(commands)
    add_label_parser(commands)
    add_export_parser(commands)
    _add_eval_parser(commands)
    _add_push_parser(commands)
    _add_convert_parser(commands)
    _add_demo_parser(commands)
    return parser


def _add_segment_parser(commands: Any) -> None:
    """`samptx segment`: one image, one or more classes."""
    segment = commands.add_parser(
        "segment",
        help="segment a class in one image",
        description="Segment what --text names in --image, at optional point/box prompts; write the mask and an "
        "overlay as PNG files.",
        epilog=_SEGMENT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(segment)
    segment.add_argument("--image", required=True, help="the image file (any format PIL reads)")
    segment.add_argument(
        "--text",
        required=True,
        help="the class name, e.g. 'batfish' (formatted with the model's prompt template); without a point or box, "
        "one or more class names separated by commas, e.g. 'batfish,seahorse'",
    )
    segment.add_argument(
        "--point",
        action="append",
        type=_point,
        default=None,
        metavar="X,Y",
        help="a foreground point in image pixels; repeat for several points",
    )
    segment.add_argument(
        "--background-point",
        action="append",
        type=_point,
        default=None,
        metavar="X,Y",
        help="a background point in image pixels; repeatable",
    )
    segment.add_argument("--box", type=_box, default=None, metavar="X1,Y1,X2,Y2", help="a box in image pixels")
    segment.add_argument(
        "--output", required=True, help="where to write the mask, a .png file (0 background, 255 mask; lossless)"
    )
    segment.add_argument(
        "--overlay",
        default=None,
        help="where to write the overlay, a .png file (default: OUTPUT with '_overlay' before the extension)",
    )
    segment.add_argument(
        "--threshold",
        type=parse_threshold,
        default=0.0,
        help="logit above which a pixel is in the mask (default 0.0, probability 0.5)",
    )
    segment.add_argument(
        "--presence-threshold",
        type=parse_presence_threshold,
        default=0.5,
        help="presence probability below which a class is absent and its mask empty (default 0.5; a model trained "
        "with a presence head)",
    )
    segment.add_argument(
        "--multimask",
        action="store_true",
        help="predict SAM's three masks and keep the one with the best predicted IoU (with --point or --box)",
    )
    segment.set_defaults(run=run_segment)


def _add_eval_parser(commands: Any) -> None:
    """`samptx eval`: a dataset's held-out scores."""
    evaluate = commands.add_parser(
        "eval",
        help="evaluate on a dataset",
        description="Segment every (image, class) sample of a dataset at its interior point and class name (or, "
        "with --prompt text, by its class name alone); write eval_results.json and eval_results.md (mIoU overall and "
        "per class; COD metrics for the camouflage sets; presence precision/recall/F1/MCC for a model with a presence "
        "head; the semantic mIoU with --prompt text) and print the tables.",
        epilog=_EVAL_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(evaluate)
    evaluate.add_argument("--dataset", required=True, choices=DATASETS, help="the data source (see below)")
    evaluate.add_argument("--data", default=None, help="folder, file or id of the data (not for synthetic)")
    evaluate.add_argument(
        "--split",
        default=None,
        help="split to evaluate (default: test; validation for ade20k; for folder, DATA/test when it exists, else "
        "all of DATA)",
    )
    evaluate.add_argument("--annotation-file", default=None, help="coco: the instances JSON")
    evaluate.add_argument("--classes-file", default=None, help="folder: JSON or CSV mapping images to class names")
    evaluate.add_argument("--class-name", default=None, help="hf: one class name for every row (single-class sets)")
    evaluate.add_argument(
        "--image-list",
        default=None,
        metavar="FILE",
        help="evaluate only the images this list names, one a line, its path first (e.g. UniMatch's "
        "splits/coco/val.txt), matched by file name; only those are read",
    )
    evaluate.add_argument("--num-samples", type=int, default=256, help="synthetic: number of samples (default 256)")
    evaluate.add_argument(
        "--seed",
        type=int,
        default=1,
        help="synthetic: seed of the samples (default 1, the held-out split of a training run with data seed 0)",
    )
    evaluate.add_argument("--max-samples", type=int, default=None, help="evaluate only the first N samples")
    evaluate.add_argument("--batch-size", type=int, default=8, help="samples per forward pass (default 8)")
    evaluate.add_argument(
        "--metric",
        action="append",
        choices=("mean_iou", "cod"),
        default=None,
        help="metrics to compute; repeatable (default: mean_iou, plus cod for the camouflage sets)",
    )
    evaluate.add_argument("--threshold", type=parse_threshold, default=0.0, help="mask logit threshold (default 0.0)")
    evaluate.add_argument(
        "--clicks",
        type=int,
        default=None,
        help="also run the interactive protocol with N simulated clicks per sample: mIoU@1..N, NoC@85/90",
    )
    evaluate.add_argument(
        "--prompt",
        choices=("point", "text", "mixed"),
        default="point",
        help="point: the interior point and the class name (default); text: the class name alone, scoring every "
        "instance of the class, the presence answers and the semantic mIoU over the vocabulary; mixed: the point "
        "for half of the samples",
    )
    evaluate.add_argument(
        "--absent-class-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="share of samples that name a class absent from their image, in [0, 1) (default 0): scored by the "
        "presence answers, left out of mIoU",
    )
    evaluate.add_argument("--output-dir", default=".", help="where to write eval_results.json/.md (default: .)")
    evaluate.set_defaults(run=run_eval)


def _add_push_parser(commands: Any) -> None:
    """`samptx push`: an adapter folder to the Hub."""
    push = commands.add_parser(
        "push",
        help="upload an adapter folder to the Hub",
        description="Upload a SAM-PTx adapter folder (written by training / save_adapter_repo) to a Hub model "
        "repository in one commit, creating the repository if needed. Only the adapter repository's files are "
        "sent, never frozen SAM/CLIP weights or checkpoints.",
    )
    push.add_argument("folder", help="the adapter folder")
    push.add_argument("repo_id", help="the Hub repository, e.g. your-name/sam-ptx-cod10k")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--commit-message", default="Upload SAM-PTx adapter", help="the commit message")
    push.add_argument("--verbose", action="store_true", help="show the libraries' warnings and tracebacks")
    push.set_defaults(run=run_push)


def _add_convert_parser(commands: Any) -> None:
    """`samptx convert`: an authors' checkpoint into an adapter repository."""
    convert = commands.add_parser(
        "convert",
        help="convert an authors' SAM-PTx checkpoint into an adapter repository",
        description="Convert a checkpoint written by the authors' SAM-PTx code (a torch.save of their SAM's "
        "state_dict, or a dict holding it under 'model_state_dict'; segment-anything's key layout) into an adapter "
        "repository of the reference form, loadable with SamPtxForTextSegmentation.from_pretrained(OUTPUT). The "
        "checkpoint is loaded with torch.load(weights_only=True); its frozen weights must be BASE's.",
    )
    convert.add_argument("--checkpoint", required=True, help="the authors' checkpoint file (.pth)")
    convert.add_argument(
        "--sam-model", required=True, help="the SAM it was trained from, e.g. facebook/sam-vit-base (BASE)"
    )
    convert.add_argument(
        "--text-model",
        default="openai/clip-vit-base-patch16",
        help="the CLIP text encoder whose embeddings the adapters read (default: openai/clip-vit-base-patch16, "
        "the authors')",
    )
    convert.add_argument("--output", required=True, help="the adapter repository folder to write")
    convert.add_argument("--verbose", action="store_true", help="show the libraries' warnings and tracebacks")
    convert.set_defaults(run=run_convert)


def _numbers(value: str, count: int, form: str) -> list[float]:
    parts = value.split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) != count:
        raise argparse.ArgumentTypeError(f"{value!r} is not {form} (numbers separated by commas)")
    return numbers


def _point(value: str) -> list[float]:
    return _numbers(value, 2, "X,Y")


def _box(value: str) -> list[float]:
    return _numbers(value, 4, "X1,Y1,X2,Y2")


# ----------------------------------------------------------------------------------------------- commands


def run_convert(args: argparse.Namespace) -> None:
    from ..hub.reference_checkpoint import convert_reference_checkpoint

    output = Path(args.output)
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"--output {output} is not empty: give a new folder for the adapter repository")
    folder = convert_reference_checkpoint(args.checkpoint, args.sam_model, args.text_model, output)
    print(f"Adapter repository written to {folder}")


def run_segment(args: argparse.Namespace) -> None:
    from ..inference.segment import load_image, overlay_mask, segment
    from ..processing.class_prompts import check_class_names
    from ..processing.input_checks import check_output_path

    text_only = not (args.point or args.background_point or args.box)
    try:
        class_names = check_class_names(args.text.split(",") if text_only else args.text)
    except ValueError as error:
        names = "class names separated by commas, such as 'batfish,seahorse'" if text_only else "a class name"
        raise ValueError(f"--text: {error} ({names})") from None
    if text_only and args.multimask:
        raise ValueError("--multimask needs --point or --box: a text-only call predicts one mask per class")
    output = Path(args.output)
    overlay_path = Path(args.overlay) if args.overlay else output.with_name(f"{output.stem}_overlay.png")
    if output.resolve() == overlay_path.resolve():
        raise ValueError(f"--overlay {str(overlay_path)!r} is the --output file: the overlay would replace the mask")
    class_paths = _class_mask_paths(output, class_names) if text_only else {}
    labels_path = output.with_name(f"{output.stem}_labels.png")
    written = [("--overlay", overlay_path)]
    if text_only:
        written += [("--output", path) for path in [*class_paths.values(), labels_path]]
    for flag, path in [("--output", output), *written]:
        if path.suffix.lower() != ".png":
            lossy = path.suffix.lower() in (".jpg", ".jpeg")
            why = " (JPEG is lossy: a mask's 0/255 pixels would not survive it)" if lossy else ""
            raise ValueError(f"{flag} {str(path)!r} is not a .png file name: samptx segment writes PNG{why}")
        if path.resolve() == Path(args.image).resolve():
            raise ValueError(f"{flag} {str(path)!r} is the --image file: it would be overwritten")
        if path.is_dir():
            raise ValueError(f"{flag} {str(path)!r} is a folder, expected a PNG file name")
        check_output_path(path, flag, "a PNG file name in a writable folder (created if missing)", is_file=True)
    image = load_image(args.image)  # fails early on a missing or unreadable file
    points = (args.point or []) + (args.background_point or [])
    point_labels = [1] * len(args.point or []) + [0] * len(args.background_point or [])
    model, processor = load_model(args.model, args.device)
    if text_only:
        _segment_every_class(args, model, processor, image, class_paths, labels_path, overlay_path)
        return
    (class_name,) = class_names
    result = segment(
        model,
        image,
        class_name,
        points=points or None,
        box=args.box,
        processor=processor,
        threshold=args.threshold,
        multimask_output=args.multimask,
        point_labels=point_labels or None,
    )
    for path in (output, overlay_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result.mask.astype(np.uint8) * 255).save(output, format="PNG")
    overlay_mask(image, result.mask, points=points, box=args.box, point_labels=point_labels).save(
        overlay_path, format="PNG"
    )
    print(
        f"{result.class_name}: {int(result.mask.sum())} of {result.mask.size} pixels, predicted IoU "
        f"{result.score:.3f}; wrote {output} and {overlay_path}"
    )


def _class_mask_paths(output: Path, class_names: list[str]) -> dict[str, Path]:
    """`<output stem>_<class>.png` per class (in order), next to `<output stem>_labels.png`, the label map.

    Raises:
        ValueError: When there are more than 255 classes, or two classes (or a class and the label map) would
            share a file.
    """
    if len(class_names) > 255:
        raise ValueError(f"--text names {len(class_names)} classes, expected at most 255 (the label map is 8-bit)")
    paths: dict[str, Path] = {}
    for name in class_names:
        path = output.with_name(f"{output.stem}_{re.sub(r'[^A-Za-z0-9._-]+', '_', name)[:64]}.png")
        taken = [other for other, other_path in paths.items() if other_path == path]
        if taken or path.name == f"{output.stem}_labels.png":
            what = f"class {taken[0]!r}" if taken else "the label map"
            raise ValueError(f"--text: class {name!r} would write {path.name}, as {what} does: rename one of them")
        paths[name] = path
    return paths


def _segment_every_class(
    args: argparse.Namespace,
    model: Any,
    processor: Any,
    image: Image.Image,
    class_paths: dict[str, Path],
    labels_path: Path,
    overlay_path: Path,
) -> None:
    """Text only: a mask file per present class, the label map and the overlay; print present and absent classes."""
    from ..inference.segment import overlay_mask
    from ..inference.semantic import segment_semantic

    semantic = segment_semantic(
        model,
        image,
        list(class_paths),
        presence_threshold=args.presence_threshold,
        threshold=args.threshold,
        processor=processor,
    )
    for path in [*class_paths.values(), labels_path, overlay_path]:
        path.parent.mkdir(parents=True, exist_ok=True)
    for result in semantic.results:
        presence = f"presence {result.presence:.3f}" if result.presence is not None else "no presence head"
        if result.class_name in semantic.present_classes:
            Image.fromarray(result.mask.astype(np.uint8) * 255).save(class_paths[result.class_name], format="PNG")
            print(
                f"present: {result.class_name} ({presence}, {int(result.mask.sum())} of {result.mask.size} pixels); "
                f"wrote {class_paths[result.class_name]}"
            )
        else:
            print(f"absent: {result.class_name} ({presence})")
    Image.fromarray(semantic.label_map.astype(np.uint8)).save(labels_path, format="PNG")
    overlay_mask(image, semantic.label_map > 0).save(overlay_path, format="PNG")
    legend = ", ".join(f"{index} {name}" for index, name in enumerate(semantic.classes, start=1))
    print(f"wrote {labels_path} (0 background, {legend}) and {overlay_path}")


def run_eval(args: argparse.Namespace) -> None:
    from ..evaluation.evaluate_model import evaluate_model, format_eval_results, write_eval_results

    _check_eval_arguments(args)  # before the data and the model load, not after the evaluation ran
    dataset, dropped = _load_eval_split(args)
    if args.max_samples is not None:
        dataset = dataset.select(range(min(args.max_samples, len(dataset))))
    camouflaged = ("cod10k", "camo", "chameleon", "camouflage")
    metrics = args.metric or (["mean_iou", "cod"] if args.dataset in camouflaged else ["mean_iou"])
    model, processor = load_model(args.model, args.device)
    parts = _eval_parts(args, dataset)
    for name, (part, output_dir) in parts.items():
        with tqdm(
            desc="evaluating" if len(parts) == 1 else f"evaluating {name}", unit="sample", dynamic_ncols=True
        ) as bar:

            def progress(done: int, total: int, bar: tqdm = bar) -> None:
                if bar.total != total:  # the semantic pass counts (image, class) pairs
                    bar.reset(total=total)
                bar.update(done - bar.n)

            results = evaluate_model(
                model,
                part,
                batch_size=args.batch_size,
                metrics=list(dict.fromkeys(metrics)),
                threshold=args.threshold,
                image_processor=processor.image_processor if processor is not None else None,
                dataset_name=name,
                progress=progress,
                num_clicks=args.clicks,
                prompt_mode=args.prompt,
                absent_class_fraction=args.absent_class_fraction,
            )
        if dropped:
            results["dropped_samples"] = dropped
        path = write_eval_results(results, output_dir)
        print(format_eval_results(results))
        print(f"wrote {path} and {path.with_suffix('.md')}")


def _check_eval_arguments(args: argparse.Namespace) -> None:
    """Refuse `samptx eval`'s flags that cannot work together, or an output folder that cannot be written."""
    from ..evaluation.evaluate_model import check_output_dir

    if args.dataset in _GENERATED_DATASETS and args.data is not None:
        raise ValueError(
            f"--data {args.data!r} is not used by --dataset {args.dataset}, which generates its samples "
            "(--num-samples, --seed): drop --data, or name the source it holds (e.g. --dataset folder)"
        )
    check_output_dir(args.output_dir, "--output-dir")
    if args.max_samples is not None and args.max_samples < 1:
        raise ValueError(f"--max-samples {args.max_samples}, expected at least 1")
    if args.clicks is not None and args.clicks < 1:
        raise ValueError(f"--clicks {args.clicks}, expected at least 1 click")
    if not 0 <= args.absent_class_fraction < 1:  # NaN fails too
        raise ValueError(
            f"--absent-class-fraction {args.absent_class_fraction}, expected a fraction in [0, 1) (the share of "
            "samples that name a class absent from their image)"
        )


def _load_eval_split(args: argparse.Namespace) -> tuple[Any, dict[str, int]]:
    """The split to evaluate, and how many samples validation dropped for each reason (each drop is also printed,
    with or without --verbose)."""
    from ..data import DroppedSamplesWarning, load_split

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DroppedSamplesWarning)
        dataset = load_split(
            args.dataset,
            args.data,
            args.split,
            annotation_file=args.annotation_file,
            classes_file=args.classes_file,
            class_name=args.class_name,
            num_samples=args.num_samples,
            seed=args.seed,
            flags=_EVAL_DATA_FLAGS,
            progress=True,
            image_list=args.image_list,
        )
    dropped: dict[str, int] = {}
    for warning in caught:
        if not issubclass(warning.category, DroppedSamplesWarning):
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
            continue
        print(f"samptx eval: warning: {warning.message}", file=sys.stderr)
        for reason, count in warning.message.counts.items():
            dropped[reason] = dropped.get(reason, 0) + count
    return dataset, dropped


def _eval_parts(args: argparse.Namespace, dataset: Any) -> dict[str, tuple[Any, Path]]:
    """What is reported, by name: the split into `--output-dir`, or, for a dataset of several sets (camouflage:
    COD10K, CAMO, CHAMELEON), each set into its sub-folder."""
    sources = list(dict.fromkeys(dataset["source"])) if "source" in dataset.column_names else []
    if len(sources) <= 1:
        return {args.dataset: (dataset, Path(args.output_dir))}
    return {
        f"{args.dataset}/{source}": (
            dataset.select([i for i, name in enumerate(dataset["source"]) if name == source]),
            Path(args.output_dir) / source,
        )
        for source in sources
    }


def run_push(args: argparse.Namespace) -> None:
    from ..hub import upload_adapter_repo

    commit = upload_adapter_repo(
        args.folder, args.repo_id, private=args.private or None, commit_message=args.commit_message
    )
    print(f"pushed {args.folder} to {commit.commit_url}")


def _add_demo_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="serve a demo page in the browser",
        description="Serve a web page (a Gradio app) where you upload an image, type class names and click on the "
        "object; it shows each class's mask with SAM's predicted IoU and lets you download the masks as PNG. The "
        "page's 'Segment' button is also an API endpoint, /segment (see 'Use via API' at the bottom of the page). "
        "Needs gradio: pip install 'samptx_hf[demo]'.",
        epilog="example:\n  samptx demo --model outputs/sam-ptx-synthetic --port 7860   (then open http://127.0.0.1:7860)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(demo)
    demo.add_argument(
        "--port", type=_port, default=None, help="the port to serve on (default: $GRADIO_SERVER_PORT or 7860)"
    )
    demo.add_argument(
        "--host",
        type=_host,
        default=None,
        help="the address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 for every interface)",
    )
    demo.add_argument(
        "--share",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also serve the page through a temporary public gradio.live link (needs the internet; default: no)",
    )
    demo.set_defaults(run=_run_demo)


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1 to 65535)")
    return int(value)


def _host(value: str) -> str:
    """An IP address, or a host name (checked when the server starts); dotted numbers must be an IP address."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not value or re.fullmatch(r"[\d.]+", value) or not re.fullmatch(r"[A-Za-z0-9.-]+", value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a valid address, expected an IP address such as 127.0.0.1, 0.0.0.0 (every interface) "
            "or ::1, or a host name"
        )
    return value


def _can_listen_on(host: str) -> bool:
    """Whether a server can listen on `host` (any free port): it names an address of this machine."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.bind(address)
    except OSError:
        return False
    return True


def _run_demo(args: argparse.Namespace) -> None:
    from ..demo import build_demo, import_gradio

    try:
        import_gradio()  # before the model loads: say at once that gradio is missing
    except ImportError as error:
        raise SystemExit(f"samptx demo: error: {' '.join(str(error).split())}") from error
    host = args.host or os.environ.get("GRADIO_SERVER_NAME")
    if host is not None and not _can_listen_on(host):  # before the model loads, and before uvicorn logs its own error
        raise OSError(
            f"--host {host} is not an address of this machine, expected one of its addresses, 127.0.0.1 or 0.0.0.0 "
            "(every interface)"
        )
    model, processor = load_model(args.model, args.device)
    # A process manager's stop (SIGTERM), a closed terminal (SIGHUP) and Ctrl-C (SIGINT) end the server alike: Gradio
    # closes it and Python exits normally, removing the page's temporary folder (SIGKILL cannot be caught). A stop
    # that comes while the page is built or the server starts is held until it has started: interrupted inside
    # Gradio's start-up, the server's thread could be left running, and the process with it.
    stop_signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    held: list[int] = []
    previous = {number: signal.signal(number, lambda signum, _: held.append(signum)) for number in stop_signals}
    demo = None
    try:
        demo = build_demo(model, processor, model_name=args.model)
        try:
            demo.launch(
                server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                prevent_thread_lock=True,
            )  # fmt: skip
        except OSError as error:
            if "empty port" in str(error):  # Gradio's message names its launch() parameter, not the flag
                port = args.port or os.environ.get("GRADIO_SERVER_PORT", 7860)
                raise OSError(f"port {port} is in use; choose another with --port") from error
            raise
        for number in stop_signals:
            signal.signal(number, _interrupt)
        if not held:
            # Until a stop signal; Gradio then closes the server. The suppress catches one that comes between the check
            # and Gradio's own handler.
            with contextlib.suppress(KeyboardInterrupt):
                demo.block_thread()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if demo is not None:
            demo.close()
            demo.remove_work_dir()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence transformers' and huggingface_hub's logs and progress bars, and library warnings, for a command."""
    verbosity = transformers_logging.get_verbosity()
    progress_bar = transformers_logging.is_progress_bar_enabled()
    hub_progress_bars_disabled = huggingface_hub.utils.are_progress_bars_disabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if progress_bar:
            transformers_logging.enable_progress_bar()
        if not hub_progress_bars_disabled:
            huggingface_hub.utils.enable_progress_bars()


def main(argv: Sequence[str] | None = None) -> int:
    """Run `samptx` with `argv` (default: the command line); return the exit status (0, 1 on an error)."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command again, for a message that says "resume"
    verbose = getattr(args, "verbose", False)
    try:
        with contextlib.nullcontext() if verbose else _quiet_libraries():
            args.run(args)
    except (OSError, ValueError) as error:
        print(f"samptx {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # not a bad input we know of: one line, the traceback with --verbose
        if verbose:
            raise
        message = f"{type(error).__name__}: {_one_line(error)} (--verbose shows the traceback)"
        print(f"samptx {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
