"""Batches of images made on the training device, vectorised over the batch.

A 2-vCPU Colab machine cannot feed a GPU through per-image PIL transforms (reference/
performance.md section 4), so the images stay on the device as uint8 and each batch is
normalised and augmented there in a few tensor operations:

- normalise with the training split's mean and std;
- pad 4 pixels with zeros *after* normalising (so the padding is the mean colour, as in the
  official ``_pre_process``, which pads the already-normalised image), random 32 x 32 crop;
- random horizontal flip;
- cutout (final training): one square per image set to 0, again in normalised units.

Every random draw comes from a generator seeded by (seed, epoch, batch index), so an epoch's
batches are the same whether or not the run was interrupted and resumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> float32, (x / 255 - mean) / std per channel."""
    x = x.float().div_(255.0)
    return (x - mean.view(1, -1, 1, 1).to(x.device)) / std.view(1, -1, 1, 1).to(x.device)


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` then crop back at a random offset per image: [N, C, H, W] -> same."""
    N, C, H, W = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))                 # [N, C, H+2p, W+2p]
    off = torch.randint(0, 2 * pad + 1, (2, N), generator=generator, device=x.device)
    rows = (off[0, :, None] + torch.arange(H, device=x.device)).view(N, 1, H, 1)
    cols = (off[1, :, None] + torch.arange(W, device=x.device)).view(N, 1, 1, W)
    padded = padded.gather(2, rows.expand(N, C, H, W + 2 * pad))              # [N, C, H, W+2p]
    return padded.gather(3, cols.expand(N, C, H, W))                           # [N, C, H, W]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


CUTOUT_SHAPES = ("official", "centred")


def cutout(x: torch.Tensor, size: int, generator: torch.Generator, shape: str = "official") -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image.

    ``"official"`` (melodyguan/enas ``models.py``: a padded mask cropped back to the image): the
    square's top-left corner is uniform over the image and the square is cut off at the bottom
    and right edges only, 150 of 1,024 pixels on average for 16 on 32 x 32. ``"centred"``: the
    centre is uniform and every side is clipped (DeVries & Taylor's code), 196 pixels on average.
    """
    if shape not in CUTOUT_SHAPES:
        raise ValueError(f"cutout shape must be one of {CUTOUT_SHAPES}, got {shape!r}")
    N, _, H, W = x.shape
    corner = torch.stack([torch.randint(0, H, (N,), generator=generator, device=x.device),
                          torch.randint(0, W, (N,), generator=generator, device=x.device)])
    lo = corner if shape == "official" else corner - size // 2          # [2, N]
    r = torch.arange(H, device=x.device).view(1, H, 1)
    c = torch.arange(W, device=x.device).view(1, 1, W)
    inside = ((r >= lo[0].view(N, 1, 1)) & (r < (lo[0] + size).view(N, 1, 1)) &
              (c >= lo[1].view(N, 1, 1)) & (c < (lo[1] + size).view(N, 1, 1)))   # [N, H, W]
    return x.masked_fill(inside.unsqueeze(1), 0.0)


@dataclass
class Augment:
    """What to do to a training batch; ``Augment(crop=0, flip=False)`` does nothing."""

    crop: int = 4          # zero padding before the random crop; 0: no crop
    flip: bool = True
    cutout: int = 0        # --child_cutout_size (16 for the 2.89% micro model); 0: none
    cutout_shape: str = "official"    # see cutout()

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop:
            x = random_crop(x, self.crop, generator)
        if self.flip:
            x = random_flip(x, generator)
        if self.cutout:
            x = cutout(x, self.cutout, generator, self.cutout_shape)
        return x


def batch_generator(seed: int, epoch: int, index: int, device: torch.device | str) -> torch.Generator:
    """The generator of one batch: a function of (seed, epoch, batch index) alone."""
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + epoch) * 1_000_003 + index)
    return g


def canonical_order(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A fixed order of a split that depends on the images, not on the order they came in.

    Scoring in batch-norm training mode (the search's rewards, ``derive``) makes a child's score
    depend on which images share a batch: an image folder's validation split read class by class
    gives batches of two or three classes, and the same ten candidates scored 0.17-0.25 that way
    and 0.32-0.39 shuffled (issue #28). Sorting by an exact integer hash of each image and its
    label gives mixed batches, and the same batches for any permutation of the split.
    x: uint8 [N, C, H, W], y: int64 [N] -> a permutation [N].
    """
    g = torch.Generator().manual_seed(20180209)                  # any fixed seed; the paper's arXiv date
    weights = torch.randint(0, 2 ** 31, (x[0].numel(),), generator=g, dtype=torch.long).to(x.device)
    # integer arithmetic: 255 * 2^31 * 3,072 pixels < 2^63, so the key is exact on any device
    key = torch.cat([(chunk.flatten(1).long() * weights).sum(1) for chunk in x.split(1024)])   # [N]
    return torch.argsort(key * 1009 + y.to(key.device), stable=True)


class ImageBatches:
    """One epoch of (images, labels) batches from uint8 tensors on the device.

    ``ImageBatches(x, y, batch_size, mean, std, augment=None, shuffle=True, seed=0)``;
    ``epoch(e, start=0)`` yields the batches of epoch ``e`` from batch ``start`` on, so a resumed
    run continues exactly. Images come out normalised, float32, channels_last if asked.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, mean: torch.Tensor,
                 std: torch.Tensor, augment: Augment | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False, channels_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.mean, self.std = mean.to(x.device), std.to(x.device)
        self.augment, self.shuffle, self.seed = augment, shuffle, seed
        self.drop_last, self.channels_last = drop_last, channels_last

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(len(self.x), device=self.x.device)
        g = batch_generator(self.seed, epoch, -1, self.x.device)
        return torch.randperm(len(self.x), generator=g, device=self.x.device)

    def epoch(self, epoch: int, start: int = 0):
        order = self.order(epoch)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            images = normalize(self.x[idx], self.mean, self.std)             # [B, 3, H, W] float
            if self.augment is not None:
                images = self.augment(images, batch_generator(self.seed, epoch, i, self.x.device))
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, self.y[idx]

    def __iter__(self):
        return self.epoch(0)
