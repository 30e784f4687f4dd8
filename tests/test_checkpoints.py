"""Checkpoints are read with weights_only=True; one that needs pickled code is refused with a clear message."""

import collections

import pytest
import torch

from coqui_meta.formats.checkpoints import load_checkpoint


class Custom:  # a pickled object, as old or hand-made checkpoints carry
    pass


def test_a_checkpoint_with_pickled_objects_needs_trust(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"model": collections.OrderedDict(w=torch.ones(2)), "extra": Custom()}, path)
    with pytest.raises(ValueError, match=r"model\.pth .*weights_only=True.*pass trust \("):
        load_checkpoint(path)
    assert torch.equal(load_checkpoint(path, trust=True)["model"]["w"], torch.ones(2))


def test_plain_checkpoints_load_and_bad_files_are_named(tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}, "step": 3}, tmp_path / "ok.pth")
    assert load_checkpoint(tmp_path / "ok.pth")["step"] == 3
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pth"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth is not a Coqui checkpoint"):
        load_checkpoint(tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")


def test_the_command_line_gives_library_arguments_as_its_flags(tmp_path):
    from coqui_meta.cli.arguments import in_flags

    path = tmp_path / "model.pth"
    torch.save({"model": collections.OrderedDict(w=torch.ones(2)), "extra": Custom()}, path)
    with pytest.raises(ValueError) as refused:
        load_checkpoint(path)
    assert "pass trust (" in str(refused.value) and "--" not in str(refused.value)
    assert "pass --trust_checkpoint (" in in_flags(refused.value)  # the one argument whose flag is named otherwise
    assert in_flags(ValueError("no arguments named")) == "no arguments named"
