"""Images per second: enas_edu's batched augmentation vs a per-image pipeline in DataLoader workers.

Usage: ``python benchmarks/augment.py [--images 20000] [--batch 160] [--repeats 3]``.

Both produce the same thing for a CIFAR-shaped uint8 data set: normalise, pad 4 and random-crop
32 x 32, random horizontal flip, as float32 batches of ``--batch`` (160, the micro search batch).

- batched: ``enas_edu.data.ImageBatches`` with ``Augment()``, on this CPU, in the main process.
- per-image: what torchvision's ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``,
  ``ToTensor()``, ``Normalize()`` do, written with PIL as torchvision does internally, in a
  ``Dataset`` read by a ``DataLoader`` with 2 worker processes. (torchvision itself cannot be
  installed beside the CPU torch 2.13 wheel here: PyPI's torchvision fails to import with it.)

The ratio of the two, measured in one run, goes to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from PIL import Image, ImageOps

from enas_edu.data import Augment, ImageBatches
from enas_edu.data.synthetic import cifar_like_images

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


class PerImage(torch.utils.data.Dataset):
    """RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, image by image."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images_hwc, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = ImageOps.expand(Image.fromarray(self.images[i]), border=4, fill=0)
        x, y = np.random.randint(0, 9, 2)
        img = img.crop((x, y, x + 32, y + 32))
        if np.random.rand() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        arr = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
        return torch.from_numpy(arr.transpose(2, 0, 1).copy()), int(self.labels[i])


def time_batched(x, y, batch: int) -> float:
    batches = ImageBatches(x, y, batch, torch.from_numpy(MEAN), torch.from_numpy(STD), augment=Augment())
    t0 = time.perf_counter()
    n = sum(images.shape[0] for images, _ in batches.epoch(0))
    return n / (time.perf_counter() - t0)


def time_per_image(x_hwc, y, batch: int, workers: int) -> float:
    loader = torch.utils.data.DataLoader(PerImage(x_hwc, y), batch_size=batch, shuffle=True,
                                         num_workers=workers, persistent_workers=False)
    t0 = time.perf_counter()
    n = sum(images.shape[0] for images, _ in loader)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x, y = cifar_like_images(args.images, seed=0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    x_hwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    batched, per_image = [], []
    for _ in range(args.repeats):                      # alternate A/B to share the machine's noise
        batched.append(time_batched(xt, yt, args.batch))
        per_image.append(time_per_image(x_hwc, y, args.batch, workers=2))
    b, p = statistics.median(batched), statistics.median(per_image)
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads; {args.images} CIFAR-shaped images, batch {args.batch}, "
          f"median of {args.repeats} alternating runs")
    print()
    print("| pipeline | images/s |")
    print("|---|---|")
    print(f"| batched on the device (enas_edu ImageBatches, CPU here) | {b:,.0f} |")
    print(f"| per-image PIL transforms, DataLoader with 2 workers | {p:,.0f} |")
    print(f"| ratio batched / per-image | {b / p:.1f}x |")


if __name__ == "__main__":
    main()
