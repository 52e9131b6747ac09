"""The sections of `run_benchmarks.py`, in the order they run and are reported.

A new section is a module here that ends with `SECTION = Section(name, summary, measure, report)` (see
`common.Section`), listed below.
"""

from common import Section

from . import inference, labelling, multiclass, onnx, overhead, params, placement, text, training

SECTIONS: dict[str, Section] = {
    module.SECTION.name: module.SECTION
    for module in (inference, params, training, text, multiclass, placement, overhead, labelling, onnx)
}
