"""How a one-speaker model (no speaker input: LJSpeech's VITS) is meta-trained on speaker tasks: it gains a speaker
table, and starts by speaking as it did.

A task per speaker needs an input that tells one speaker's voice from another's; a one-speaker VITS has none. Its
config gains Coqui's own one: ``use_speaker_embedding`` (top level and ``model_args``), with the meta corpus's
speakers as the table (`coqui_meta.training.prepare` fills them in from the training clips). Coqui's VITS adds the
speaker embedding ``g`` to its modules' inputs through small conditioning layers (``cond``/``cond_layer`` in the
posterior encoder, the flow, the duration predictor and the waveform decoder), none of which the one-speaker
checkpoint has. They start at zero (`silence_speaker_conditioning`): the model then speaks exactly as the one-speaker
model did, whatever a speaker's row, and meta-training moves them from there, so its first steps start from the
released voice rather than from random conditioning. Every other tensor loads from the one-speaker checkpoint as it
is (`coqui_meta.cli.train.restore_release` loads the tensors that fit).

A one-speaker Tacotron2 concatenates the speaker embedding to the encoder's outputs, so its decoder's input grows and
none of its weights would fit: it is not given a table; meta-training it says so (``meta_check_trainable``), and
``coqui-meta adapt`` fine-tunes it as it is.

Example::

    if gain_speaker_table(config):        # before the speakers are filled in
        model = MetaVits(config)
        silence_speaker_conditioning(model)
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

#: the names of VITS's layers that add the speaker embedding to a module's input
CONDITIONING = ("cond", "cond_layer")


def gain_speaker_table(config) -> bool:
    """Turn on a speaker table for a one-speaker meta VITS config whose tasks are speakers; whether it did."""
    from TTS.config import get_from_config_or_model_args

    meta = config.get("meta")
    if meta is None or meta.task_key != "speaker_name" or meta.uses_prototypes or config.model != "meta_vits":
        return False
    if any(get_from_config_or_model_args(config, key, False) for key in ("use_speaker_embedding",
                                                                          "use_d_vector_file")):
        return False
    config.use_speaker_embedding = config.model_args.use_speaker_embedding = True
    logger.info("The one-speaker VITS gains a speaker table of the training speakers (use_speaker_embedding): its "
                "speaker-conditioning layers start at zero, so it speaks as before until meta-training moves them")
    return True


@torch.no_grad()
def silence_speaker_conditioning(model: nn.Module) -> list[str]:
    """Zero every speaker-conditioning layer of a VITS (weight-normed ones through their magnitude): the model speaks
    as if it had no speaker input. Returns the layers' names."""
    names = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] not in CONDITIONING or not isinstance(module, nn.Conv1d):
            continue
        parametrized = getattr(module, "parametrizations", None)
        weight = parametrized.weight.original0 if parametrized is not None else module.weight
        weight.zero_()  # weight norm: a zero magnitude is a zero weight, and its gradient is not zero
        if module.bias is not None:
            module.bias.zero_()
        names.append(name)
    return names
