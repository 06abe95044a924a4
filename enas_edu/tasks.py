"""The two kinds of task ENAS searches on: image classification (macro, micro) and language
modelling (the RNN cell). A task owns its data on the device and knows how to compute a training
loss, a controller reward and an evaluation for a network running an architecture.

Rewards (reference/enas.md section 2a): for images, the accuracy on one validation minibatch,
not augmented, the next batch of a shuffled pass each time; for text, ``80 / perplexity`` on one
validation window (enas_lm ``REWARD_CONSTANT``), from a zero hidden state; the windows come in
order through the validation stream, as enas_lm's ``input_producer`` gives them
(``DataConfig.reward_windows``; "random" draws a window at a random offset instead).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import LIBRARY_DATASETS, OWN_DATASETS, SYNTHETIC_DATASETS, DataConfig
from .data import (Augment, ImageBatches, batchify, bptt_windows, cifar10_splits, data_root, digits, kjv_text,
                   load_ptb, random_window)
from .data.augment import batch_generator, canonical_order
from .data.cifar10 import BATCH_FILES, enas_split, find_cifar10, load_cifar10
from .data.own_images import own_images, per_class_split
from .data.own_text import hf_text, own_text
from .data.ptb import SPLITS, find_ptb
from .data.synthetic import write_cifar10, write_ptb
from .runs import atomic_write_text, read_json

REWARD_CONSTANT = 80.0   # enas_lm controller.py


def _synthetic_root(run_dir: Path | None) -> Path:
    """Synthetic files go into the run directory, a folder the library owns: never into a
    folder the user named (DataConfig refuses data_dir for synthetic data)."""
    if run_dir is None:
        raise ValueError("synthetic data is written into the run directory; give the task a run_dir")
    return Path(run_dir) / "synthetic_data"


def describe(data, cfg: DataConfig) -> dict:
    """What a run actually read: kind, name, folder, whether checksums were checked, sizes, and
    for a reader's own data how it was read and split, with a fingerprint of the files.

    Logged with every (re)start in ``environment.jsonl`` under ``data_source``, and kept in the
    run directory as ``data.json`` (:func:`check_same_data`).
    """
    local = data.source and not data.source.startswith("hf:")
    out = {"kind": cfg.dataset, "name": data.name, "path": str(Path(data.source).resolve()) if local else data.source,
           "checksums_verified": cfg.dataset not in SYNTHETIC_DATASETS + OWN_DATASETS + LIBRARY_DATASETS,
           "fingerprint": data.facts.get("fingerprint")}
    if hasattr(data, "vocab"):
        out.update(vocabulary=len(data.vocab), words={s: int(getattr(data, s).numel()) for s in ("train", "valid", "test")})
        if getattr(data.vocab, "dropped_types", 0):
            out["vocabulary_cap"] = {"max_vocab": cfg.max_vocab, "dropped_types": data.vocab.dropped_types,
                                     "dropped_share": round(data.vocab.dropped_share, 4)}
    else:
        out.update(classes=data.num_classes, image_shape=list(data.train_x.shape[1:]),
                   images={"train": len(data.train_x), "valid": 0 if data.valid_x is None else len(data.valid_x),
                           "test": len(data.test_x)})
    if data.facts:
        out["details"] = {k: v for k, v in data.facts.items() if k != "fingerprint"}
    return out


def files_fingerprint(paths) -> str:
    """sha256 over the names and contents of ``paths`` (a reader's files in a known format)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode())
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def check_same_data(run_dir: Path, source: dict, resume: bool, write: bool = True) -> None:
    """Keep what a run reads in ``run_dir/data.json``; a resumed run (or ``derive``) refuses to go
    on with other data: another kind, other sizes, or files whose fingerprint changed.
    ``write=False`` (a run opened read-only) only compares."""
    path = Path(run_dir) / "data.json"
    if resume and path.exists():
        saved = read_json(path)
        keys = ("kind", "fingerprint", "images", "words", "vocabulary", "classes")
        changed = [k for k in keys if saved.get(k) != source.get(k)]
        if changed:
            raise ValueError(f"{run_dir} was started on other data than it reads now (changed: {', '.join(changed)}; "
                             f"then {[saved.get(k) for k in changed]}, now {[source.get(k) for k in changed]}; "
                             f"then read from {shown_path(saved.get('path'))}). Restore that data to resume, or "
                             "start a new run directory")
        return
    if write:
        atomic_write_text(path, json.dumps(source, indent=1))


def own_cifar_format(cfg: DataConfig, mode: str):
    """A user's images in CIFAR-10's python-batch layout: no checksum (none is published for them),
    read by the restricted unpickler; the search validates on the last tenth of the training
    images unless ``num_valids`` says otherwise (the official 5,000 is a tenth of CIFAR-10's)."""
    arrays = load_cifar10(cfg.data_dir, verify=False)
    num_valids = cfg.num_valids if cfg.num_valids is not None else max(1, len(arrays[0]) // 10)
    folder = find_cifar10(data_root(cfg.data_dir))
    data = enas_split(f"own CIFAR-format images from {cfg.data_dir} (not CIFAR-10)", *arrays,
                      num_valids=num_valids if mode == "search" else 0, source=str(folder))
    data.facts["fingerprint"] = files_fingerprint(folder / name for name in BATCH_FILES if (folder / name).is_file())
    return data


def shown_path(path) -> str:
    """``path`` as a message shows it: relative to the working directory when inside it (a
    printed line, or a chapter's output, then names no folder of the machine that ran it)."""
    if not path:
        return str(path)
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except (OSError, ValueError):
        return str(path)


def data_line(source: dict) -> str:
    """One line naming what a run reads, for the command line: kind, sizes, folder, checksums."""
    if "vocabulary" in source:
        sizes = f"{source['vocabulary']:,}-word vocabulary, {source['words']['train']:,} training words"
    else:
        shape = "x".join(map(str, source["image_shape"]))
        n = source["images"]
        sizes = (f"{n['train']:,} training, {n['valid']:,} validation and {n['test']:,} test images of {shape}, "
                 f"{source['classes']} classes")
    checked = ("checksums verified" if source["checksums_verified"] else
               "generated for this run" if source["kind"] in SYNTHETIC_DATASETS else
               "downloaded and checked by torchvision" if source["kind"] == "torchvision" else
               "loaded by Hugging Face datasets" if source["kind"] == "hf_text" else
               "your own files: no checksum (none is published for them)")
    line = f"data: {source['name']} [{source['kind']}]: {sizes}; read from {shown_path(source['path'])}; {checked}"
    cap = source.get("vocabulary_cap")
    if cap:
        line += (f"; vocabulary capped at {cap['max_vocab']:,} words (--max-vocab): {cap['dropped_types']:,} other "
                 f"word types, {100 * cap['dropped_share']:.1f}% of the training words, read as <unk>")
    skipped = source.get("details", {}).get("files_skipped")
    if skipped:
        n = sum(skipped.values())
        line += f"; skipped {n} file{'s' * (n != 1)} (" + ", ".join(f"{why}: {k}" for why, k in skipped.items()) + ")"
    return line


def train_subset(data, images: int, seed: int):
    """``data`` training on about ``images`` of its training images, the same share of each class
    (each class's count rounded, so the total can differ by a few), drawn with ``seed``; the
    validation and test splits and the normalisation stay as they are. Recorded in the facts."""
    n = len(data.train_y)
    if images >= n:
        return data
    if images < data.num_classes:
        raise ValueError(f"--max-train-images {images} is fewer than the {data.num_classes} classes of "
                         f"{data.name}; give at least one image per class")
    _, keep = per_class_split(data.train_y.cpu(), images / n, seed)      # [k] indices, in the original order
    if len(keep) < data.num_classes:   # a fraction that rounds every class to nothing
        raise ValueError(f"--max-train-images {images} of {n:,} images leaves {len(keep)}; give more")
    facts = dict(data.facts or {}, train_subset={"images": len(keep), "of": n, "split_seed": seed,
                                                  "per_class": "the same share of each class"})
    return dataclasses.replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep], facts=facts)


class ImageTask:
    """CIFAR-10 (or the shipped digits, synthetic CIFAR-format files, or the reader's own images) on the device."""

    kind = "image"

    def __init__(self, cfg: DataConfig, mode: str, seed: int, device: torch.device,
                 channels_last: bool = False, run_dir: Path | None = None):
        if cfg.dataset == "cifar10":
            data = cifar10_splits(mode, cfg.data_dir, cfg.download, num_valids=cfg.num_valids)
        elif cfg.dataset in ("digits", "digits8"):
            data = digits(mode, **({} if cfg.num_valids is None else {"num_valids": cfg.num_valids}),
                          native=cfg.dataset == "digits8")
        elif cfg.dataset == "synthetic_cifar":
            root = _synthetic_root(run_dir)
            if not (root / "cifar-10-batches-py" / "data_batch_1").exists():
                write_cifar10(root, num_train=500, num_test=100, seed=seed)
            data = cifar10_splits(mode, root, verify=False, num_valids=cfg.num_valids or 50,
                                  name="synthetic CIFAR-format data (enas_edu.data.synthetic)")
        elif cfg.dataset == "cifar_format":
            data = own_cifar_format(cfg, mode)
        elif cfg.dataset in ("images", "torchvision"):
            data = own_images(cfg, mode)
        else:
            raise ValueError(f"dataset {cfg.dataset!r} is not an image data set")
        if cfg.max_train_images is not None:
            data = train_subset(data, cfg.max_train_images, cfg.split_seed)
        data = data.to(device)
        for split in ("valid", "test"):   # scores must not depend on the order the split came in
            x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
            if x is not None:
                order = canonical_order(x, y)
                data = dataclasses.replace(data, **{f"{split}_x": x[order], f"{split}_y": y[order]})
        self.data = data
        self.cfg, self.seed, self.device, self.channels_last = cfg, seed, device, channels_last
        d = self.data
        augment = Augment(cutout=cfg.cutout, cutout_shape=cfg.cutout_shape, flip=cfg.flip) if cfg.augment else None
        self.train = ImageBatches(d.train_x, d.train_y, cfg.batch_size, d.mean, d.std, augment=augment,
                                  seed=seed, drop_last=cfg.drop_last and len(d.train_x) >= cfg.batch_size,
                                  channels_last=channels_last)
        self.reward_position = [0, 0]   # (pass over the validation set, batch index)
        if d.valid_x is not None:
            self.valid = ImageBatches(d.valid_x, d.valid_y, cfg.batch_size, d.mean, d.std, seed=seed + 1,
                                      drop_last=len(d.valid_x) >= cfg.batch_size, channels_last=channels_last)

    @property
    def name(self) -> str:
        return self.data.name

    def describe(self) -> dict:
        return describe(self.data, self.cfg)

    def train_epoch(self, epoch: int, start: int = 0):
        return self.train.epoch(epoch, start)

    def num_train_steps(self) -> int:
        return len(self.train)

    def nominal_steps(self) -> int:
        """Steps of one pass as ``fixed_steps`` counts them: the same as a pass, for images."""
        return len(self.train)

    def loss(self, net, batch, arch=None, carry=None, aux_weight: float = 0.0):
        x, y = batch
        out = net(x, arch) if arch is not None else net(x)
        if isinstance(out, tuple):                       # (logits, aux_logits) from the aux head
            logits, aux = out
            loss = F.cross_entropy(logits, y) + aux_weight * F.cross_entropy(aux, y)
        else:
            logits, loss = out, F.cross_entropy(out, y)
        return loss, None, {"acc": (logits.detach().argmax(1) == y).float().mean(), "lr_scale": 1.0}

    def reward_batch(self):
        """The next validation minibatch of a shuffled pass (a new pass when one ends)."""
        p, i = self.reward_position
        if i >= len(self.valid):
            p, i = p + 1, 0
        batch = next(self.valid.epoch(p, i))
        self.reward_position = [p, i + 1]
        return batch

    @torch.no_grad()
    def score(self, net, batch, arch=None) -> torch.Tensor:
        """Accuracy on one batch: the controller's reward."""
        x, y = batch
        out = net(x, arch) if arch is not None else net(x)
        out = (out[0] if isinstance(out, tuple) else out).float()      # fp32 whatever the autocast
        return (out.argmax(1) == y).float().mean()

    @torch.no_grad()
    def evaluate(self, net, arch=None, split: str = "valid") -> float:
        """Accuracy over a whole split: correct images / images, so children with the same number
        of correct images tie exactly (a sum of float batch accuracies differed by ~1e-9)."""
        counts = self.evaluate_counts(net, arch, split)
        return counts["correct"] / counts["images"]

    @torch.no_grad()
    def evaluate_counts(self, net, arch=None, split: str = "valid") -> dict:
        """Correct images (an integer), summed cross-entropy and images over a whole split, in
        the split's canonical order (:func:`~enas_edu.data.augment.canonical_order`)."""
        x, y = (self.data.valid_x, self.data.valid_y) if split == "valid" else (self.data.test_x, self.data.test_y)
        batches = ImageBatches(x, y, self.cfg.eval_batch_size, self.data.mean, self.data.std, shuffle=False,
                               channels_last=self.channels_last)
        correct = torch.zeros((), dtype=torch.long, device=x.device)
        loss = torch.zeros((), dtype=torch.float64, device=x.device)
        for images, labels in batches.epoch(0):
            out = net(images, arch) if arch is not None else net(images)
            logits = (out[0] if isinstance(out, tuple) else out).float()           # [B, classes]
            correct += (logits.argmax(1) == labels).sum()
            loss += F.cross_entropy(logits, labels, reduction="sum").double()
        return {"correct": int(correct), "loss": float(loss), "images": len(x)}

    def state_dict(self) -> dict:
        return {"reward_position": list(self.reward_position)}

    def load_state_dict(self, state: dict) -> None:
        self.reward_position = list(state["reward_position"])


class TextTask:
    """Penn Treebank (or the shipped KJV text, synthetic PTB-format files, or the reader's own text) on the device."""

    kind = "text"

    def __init__(self, cfg: DataConfig, mode: str, seed: int, device: torch.device,
                 channels_last: bool = False, run_dir: Path | None = None):
        # PTB keeps its validation split for final training too: mode only decides the checks
        if cfg.dataset == "ptb":
            data = load_ptb(cfg.data_dir, cfg.download, max_vocab=cfg.max_vocab)
        elif cfg.dataset == "kjv":
            data = kjv_text(cfg.max_vocab)
        elif cfg.dataset == "synthetic_ptb":
            root = _synthetic_root(run_dir)
            if not (root / "ptb" / "ptb.train.txt").exists():
                write_ptb(root, num_lines=(400, 200, 200), seed=seed)   # validation: enough windows
            data = load_ptb(root, verify=False, max_vocab=cfg.max_vocab,
                            name="synthetic PTB-format text (enas_edu.data.synthetic)")
        elif cfg.dataset == "ptb_format":
            data = load_ptb(cfg.data_dir, verify=False, max_vocab=cfg.max_vocab,
                            name=f"own PTB-format text from {cfg.data_dir} (not Penn Treebank)")
            data.facts["fingerprint"] = files_fingerprint(find_ptb(data_root(cfg.data_dir))[s] for s in SPLITS)
        elif cfg.dataset == "text":
            data = own_text(cfg)
        elif cfg.dataset == "hf_text":
            data = hf_text(cfg)
        else:
            raise ValueError(f"dataset {cfg.dataset!r} is not a text data set")
        self.data = data.to(device)
        self.cfg, self.seed, self.device = cfg, seed, device
        self.vocab_size = len(data.vocab)
        self.train = self._columns("train", cfg.batch_size)                        # [T, B]
        self.valid_reward = self._columns("valid", cfg.batch_size)
        if mode == "search" and self.valid_reward.shape[0] <= cfg.bptt:
            raise ValueError(f"{data.name}: the validation split ({self.data.valid.numel():,} tokens) gives "
                             f"{self.valid_reward.shape[0]} steps per column at batch_size={cfg.batch_size}, too few "
                             f"for one reward window of bptt={cfg.bptt}: lower the batch size or bptt, or give more "
                             "validation text (valid_fraction)")
        self.reward_generator = torch.Generator().manual_seed(seed + 1)
        self.reward_index = 0         # the next in-order reward window
        self.random_length = True     # enas_lm trains with random_len=True, searching and final

    def _columns(self, split: str, batch_size: int) -> torch.Tensor:
        tokens = getattr(self.data, split)
        if tokens.numel() // batch_size < 2:
            raise ValueError(f"{self.data.name}: the {split} split has {tokens.numel():,} tokens, too few for one "
                             f"batch of {batch_size} columns (two tokens each at least): lower the batch size "
                             "(--batch-size) or give more text")
        return batchify(tokens, batch_size)

    @property
    def name(self) -> str:
        return self.data.name

    def describe(self) -> dict:
        return describe(self.data, self.cfg)

    def train_epoch(self, epoch: int, start: int = 0):
        g = batch_generator(self.seed, epoch, -1, "cpu")
        for step, (x, y, _) in enumerate(bptt_windows(self.train, self.cfg.bptt, self.random_length, g)):
            if step >= start:
                yield x, y

    def num_train_steps(self) -> int:
        return sum(1 for _ in self.train_epoch(0))

    def nominal_steps(self) -> int:
        """Windows of one pass at the fixed length ``bptt``: enas_lm's ``num_train_batches``
        (``(T - 1) // bptt`` for T steps per column: 207 for PTB at batch 128)."""
        return (self.train.shape[0] - 1) // self.cfg.bptt

    def loss(self, net, batch, arch=None, carry=None, aux_weight: float = 0.0):
        x, y = batch
        hidden = None if carry is None else carry.detach()
        out = net(x, hidden, arch)
        ce = F.cross_entropy(out.logits.flatten(0, 1), y.flatten())
        loss = ce + getattr(net, "module", net).regularizer(out, arch)   # DDP wraps the net
        # enas_lm: the learning rate scales with the window's length
        return loss, out.hidden, {"ppl": ce.detach().exp(), "lr_scale": x.shape[0] / self.cfg.bptt}

    def reward_batch(self):
        if self.cfg.reward_windows == "random":
            return random_window(self.valid_reward, self.cfg.bptt, self.reward_generator)
        T, bptt = self.valid_reward.shape[0], self.cfg.bptt                 # valid_reward: [T, B]
        count = (T - 1) // bptt
        if count < 1:
            raise ValueError(f"the validation split has {T} steps per column at batch size {self.cfg.batch_size}, "
                             f"too few for one reward window of bptt={bptt}: lower bptt or the batch size, or "
                             "give more validation text")
        start = (self.reward_index % count) * bptt
        self.reward_index += 1
        return self.valid_reward[start:start + bptt], self.valid_reward[start + 1:start + 1 + bptt]

    @torch.no_grad()
    def score(self, net, batch, arch=None) -> torch.Tensor:
        """80 / perplexity on one window, from a zero hidden state."""
        x, y = batch
        out = net(x, None, arch)
        ppl = F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten()).exp()   # fp32 reward
        return REWARD_CONSTANT / ppl

    @staticmethod
    @torch.no_grad()
    def score_archs(net, batches, archs) -> torch.Tensor:
        """:meth:`score` of each cell on its own window, all cells in one pass: [len(archs)]."""
        states = net.forward_archs(torch.stack([b[0] for b in batches], 1), archs)   # [T, A, B, H]
        ce = torch.stack([F.cross_entropy((states[:, a] @ net.encoder.weight.t()).flatten(0, 1).float(), y.flatten())
                          for a, (_, y) in enumerate(batches)])                     # one window's logits at a time
        return REWARD_CONSTANT / ce.exp()

    @torch.no_grad()
    def evaluate(self, net, arch=None, split: str = "valid") -> float:
        """Perplexity over a whole split, hidden state carried across windows (the test split
        with ``test_batch_size`` and ``test_bptt`` where they are set); with
        ``valid_state_reset`` every validation window starts from zero instead."""
        c = self.cfg
        test = split != "valid"
        batch = c.test_batch_size if test and c.test_batch_size else c.eval_batch_size
        bptt = c.test_bptt if test and c.test_bptt else c.bptt
        data = batchify(self.data.test if test else self.data.valid, batch)
        total, count, hidden = 0.0, 0, None
        reset = c.valid_state_reset and not test
        for x, y, _ in bptt_windows(data, bptt):
            out = net(x, hidden, arch)
            hidden = None if reset else out.hidden
            total += F.cross_entropy(out.logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
        return math.exp(total / count)

    def state_dict(self) -> dict:
        return {"reward_generator": self.reward_generator.get_state(), "reward_index": self.reward_index}

    def load_state_dict(self, state: dict) -> None:
        self.reward_generator.set_state(state["reward_generator"])
        self.reward_index = state.get("reward_index", 0)   # older checkpoints drew random windows


def train_from_scratch(task, net, optim, epochs: int, max_steps: int | None = None):
    """Train a stand-alone child (no sharing) on ``task`` with the SGD settings ``optim``.

    Used by the baselines (NAS without weight sharing) and the ranking study; the learning rate is
    ``optim.lr`` (scaled by the window length for text), clipping as the search clips.
    """
    from .training import clip_gradients, make_sgd
    opt = make_sgd(net.parameters(), optim)
    for epoch in range(epochs):
        net.train()
        carry = None
        for step, batch in enumerate(task.train_epoch(epoch)):
            if max_steps is not None and step >= max_steps:
                break
            loss, carry, stats = task.loss(net, batch, carry=carry)
            for group in opt.param_groups:
                group["lr"] = optim.lr * stats["lr_scale"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(net.parameters(), optim.grad_clip, optim.clip_noop)
            opt.step()
    net.eval()
    return net


def fit_to_data(config, task):
    """``config`` (a search or final config) with the network's data-given sizes taken from the
    data: the RNN's vocabulary; the CNN's input channels (the stem) and number of classes (the
    classifier, from the labels)."""
    if isinstance(task, TextTask) and config.net.vocab_size != task.vocab_size:
        return dataclasses.replace(config, net=dataclasses.replace(config.net, vocab_size=task.vocab_size))
    if isinstance(task, ImageTask) and config.data.batch_size > len(task.data.train_x):
        raise ValueError(f"--batch-size {config.data.batch_size} is larger than the training split "
                         f"({len(task.data.train_x):,} images of {task.name}); give at most {len(task.data.train_x):,}")
    if isinstance(task, ImageTask):
        H, W = task.data.train_x.shape[2:]
        given = {"num_classes": task.data.num_classes, "in_channels": int(task.data.train_x.shape[1])}
        if hasattr(config.net, "image_size"):         # micro: the auxiliary head's pooling window
            given["image_size"] = int(min(H, W))
            if getattr(config.net, "aux_head", False) and min(H, W) // 4 < 5:
                warnings.warn(f"the auxiliary head pools 5 x 5 after the second reduction, where these {H} x {W} "
                              f"images are {min(H, W) // 4} pixels wide: it needs images of at least 20 pixels, so "
                              "it is turned off for this run (aux_head=False in its config.json)", stacklevel=2)
                given["aux_head"] = False
        if any(getattr(config.net, k) != v for k, v in given.items()):
            return dataclasses.replace(config, net=dataclasses.replace(config.net, **given))
    return config


def make_task(cfg: DataConfig, space: str, mode: str, seed: int, device, channels_last=False, run_dir=None):
    cls = TextTask if space == "rnn" else ImageTask
    return cls(cfg, mode, seed, device, channels_last, run_dir)
