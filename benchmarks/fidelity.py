"""The official code's deviations as switches (issue #17): what each one changes, measured.

Usage: ``python benchmarks/fidelity.py [--seeds 4] [--workers 2] [--micro-epochs 5]``

1. **Against the ground truth** (``enas_edu.bench``): the study's ENAS search (the book profile's
   macro settings on the 3-layer space, the digits at 8 x 8, 10 epochs, then ``derive``) with
   one switch turned at a time, ``--seeds`` seeds each, the same seeds for every setting; each
   derived child is scored by its true test accuracy in the table (held-out seeds, as the
   study scores), paired by seed with the default:
   ``case_quirk`` (every op runs max pool, as the official tf.case did), ``dense_updates``
   (weight decay and momentum for unused shared weights), ``init="official"`` (He normal
   over the official stored shapes), and the book controller's three departures undone in turn
   (PyTorch's Adam instead of TF1's, the baseline from 0, the macro script's lr 0.001 instead of
   0.05), and four switches of the official CIFAR profiles measured here on the digits
   (``clip_noop`` off, ``branch_bn_eps`` 1e-3, ``drop_last``, rewards in evaluation mode).
   Beside each: whether the controller learned, by the
   truth (the mean true accuracy of 200 children its policy draws after the last epoch, minus
   the space's mean, which is what uniform sampling draws), its policy entropy before and after,
   and how many updates had a positive and a negative mean advantage.
2. **Cost of dense updates**: seconds per shared-weight step of the book micro and macro
   supernets, dense vs sparse, interleaved in one process.
3. **Auxiliary head in the micro search**: the book micro search for ``--micro-epochs``
   epochs, with the head (0.4 x its loss, head frozen, as cifar10_micro_search.sh) and
   without, 2 seeds: the last epoch's mean reward and the derived child's validation accuracy
   with the shared weights.

4. **RNN reward windows**: the book RNN search for ``--rnn-epochs`` epochs with the reward
   windows in order (enas_lm) and at random offsets (the book profile), 2 seeds: the last
   epoch's mean reward and the derived cell's validation perplexity with the shared weights.

5. **RNN final training switches**: one book-profile final training of a sampled cell (5
   epochs), then its test perplexity evaluated as the book does (batch 10, windows of 35) and
   as enas_lm's ``fixed_lib.py`` does (``test_batch_size=1``, ``test_bptt=1``), and for each
   epoch whether the two averaged-SGD triggers (``asgd_trigger``) would have started averaging.

6. **RNN search L2 term** (``search_l2_quirk``): the book RNN search for ``--rnn-epochs``
   epochs with enas_lm's search-time weight decay (sum(w^4)/2 over w_prev and the sampled node
   matrices but the first) and with the plain sum(w^2) of every weight the child uses, 2 seeds.

7. **RNN whole-split validation** (``valid_state_reset``): 20 sampled cells scored on the
   shared weights of a book RNN search (``--rnn-epochs``, seeds 0 and 1) with the hidden state
   carried across windows and reset before each (enas_lm's search): the rankings compared.

8. **RNN run length** (``fixed_steps``): enas_lm's 207 x 600 steps against 600 whole passes
   for PTB's shape, counted with the project's own random-length windows (no training).

9. **Micro evaluation batch** (``eval_batch_size`` 100 in the CIFAR profiles): 30 sampled
   cells scored on the whole validation split with batch statistics, in batches of the
   training size and of 100, on the shared weights of a book micro search (2 seeds).

Prints Markdown tables for BENCHMARKS.md ("Fidelity switches").
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS = {
    "default (book profile)": lambda c: c,
    "case_quirk=True": lambda c: dataclasses.replace(c, net=dataclasses.replace(c.net, case_quirk=True)),
    "dense_updates=True": lambda c: dataclasses.replace(c, optim=dataclasses.replace(c.optim, dense_updates=True)),
    'init="official"': lambda c: dataclasses.replace(c, net=dataclasses.replace(c.net, init="official")),
    # the controller (issue #27 item 1, issue #28 item 6): the book profile runs TF1's Adam, the
    # baseline from the first rewards and lr 0.05; each undone in turn
    'adam_eps_form="torch"': lambda c: dataclasses.replace(c, reinforce=dataclasses.replace(
        c.reinforce, adam_eps_form="torch")),
    'baseline_start="zero"': lambda c: dataclasses.replace(c, reinforce=dataclasses.replace(
        c.reinforce, baseline_start="zero")),
    "controller lr 0.001 (macro script)": lambda c: dataclasses.replace(c, reinforce=dataclasses.replace(
        c.reinforce, lr=0.001)),
    # the official CIFAR profiles' other switches, measured on the digits (issue #27 item 5)
    "clip_noop=False": lambda c: dataclasses.replace(c, optim=dataclasses.replace(c.optim, clip_noop=False)),
    "branch_bn_eps=1e-3": lambda c: dataclasses.replace(c, net=dataclasses.replace(c.net, branch_bn_eps=1e-3)),
    "drop_last=True": lambda c: dataclasses.replace(c, data=dataclasses.replace(c.data, drop_last=True)),
    "reward_bn_train_mode=False": lambda c: dataclasses.replace(c, reward_bn_train_mode=False),
}


def _truth_job(args):
    import torch
    from enas_edu.bench.study import StudyConfig, run_method
    from enas_edu.bench.table import GroundTruth
    torch.set_num_threads(1)
    setting, seed, work = args
    cfg = StudyConfig.profile("book", snapshots=())
    truth = GroundTruth.load()
    folder = "".join(ch for ch in setting if ch.isalnum())
    r = run_method("enas", seed, cfg, truth, Path(work), configure=SETTINGS[setting], name=f"{folder}_seed{seed}")
    return setting, seed, r


def against_truth(seeds: int, workers: int, names: list[str] | None = None) -> str:
    default_name = next(iter(SETTINGS))
    names = [default_name] + [n for n in (names or SETTINGS) if n != default_name]
    with tempfile.TemporaryDirectory() as work:
        jobs = [(s, seed, work) for seed in range(seeds) for s in names]
        with mp.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_truth_job, jobs)
    from enas_edu.bench.stats import paired
    from enas_edu.bench.table import GroundTruth
    uniform = float(GroundTruth.load().scores("test").mean())
    lines = ["| setting | true test acc (mean ± std) | minus default, paired (95% interval; verdict) | "
             "percentile (mean) | policy's samples minus uniform, last epoch | policy entropy, first → last "
             "epoch (nats) | updates with advantage > 0 / < 0 | seconds (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    by = {s: [r for setting, _, r in sorted(results, key=lambda x: x[1]) if setting == s] for s in names}
    default = [r["true_test"] for r in by[default_name]]
    for s, rows in by.items():
        acc = [r["true_test"] for r in rows]
        diff = ""
        if s != default_name:
            c = paired(acc, default)
            diff = f"{c['mean_difference']:+.4f} ([{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]; {c['verdict']})"
        gain = statistics.mean(r["policy"][-1]["sample_true"] for r in rows) - uniform
        entropy = (statistics.mean(r["policy"][0]["policy_entropy"] for r in rows),
                   statistics.mean(r["policy"][-1]["policy_entropy"] for r in rows))
        signs = [sum(r["advantage_signs"][k] for r in rows) for k in ("positive", "negative")]
        lines.append(f"| {s} | {statistics.mean(acc):.4f} ± {statistics.stdev(acc):.4f} | {diff} | "
                     f"{statistics.mean(r['percentile'] for r in rows):.1f} | {gain:+.4f} | "
                     f"{entropy[0]:.3f} → {entropy[1]:.3f} | {signs[0]} / {signs[1]} | "
                     f"{statistics.mean(r['seconds'] for r in rows):.0f} |")
    return "\n".join(lines)


def dense_cost(steps: int = 40) -> str:
    import torch
    import torch.nn.functional as F
    from enas_edu.config import search_config
    from enas_edu.search import NETS
    from enas_edu.training import make_sgd, zero_gradients
    lines = ["| supernet (book profile) | parameter tensors | sparse s/step | dense s/step | dense / sparse |",
             "|---|---|---|---|---|"]
    for space in ("macro", "micro"):
        cfg = search_config(space, "book")
        torch.manual_seed(0)
        net = NETS[space](cfg.net)
        opt = {d: make_sgd(net.parameters(), dataclasses.replace(cfg.optim, dense_updates=d)) for d in (False, True)}
        archs = [net.space.sample(torch.Generator().manual_seed(i)) for i in range(steps)]
        x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
        seconds = {False: 0.0, True: 0.0}
        for i, arch in enumerate(archs):
            for dense in ((False, True) if i % 2 else (True, False)):    # interleaved, alternating order
                t0 = time.perf_counter()
                zero_gradients(opt[dense], dense)
                F.cross_entropy(net(x, arch), y).backward()
                opt[dense].step()
                seconds[dense] += time.perf_counter() - t0
        n = sum(1 for _ in net.parameters())
        lines.append(f"| {space} | {n:,} | {seconds[False] / steps:.4f} | {seconds[True] / steps:.4f} | "
                     f"{seconds[True] / seconds[False]:.2f} |")
    return "\n".join(lines)


def _book_searches(space: str, epochs: int, settings: dict, header: str, samples: int, top_k: int,
                   digits: int) -> str:
    """One book-profile search of ``space`` per (setting, seed 0 and 1), each derived: a table
    row with the last epoch's mean reward and the derived child's shared-weight validation score.
    ``settings`` maps a row label to a function that changes the search config."""
    from enas_edu.config import search_config
    from enas_edu.derive import derive
    from enas_edu.search import run_search
    lines = [f"| {header} | seed | last epoch's mean reward | derived child, shared-weight validation |",
             "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as work:
        for i, (label, change) in enumerate(settings.items()):
            for seed in (0, 1):
                run = Path(work) / f"{i}-{seed}"
                s = run_search(change(search_config(space, "book", seed=seed, epochs=epochs)), run, progress=False)
                last = [r for r in s.run_dir.read() if r["phase"] == "epoch"][-1]
                d = derive(run, num_samples=samples, top_k=top_k, seed=seed)
                lines.append(f"| {label} | {seed} | {last['reward']:.3f} | {d.full_valid:.{digits}f} |")
    return "\n".join(lines)


def micro_aux(epochs: int) -> str:
    def aux(on: bool):
        return lambda c: dataclasses.replace(c, net=dataclasses.replace(c.net, aux_head=on),
                                             optim=dataclasses.replace(c.optim, aux_weight=0.4 if on else 0.0,
                                                                       freeze_aux_head=True))
    return _book_searches("micro", epochs, {"aux head off": aux(False), "aux head on (0.4, frozen)": aux(True)},
                          "micro search (book profile)", samples=200, top_k=10, digits=3)


def rnn_windows(epochs: int) -> str:
    def windows(kind: str):
        return lambda c: dataclasses.replace(c, data=dataclasses.replace(c.data, reward_windows=kind))
    return _book_searches("rnn", epochs, {f"reward windows {k}": windows(k) for k in ("random", "in_order")},
                          "RNN search (book profile)", samples=100, top_k=5, digits=1)


def rnn_l2(epochs: int) -> str:
    def l2(quirk: bool):
        return lambda c: dataclasses.replace(c, net=dataclasses.replace(c.net, search_l2_quirk=quirk))
    return _book_searches("rnn", epochs, {"search_l2_quirk=True (enas_lm)": l2(True),
                                          "search_l2_quirk=False": l2(False)},
                          "RNN search (book profile)", samples=100, top_k=5, digits=1)


def rnn_final(epochs: int) -> str:
    """Test perplexity with the book's and the official test windows; when ASGD would start."""
    import torch
    from enas_edu.config import final_config
    from enas_edu.final import FinalTraining, asgd_starts
    from enas_edu.spaces import RNNCellSpace
    arc = RNNCellSpace().to_arc_string(RNNCellSpace().sample(torch.Generator().manual_seed(0)))
    with tempfile.TemporaryDirectory() as work:
        config = final_config("rnn", arc, "book", seed=0, epochs=epochs)
        training = FinalTraining(config, Path(work) / "final", progress=False)
        training.run()
        history = [r["valid_perplexity"] for r in training.run_dir.read() if r.get("phase") == "epoch"]
        net, task = training._evaluated_net().eval(), training.task
        lines = ["| test evaluation | batch | window | test perplexity | seconds |", "|---|---|---|---|---|"]
        for label, batch, bptt in (("book profile (as validation)", None, None), ("enas_lm fixed_lib.py", 1, 1)):
            task.cfg = dataclasses.replace(task.cfg, test_batch_size=batch, test_bptt=bptt)
            t0 = time.perf_counter()
            ppl = task.evaluate(net, split="test")
            lines.append(f"| {label} | {batch or task.cfg.eval_batch_size} | {bptt or task.cfg.bptt} | {ppl:.2f} | "
                         f"{time.perf_counter() - t0:.1f} |")
    patience, best, bad = config.optim.asgd_patience, float("inf"), 0
    starts = {"official": [], "patience": []}
    for epoch, ppl in enumerate(history):
        bad = 0 if ppl < best else bad + 1
        best = min(best, ppl)
        for trigger in starts:
            if asgd_starts(history[:epoch], ppl, bad, patience, trigger):
                starts[trigger].append(epoch + 1)
    lines += ["", f"arc `{arc}`; validation perplexity per epoch: {', '.join(f'{v:.1f}' for v in history)}; "
              f"epochs after which averaging would start (patience {patience}): official "
              f"{starts['official'] or 'none'}, patience {starts['patience'] or 'none'}"]
    return "\n".join(lines)


def _rescored(space: str, epochs: int, cells: int, settings: dict, metric: str, lower_is_better: bool) -> str:
    """Sampled cells scored on the whole validation split with the shared weights of a book
    search of ``space`` (seeds 0 and 1, in the mode the search scores in), once per data setting
    (``settings``: column label -> DataConfig fields): the means, the two rankings' Spearman,
    and whether the best cell agrees."""
    import torch
    from enas_edu.config import search_config
    from enas_edu.ranking import spearman
    from enas_edu.search import run_search
    first, second = settings
    lines = [f"| seed | cells | mean validation {metric}, {first} | {second} | Spearman of the two rankings | "
             "same best cell |", "|---|---|---|---|---|---|"]
    pick = min if lower_is_better else max
    with tempfile.TemporaryDirectory() as work:
        for seed in (0, 1):
            search = run_search(search_config(space, "book", seed=seed, epochs=epochs), Path(work) / str(seed),
                                progress=False)
            search.scoring_mode()
            archs = [search.space.sample(torch.Generator().manual_seed(1000 + i)) for i in range(cells)]
            scores = []
            for fields in settings.values():
                search.task.cfg = dataclasses.replace(search.task.cfg, **fields)
                scores.append([search.task.evaluate(search.net, a, "valid") for a in archs])
            a, b = scores
            best = [pick(range(cells), key=v.__getitem__) for v in (a, b)]
            digits = 1 if metric == "perplexity" else 3
            lines.append(f"| {seed} | {cells} | {statistics.mean(a):.{digits}f} | {statistics.mean(b):.{digits}f} | "
                         f"{spearman(a, b):.3f} | {'yes' if best[0] == best[1] else 'no'} |")
    return "\n".join(lines)


def rnn_valid_state(epochs: int, cells: int = 20) -> str:
    """The hidden state carried across validation windows, and reset before each (enas_lm's
    search, ``valid_state_reset``), on a book RNN search (scored without dropout)."""
    return _rescored("rnn", epochs, cells, {"carried": {"valid_state_reset": False},
                                            "reset before each window": {"valid_state_reset": True}},
                     "perplexity", lower_is_better=True)


def micro_eval_batch(epochs: int, cells: int = 30) -> str:
    """Batches of the training size (32) and of 100 (``models.py``'s evaluation batch) with
    batch statistics, as the micro search scores, on a book micro search."""
    return _rescored("micro", epochs, cells, {"batch 32": {"eval_batch_size": 32},
                                              "batch 100": {"eval_batch_size": 100}},
                     "accuracy", lower_is_better=False)


def rnn_step_count(epochs: int = 600, seed: int = 0) -> str:
    """enas_lm's step budget against whole passes for PTB's shape (929,589 training tokens in
    128 columns, bptt 35), counted with the project's own random-length window generator."""
    import torch
    from enas_edu.config import search_config
    from enas_edu.data.ptb import bptt_windows
    from enas_edu.data.augment import batch_generator
    cfg = search_config("rnn", "paper")
    columns = torch.zeros(929_589 // cfg.data.batch_size, 1, dtype=torch.long)   # only the lengths matter
    nominal = (columns.shape[0] - 1) // cfg.data.bptt
    passes = [sum(1 for _ in bptt_windows(columns, cfg.data.bptt, True, batch_generator(seed, e, -1, "cpu")))
              for e in range(epochs)]
    budget, done, phases = epochs * nominal, 0, 0
    for n in passes:
        if done + n > budget:
            break
        done, phases = done + n, phases + 1
    return (f"| run length | shared steps | controller phases |\n|---|---|---|\n"
            f"| {epochs} whole passes (default) | {sum(passes):,} | {epochs} |\n"
            f"| fixed_steps (enas_lm: {nominal} x {epochs}) | {budget:,} | {phases} |\n\n"
            f"A pass has {min(passes)}-{max(passes)} windows (mean {statistics.mean(passes):.1f}) against the "
            f"nominal {nominal}; whole passes take {sum(passes) / budget - 1:+.1%} steps.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--micro-epochs", type=int, default=5)
    parser.add_argument("--rnn-epochs", type=int, default=3)
    parser.add_argument("--rnn-final-epochs", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["truth", "cost", "aux", "rnn", "l2", "final", "valid", "steps", "evalbatch"])
    parser.add_argument("--settings", nargs="*", default=None, choices=list(SETTINGS),
                        help="rows of the truth table (default: all; the default row is always run)")
    args = parser.parse_args()
    import torch
    print(f"hardware: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
          f"torch {torch.__version__}; command: python benchmarks/fidelity.py {' '.join(sys.argv[1:])}\n")
    epochs = args.rnn_epochs
    sections = [  # (--skip key, heading, the measurement)
        ("truth", f"Against the ground truth ({args.seeds} seeds, {args.workers} processes)",
         lambda: against_truth(args.seeds, args.workers, args.settings)),
        ("cost", "Cost of dense updates", dense_cost),
        ("aux", f"Auxiliary head in the micro search ({args.micro_epochs} epochs)", lambda: micro_aux(args.micro_epochs)),
        ("rnn", f"RNN reward windows ({epochs} epochs)", lambda: rnn_windows(epochs)),
        ("l2", f"RNN search L2 term ({epochs} epochs)", lambda: rnn_l2(epochs)),
        ("valid", f"RNN whole-split validation: hidden state carried or reset ({epochs} epochs)",
         lambda: rnn_valid_state(epochs)),
        ("steps", "RNN run length: whole passes or enas_lm's step count (PTB's shape)", rnn_step_count),
        ("evalbatch", f"Micro search: evaluation batch with batch statistics ({args.micro_epochs} epochs)",
         lambda: micro_eval_batch(args.micro_epochs)),
        ("final", f"RNN final training: test windows and the averaging trigger ({args.rnn_final_epochs} epochs)",
         lambda: rnn_final(args.rnn_final_epochs)),
    ]
    for key, heading, measure in sections:
        if key not in args.skip:
            print(f"### {heading}\n")
            print(measure(), "\n", flush=True)

if __name__ == "__main__":
    main()
