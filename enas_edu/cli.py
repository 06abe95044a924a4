"""The ``enas-edu`` command.

    enas-edu demo                          search -> derive -> final training on the shipped digits (CPU, ~1 min)
    enas-edu search {rnn,macro,micro}      an ENAS search (--profile smoke|book|colab|paper)
    enas-edu derive RUN                    choose the final architecture of a search run
    enas-edu train {rnn,macro,micro}       train a fixed architecture from scratch (--arc or --from RUN)
    enas-edu baseline {rsws,no-controller,no-sharing} SPACE   the baselines, same engine and budget
    enas-edu record RUN                    keep a run's metrics in results/ for the book's plots
    enas-edu study                         ENAS and the baselines scored by the shipped ground-truth table
    enas-edu info                          versions, device, data root and what is downloaded

Common options: --profile, --data-dir, --out, --resume, --seed, --device. Runs go to
``runs/<space>-<job>-<profile>-seed<seed>`` unless --out says otherwise.

Data: each profile has its own (CIFAR-10 / PTB for colab and paper; the shipped digits / King
James text for book and smoke) until the command names other data, which is then read or
refused, never replaced:
    --data-dir DIR               CIFAR-10 / PTB from DIR, checked against the published checksums
    --data-dir DIR --no-verify   your own files in CIFAR-10's / PTB's format from DIR
    --download                   fetch CIFAR-10 / PTB (into --data-dir, else the data root)
    --synthetic                  small generated files in those formats, in the run directory
    --data PATH                  your own data, its kind detected (or named with --data-kind):
        images (macro, micro): a folder of class folders (or of train/ test/ valid/ folders of
        them), an .npz of arrays (enas_edu.data.save_arrays), torchvision:MNIST (any torchvision
        data set; with --download); text (rnn): a folder of train/valid/test files, one text
        file, or hf:NAME[:CONFIG] (a Hugging Face corpus). With --image-size, --valid-fraction,
        --test-fraction, --max-vocab, --batch-size, --no-flip, --text-column.
`train --from RUN` trains on the search's own data unless the command names data.
The first line of a search or training says what is read, from where, and whether it was checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

from . import __version__
from .config import (COMPILE_MODES, LIBRARY_DATASETS, OWN_DATASETS, PRECISIONS, PROFILES, SPACES, TEXT_DATASETS, final_config,
                     load_config, search_config)
from .data import DatasetUnavailableError, data_root
from .data.cifar10 import find_cifar10
from .data.ptb import find_ptb
from .runs import RunError, atomic_write_text, read_json, run_kind
from .tasks import data_line
from .training import learning_rate


def _data_overrides(config, args):
    """The profile's data, unless the command line names data; then exactly that data, or an error.

    A profile never replaces data the user named: ``--data-dir DIR`` reads the real data set
    (CIFAR-10 or PTB, checksummed) from DIR whatever the profile ships, ``--no-verify`` reads the
    user's own files in that format from DIR instead, ``--download`` fetches the real data set,
    and ``--synthetic`` generates files into the run directory (never into a named folder).
    """
    data, text = config.data, config.space == "rnn"
    data = _data_options(data, args)
    if args.data is not None:
        return _own_data(data, args, text)
    if args.data_kind is not None:
        raise ValueError("--data-kind names the kind of --data PATH; give --data too")
    if args.synthetic:
        if args.data_dir is not None or args.no_verify or args.download:
            raise ValueError("--synthetic generates its data into the run directory; it takes no --data-dir, "
                             "--no-verify or --download (to read files from a folder, drop --synthetic)")
        return dataclasses.replace(data, dataset="synthetic_ptb" if text else "synthetic_cifar")
    if args.no_verify:
        if args.data_dir is None:
            raise ValueError("--no-verify reads your own files in the PTB or CIFAR-10 format: name their folder "
                             "with --data-dir DIR")
        if args.download:
            raise ValueError("--no-verify reads your own files; --download fetches the real data set: choose one")
        return dataclasses.replace(data, dataset="ptb_format" if text else "cifar_format", data_dir=args.data_dir,
                                   download=False)
    if args.data_dir is not None or args.download:
        return dataclasses.replace(data, dataset="ptb" if text else "cifar10", data_dir=args.data_dir,
                                   download=args.download)
    return data


# the options of a reader's own data, and the DataConfig field each one sets
OWN_OPTIONS = {"image_size": "image_size", "valid_fraction": "valid_fraction", "test_fraction": "test_fraction",
               "text_column": "text_column"}
KINDS = {"images": ("images", "torchvision", "cifar_format"), "text": ("text", "hf_text", "ptb_format")}


def _data_options(data, args):
    """--batch-size and --max-vocab for any data; --image-size and the fractions for --data only."""
    text = data.dataset in TEXT_DATASETS
    wrong = ([("--max-vocab", args.max_vocab is not None)] if not text else
             [("--image-size", args.image_size is not None), ("--no-flip", args.no_flip)])
    if not text and args.text_column is not None:
        wrong.append(("--text-column", True))
    wrong = [flag for flag, given in wrong if given]
    if wrong:
        raise ValueError(f"{', '.join(wrong)} {'do' if len(wrong) > 1 else 'does'} not apply to "
                         f"{'text (the rnn space)' if text else 'images (the macro and micro spaces)'}; drop "
                         f"{'them' if len(wrong) > 1 else 'it'}")
    given = {field: getattr(args, opt) for opt, field in OWN_OPTIONS.items() if getattr(args, opt) is not None}
    if given and args.data is None:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ValueError(f"{flags} shape your own data: name it with --data PATH")
    if args.batch_size is not None:
        given.update(batch_size=args.batch_size, eval_batch_size=min(data.eval_batch_size, args.batch_size))
    if args.max_vocab is not None:
        given["max_vocab"] = args.max_vocab
    if args.no_flip:
        given["flip"] = False
    if getattr(args, "max_train_images", None) is not None:
        if text:
            raise ValueError("--max-train-images applies to images; shorten a text run with --steps-per-epoch")
        given["max_train_images"] = args.max_train_images
    return dataclasses.replace(data, **given) if given else data


def detect_kind(spec: str, text: bool) -> tuple[str, dict]:
    """The dataset kind of ``--data SPEC`` for a text (rnn) or image search, and its fields."""
    what = "text (the rnn space)" if text else "images (the macro and micro spaces)"
    if spec.startswith("torchvision:") or spec.startswith("hf:"):
        prefix, _, name = spec.partition(":")
        kind = "torchvision" if prefix == "torchvision" else "hf_text"
        if kind not in KINDS["text" if text else "images"]:
            raise ValueError(f"--data {spec}: a {'torchvision image' if kind == 'torchvision' else 'Hugging Face text'} "
                             f"data set, but this space searches on {what}")
        name, _, sub = name.partition(":")
        if not name:
            raise ValueError(f"--data {spec}: name the data set, e.g. torchvision:MNIST or hf:wikitext:wikitext-2-raw-v1")
        return kind, {"data_name": name, **({"data_config": sub} if sub else {}), "data_dir": None}
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"--data {spec}: no such file or folder (for a library's data set write "
                                f"{'hf:NAME[:CONFIG]' if text else 'torchvision:NAME'})")
    if text:
        return "text", {"data_dir": str(path)}
    if path.is_dir() and find_cifar10(path) is not None:
        return "cifar_format", {"data_dir": str(path)}
    if path.is_file() and path.suffix != ".npz":
        raise ValueError(f"--data {spec}: an image search reads a folder of class folders or an .npz of arrays "
                         "(enas_edu.data.save_arrays), not a single file")
    return "images", {"data_dir": str(path)}


def _names_data(args) -> bool:
    return bool(args.data or args.data_dir or args.no_verify or args.synthetic or args.download)


def _own_data(data, args, text: bool):
    """The DataConfig of --data PATH (kind detected, or named with --data-kind)."""
    if args.data_dir is not None and not args.data.startswith(("torchvision:", "hf:")):
        raise ValueError("--data names your data; --data-dir only sets where torchvision or Hugging Face data is "
                         "kept (for files, give their path to --data)")
    if args.no_verify or args.synthetic:
        raise ValueError("--data reads your own data as it is; it takes no --no-verify or --synthetic")
    kind, fields = detect_kind(args.data, text)
    if args.data_kind is not None:
        if args.data_kind not in KINDS["text" if text else "images"]:
            raise ValueError(f"--data-kind {args.data_kind}: this space reads "
                             f"{' or '.join(KINDS['text' if text else 'images'])}")
        if (args.data_kind in LIBRARY_DATASETS) != (kind in LIBRARY_DATASETS):
            raise ValueError(f"--data-kind {args.data_kind} does not fit --data {args.data}")
        kind = args.data_kind
    if args.download and kind != "torchvision":
        raise ValueError(f"--download fetches a torchvision data set (--data torchvision:NAME); {args.data} is read as it is")
    if kind in LIBRARY_DATASETS and args.data_dir is not None:
        fields["data_dir"] = args.data_dir
    if kind in ("cifar_format", "ptb_format") and data.image_size is not None:
        raise ValueError(f"--image-size resizes a folder of images or arrays; {kind} files are 32 x 32 already")
    return dataclasses.replace(data, dataset=kind, download=args.download, **fields)


def _search_data(final, run: Path):
    """The final config on the data a search ran on, when that was the reader's own."""
    data = load_config(run / "config.json").data if (run / "config.json").exists() else None
    if data is None or data.dataset not in OWN_DATASETS + LIBRARY_DATASETS:
        return final.data
    keep = ("dataset", "data_dir", "data_name", "data_config", "text_column", "image_size", "valid_fraction",
            "test_fraction", "split_seed", "max_vocab", "num_valids", "flip")
    return dataclasses.replace(final.data, **{k: getattr(data, k) for k in keep})


def _out(args, space: str, job: str) -> Path:
    if args.out:
        out = Path(args.out)
    else:
        out = Path("runs") / f"{space}-{job}-{args.profile or 'paper'}-seed{args.seed or 0}"
    args.run_folder = out        # for the line Ctrl-C prints
    return out


# options that set up a new run, and so cannot apply to --resume, which continues one as it was started
NEW_RUN_OPTIONS = ("profile", "seed", "epochs", "data", "data_dir", "download", "synthetic", "no_verify", "data_kind",
                   "image_size", "valid_fraction", "test_fraction", "text_column", "batch_size", "max_vocab",
                   "no_flip", "arc", "from_run", "random", "compile", "lr_t0", "rnn_layout", "precision",
                   "max_train_images", "steps_per_epoch")


def _resumed_out(args, job: str) -> Path:
    """The folder of the run --resume continues, after refusing options that would be ignored and a
    run of another space or kind."""
    given = [name for name in NEW_RUN_OPTIONS if getattr(args, name, None) not in (None, False)]
    out = _out(args, args.space, job)
    if given:
        flags = ", ".join("--" + ("from" if g == "from_run" else g.replace("_", "-")) for g in given)
        raise ValueError(f"--resume continues the run in {out} as it was started, so {flags} would be ignored: "
                         "drop them (to change them, start a new run in another --out)")
    kind = "search" if job == "search" else "final"
    if not out.is_dir():
        raise RunError(f"no run to resume: {out} does not exist (name the run's folder with --out)")
    found = run_kind(out)
    config = load_config(out / "config.json") if found == kind and (out / "config.json").exists() else None
    if config is not None and config.space != args.space:
        raise RunError(f"{out} holds a {config.space} {kind}, not {args.space}: continue it with "
                       f"`enas-edu {'search' if kind == 'search' else 'train'} {config.space} --resume --out {out}`")
    return out


def _schedule_note(optim, epochs: int) -> str | None:
    """A line when a shortened run stops SGDR before it anneals (T0 longer than the run)."""
    if optim.schedule != "sgdr" or epochs >= optim.T0:
        return None
    return (f"note: the learning rate follows SGDR with T0 = {optim.T0} epochs, so {epochs} epoch"
            f"{'s end' if epochs != 1 else ' ends'} at lr {learning_rate(optim, epochs - 1):.4g} of {optim.lr:g}, not annealed "
            f"to {optim.lr_min:g}; --lr-t0 {epochs} anneals within the run")


def _with_run_options(config, args):
    """--epochs and --lr-t0 on a new config (and the note when the schedule outlasts the run)."""
    changes = {}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if getattr(args, "lr_t0", None) is not None:
        changes["optim"] = dataclasses.replace(config.optim, T0=args.lr_t0)
    if getattr(args, "precision", None) is not None:
        changes["precision"] = args.precision
    if getattr(args, "steps_per_epoch", None) is not None:
        changes["max_train_steps"] = args.steps_per_epoch
    config = dataclasses.replace(config, **changes) if changes else config
    note = _schedule_note(config.optim, config.epochs)
    if note and args.epochs is not None:
        print(note)
    return config


def threads_line(args) -> str:
    """The CPU threads torch computes with, and where the count came from: a run's speed on a
    CPU depends on it more than on anything else the command line sets (BENCHMARKS.md)."""
    n = torch.get_num_threads()
    origin = ("--threads" if getattr(args, "threads", None) is not None else
              "torch's default, one per core; --threads N sets it, and 1 can be much faster on a busy machine")
    return f"cpu threads: {n} ({origin})"


def cmd_info(args) -> int:
    print(f"enas_edu {__version__}")
    print(f"python   {platform.python_version()} ({sys.executable})")
    print(f"torch    {torch.__version__}; {torch.get_num_threads()} CPU threads")
    if torch.cuda.is_available():
        print(f"device   cuda: {torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}")
    else:
        print("device   cpu (no CUDA device visible)")
    root = data_root(args.data_dir)
    print(f"data     {root}")
    cifar = find_cifar10(root)
    print(f"  CIFAR-10: {cifar if cifar else 'not downloaded (enas-edu search micro --download)'}")
    ptb = find_ptb(root)
    print(f"  PTB:      {ptb['train'].parent if ptb else 'not downloaded (enas-edu search rnn --download)'}")
    print("  shipped:  UCI digits, King James New Testament (PTB format)")
    from .bench.table import FILE, TABLE_SHA256
    print(f"  ground truth: {FILE.name if FILE.is_file() and TABLE_SHA256 else 'not shipped'} "
          "(1,728 macro children x 12 seeds, digits 8x8; enas-edu study)")
    return 0


def cmd_search(args) -> int:
    from .search import Search
    config = None
    if args.resume:
        out = _resumed_out(args, "search")
    else:
        out = _out(args, args.space, "search")
        config = search_config(args.space, args.profile or "paper", seed=args.seed or 0)
        config = _with_run_options(dataclasses.replace(config, data=_data_overrides(config, args)), args)
    search = Search(config, out, resume=args.resume, progress=not args.quiet, device=args.device)
    print(threads_line(args))
    print(data_line(search.task.describe()))
    search.run_to_end()
    last = [r for r in search.run_dir.read() if r["phase"] == "epoch"][-1]
    print(f"search done: {search.config.epochs} epochs on {search.task.name}; last epoch reward "
          f"{last.get('reward', float('nan')):.4f}; run directory {out}")
    print(f"next: enas-edu derive {out}")
    return 0


def cmd_derive(args) -> int:
    from .derive import derive
    run = Path(args.run)
    found = run_kind(run) if run.is_dir() else None
    if found != "search":
        why = {"final": "is a final-training run", "baseline": "is a baseline without shared weights"}.get(
            found, "holds no enas_edu run" if run.is_dir() else "is a file" if run.exists() else "does not exist")
        raise RunError(f"{run} {why}; derive chooses an architecture from a search run "
                       "(a folder written by `enas-edu search` or `enas-edu baseline rsws|no-controller`)")
    chosen = derive(run, num_samples=args.samples or 1000, top_k=args.top_k or 10, uniform=args.uniform,
                    seed=args.seed, device=args.device, out=args.out)
    dest = chosen.run_dir
    space = load_config(run / "config.json").space
    print(f"chosen architecture ({chosen.metric} on the whole validation split {chosen.full_valid:.4f}, "
          f"one-batch reward {chosen.one_batch_reward:.4f}):\n  {chosen.arc}")
    print(f"candidates: {dest / 'candidates.jsonl'}; choice: {dest / 'derived.json'}")
    print(f"next: enas-edu train {space} --from {dest}")
    return 0


def cmd_rank(args) -> int:
    from .bench import nas_bench_macro
    from .ranking import rank_against_truth
    run = Path(args.run)
    if not run.is_dir() or run_kind(run) != "search":
        raise RunError(f"{run} is not a search run folder; rank scores the children of `enas-edu search nbmacro`")
    space = load_config(run / "config.json").space
    if space != "nbmacro":
        raise RunError(f"{run} searched the {space} space; rank needs a search of nbmacro, the space with a "
                       "ground truth for every child (NAS-Bench-Macro): enas-edu search nbmacro --profile colab")
    truth = nas_bench_macro.load()
    result = rank_against_truth(run, truth, limit=args.limit, sample=args.sample, seed=args.seed)
    print(f"{result['n']:,} children scored with the shared weights of {run} on {result['data']}, against "
          f"NAS-Bench-Macro's CIFAR-10 test accuracy (mean of 3 seeds):")
    k = min(10, result["n"])              # rank_correlation's top k: 10, or all of a smaller sample
    print(f"  Kendall tau {result['kendall_tau']:.3f}, Spearman rho {result['spearman_rho']:.3f}, "
          f"top-{k} overlap {result[f'top{k}_overlap']:.1f}")
    # what the search read, from its data's kind and content (never a folder's name): the
    # checksummed CIFAR-10, the known JPEG copy of it (own images recognised by content), or other data
    if result["data_kind"] != "cifar10":
        if result["data"].startswith("CIFAR-10 (JPEG"):
            print(f"  (the search read {result['data']}: the truth was trained and tested on the original "
                  "pixels, so compression is part of any difference)")
        else:
            print(f"  (the search read {result['data']}, not CIFAR-10: the truth is of other data, so these "
                  "numbers only show the pipeline runs)")
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(result) + "\n")
        print(f"scores: {args.out}")
    return 0


def _derived_arc(run: Path, space: str) -> tuple[str, Path]:
    """The architecture ``derive`` chose in ``run`` (a search run, or derive's --out folder), and
    the search run it came from."""
    if not run.is_dir():
        raise RunError(f"--from {run} does not exist; give a search run after `enas-edu derive`")
    found = run_kind(run)
    if found == "final":
        raise RunError(f"--from {run} is a final-training run; give the search run it came from (after "
                       "`enas-edu derive`), or --arc")
    derived = run / "derived.json"
    if not derived.exists():
        if found == "search":
            raise RunError(f"--from {run} is a search run without a chosen architecture: run "
                           f"`enas-edu derive {run}` first")
        raise RunError(f"--from {run} holds no enas_edu search (no derived.json); give a search run after "
                       "`enas-edu derive`, or --arc")
    choice = read_json(derived)
    if not isinstance(choice, dict) or "arc" not in choice or "space" not in choice:
        raise RunError(f"{derived} does not hold a derived architecture (no 'arc' or 'space'); run derive again")
    if choice["space"] != space:
        raise RunError(f"--from {run} chose a {choice['space']} architecture; train it with "
                       f"`enas-edu train {choice['space']} --from {run}`")
    search_run = Path(choice.get("search_run", run))
    return choice["arc"], (search_run if (search_run / "config.json").exists() else run)


def cmd_train(args) -> int:
    from .final import FinalTraining
    config = None
    if args.resume:
        out = _resumed_out(args, "final")
    else:
        out = _out(args, args.space, "final")
        profile = args.profile or "paper"
        given = [flag for flag, value in (("--arc", args.arc), ("--from", args.from_run), ("--random", args.random))
                 if value]
        if len(given) != 1:
            raise ValueError(("say which architecture to train: " if not given else
                              f"{' and '.join(given)} each name the architecture; give one: ") +
                             "--arc '0 2 0 0 ...', --from RUN (a search after `enas-edu derive`) or --random")
        search_run = None
        if args.from_run:
            arc, search_run = _derived_arc(Path(args.from_run), args.space)
        elif args.random:
            space = search_config(args.space, profile).net.space()
            arc = space.to_arc_string(space.sample(torch.Generator().manual_seed(args.seed or 0)))
            print(f"random architecture (uniform over the {profile} search space, seed {args.seed or 0}): {arc}")
        else:
            arc = args.arc
        config = final_config(args.space, arc, profile, seed=args.seed or 0,
                              **({"layout": args.rnn_layout} if args.rnn_layout else {}))
        if args.space == "rnn" and not args.rnn_layout and not args.random:
            layout, n = config.net.layout, config.net.num_nodes
            print(f"arc read in the {layout} layout: {n} nodes ({len(arc.split())} numbers; the other layout "
                  f"would need {2 * n if layout == 'paper' else 2 * n - 1}); --rnn-layout says which")
        if search_run is not None and not _names_data(args):
            config = dataclasses.replace(config, data=_search_data(config, search_run))
        config = dataclasses.replace(config, data=_data_overrides(config, args), compile=args.compile)
        config = _with_run_options(config, args)
    training = FinalTraining(config, out, resume=args.resume, progress=not args.quiet, device=args.device)
    if training.rank == 0:
        print(threads_line(args))
        print(data_line(training.task.describe()))
    result = training.run()
    if result:
        print(json.dumps(result, indent=2))
    print(f"run directory {out}")
    return 0


def cmd_baseline(args) -> int:
    from .baselines import BASELINES
    out = _out(args, args.space, f"baseline-{args.name}")
    config = search_config(args.space, args.profile or "paper", seed=args.seed or 0,
                           **({"device": args.device} if args.device else {}))
    config = _with_run_options(dataclasses.replace(config, data=_data_overrides(config, args)), args)
    sharing = args.name != "no-sharing"
    if sharing and (args.children is not None or args.child_epochs is not None):
        raise ValueError(f"--children and --child-epochs size the no-sharing baseline; {args.name} trains shared "
                         "weights (give --epochs, --samples, --top-k)")
    if not sharing and (args.samples is not None or args.top_k is not None):
        raise ValueError("--samples and --top-k size the derive step of rsws and no-controller; no-sharing trains "
                         "each child alone (give --children, --child-epochs)")
    sizes = ({"num_samples": args.samples or 1000, "top_k": args.top_k or 10} if sharing else
             {"num_children": args.children or 20, "child_epochs": args.child_epochs or 1})
    result = BASELINES[args.name](config, out, progress=not args.quiet, **sizes,
                                  on_start=lambda source: print(f"{threads_line(args)}\n{data_line(source)}"))
    print(json.dumps(result, indent=2))
    print(f"run directory {out}")
    print(f"next: enas-edu train {args.space} --from {out}" if sharing else
          f"next: enas-edu train {args.space} --arc '{result['arc']}'")
    return 0


def cmd_demo(args) -> int:
    """Search, derive and train on the shipped digits, on this machine's CPU."""
    from .derive import derive
    from .final import run_final
    from .search import run_search
    out = Path(args.out or f"runs/demo-seed{args.seed}")
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; give a new folder for the demo's runs")
    t0 = time.perf_counter()
    print("enas-edu demo: ENAS macro search -> derive -> final training, on the UCI handwritten digits")
    print("shipped with the package (1,500 train / 297 test images, 8x8 upscaled to 32x32), on the CPU.")
    print("These are numbers on those digits, not CIFAR-10 results.\n")
    smoke = search_config("macro", "smoke", seed=args.seed)
    search = search_config(
        "macro", "smoke", seed=args.seed, epochs=6, max_train_steps=None,
        net=dataclasses.replace(smoke.net, num_layers=6, out_filters=16),
        data=dataclasses.replace(smoke.data, augment=False),
        # scored with batch statistics: the official macro code uses running averages, which
        # lag far behind in a search this short (the micro code scores as here)
        reward_bn_train_mode=True,
        reinforce=dataclasses.replace(smoke.reinforce, train_steps=5))
    s = run_search(search, out / "search", progress=not args.quiet)
    for r in s.run_dir.read():
        if r["phase"] == "epoch":
            print(f"  search epoch {r['epoch']}: shared loss {r['train_loss']:.3f}, controller reward "
                  f"(one-batch accuracy) {r['reward']:.3f}, baseline {r['baseline']:.3f}")
    chosen = derive(out / "search", num_samples=200, top_k=5, seed=args.seed)
    print(f"\nderived architecture (validation accuracy with shared weights {chosen.full_valid:.3f}):"
          f"\n  {chosen.arc}")
    final = final_config("macro", chosen.arc, "book", seed=args.seed, epochs=10)
    final = dataclasses.replace(final, net=dataclasses.replace(final.net, out_filters=16),
                                data=dataclasses.replace(final.data, batch_size=32))
    result = run_final(final, out / "final", progress=not args.quiet)
    print(f"\nfinal training from scratch ({final.epochs} epochs, {result['params']:,} parameters): "
          f"test accuracy {result['test_accuracy']:.3f} on {result['data']}")
    print(f"run directory: {out} ({time.perf_counter() - t0:.0f} s)")
    return 0


def cmd_study(args) -> int:
    from .bench.study import StudyConfig, run_study
    overrides = {k: v for k, v in (("seeds", tuple(range(args.seeds)) if args.seeds else None),
                                   ("epochs", args.epochs), ("workers", args.workers)) if v is not None}
    if "epochs" in overrides:     # snapshots past the new end are dropped; the end is always one
        base = StudyConfig.profile(args.profile)
        overrides["snapshots"] = tuple(sorted({e for e in base.snapshots if e <= args.epochs} | {args.epochs}))
    cfg = StudyConfig.profile(args.profile, **overrides)
    out = Path(args.out or f"runs/study-{args.profile}")
    print(f"enas-edu study: {', '.join(cfg.methods)} x {len(cfg.seeds)} seeds on the ground-truth table "
          f"(macro space, 3 layers, 1,728 children, digits 8x8; not CIFAR-10), {cfg.workers} process(es)")
    summary = run_study(cfg, out, progress=not args.quiet)
    for method, m in summary["methods"].items():
        t = m["true_test"]
        print(f"  {method:>13}: true test accuracy {t['mean']:.4f} +- {t['std']:.4f} (mean +- std over "
              f"{t['n']} seeds, held-out table seeds), regret {m['regret']['mean']:.4f}, percentile "
              f"{m['percentile']['mean']:.1f}; {m['train_images']['mean']:,.0f} training images")
    for method, c in summary["paired"].items():
        print(f"  enas - {method}: {c['mean_difference']:+.4f}, 95% interval [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}], "
              f"p = {c['p']:.3f}: {c['verdict']} at {c['n']} seeds (resolution {c['resolution']:.4f})")
    print(f"best of the space: {summary['space_best_test']:.4f}; results in {out}")
    return 0


def cmd_record(args) -> int:
    from .results import record_run
    dest = record_run(args.run, args.results, args.name)
    print(f"recorded {args.run} as {dest}; the book's chapters and results page now show it")
    return 0


def count(minimum: int = 1):
    """An argparse type: a whole number >= ``minimum``, with a message that says so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def fraction(text: str) -> float:
    """An argparse type: a share strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (a share of the data), got {value}")
    return value


def own_data_options(p) -> None:
    p.add_argument("--data", default=None, metavar="PATH",
                   help="your own data: a folder of class folders or an .npz (images), a folder of train/valid/"
                        "test files or one file (text), torchvision:NAME, hf:NAME[:CONFIG]")
    p.add_argument("--data-kind", default=None, choices=KINDS["images"] + KINDS["text"],
                   help="what --data is, where detection would guess wrong")
    p.add_argument("--image-size", type=count(4), default=None, help="resize your images to this square size")
    p.add_argument("--valid-fraction", type=fraction, default=None,
                   help="share held out to validate when your data has no validation split (default 0.1)")
    p.add_argument("--test-fraction", type=fraction, default=None,
                   help="share held out to test when your data has no test split (default 0.1)")
    p.add_argument("--text-column", default=None, help="hf: the column holding the text (default 'text')")
    p.add_argument("--batch-size", type=count(1), default=None,
                   help="override the profile's batch size (at most the training split's size)")
    p.add_argument("--max-vocab", type=count(3), default=None,
                   help="text: keep only this many most frequent words (the rest become <unk>, and the data "
                        "line says how many)")
    p.add_argument("--no-flip", action="store_true", help="images: no random horizontal flip (digits, text)")


def data_source_options(p) -> None:
    p.add_argument("--download", action="store_true", help="download CIFAR-10 / PTB if missing")
    p.add_argument("--synthetic", action="store_true",
                   help="synthetic data in the real format, generated into the run directory (a dry run)")
    p.add_argument("--no-verify", action="store_true",
                   help="--data-dir holds your own files in the PTB / CIFAR-10 format (no checksum)")


def run_options(p) -> None:
    p.add_argument("--epochs", type=count(1), default=None, help="override the profile's epochs (>= 1)")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="autocast on CUDA: auto (bf16, else fp16; default), bf16, fp16, or fp32 as the official "
                        "code; rewards and losses stay fp32; a CPU runs fp32")
    p.add_argument("--lr-t0", type=count(1), default=None,
                   help="SGDR's first cycle in epochs (profile: 10); a run shorter than it ends unannealed")
    p.add_argument("--max-train-images", type=count(1), default=None,
                   help="images: train on this many training images, the same share of each class, the same "
                        "images in every run (drawn with the split seed); validation and test stay whole")
    p.add_argument("--steps-per-epoch", type=count(1), default=None,
                   help="at most this many training steps per epoch (the rest of the pass is skipped)")
    p.add_argument("--threads", type=count(1), default=None,
                   help="CPU threads for torch (default: torch's choice, one per core); on a machine busy with "
                        "other work 1 can be far faster than 2")


def derive_options(p) -> None:
    p.add_argument("--samples", type=count(1), default=None,
                   help="architectures sampled and scored on one validation batch (default 1000)")
    p.add_argument("--top-k", type=count(1), default=None,
                   help="of those, the best re-scored on the whole validation split (default 10)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enas-edu", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--version", action="version", version=f"enas_edu {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a user error too")
    sub = parser.add_subparsers(dest="command", required=True)

    def subcommand(name, helptext):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of a user error too")
        return p

    def common(p, profile=True):
        if profile:
            p.add_argument("--profile", choices=PROFILES, default=None,
                           help="smoke (seconds), book (CPU minutes), colab (one T4 session), paper (the official "
                                "scripts; default)")
        p.add_argument("--data-dir", default=None,
                       help="read the data from here: CIFAR-10 / PTB (checksummed), or your own files in their "
                            "format with --no-verify; without it the profile's data (else $ENAS_EDU_DATA_DIR, "
                            "else ~/.cache/enas_edu)")
        p.add_argument("--out", default=None,
                       help="run directory (default runs/SPACE-JOB-PROFILE-seedSEED); new, empty, or a run's")
        p.add_argument("--resume", action="store_true", help="continue the run in --out as it was started")
        p.add_argument("--seed", type=int, default=None, help="random seed of the run (default 0)")
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = subcommand("info", "versions, device, data")
    p.add_argument("--data-dir", default=None, help="the data root to look in (default $ENAS_EDU_DATA_DIR, "
                                                     "else ~/.cache/enas_edu)")
    p.set_defaults(func=cmd_info)
    for name, func, helptext in (("search", cmd_search, "run an ENAS search"),
                                 ("train", cmd_train, "train a fixed architecture from scratch")):
        p = subcommand(name, helptext)
        p.add_argument("space", choices=SPACES, help="the search space: rnn, macro, micro or nbmacro (NAS-Bench-Macro's)")
        common(p)
        data_source_options(p)
        own_data_options(p)
        run_options(p)
        if name == "train":
            p.add_argument("--arc", default=None, help="the architecture as an official fixed_arc string")
            p.add_argument("--from", dest="from_run", default=None,
                           help="a search run after `derive` (or derive's --out folder): train its choice")
            p.add_argument("--random", action="store_true",
                           help="train an architecture sampled uniformly from the profile's search space "
                                "(with --seed), the control every comparison needs")
            p.add_argument("--rnn-layout", default=None, choices=("enas_lm", "paper"),
                           help="rnn: the arc's layout (enas_lm: 2N numbers; paper: 2N - 1); default: by its length")
            p.add_argument("--compile", default=None, choices=[m for m in COMPILE_MODES if m],
                           help="torch.compile the child in this mode (reduce-overhead: CUDA graphs)")
        p.set_defaults(func=func)
    p = subcommand("baseline", "random search with weight sharing, ENAS without controller training, or NAS "
                               "without weight sharing")
    p.add_argument("name", choices=("rsws", "no-controller", "no-sharing"),
                   help="rsws: uniform children, shared weights; no-controller: the untrained controller; "
                        "no-sharing: every child trained alone")
    p.add_argument("space", choices=SPACES, help="the search space: rnn, macro, micro or nbmacro (NAS-Bench-Macro's)")
    common(p)
    data_source_options(p)
    own_data_options(p)
    run_options(p)
    derive_options(p)
    p.add_argument("--children", type=count(1), default=None,
                   help="no-sharing: children trained from scratch (default 20)")
    p.add_argument("--child-epochs", type=count(1), default=None, help="no-sharing: epochs per child (default 1)")
    p.set_defaults(func=cmd_baseline)
    p = subcommand("derive", "choose the final architecture of a search run")
    p.add_argument("run", help="a search run folder (of `enas-edu search` or `enas-edu baseline rsws|no-controller`)")
    derive_options(p)
    p.add_argument("--uniform", action="store_true", help="sample uniformly (random search with weight sharing)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")
    p.add_argument("--out", default=None,
                   help="where the choice goes (derived.json, derived_arc.txt, candidates.jsonl); default the run")
    p.set_defaults(func=cmd_derive)
    p = subcommand("rank", "score every child of an nbmacro search with its shared weights, against NAS-Bench-Macro")
    p.add_argument("run", help="a search run folder of `enas-edu search nbmacro`")
    p.add_argument("--sample", type=count(1), default=None,
                   help="N children drawn uniformly from the 3,969 (distinct, with --seed): a sample of the space")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--limit", type=count(1), default=None,
                   help="only the first N of the 3,969 children in the table's order (a corner of the space: a "
                        "quick look at the pipeline, not a sample)")
    p.add_argument("--out", default=None, help="a JSON file for every child's two scores")
    p.set_defaults(func=cmd_rank)
    p = subcommand("record", "copy a run's config, metrics and results into results/ for the book")
    p.add_argument("run", help="a run directory of `enas-edu search` or `enas-edu train`")
    p.add_argument("--results", default="results", help="the repository's results folder (default: ./results)")
    p.add_argument("--name", default=None, help="folder name under --results (default: the run's folder name)")
    p.set_defaults(func=cmd_record)
    p = subcommand("study", "ENAS, its ablation, RSWS and random sampling against the ground truth")
    p.add_argument("--profile", choices=("smoke", "book"), default="book",
                   help="book: 10 seeds, 10 epochs (about 50 CPU-minutes); smoke: seconds")
    p.add_argument("--seeds", type=count(1), default=None, help="number of seeds (0, 1, ...)")
    p.add_argument("--epochs", type=count(1), default=None, help="shared epochs of each search")
    p.add_argument("--workers", type=count(1), default=None, help="processes (one thread each)")
    p.add_argument("--out", default=None, help="results folder (default runs/study-PROFILE)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_study)
    p = subcommand("demo", "search -> derive -> train on the shipped digits, on the CPU")
    p.add_argument("--out", default=None, help="folder for the demo's runs (default runs/demo-seedSEED)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)
    return parser


#: file-system errors a user can fix (a full disk, a read-only folder, a path that is not a folder, a link loop)
USER_OS_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ELOOP,
                  errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG)


def _resume_hint(args) -> str:
    out = getattr(args, "run_folder", None)
    if args.command in ("search", "train") and out is not None:
        return (f"; continue it with `enas-edu {args.command} {args.space} --resume --out {out}` "
                "(from its last checkpoint)")
    return ""


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 2 for a user error (one line, no traceback; --debug adds it), 130 on Ctrl-C;
    a real bug keeps Python's traceback and exit 1."""
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None) is not None:
        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"\nenas-edu {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130
    except (DatasetUnavailableError, ValueError, FileNotFoundError, FileExistsError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, FileExistsError)) and \
                exc.errno not in USER_OS_ERRORS:
            raise
        if getattr(args, "debug", False):
            traceback.print_exc()
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message += f": {exc.filename}"
        print(f"enas-edu {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
