"""The ``coqui-meta`` command line as argparse sub-commands: every command listed and reachable, the flags
``trainer.distribute`` puts before the command handed back to ``train``, and a flag a command does not take refused
in that command's own words."""

import pytest

import coqui_meta.cli.train as train_command
from coqui_meta.cli import build_parser, command_parsers, forwarded, main

COMMANDS = {"train", "evaluate", "compare", "adapt", "embed", "apply-delta", "demo"}


def test_every_command_is_a_sub_command_and_listed_in_the_help(capsys):
    assert set(command_parsers()) == COMMANDS
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert {line.split()[0] for line in listed.splitlines() if line.startswith("    ")} >= COMMANDS, listed


def test_the_flags_trainer_distribute_puts_before_the_command_reach_train():
    # what `python -m trainer.distribute --script coqui-meta train --config_path c.json` runs for rank 1
    argv = ["--continue_path=", "--restore_path=", "--group_id=group_1", "--use_ddp=true", "train", "--config_path",
            "c.json", "--coqpit.meta.inner_steps", "3", "--rank=1"]
    args, rest = build_parser().parse_known_args(argv)
    assert args.run is train_command.train and args.forward
    assert forwarded(args, rest) == ["--group_id=group_1", "--use_ddp=true", "--config_path", "c.json",
                                     "--coqpit.meta.inner_steps", "3", "--rank=1"]


def test_a_flag_a_command_does_not_take_is_refused_in_its_own_words(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(tmp_path / "a.json"), "--out_path", str(tmp_path), "--no_such_flag"])
    assert exit_.value.code == 2
    assert "coqui-meta compare: error: unrecognized arguments: --no_such_flag" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2 and "invalid choice: 'no-such-command'" in capsys.readouterr().err
