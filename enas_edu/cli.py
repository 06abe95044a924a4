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
import json
import platform
import sys
import time
from pathlib import Path

import torch

from . import __version__
from .config import (COMPILE_MODES, LIBRARY_DATASETS, OWN_DATASETS, PROFILES, SPACES, final_config, load_config,
                     search_config)
from .data import DatasetUnavailableError, data_root
from .data.cifar10 import find_cifar10
from .data.ptb import find_ptb
from .tasks import data_line


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
        return Path(args.out)
    return Path("runs") / f"{space}-{job}-{args.profile}-seed{args.seed}"


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
          "(1,728 macro children, digits 8x8; enas-edu study)")
    return 0


def cmd_search(args) -> int:
    from .search import Search
    out = _out(args, args.space, "search")
    config = None
    if not args.resume:
        config = search_config(args.space, args.profile, seed=args.seed)
        config = dataclasses.replace(config, data=_data_overrides(config, args),
                                     **({"epochs": args.epochs} if args.epochs else {}))
    search = Search(config, out, resume=args.resume, progress=not args.quiet, device=args.device)
    print(data_line(search.task.describe()))
    search.run_to_end()
    last = [r for r in search.run_dir.read() if r["phase"] == "epoch"][-1]
    print(f"search done: {search.config.epochs} epochs on {search.task.name}; last epoch reward "
          f"{last.get('reward', float('nan')):.4f}; run directory {out}")
    print(f"next: enas-edu derive {out}")
    return 0


def cmd_derive(args) -> int:
    from .derive import derive
    chosen = derive(args.run, num_samples=args.samples, top_k=args.top_k, uniform=args.uniform,
                    seed=args.seed, device=args.device)
    print(f"chosen architecture ({chosen.metric} on the whole validation split {chosen.full_valid:.4f}, "
          f"one-batch reward {chosen.one_batch_reward:.4f}):\n  {chosen.arc}")
    print(f"candidates: {Path(args.run) / 'candidates.jsonl'}; choice: {Path(args.run) / 'derived.json'}")
    return 0


def cmd_train(args) -> int:
    from .final import FinalTraining
    out = _out(args, args.space, "final")
    config = None
    if not args.resume:
        arc = args.arc
        if args.from_run:
            arc = (Path(args.from_run) / "derived_arc.txt").read_text().strip()
        if not arc:
            raise ValueError("say which architecture to train: --arc '0 2 0 0 ...' or --from RUN (after derive)")
        config = final_config(args.space, arc, args.profile, seed=args.seed)
        if args.from_run and not _names_data(args):
            config = dataclasses.replace(config, data=_search_data(config, Path(args.from_run)))
        config = dataclasses.replace(config, data=_data_overrides(config, args), compile=args.compile,
                                     **({"epochs": args.epochs} if args.epochs else {}))
    training = FinalTraining(config, out, resume=args.resume, progress=not args.quiet, device=args.device)
    if training.rank == 0:
        print(data_line(training.task.describe()))
    result = training.run()
    if result:
        print(json.dumps(result, indent=2))
    print(f"run directory {out}")
    return 0


def cmd_baseline(args) -> int:
    from .baselines import BASELINES
    out = _out(args, args.space, f"baseline-{args.name}")
    config = search_config(args.space, args.profile, seed=args.seed,
                           **({"device": args.device} if args.device else {}))
    config = dataclasses.replace(config, data=_data_overrides(config, args),
                                 **({"epochs": args.epochs} if args.epochs else {}))
    if args.name == "no-sharing":
        result = BASELINES[args.name](config, out, num_children=args.children, child_epochs=args.child_epochs,
                                      progress=not args.quiet)
    else:
        result = BASELINES[args.name](config, out, progress=not args.quiet)
    print(json.dumps(result, indent=2))
    print(f"run directory {out}")
    return 0


def cmd_demo(args) -> int:
    """Search, derive and train on the shipped digits, on this machine's CPU."""
    from .derive import derive
    from .final import run_final
    from .search import run_search
    out = Path(args.out or f"runs/demo-seed{args.seed}")
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
              f"{t['n']} seeds), regret {m['regret']['mean']:.4f}, percentile {m['percentile']['mean']:.1f}")
    print(f"best of the space: {summary['space_best_test']:.4f}; results in {out}")
    return 0


def cmd_record(args) -> int:
    from .results import record_run
    dest = record_run(args.run, args.results, args.name)
    print(f"recorded {args.run} as {dest}; the book's chapters and results page now show it")
    return 0


def own_data_options(p) -> None:
    p.add_argument("--data", default=None, metavar="PATH",
                   help="your own data: a folder of class folders or an .npz (images), a folder of train/valid/"
                        "test files or one file (text), torchvision:NAME, hf:NAME[:CONFIG]")
    p.add_argument("--data-kind", default=None, choices=KINDS["images"] + KINDS["text"],
                   help="what --data is, where detection would guess wrong")
    p.add_argument("--image-size", type=int, default=None, help="resize your images to this square size")
    p.add_argument("--valid-fraction", type=float, default=None,
                   help="share held out to validate when your data has no validation split (default 0.1)")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share held out to test when your data has no test split (default 0.1)")
    p.add_argument("--text-column", default=None, help="hf: the column holding the text (default 'text')")
    p.add_argument("--batch-size", type=int, default=None, help="override the profile's batch size")
    p.add_argument("--max-vocab", type=int, default=None, help="text: keep only this many most frequent words")
    p.add_argument("--no-flip", action="store_true", help="images: no random horizontal flip (digits, text)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enas-edu", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--version", action="version", version=f"enas_edu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, profile=True):
        if profile:
            p.add_argument("--profile", choices=PROFILES, default="paper")
        p.add_argument("--data-dir", default=None,
                       help="read the data from here: CIFAR-10 / PTB (checksummed), or your own files in their "
                            "format with --no-verify; without it the profile's data (else $ENAS_EDU_DATA_DIR, "
                            "else ~/.cache/enas_edu)")
        p.add_argument("--out", default=None, help="run directory")
        p.add_argument("--resume", action="store_true", help="continue the run in --out")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("info", help="versions, device, data")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_info)
    for name, func, helptext in (("search", cmd_search, "run an ENAS search"),
                                 ("train", cmd_train, "train a fixed architecture from scratch")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("space", choices=SPACES)
        common(p)
        p.add_argument("--download", action="store_true", help="download CIFAR-10 / PTB if missing")
        p.add_argument("--synthetic", action="store_true",
                       help="synthetic data in the real format, generated into the run directory (a dry run)")
        p.add_argument("--no-verify", action="store_true",
                       help="--data-dir holds your own files in the PTB / CIFAR-10 format (no checksum)")
        own_data_options(p)
        p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
        if name == "train":
            p.add_argument("--arc", default=None, help="the architecture as an official fixed_arc string")
            p.add_argument("--from", dest="from_run", default=None, help="a search run after `derive`")
            p.add_argument("--compile", default=None, choices=[m for m in COMPILE_MODES if m],
                           help="torch.compile the child in this mode (reduce-overhead: CUDA graphs)")
        p.set_defaults(func=func)
    p = sub.add_parser("baseline", help="random search with weight sharing, ENAS without controller "
                                        "training, or NAS without weight sharing")
    p.add_argument("name", choices=("rsws", "no-controller", "no-sharing"))
    p.add_argument("space", choices=SPACES)
    common(p)
    p.add_argument("--download", action="store_true")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--no-verify", action="store_true")
    own_data_options(p)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--children", type=int, default=20, help="no-sharing: children trained from scratch")
    p.add_argument("--child-epochs", type=int, default=1, help="no-sharing: epochs per child")
    p.set_defaults(func=cmd_baseline)
    p = sub.add_parser("derive", help="choose the final architecture of a search run")
    p.add_argument("run")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--uniform", action="store_true", help="sample uniformly (random search with weight sharing)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_derive)
    p = sub.add_parser("record", help="copy a run's config, metrics and results into results/ for the book")
    p.add_argument("run", help="a run directory of `enas-edu search` or `enas-edu train`")
    p.add_argument("--results", default="results", help="the repository's results folder (default: ./results)")
    p.add_argument("--name", default=None, help="folder name under --results (default: the run's folder name)")
    p.set_defaults(func=cmd_record)
    p = sub.add_parser("study", help="ENAS, its ablation, RSWS and random sampling against the ground truth")
    p.add_argument("--profile", choices=("smoke", "book"), default="book",
                   help="book: 10 seeds, 10 epochs (about 50 CPU-minutes); smoke: seconds")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (0, 1, ...)")
    p.add_argument("--epochs", type=int, default=None, help="shared epochs of each search")
    p.add_argument("--workers", type=int, default=None, help="processes (one thread each)")
    p.add_argument("--out", default=None, help="results folder (default runs/study-PROFILE)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_study)
    p = sub.add_parser("demo", help="search -> derive -> train on the shipped digits, on the CPU")
    p.add_argument("--out", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetUnavailableError, ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"enas-edu {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
