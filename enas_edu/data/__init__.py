"""Data: CIFAR-10 and Penn Treebank for real (verified downloads), small real data shipped with
the package, and exact-format synthetic files for tests. Batches are made on the device."""

from .augment import Augment, ImageBatches, normalize
from .cifar10 import ImageData, cifar10_splits, load_cifar10
from .download import DatasetUnavailableError, data_root
from .embedded import digits, kjv_text
from .ptb import TextData, Vocabulary, batchify, bptt_windows, load_ptb, random_window

__all__ = ["Augment", "ImageBatches", "normalize", "ImageData", "cifar10_splits", "load_cifar10",
           "DatasetUnavailableError", "data_root", "digits", "kjv_text", "TextData", "Vocabulary",
           "batchify", "bptt_windows", "load_ptb", "random_window"]
