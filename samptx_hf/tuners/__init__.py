"""PEFT methods of samptx_hf."""

from .parallel_text import ParallelTextConfig, ParallelTextLayer, ParallelTextModel

__all__ = ["ParallelTextConfig", "ParallelTextLayer", "ParallelTextModel"]
