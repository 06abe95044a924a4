"""One dataclass config per job: a search, or a final training; profiles from smoke to paper.

Every official value names its source: "script" (melodyguan/enas ``scripts/*.sh``), "enas_lm"
(google-research ``enas_lm/src``), "paper" (Pham et al. 2018). Reference: shared
reference/enas.md section 2.

Profiles (``ENAS_EDU_PROFILE`` in the book):
- ``smoke``: seconds on a CPU (CI, nbval); tiny networks on the shipped data.
- ``book``:  minutes on a CPU; small networks on the shipped real data (digits, KJV text).
- ``colab``: one Colab T4 session (about two hours); real CIFAR-10 / PTB at official widths,
  fewer epochs.
- ``paper``: the official scripts' hyperparameters and epochs.

Configs are saved as JSON with every run and load back with :func:`config_from_dict`, which
refuses unknown keys and names the valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .controller import ControllerConfig
from .data.augment import CUTOUT_SHAPES
from .reinforce import ReinforceConfig
from .supernets import MacroNetConfig, MicroNetConfig, RNNNetConfig
from .supernets.nbmacro import NBMacroNetConfig

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The three ENAS spaces, and NAS-Bench-Macro's (``nbmacro``: real CIFAR-10 truth for every child).
SPACES = ("rnn", "macro", "micro", "nbmacro")
PROFILES = ("smoke", "book", "colab", "paper")
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune")   # FinalConfig.compile
# What a run trains on. The real data sets (cifar10, ptb) are read from data_dir (else
# $ENAS_EDU_DATA_DIR, else ~/.cache/enas_edu) and checked against their published checksums;
# the shipped ones (digits, kjv) live inside the package and read no folder; the synthetic ones
# are generated into the run directory, only when named; the own-format ones (cifar_format,
# ptb_format) are a user's files in CIFAR-10's or PTB's layout, read from data_dir without a
# checksum (none exists for them) and recorded as what they are.
# digits8: the same digits at their native 8 x 8 in one channel (the ground-truth table, bench/).
# A reader's own data (data/own_images.py, data/own_text.py): "images" (a folder of class
# folders, or an .npz of arrays), "text" (train/valid/test files, or one file), and through
# their libraries "torchvision" (data_name: a torchvision data set) and "hf_text" (a Hugging
# Face corpus).
IMAGE_DATASETS = ("cifar10", "digits", "digits8", "synthetic_cifar", "cifar_format", "images", "torchvision")
TEXT_DATASETS = ("ptb", "kjv", "synthetic_ptb", "ptb_format", "text", "hf_text")
DATASETS = IMAGE_DATASETS + TEXT_DATASETS
SHIPPED_DATASETS = ("digits", "digits8", "kjv")
SYNTHETIC_DATASETS = ("synthetic_cifar", "synthetic_ptb")
OWN_DATASETS = ("cifar_format", "ptb_format", "images", "text")   # files named by data_dir, no checksum
LIBRARY_DATASETS = ("torchvision", "hf_text")                     # named by data_name, their library's checks


@dataclass(frozen=True)
class DataConfig:
    """Which data, where, and how it is batched."""

    dataset: str = "cifar10"
    data_dir: str | None = None
    download: bool = False
    batch_size: int = 128
    eval_batch_size: int = 128
    num_valids: int | None = None   # images held out for validation (None: the dataset's default)
    max_vocab: int | None = None    # text: keep only the most frequent words (CPU profiles)
    bptt: int = 35                  # text: steps per window (paper, enas_lm)
    #: text: the test split's batch size and window (None: eval_batch_size and bptt). enas_lm
    #: fixed_lib.py tests with batch 1 and bptt 1, one word at a time.
    test_batch_size: int | None = None
    test_bptt: int | None = None
    augment: bool = True            # images: pad-4 crop + flip (script); the reward batch never
    #: images: cutout size, final training only. cifar10_micro_final.sh sets none; 16 is the
    #: paper's "+ CutOut" row (2.89%), with DeVries & Taylor's size for CIFAR-10.
    cutout: int = 0
    #: "official": the square's corner uniform over the image, cut off at the bottom and right
    #: (models.py; 150 of 1,024 pixels on average at 16); "centred": centre uniform, clipped on
    #: every side (DeVries & Taylor; 196 pixels). See enas_edu.data.augment.cutout.
    cutout_shape: str = "official"
    #: text: start every window of a whole-split validation from a zero hidden state, as
    #: enas_lm's search does (child.py ``eval_valid`` resets before each window; the search's
    #: derive and ranking scores read it); False carries the state from window to window, as
    #: fixed_lib.py validates. The test split always carries it. The rewards start from zero
    #: either way (controller.py runs ``reset_op`` after each one).
    valid_state_reset: bool = False
    #: text: the controller's reward windows. "in_order": windows 0, 1, 2, ... of the
    #: validation stream, cycling (enas_lm child.py builds them with input_producer's defaults,
    #: randomize=False, shuffle=False); "random": a window at a random offset each time.
    reward_windows: str = "in_order"
    # -- own data (datasets "images", "text", "torchvision", "hf_text"; see data/own_*.py)
    data_name: str | None = None     # torchvision: the data set class ("MNIST"); hf_text: the corpus ("wikitext")
    data_config: str | None = None   # hf_text: the corpus's configuration ("wikitext-2-raw-v1")
    text_column: str = "text"        # hf_text: the column that holds the text
    #: images: resize every image to image_size x image_size (bilinear); None keeps the size,
    #: which must then be the same for all
    image_size: int | None = None
    #: own data without a validation / test split: the share held out (images: of each class,
    #: drawn with split_seed; text: whole lines from the end of the training text). 0.1: the
    #: official 5,000 validation images are a tenth of CIFAR-10's training images.
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0              # fixed across run seeds, as CIFAR-10's split is
    #: images: train on this many of the training images, the same share of each class, drawn
    #: with split_seed (so the same images in every run); None: all. The validation and test
    #: splits stay whole. A CPU's lever on real data (45,000 CIFAR-10 images; issue #40).
    max_train_images: int | None = None
    flip: bool = True                # images: the random horizontal flip of the augmentation
    #: images: drop the partial last training batch of each epoch, as the official input pipeline
    #: does (tf.train.shuffle_batch yields full batches only: CIFAR-10's 45,000 search images at
    #: batch 128 leave 72 images a pass, 0.16%). On in the official CIFAR profiles (paper, colab).
    drop_last: bool = False

    def __post_init__(self):
        if self.cutout_shape not in CUTOUT_SHAPES:
            raise ValueError(f"cutout_shape must be one of {CUTOUT_SHAPES}, got {self.cutout_shape!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.batch_size < 1 or self.eval_batch_size < 1 or self.bptt < 2:
            raise ValueError("batch sizes must be >= 1 and bptt >= 2")
        if (self.test_batch_size is not None and self.test_batch_size < 1) or (
                self.test_bptt is not None and self.test_bptt < 1):
            raise ValueError("test_batch_size and test_bptt must be >= 1 (or None: as for validation)")
        if self.max_train_images is not None and (isinstance(self.max_train_images, bool) or
                                                  not isinstance(self.max_train_images, int) or
                                                  self.max_train_images < 1):
            raise ValueError(f"max_train_images must be a whole number >= 1 (or None: all), got "
                             f"{self.max_train_images!r}")
        if self.max_train_images is not None and self.dataset in TEXT_DATASETS:
            raise ValueError("max_train_images is a setting of image data; text has none (shorten a text run "
                             "with max_train_steps, --steps-per-epoch)")
        if self.reward_windows not in ("in_order", "random"):
            raise ValueError(f"reward_windows must be 'in_order' or 'random', got {self.reward_windows!r}")
        text = self.dataset in TEXT_DATASETS
        real, own = ("ptb", "ptb_format") if text else ("cifar10", "cifar_format")
        if self.data_dir is not None and self.dataset in SHIPPED_DATASETS:
            raise ValueError(
                f"dataset {self.dataset!r} is shipped inside the package and reads no folder, so data_dir="
                f"{self.data_dir!r} would be ignored. To train on the files in that folder, say what they are: "
                f"dataset={real!r} (the real data, checked against its published checksums) or dataset={own!r} "
                f"(your own files in {'PTB' if text else 'CIFAR-10'}'s format; on the command line --no-verify)")
        if self.data_dir is not None and self.dataset in SYNTHETIC_DATASETS:
            raise ValueError(
                f"dataset {self.dataset!r} is generated into the run directory (RUN/synthetic_data), never into a "
                f"folder you name, so it takes no data_dir (got {self.data_dir!r}); to read files from that "
                f"folder use dataset={real!r} or {own!r}")
        if self.dataset in OWN_DATASETS and self.data_dir is None:
            flag = "--data PATH" if self.dataset in ("images", "text") else "--data-dir DIR --no-verify"
            raise ValueError(f"dataset {self.dataset!r} reads your own files: set data_dir to their folder or file "
                             f"(on the command line {flag})")
        if self.download and self.dataset not in ("cifar10", "ptb", "torchvision"):
            raise ValueError(f"download=True fetches CIFAR-10, PTB or a torchvision data set; dataset "
                             f"{self.dataset!r} has nothing to download")
        if self.dataset in LIBRARY_DATASETS and not self.data_name:
            example = "'MNIST'" if self.dataset == "torchvision" else "'wikitext' (data_config='wikitext-2-raw-v1')"
            raise ValueError(f"dataset {self.dataset!r} needs data_name, e.g. data_name={example}")
        if self.data_name is not None and self.dataset not in LIBRARY_DATASETS:
            raise ValueError(f"data_name={self.data_name!r} names a torchvision or Hugging Face data set; dataset "
                             f"{self.dataset!r} does not read one (use dataset='torchvision' or 'hf_text')")
        for name in ("valid_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (a share of the data), got {getattr(self, name)}")
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"valid_fraction + test_fraction must leave data to train on, got "
                             f"{self.valid_fraction} + {self.test_fraction}")
        if self.image_size is not None and self.image_size < 4:
            raise ValueError(f"image_size must be >= 4 pixels (or None: keep the images' size), got {self.image_size}")


@dataclass(frozen=True)
class OptimConfig:
    """SGD of the shared (or final) weights."""

    lr: float = 0.05                # script: --child_lr_max 0.05; enas_lm: 20
    lr_min: float = 0.0005          # script: --child_lr_min
    schedule: str = "sgdr"          # "sgdr" (CIFAR: cosine with warm restarts) or "constant" (enas_lm)
    T0: int = 10                    # script: --child_lr_T_0
    Tmul: int = 2                   # script: --child_lr_T_mul; restarts at 10, 30, 70, 150, 310
    momentum: float = 0.9           # script: Nesterov momentum 0.9
    nesterov: bool = True
    #: PyTorch weight decay. The official L2 term is l2_reg * sum(w^2), whose gradient is
    #: 2 * l2_reg * w, so this is twice the --child_l2_reg flag.
    weight_decay: float = 5e-4
    grad_clip: float | None = 5.0   # global-norm bound; script --child_grad_bound 5.0
    #: Official quirk: src/utils.py clips each gradient but applies the unclipped one, so the
    #: CIFAR runs never clip. True reproduces that; False clips for real.
    clip_noop: bool = False
    aux_weight: float = 0.0         # final micro: 0.4 (script)
    #: Official quirk: the aux head's weights are left out of the optimiser (frozen at init).
    freeze_aux_head: bool = False
    #: Averaged SGD (enas_lm fixed.py): from a trigger on, average the weights of every later
    #: step and evaluate the average. None: off. The trigger (``asgd_trigger``): "official",
    #: enas_lm's ``len(history) > p and valid_ppl > min(history[:-p])`` (this epoch is worse
    #: than the best before the last p epochs: NT-ASGD's non-monotone rule, p =
    #: best_valid_ppl_threshold); "patience": p epochs in a row without a new best.
    asgd_patience: int | None = None
    asgd_trigger: str = "official"
    #: Official behaviour: every shared weight gets weight decay and its momentum step at every
    #: step, used by the child or not (TF's dense gradients of l2_reg * sum(w^2) over all
    #: variables). False: a weight the child does not use is left alone (PyTorch's
    #: zero_grad(set_to_none=True)). See training.zero_gradients.
    dense_updates: bool = True
    #: Fast path (issue #7): one multi-tensor ("foreach") SGD update for all parameters instead
    #: of a Python loop of small kernels per parameter. Same numbers; False keeps the loop.
    foreach: bool = True

    def __post_init__(self):
        if self.schedule not in ("sgdr", "constant"):
            raise ValueError(f"schedule must be 'sgdr' or 'constant', got {self.schedule!r}")
        if self.asgd_trigger not in ("official", "patience"):
            raise ValueError(f"asgd_trigger must be 'official' or 'patience', got {self.asgd_trigger!r}")
        if not self.lr > 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"need lr > 0 and 0 <= lr_min <= lr, got lr={self.lr}, lr_min={self.lr_min}")
        if self.T0 < 1 or self.Tmul < 1:
            raise ValueError("T0 and Tmul must be >= 1")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")


NetConfig = typing.Union[MacroNetConfig, MicroNetConfig, RNNNetConfig, NBMacroNetConfig]


NET_CONFIGS = {"rnn": RNNNetConfig, "macro": MacroNetConfig, "micro": MicroNetConfig, "nbmacro": NBMacroNetConfig}


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search run needs; saved as config.json in the run directory."""

    space: str
    profile: str = "paper"
    seed: int = 0
    epochs: int = 150
    net: NetConfig = field(default_factory=MicroNetConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train_controller: bool = True       # False: ENAS without controller training (paper section 3)
    uniform_sampling: bool = False      # True: sample children uniformly, not from the controller
    #: How children are scored with the shared weights (rewards, and deriving): True, in training
    #: mode (BN batch statistics and dropout), as micro_child.py; False, in evaluation mode, as
    #: general_child.py (macro, running averages) and enas_lm child.py (_build_valid: no dropout).
    reward_bn_train_mode: bool = True
    max_train_steps: int | None = None  # cap on shared steps per epoch (CPU profiles)
    #: enas_lm's run length (issue #27): ``epochs`` x the count of fixed-length windows in one
    #: pass (``num_train_steps = num_train_batches * num_train_epochs``: 207 x 600 = 124,200 for
    #: PTB), stopping at that shared step even mid-pass, without that pass's controller phase.
    #: Windows of random length (33.6 tokens on average against 35) make a pass ~4.5% longer than
    #: its nominal count, so the run has fewer passes, and controller phases, than ``epochs``
    #: (~574 of 600). False: ``epochs`` whole passes. Text only (image passes have no random length).
    fixed_steps: bool = False
    eval_archs: int = 10                # archs printed with their one-batch accuracy per epoch (script)
    checkpoint_every: int = 10          # also checkpoint every N controller updates
    log_every: int = 20                 # shared steps per metrics record (read from the device once)
    max_nonfinite: int = 3              # consecutive NaN/inf losses before rolling back
    #: Fast path (issue #7): the shared phase samples all its children in one batch before its
    #: first step and checks the losses once per log window, so no step waits for the device. A
    #: non-finite loss then rolls back to the last checkpoint at once (the steps after it used
    #: broken weights) instead of being skipped. False: one check, and one sample, per step.
    sync_free: bool = False
    #: Fast path (issue #7), RNN scored without dropout: the controller's ``num_aggregate`` cells
    #: are scored in one batched pass (:meth:`RNNNet.forward_archs`), each on its own validation
    #: window as before. False: one pass per cell (the naive path, for benchmarks).
    batched_rewards: bool = True
    device: str = "auto"
    #: Autocast on CUDA (issue #27): "auto" bf16 where supported, else fp16 with a scaler; "bf16";
    #: "fp16"; "fp32" none, as the official code. Rewards and losses are reduced in fp32 whatever
    #: the choice; on a CPU every choice runs fp32.
    precision: str = "auto"
    channels_last: bool = True          # CNNs, every device (faster on CPUs too: BENCHMARKS.md)

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.epochs < 1 or self.checkpoint_every < 1 or self.eval_archs < 0 or self.log_every < 1:
            raise ValueError("epochs, checkpoint_every and log_every must be >= 1, eval_archs >= 0")
        expected = NET_CONFIGS[self.space]
        if not isinstance(self.net, expected):
            raise ValueError(f"space {self.space!r} needs net={expected.__name__}, got {type(self.net).__name__}")
        text = self.data.dataset in TEXT_DATASETS
        if text != (self.space == "rnn"):
            raise ValueError(f"dataset {self.data.dataset!r} does not fit space {self.space!r}")


@dataclass(frozen=True)
class FinalConfig:
    """Training one fixed architecture from scratch; saved as config.json in its run directory."""

    space: str
    arc: str                            # the official fixed_arc string
    profile: str = "paper"
    seed: int = 0
    epochs: int = 630
    net: NetConfig = field(default_factory=lambda: MicroNetConfig(style="final"))
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    device: str = "auto"
    precision: str = "auto"             # as SearchConfig.precision
    channels_last: bool = True
    #: ``torch.compile`` the fixed child for training (issue #7: its graph never changes, unlike
    #: a search's): None runs eagerly; else a compile mode: "default", "reduce-overhead" (adds
    #: CUDA graphs on a GPU) or "max-autotune". CNNs compile whole (evaluation stays eager); the
    #: RNN compiles one time step of its cell (``RNNNet.compile_cell``), since its windows vary
    #: in length. Each process compiles at its first step, which is logged apart (event
    #: "compiled"); a CPU needs a C++ compiler.
    compile: str | None = None
    #: As SearchConfig.fixed_steps: enas_lm fixed.py's ``num_train_steps`` (414 x 3,000 =
    #: 1,242,000 for PTB at batch 64), then the test, mid-pass if it falls there.
    fixed_steps: bool = False
    max_train_steps: int | None = None  # cap on training steps per epoch (as SearchConfig's)

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        if self.max_train_steps is not None:
            check_count("max_train_steps", self.max_train_steps)
        if (self.data.dataset in TEXT_DATASETS) != (self.space == "rnn"):
            raise ValueError(f"dataset {self.data.dataset!r} does not fit space {self.space!r}")
        self.net.space().from_arc_string(self.arc)   # a clear error if the arc does not fit


# ---------------------------------------------------------------------------------- profiles
def _official_search(space: str) -> SearchConfig:
    if space == "macro":  # cifar10_macro_search.sh
        return SearchConfig(
            space="macro", epochs=310,
            net=MacroNetConfig(num_layers=12, out_filters=36, keep_prob=0.9, init="official", branch_bn_eps=1e-3),
            controller=ControllerConfig.official("macro"), reinforce=ReinforceConfig.official("macro"),
            optim=OptimConfig(lr=0.05, lr_min=0.0005, weight_decay=2 * 2.5e-4, grad_clip=5.0, clip_noop=True),
            # eval_batch_size: models.py's eval_batch_size=100 (main.py passes none); the rewards
            # take training-size batches (valid_rl uses batch_size), as here
            data=DataConfig("cifar10", batch_size=128, eval_batch_size=100, drop_last=True),
            reward_bn_train_mode=False)   # general_child.py scores with is_training=False
    if space == "nbmacro":
        # No official run searched this space: the macro script's search on it
        # (cifar10_macro_search.sh: shared SGD, controller, 20 children per update), with the
        # benchmark's network as the supernet and no skips (so no skip penalty)
        macro = _official_search("macro")
        return dataclasses.replace(macro, space="nbmacro", net=NBMacroNetConfig(),
                                   controller=ControllerConfig.official("nbmacro"),
                                   reinforce=dataclasses.replace(macro.reinforce, skip_weight=0.0))
    if space == "micro":  # cifar10_micro_search.sh
        return SearchConfig(
            space="micro", epochs=150,
            # --child_use_aux_heads: the aux head in the search too, 0.4 x its loss, head frozen
            net=MicroNetConfig(num_layers=6, out_filters=20, keep_prob=0.9, aux_head=True, init="official"),
            controller=ControllerConfig.official("micro"), reinforce=ReinforceConfig.official("micro"),
            optim=OptimConfig(lr=0.05, lr_min=0.0005, weight_decay=2 * 1e-4, grad_clip=5.0, clip_noop=True,
                              aux_weight=0.4, freeze_aux_head=True),
            data=DataConfig("cifar10", batch_size=160, eval_batch_size=100, drop_last=True))
    # enas_lm: child.py, controller.py, search.py
    return SearchConfig(
        space="rnn", epochs=600, net=RNNNetConfig(),
        controller=ControllerConfig.official("rnn"), reinforce=ReinforceConfig.official("rnn"),
        # decay lives in RNNNet.regularizer; plain SGD without decay or momentum moves no unused
        # weight, so dense updates would only cost time
        optim=OptimConfig(lr=20.0, lr_min=0.0, schedule="constant", momentum=0.0, nesterov=False,
                          weight_decay=0.0, grad_clip=0.1, dense_updates=False),
        # search.py: validation windows from a zero state (eval_valid); 124,200 steps, not passes
        data=DataConfig("ptb", batch_size=128, eval_batch_size=128, bptt=35, valid_state_reset=True),
        reward_bn_train_mode=False, fixed_steps=True)   # child.py: the reward's loss is _build_valid's, without dropout


def search_config(space: str, profile: str = "paper", **overrides) -> SearchConfig:
    """The search config of ``space`` at ``profile``; keyword overrides replace top-level fields."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    c = dataclasses.replace(_official_search(space), profile=profile)
    r = dataclasses.replace
    if profile == "colab":      # official widths, fewer epochs: about 2 h on a T4
        c = r(c, epochs={"macro": 30, "micro": 30, "rnn": 40, "nbmacro": 30}[space])
    elif profile in ("book", "smoke"):
        small = profile == "smoke"
        if space == "rnn":
            c = r(c, epochs=2 if small else 10,
                  net=RNNNetConfig(vocab_size=10000, hidden_size=32 if small else 64, num_nodes=4 if small else 6),
                  # reward_windows="random": as the chapters were executed (enas_lm: in order)
                  data=DataConfig("kjv", batch_size=32, eval_batch_size=32, bptt=20 if small else 35,
                                  max_vocab=500 if small else 2000, reward_windows="random"),
                  # TF1's Adam as enas_lm (eps 1e-8: the form hardly matters here); the baseline
                  # from the first rewards, since an EMA with decay 0.999 from 0 would still lag
                  # far behind them at the end of the book's 100 updates (issue #28)
                  reinforce=r(c.reinforce, lr=3.5e-3, train_steps=2 if small else 10,
                              baseline_start="first"),
                  max_train_steps=10 if small else 100, fixed_steps=False)   # passes, as executed
        else:
            # micro cells cost several times a macro layer on a CPU, and shared weights learn
            # slower the more children there are: the book's cells have 3 nodes
            net = {"macro": MacroNetConfig(num_layers=4 if small else 6, out_filters=8 if small else 16),
                   "micro": MicroNetConfig(num_layers=1 if small else 3, out_filters=8, num_nodes=3),
                   # the benchmark's network, narrower: 1/8 of its widths (1/16 at smoke)
                   "nbmacro": NBMacroNetConfig(stem=2 if small else 4, widths=(4, 8, 16) if small else (8, 16, 32),
                                               head=80 if small else 160)}[space]
            # Digits: no crop/flip (a mirrored digit is another glyph), and batches of 32, because
            # shared weights trained on a new child every step need several hundred steps on
            # 1,350 images before children beat chance (BENCHMARKS.md, "Shared weights on digits").
            # The book reads them at their native 8 x 8 in one channel ("digits8"): upscaled to
            # 32 x 32 they carried no more information at 16 times the pixels, and a macro epoch
            # now takes a third of the time, a micro one half (issue #30). Smoke keeps the 32 x 32
            # images, so CI runs the CIFAR-10 shapes.
            # Rewards use batch statistics even for macro: over a few hundred steps the running
            # averages, collected across many children, fit none of them (chapter 6 shows both).
            # dense_updates=False and PyTorch's init: no effect at ten paired seeds against the
            # ground truth (BENCHMARKS.md, "Fidelity switches"), and sparse updates cost less.
            # The controller: TF1's Adam (official), its baseline from the first rewards, and
            # lr 0.05 instead of the scripts' 0.001 / 0.0035, so that its policy moves within
            # the book's 100-150 updates (BENCHMARKS.md, "Book-profile candidates for the
            # controller": at 0.001 its entropy fell by 0.001 nats of 7.46)
            controller = {} if small else {"lr": 0.05, "baseline_start": "first"}
            # macro: 10 epochs, one whole SGDR cycle (T0 = 10) that ends at the low rate. With 15,
            # the restart to lr 0.05 at epoch 10 hit shared weights fitted to a concentrated
            # policy, and their loss went from 0.27 back to chance (2.4) within three epochs
            c = r(c, epochs=2 if small else (20 if space == "micro" else 10), net=net,
                  optim=r(c.optim, dense_updates=False),
                  data=DataConfig("digits" if small or space == "nbmacro" else "digits8", batch_size=32,
                                  eval_batch_size=64, augment=False),
                  reinforce=r(c.reinforce, train_steps=2 if small else (5 if space == "micro" else 10),
                              num_aggregate=5 if small or space == "micro" else 10,
                              adam_eps_form="tf", **controller),
                  reward_bn_train_mode=True, max_train_steps=8 if small else None)
        c = r(c, eval_archs=2 if small else 10, checkpoint_every=5)
    return r(c, **overrides) if overrides else c


def arc_values(space: str, arc) -> list[int]:
    """The numbers of an official ``fixed_arc`` string, or a ValueError naming the bad one."""
    if not isinstance(arc, str) or not arc.split():
        raise ValueError(f"the {space} architecture is empty: give the official fixed_arc string, whole numbers "
                         "separated by spaces (e.g. the derived_arc.txt of a search)")
    values = []
    for i, token in enumerate(arc.split()):
        try:
            values.append(int(token))
        except ValueError:
            raise ValueError(f"number {i + 1} of the {space} architecture is {token!r}: an arc string holds whole "
                             "numbers separated by spaces (the official fixed_arc format)") from None
    return values


def _arc_shape(space: str, arc: str, layout: str | None = None) -> dict:
    """Net settings that follow from the architecture string itself (its length)."""
    values = arc_values(space, arc)
    n = len(values)
    if space == "macro":      # L layers take L (L + 1) / 2 numbers
        L = int(round((-1 + (1 + 8 * n) ** 0.5) / 2))
        if L * (L + 1) // 2 != n:
            raise ValueError(f"a macro architecture of L layers has L (L + 1) / 2 numbers (an op per layer and a "
                             f"skip bit per earlier layer: 1, 3, 6, 10, ..., 78 for 12 layers); got {n}")
        ops = [values[k * (k + 1) // 2] for k in range(L)]
        return {"num_layers": L, "num_ops": 4 if max(ops) < 4 else 6}   # script: 4 branches
    if space == "nbmacro":    # one op per layer of the benchmark's 8
        if n != 8:
            raise ValueError(f"a NAS-Bench-Macro architecture has 8 numbers (one op per layer, 0-2, e.g. "
                             f"'2 2 2 1 2 2 2 0'); got {n}")
        return {}
    if space == "micro":      # two cells of 4 numbers per node
        if n % 8 or n == 0:
            raise ValueError(f"a micro architecture has 8 numbers per node (4 in the normal cell, 4 in the "
                             f"reduction cell: input, op, input, op); got {n}, not a multiple of 8")
        return {"num_nodes": n // 8}
    if layout is None:        # the paper layout's string has 2N - 1 numbers, enas_lm's 2N
        layout = "paper" if n % 2 else "enas_lm"
    if layout not in ("paper", "enas_lm"):
        raise ValueError(f"layout must be 'paper' or 'enas_lm', got {layout!r}")
    if (layout == "paper") != bool(n % 2):
        length = (lambda k: 2 * k) if layout == "enas_lm" else (lambda k: 2 * k - 1)
        lo = n // 2
        raise ValueError(f"an rnn architecture in the {layout} layout has {'2N' if layout == 'enas_lm' else '2N - 1'} "
                         f"numbers for N nodes ({lo} nodes: {length(lo)}, {lo + 1} nodes: {length(lo + 1)}); "
                         f"{n} fits neither. Check the arc (a missing number?) or the layout (--rnn-layout)")
    return {"num_nodes": (n + 1) // 2 if layout == "paper" else n // 2, "layout": layout}


def final_config(space: str, arc: str, profile: str = "paper", layout: str | None = None,
                 **overrides) -> FinalConfig:
    """The final-training config of ``space`` at ``profile`` for the architecture ``arc``.

    ``layout`` (rnn only): the arc's layout, "enas_lm" (2N numbers) or "paper" (2N - 1); None
    reads it from the length."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if layout is not None and space != "rnn":
        raise ValueError(f"layout {layout!r} is a setting of rnn architectures, not {space}")
    r = dataclasses.replace
    shape = _arc_shape(space, arc, layout)
    if space == "macro":  # cifar10_macro_final.sh
        c = FinalConfig("macro", arc, epochs=310,
                        net=MacroNetConfig(out_filters=96, keep_prob=0.5, style="final", init="official", **shape),
                        optim=OptimConfig(lr=0.05, lr_min=0.001, weight_decay=2 * 2e-4, grad_clip=None),
                        data=DataConfig("cifar10", batch_size=100, eval_batch_size=100, drop_last=True))
    elif space == "nbmacro":  # NAS-Bench-Macro's train.py: how every network of the table was trained
        c = FinalConfig("nbmacro", arc, epochs=50, net=NBMacroNetConfig(),
                        # SGD 0.1, momentum 0.9 (not Nesterov), decay 5e-4, one cosine to 0 (per epoch here)
                        optim=OptimConfig(lr=0.1, lr_min=0.0, T0=50, Tmul=1, momentum=0.9, nesterov=False,
                                          weight_decay=5e-4, grad_clip=None),
                        # batch 256; crop 32 with padding 4 and flips; no cutout
                        data=DataConfig("cifar10", batch_size=256, eval_batch_size=256, cutout=0))
    elif space == "micro":  # cifar10_micro_final.sh
        c = FinalConfig("micro", arc, epochs=630,
                        net=MicroNetConfig(num_layers=15, out_filters=36, keep_prob=0.8, style="final",
                                           drop_path_keep_prob=0.6, aux_head=True, init="official", **shape),
                        optim=OptimConfig(lr=0.05, lr_min=0.0001, weight_decay=2 * 2e-4, grad_clip=None,
                                          aux_weight=0.4, freeze_aux_head=True),
                        # cutout 16: the paper's "+ CutOut" result; the script itself sets none
                        data=DataConfig("cifar10", batch_size=144, eval_batch_size=100, cutout=16, drop_last=True))
    else:  # enas_lm fixed.py / fixed_lib.py
        c = FinalConfig("rnn", arc, epochs=3000,
                        net=RNNNetConfig(hidden_size=800, init_range=0.05, drop_e=0.125, drop_i=0.175,
                                         drop_x=0.725, drop_l=0.225, drop_o=0.75, alpha=0.7, beta=0.0,
                                         search_l2_quirk=False, **shape),
                        optim=OptimConfig(lr=20.0, lr_min=0.0, schedule="constant", momentum=0.0,
                                          nesterov=False, weight_decay=0.0, grad_clip=0.25,
                                          asgd_patience=10),   # best_valid_ppl_threshold
                        # fixed_lib.py: validation in batches of 64, the test one word at a time
                        data=DataConfig("ptb", batch_size=64, eval_batch_size=64, bptt=35,
                                        test_batch_size=1, test_bptt=1), fixed_steps=True)
    c = r(c, profile=profile)
    if profile == "colab":
        c = r(c, epochs={"macro": 40, "micro": 40, "rnn": 60, "nbmacro": 50}[space])
    elif profile in ("book", "smoke"):
        small = profile == "smoke"
        if space == "rnn":
            c = r(c, epochs=1 if small else 5,
                  net=r(c.net, hidden_size=32 if small else 128, vocab_size=10000),
                  data=DataConfig("kjv", batch_size=32, eval_batch_size=10, bptt=20 if small else 35,
                                  max_vocab=500 if small else 2000), fixed_steps=False)
        else:
            # init="pytorch": the chapters were executed with PyTorch's initialisation; the official
            # one (paper, colab) is compared at this profile in BENCHMARKS.md first, as dense_updates
            net = {"macro": lambda: r(c.net, out_filters=8 if small else 24, init="pytorch"),
                   "micro": lambda: r(c.net, num_layers=1 if small else 3, out_filters=8 if small else 16,
                                      init="pytorch"),
                   "nbmacro": lambda: search_config("nbmacro", profile).net}[space]()
            # 10 epochs: one whole cosine cycle of SGDR (T0 = 10), so training ends at lr_min
            # the book trains on the digits at 8 x 8, as its searches read them (the micro
            # auxiliary head needs images of 20 pixels or more: off there)
            if not small and space == "micro":
                net, c = r(net, aux_head=False), r(c, optim=r(c.optim, aux_weight=0.0))
            c = r(c, epochs=2 if small else 10, net=net,
                  data=DataConfig("digits" if small or space == "nbmacro" else "digits8",
                                  batch_size=32 if small else 64, eval_batch_size=100,
                                  augment=False, cutout=0))   # no flips of digits
    return r(c, **overrides) if overrides else c


def check_count(option: str, value, minimum: int = 1) -> int:
    """``value`` if it is a whole number >= ``minimum``, else a ValueError naming ``option``
    (the command-line flag, so the API and the CLI say the same)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{option} must be a whole number >= {minimum}, got {value!r}")
    return value


# ---------------------------------------------------------------------------------- JSON
def config_to_dict(config) -> dict:
    out = {"kind": type(config).__name__}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = {"kind": type(value).__name__, **dataclasses.asdict(value)}
        out[f.name] = value
    return out


_KINDS = {cls.__name__: cls for cls in (SearchConfig, FinalConfig, DataConfig, OptimConfig,
                                        ControllerConfig, ReinforceConfig, MacroNetConfig,
                                        MicroNetConfig, RNNNetConfig, NBMacroNetConfig)}


def _build(cls, values: dict, where: str):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown} for {cls.__name__}; "
                         f"valid settings are {sorted(names)}")
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if not _fits(value, hints[key]):
            raise ValueError(f"{where}.{key} is {value!r}; expected {_type_name(hints[key])}")
        if isinstance(value, dict) and "kind" in value:
            kind = value["kind"]
            if kind not in _KINDS:
                raise ValueError(f"{where}.{key}: unknown config kind {kind!r}")
            value = _build(_KINDS[kind], {k: v for k, v in value.items() if k != "kind"}, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _fits(value, hint) -> bool:
    """Whether a JSON value can be the setting of type ``hint`` (a config file edited by hand)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list) or hint in (tuple, list):
        return isinstance(value, (list, tuple))
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return True


def _type_name(hint) -> str:
    args = typing.get_args(hint)
    if args and typing.get_origin(hint) not in (tuple, list):
        return " or ".join(_type_name(a) for a in args)
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def config_from_dict(obj: dict):
    """Inverse of :func:`config_to_dict`; unknown or out-of-range settings raise ValueError."""
    if not isinstance(obj, dict) or obj.get("kind") not in ("SearchConfig", "FinalConfig"):
        raise ValueError("expected a dict with kind 'SearchConfig' or 'FinalConfig' (see config_to_dict)")
    if isinstance(obj.get("amp"), bool) and "precision" not in obj:   # a run folder from before precision
        obj = {**{k: v for k, v in obj.items() if k != "amp"}, "precision": "auto" if obj["amp"] else "fp32"}
    return _build(_KINDS[obj["kind"]], {k: v for k, v in obj.items() if k != "kind"}, "config")


def save_config(config, path: Path) -> None:
    path.write_text(json.dumps(config_to_dict(config), indent=2) + "\n")


def load_config(path: Path):
    """A saved config; a damaged or hand-edited file (or a link, a pipe: runs.read_json) is a
    ValueError that names it."""
    from .runs import read_json
    obj = read_json(Path(path))
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds {type(obj).__name__}, not a config (a JSON object); restore it, or start "
                         "the run again")
    try:
        return config_from_dict(obj)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
