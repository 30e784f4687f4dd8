"""The vocoder a Tacotron2 speaks through, named the Coqui way: ``vocoder_name`` (a released vocoder, e.g.
``vocoder_models/en/ljspeech/hifigan_v2``, resolved by Coqui's ``ModelManager`` as ``tts --vocoder_name`` resolves
it: from its cache under ``TTS_HOME`` when offline) or ``vocoder_path`` + ``vocoder_config_path``. The mels go to it
as Coqui's ``Synthesizer`` sends them (the model's normalisation undone, the vocoder's applied, interpolated when the
sample rates differ); with none named, Griffin-Lim, as stock ``tts`` does. A released Tacotron2 (Tacotron2-DDC) was
trained to be heard through its vocoder: Griffin-Lim renditions judge a voice that no user hears.

`coqui-meta adapt`'s sample and `coqui-meta evaluate`'s renditions use it; both say which (``vocoder`` in
``adapt.json`` and ``report.json``). A VITS model has its own waveform decoder and takes none.

Example::

    vocoder = load_vocoder(VocoderChoice(name="vocoder_models/en/ljspeech/hifigan_v2"), device="cpu")
    model.meta_vocoder = vocoder      # MetaTacotron2.meta_waveform speaks through it
    vocoder.description               # "vocoder_models/en/ljspeech/hifigan_v2 (hifigan)"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from coqui_meta.errors import RequestError

GRIFFIN_LIM = "griffin-lim (no vocoder named)"


@dataclass
class VocoderChoice:
    """What the user named: a released vocoder's name, or a checkpoint and its config (None: Griffin-Lim)."""

    name: str | None = None
    model_path: str | None = None
    config_path: str | None = None

    @property
    def named(self) -> bool:
        return bool(self.name or self.model_path or self.config_path)

    def files(self) -> tuple[str, str]:
        """The checkpoint and config: the given ones, or the released vocoder's from Coqui's ``ModelManager``."""
        if self.name and (self.model_path or self.config_path):
            raise RequestError("give `vocoder_name` or `vocoder_path` with `vocoder_config_path`, not both")
        if self.name:
            return released_vocoder(self.name)
        if not (self.model_path and self.config_path):
            raise RequestError("`vocoder_path` needs `vocoder_config_path` (and the reverse): the vocoder's "
                               "checkpoint and its config.json")
        for path in (self.model_path, self.config_path):
            if not Path(path).is_file():
                raise FileNotFoundError(f"vocoder file not found: {path}")
        return str(self.model_path), str(self.config_path)


def released_vocoder(name: str) -> tuple[str, str]:
    """A released vocoder's checkpoint and config, as ``tts --vocoder_name`` finds them: Coqui's ``ModelManager``
    downloads it, or reads its folder in the cache (``TTS_HOME``) when it is there already."""
    from TTS.utils.manage import ModelManager

    manager = ModelManager(progress_bar=False)
    if not name.startswith("vocoder_models/") or name not in manager.list_vocoder_models():
        known = [n for n in manager.list_vocoder_models() if n.split("/")[-1] == name.split("/")[-1]]
        hint = f" (did you mean {', '.join(known)}?)" if known else " (`tts --list_models` lists them)"
        raise RequestError(f"`vocoder_name` {name!r} is not one of Coqui's released vocoders{hint}")
    try:
        model_path, config_path, _ = manager.download_model(name)
    except Exception as error:  # offline: a requests error, or a folder without its files
        folder = Path(manager.output_prefix) / name.replace("/", "--")
        raise RequestError(f"`vocoder_name` {name!r}: Coqui could not download it nor find it in its cache; place "
                           f"its model_file.pth and config.json in {folder} ({type(error).__name__}: {error})"
                           ) from None
    return str(model_path), str(config_path)


class Vocoder:
    """A Coqui vocoder model that speaks a TTS model's mel frames as Coqui's ``Synthesizer`` runs it."""

    def __init__(self, model, config, description: str) -> None:
        from TTS.utils.audio import AudioProcessor

        self.model, self.config, self.description = model, config, description
        self.ap = AudioProcessor(config.audio)

    @property
    def sample_rate(self) -> int:
        return int(self.config.audio["sample_rate"])

    @torch.no_grad()
    def waveform(self, mel: np.ndarray, tts_ap) -> np.ndarray:
        """The waveform of ``mel`` (``[frames, num_mels]``, normalised as the TTS model's ``tts_ap`` normalises), at
        the TTS model's sample rate (resampled from the vocoder's where they differ, so a rendition's rate is the
        model's)."""
        from TTS.vocoder.utils.generic_utils import interpolate_vocoder_input

        vocoder_input = self.ap.normalize(tts_ap.denormalize(mel.T))  # [num_mels, frames]
        scale = [1, self.sample_rate / tts_ap.sample_rate]
        if scale[1] != 1:
            vocoder_input = interpolate_vocoder_input(scale, vocoder_input)
        else:
            vocoder_input = torch.tensor(vocoder_input).unsqueeze(0)
        device = next(self.model.parameters()).device
        wav = self.model.inference(vocoder_input.float().to(device)).float().cpu().reshape(-1).numpy()
        if self.sample_rate != tts_ap.sample_rate:
            import librosa

            wav = librosa.resample(wav, orig_sr=self.sample_rate, target_sr=tts_ap.sample_rate)
        return wav


def load_vocoder(choice: VocoderChoice | None, device: str | torch.device = "cpu") -> Vocoder | None:
    """The vocoder ``choice`` names, loaded on ``device`` in eval mode (None when none is named: Griffin-Lim)."""
    if choice is None or not choice.named:
        return None
    from TTS.config import load_config
    from TTS.vocoder.models import setup_model

    model_path, config_path = choice.files()
    try:
        config = load_config(config_path)
        model = setup_model(config)
        model.load_checkpoint(config, model_path, eval=True)
    except (KeyError, ValueError, RuntimeError, AttributeError) as error:
        raise ValueError(f"{model_path}: not a Coqui vocoder that {config_path} describes "
                         f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
    model.to(torch.device(device))
    what = choice.name or model_path
    return Vocoder(model, config, f"{what} ({config.model})")


def attach_vocoder(model, choice: VocoderChoice | None, where: str) -> str:
    """Make ``model`` speak through the vocoder ``choice`` names; returns what it speaks through (`GRIFFIN_LIM` when
    none is named). A model with its own waveform decoder (VITS) takes none: an error naming ``where``."""
    if choice is None or not choice.named:
        return GRIFFIN_LIM if hasattr(model, "meta_vocoder") else "the model's own waveform decoder"
    if not hasattr(model, "meta_vocoder"):
        raise RequestError(f"{where}: a {type(model).__name__.removeprefix('Meta')} model speaks through its own "
                           "waveform decoder; `vocoder_name` / `vocoder_path` are for Tacotron2")
    model.meta_vocoder = load_vocoder(choice, next(model.parameters()).device)
    return model.meta_vocoder.description
