"""Search spaces: exact counts, the official arc-string format, validation, immutability."""

import dataclasses
import json
import math
from collections import Counter

import pytest
import torch

from enas_edu.spaces import (
    MacroArch, MacroSpace, MicroArch, MicroNode, MicroSpace, RNNArch, RNNCellSpace,
    loose_ends, published, rnn_loose_ends, space_from_config,
)
from enas_edu.spaces.published import MACRO_FINAL_ARC, MICRO_FINAL_ARC, RNN_ENAS_LM_ARC

TINY_SPACES = [
    MacroSpace(num_layers=1, num_ops=6),
    MacroSpace(num_layers=3, num_ops=3),
    MacroSpace(num_layers=4, num_ops=2),
    MicroSpace(num_nodes=1, num_ops=2),
    MicroSpace(num_nodes=1, num_ops=5),
    RNNCellSpace(num_nodes=1),
    RNNCellSpace(num_nodes=4),
    RNNCellSpace(num_nodes=1, layout="paper"),
    RNNCellSpace(num_nodes=5, layout="paper"),
    RNNCellSpace(num_nodes=3, layout="paper", num_funcs=2),
]


def closed_form(space):
    """The counts derived by hand in the spaces' docstrings."""
    if isinstance(space, MacroSpace):
        L = space.num_layers
        return space.num_ops**L * 2 ** (L * (L - 1) // 2)
    if isinstance(space, MicroSpace):
        B = space.num_nodes
        return (math.factorial(B + 1) ** 2 * space.num_ops ** (2 * B)) ** 2
    N, f = space.num_nodes, space.num_funcs
    return f**N * math.factorial(N if space.layout == "enas_lm" else N - 1)


@pytest.mark.parametrize("space", TINY_SPACES, ids=repr)
def test_size_equals_brute_force_enumeration(space):
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == space.size() == closed_form(space)
    for arch in archs[:: max(1, len(archs) // 50)]:
        assert space.validate(arch) is arch


def test_enumeration_by_hand_for_the_smallest_micro_space():
    # One node, two ops: x_input in {0,1}, x_op in {0,1}, same for y; two cells -> (2*2*2*2)^2.
    space = MicroSpace(num_nodes=1, num_ops=2)
    archs = list(space.enumerate())
    assert len(archs) == 256
    assert archs[0] == MicroArch((MicroNode(0, 0, 0, 0),), (MicroNode(0, 0, 0, 0),))
    assert archs[-1] == MicroArch((MicroNode(1, 1, 1, 1),), (MicroNode(1, 1, 1, 1),))


def test_paper_formulas_and_where_they_differ():
    # Paper section 2.3: macro, L = 12: 1.6 x 10^29, and exact.
    macro = MacroSpace(num_layers=12)
    assert macro.paper_size() == macro.size()
    assert f"{macro.size():.1e}" == "1.6e+29"
    # Paper section 2.4: micro, B = 7: 1.3 x 10^11; the controller's sequences are many more.
    micro = MicroSpace(num_nodes=5)
    assert f"{micro.paper_size():.1e}" == "1.3e+11"
    assert micro.size() == (720**2 * 5**10) ** 2
    # Paper section 2.1: 4^N x N! (about 10^15 for N = 12) is exact for the enas_lm layout;
    # the paper's own layout has N times fewer.
    enas_lm, paper = RNNCellSpace(num_nodes=12), RNNCellSpace(num_nodes=12, layout="paper")
    assert enas_lm.size() == enas_lm.paper_size() == 4**12 * math.factorial(12)
    assert f"{paper.paper_size():.0e}" == "8e+15"
    assert paper.size() * 12 == paper.paper_size()


@pytest.mark.parametrize("name,arc", [
    ("macro", MACRO_FINAL_ARC), ("micro", MICRO_FINAL_ARC), ("rnn", RNN_ENAS_LM_ARC)])
def test_published_architectures_round_trip_unchanged(name, arc):
    space, arch = published(name)
    assert space.to_arc_string(arch) == " ".join(arc.split())
    assert space.from_arc_string(space.to_arc_string(arch)) == arch


def test_published_architectures_decode_as_documented():
    macro_space, macro = published("macro")
    assert macro.num_layers == 24 and max(macro.ops) <= 3
    assert macro.ops[:4] == (0, 3, 0, 2) and macro.skips[3] == (0, 0, 1)
    _, micro = published("micro")
    assert micro.normal[0] == MicroNode(x_input=0, x_op=2, y_input=0, y_op=0)
    assert micro.reduce[2] == MicroNode(x_input=1, x_op=1, y_input=3, y_op=1)
    assert loose_ends(micro.normal) == (2, 3, 4, 5, 6)
    assert loose_ends(micro.reduce) == (2, 4, 5, 6)
    # an unused cell input is a loose end too (micro_child.py counts `used` over inputs as well)
    assert loose_ends((MicroNode(1, 0, 1, 0), MicroNode(2, 0, 1, 4))) == (0, 3)
    _, rnn = published("rnn")
    assert rnn.prevs == (0, 1, 2, 2, 4, 5, 3, 6)
    assert rnn.funcs == (2, 0, 1, 2, 0, 0, 2, 2)
    assert rnn_loose_ends(rnn) == (7, 8)


def test_paper_layout_arc_string():
    space = RNNCellSpace(num_nodes=3, layout="paper")
    arch = space.from_arc_string("2  1 0  1 3")  # func_1; node 2 reads 1; node 3 reads 1
    assert arch == RNNArch("paper", prevs=(0, 1, 1), funcs=(2, 0, 3))
    assert space.to_arc_string(arch) == "2 1 0 1 3"
    assert rnn_loose_ends(arch) == (2, 3)
    with pytest.raises(ValueError, match=r"position 1 \(node 2 prev\) is 0; expected an integer in 1..1"):
        space.from_arc_string("2 0 0 1 3")


@pytest.mark.parametrize("space,text,message", [
    (MacroSpace(num_layers=3), "0 1 0 2 0", r"expects an arc string of 6 integers, got 5"),
    (MacroSpace(num_layers=3), "0 1 0 2 0 2", r"position 5 \(layer 2 skip from layer 0\) is 2; expected an integer in 0..1"),
    (MacroSpace(num_layers=3), "0 1 0 x 0 1", r"position 3 \(layer 2 op\) is 'x'; expected an integer"),
    (MacroSpace(num_layers=2, num_ops=4), "5 1 0", r"position 0 \(layer 0 op\) is 5; expected an integer in 0..3"),
    (MicroSpace(num_nodes=2), "0 0 1 0  2 0 3 0  0 0 0 0  0 0 0 0",
     r"position 6 \(normal cell node 3 y_input\) is 3; expected an integer in 0..2"),
    (MicroSpace(num_nodes=1), "0 0 0 5  0 0 0 0", r"position 3 \(normal cell node 2 y_op\) is 5; expected an integer in 0..4"),
    (RNNCellSpace(num_nodes=2), "1 0 0 0", r"position 0 \(node 1 prev\) is 1; expected an integer in 0..0"),
    (RNNCellSpace(num_nodes=2), "0 0 0 4", r"position 3 \(node 2 func\) is 4; expected an integer in 0..3"),
])
def test_malformed_arc_strings_name_the_position(space, text, message):
    with pytest.raises(ValueError, match=message):
        space.from_arc_string(text)


def test_validate_rejects_wrong_types_and_shapes():
    macro = MacroSpace(num_layers=2)
    with pytest.raises(ValueError, match="expected a MacroArch"):
        macro.validate(MicroArch((), ()))
    with pytest.raises(ValueError, match="layer 1 must have exactly 1 skip bits, got 2"):
        macro.validate(MacroArch(ops=(0, 1), skips=((), (1, 0))))
    with pytest.raises(ValueError, match="this space has num_layers=2"):
        macro.validate(MacroArch(ops=(0,), skips=((),)))
    with pytest.raises(ValueError, match=r"position 2 \(layer 1 skip from the stem\) is 3"):
        macro.validate(MacroArch(ops=(0, 1), skips=((), (3,))))
    micro = MicroSpace(num_nodes=1)
    with pytest.raises(ValueError, match="reduce cell has 2 nodes"):
        micro.validate(MicroArch((MicroNode(0, 0, 0, 0),), (MicroNode(0, 0, 0, 0),) * 2))
    rnn = RNNCellSpace(num_nodes=2, layout="paper")
    with pytest.raises(ValueError, match="layout 'enas_lm'; this space has layout 'paper'"):
        rnn.validate(RNNArch("enas_lm", (0, 0), (0, 0)))
    with pytest.raises(ValueError, match="node 1 reads the input"):
        rnn.validate(RNNArch("paper", (1, 1), (0, 0)))


def test_bad_space_arguments():
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        MacroSpace(num_layers=0)
    with pytest.raises(ValueError, match="num_ops must be an int in 1..5"):
        MicroSpace(num_ops=6)
    with pytest.raises(ValueError, match="layout must be one of"):
        RNNCellSpace(layout="lstm")
    with pytest.raises(ValueError, match="more than limit"):
        next(MacroSpace(num_layers=12).enumerate())
    with pytest.raises(ValueError, match="unknown search space"):
        space_from_config("nasnet", {})


def test_architectures_are_immutable_and_hashable():
    space, arch = published("micro")
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.normal = ()
    copy = space.from_arc_string(space.to_arc_string(arch))
    assert copy == arch and hash(copy) == hash(arch) and copy is not arch
    assert len({arch, copy, space.sample(torch.Generator().manual_seed(0))}) == 2


@pytest.mark.parametrize("space", [MacroSpace(), MicroSpace(), RNNCellSpace(), RNNCellSpace(layout="paper")], ids=repr)
def test_json_round_trip(space):
    arch = space.sample(torch.Generator().manual_seed(3))
    text = json.dumps(space.to_json(arch))
    assert space.from_json(json.loads(text)) == arch
    rebuilt = space_from_config(space.name, json.loads(text)["config"])
    assert rebuilt == space and rebuilt.from_json(json.loads(text)) == arch
    with pytest.raises(ValueError, match="not MacroSpace"):
        MacroSpace(num_layers=3).from_json(json.loads(text))


def test_sample_is_seeded_and_uniform():
    space = MacroSpace(num_layers=2, num_ops=3)  # 3 * 3 * 2 = 18 architectures
    a = [space.sample(torch.Generator().manual_seed(7)) for _ in range(2)]
    assert a[0] == a[1]
    g = torch.Generator().manual_seed(0)
    counts = Counter(space.sample(g) for _ in range(3600))
    assert len(counts) == 18
    assert all(abs(c - 200) < 60 for c in counts.values())  # ~4.3 sigma of a binomial(3600, 1/18)
