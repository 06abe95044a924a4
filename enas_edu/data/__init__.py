"""Data: CIFAR-10 and Penn Treebank for real (verified downloads), small real data shipped with
the package, the reader's own images and text (files, arrays, torchvision, Hugging Face), and
exact-format synthetic files for tests. Batches are made on the device."""

from .augment import Augment, ImageBatches, normalize
from .cifar10 import ImageData, cifar10_splits, load_cifar10
from .download import DatasetUnavailableError, data_root
from .embedded import digits, kjv_text
from .own_images import read_image_folder, save_arrays, use_arrays
from .own_text import write_text_splits
from .ptb import TextData, Vocabulary, batchify, bptt_windows, load_ptb, random_window

__all__ = ["Augment", "ImageBatches", "normalize", "ImageData", "cifar10_splits", "load_cifar10",
           "DatasetUnavailableError", "data_root", "digits", "kjv_text", "TextData", "Vocabulary",
           "batchify", "bptt_windows", "load_ptb", "random_window", "read_image_folder", "save_arrays",
           "use_arrays", "write_text_splits"]
