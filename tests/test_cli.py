"""The enas-edu command."""

import pytest

from enas_edu.cli import main


def test_info_names_versions_and_device(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "enas_edu 0.1.0" in out and "torch" in out and "device" in out


def test_demo_prints_spaces_published_archs_and_learns(capsys):
    assert main(["demo", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "size 2.563e+25   paper formula 1.296e+11" in out          # micro, exact vs paper
    assert "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2" in out                   # the enas_lm cell
    rewards = [float(line.split("mean reward")[1].split()[0])
               for line in out.splitlines() if "mean reward" in line]
    assert len(rewards) == 5 and rewards[-1] > rewards[0]


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serach"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
