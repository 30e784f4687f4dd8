"""Speaker encoders that turn a clip into one vector: what d-vector models (YourTTS's shape: ``use_d_vector_file``,
``d_vector_dim``) are conditioned on, and what `coqui-meta embed` writes.

- ``prototype``: a protonet / proto_maml model's own encoder, through the model's own dataset and collate;
- ``resemblyzer``: Resemblyzer's GE2E encoder (256 dimensions; its weights ship in the wheel, so it works offline);
- ``coqui``: Coqui's speaker encoder (``TTS.encoder``; YourTTS's is a ResNet of 512 dimensions), through Coqui's own
  ``SpeakerManager``: its files come from the arguments, else from the TTS config's ``speaker_encoder_model_path`` /
  ``speaker_encoder_config_path`` (VITS keeps them in ``model_args``).

A model can only take vectors of its ``d_vector_dim``: `require_dim` says so, naming the file, before any work.

Example::

    encoder = make_encoder("coqui", encoder_model_path="se.pth", encoder_config_path="se_config.json")
    require_dim(encoder, 512, "config.json")
    vectors = encoder.embed_files(["a.wav", "b.flac"])          # [2, encoder.dim], float32 on the CPU
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from coqui_meta.errors import RequestError

ENCODERS = ("prototype", "resemblyzer", "coqui")
RESEMBLYZER_DIM = 256
# a prototype model's dataset tokenizes a transcript beside the audio; the encoder reads only the audio
PLACEHOLDER_TEXT = "a"


class ClipEncoder:
    """One speaker vector of ``dim`` floats per clip. ``kind`` is one of `ENCODERS`."""

    def __init__(self, kind: str, dim: int, embed_file: Callable[[str], torch.Tensor] | None = None, model=None):
        self.kind, self.dim = kind, int(dim)
        self._embed_file = embed_file  # resemblyzer, coqui: one audio file -> [dim]
        self.model = model  # prototype: the model whose data path and encoder make the vectors

    def embed_samples(self, samples: list[dict[str, Any]], progress: bool = False,
                      batch_size: int = 16) -> tuple[dict[str, torch.Tensor], list[str]]:
        """The vector of each Coqui sample, by its ``audio_unique_name``, and the audio files left out (only a
        prototype model leaves clips out: its dataset's length filters). Prototype samples must be at the model's
        sample rate (its dataset reads audio as it is); the other encoders resample."""
        if self.model is not None:
            return prototype_vectors(self.model, samples, batch_size, progress)
        files = tqdm(samples, desc=f"embed ({self.kind})", unit="clip", disable=not progress)
        return {sample["audio_unique_name"]: self._embed_one(sample["audio_file"]) for sample in files}, []

    def embed_files(self, paths: list[str], progress: bool = False) -> torch.Tensor:
        """``[len(paths), dim]`` float32 on the CPU, one vector per audio file, at any sample rate."""
        if self.model is None:
            files = tqdm(paths, desc=f"embed ({self.kind})", unit="clip", disable=not progress)
            return torch.stack([self._embed_one(str(path)) for path in files])
        with tempfile.TemporaryDirectory(prefix="coqui-meta-embed-") as folder:
            samples = _at_model_rate(paths, self.model.config.audio.sample_rate, Path(folder))
            vectors, left_out = self.embed_samples(samples, progress)
        if left_out:
            source = paths[int(Path(left_out[0]).stem)]
            raise ValueError(f"{source}: left out by the model's dataset filters (min_audio_len / max_audio_len of "
                             f"its config; {len(left_out)} such clip(s))")
        return torch.stack([vectors[sample["audio_unique_name"]] for sample in samples])

    def _embed_one(self, path: str) -> torch.Tensor:
        if not Path(path).is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
        try:
            return self._embed_file(path).float().cpu()
        except Exception as error:  # librosa, webrtcvad and the encoders fail in their own ways
            raise ValueError(f"{path}: the {self.kind} encoder could not embed it ({type(error).__name__}: "
                             f"{error})") from error


def prototype_vectors(model, samples: list[dict[str, Any]], batch_size: int = 16,
                      progress: bool = False) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A prototype model's embedding of each clip, by ``audio_unique_name``, through the model's own dataset (its
    filters, feature extraction and collate), and the audio files those filters left out."""
    dataset = model.meta_stock_dataset(samples)
    kept = {sample["audio_unique_name"] for sample in dataset.samples}
    left_out = sorted(s["audio_file"] for s in samples if s["audio_unique_name"] not in kept)
    collate = model.meta_episode_collate(dataset, 1, 0)
    vectors: dict[str, torch.Tensor] = {}
    model.eval()
    indices = list(range(len(dataset.samples)))
    for start in tqdm(range(0, len(indices), batch_size), desc="embed", unit="batch", disable=not progress):
        batch = model.meta_prepare(collate.collate_task([dataset[i] for i in indices[start : start + batch_size]]))
        with torch.no_grad():
            embeddings = model.meta_embed(batch).float().cpu()
        vectors.update(zip(batch["audio_unique_names"], embeddings))  # the collate may reorder the clips
    return vectors, left_out


def _at_model_rate(paths: list[str], rate: int, folder: Path) -> list[dict[str, Any]]:
    """Each file as a mono wav at ``rate`` in ``folder`` (named by its index), as samples of the model's dataset."""
    import librosa
    import soundfile

    samples = []
    for index, path in enumerate(paths):
        if not Path(path).is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
        wav, _ = librosa.load(str(path), sr=rate, mono=True)
        target = folder / f"{index}.wav"
        soundfile.write(str(target), wav, rate, subtype="FLOAT")
        samples.append({"text": PLACEHOLDER_TEXT, "audio_file": str(target), "speaker_name": "clip",
                        "root_path": str(folder), "language": "", "audio_unique_name": f"clip#{index}"})
    return samples


def make_encoder(kind: str, *, model=None, config=None, encoder_model_path: str | None = None,
                 encoder_config_path: str | None = None, device: str = "cpu") -> ClipEncoder:
    """The ``kind`` encoder (one of `ENCODERS`). ``prototype`` takes the loaded ``model``; ``coqui`` takes its files
    from ``encoder_model_path`` / ``encoder_config_path``, else from the TTS ``config``."""
    if kind == "prototype":
        if model is None or not getattr(model, "meta_uses_prototypes", False):
            raise ValueError("the prototype encoder needs a model trained with meta.algorithm protonet or proto_maml")
        return ClipEncoder(kind, model.prototype_encoder.dim, model=model)
    if kind == "resemblyzer":
        from resemblyzer import VoiceEncoder, preprocess_wav

        voice_encoder = VoiceEncoder(device, verbose=False)
        return ClipEncoder(kind, RESEMBLYZER_DIM,
                           lambda path: torch.from_numpy(voice_encoder.embed_utterance(preprocess_wav(path))))
    if kind == "coqui":
        return _coqui_encoder(config, encoder_model_path, encoder_config_path, device)
    raise ValueError(f"unknown speaker encoder {kind!r}: use one of {', '.join(ENCODERS)}")


def _coqui_encoder(config, model_path: str | None, config_path: str | None, device: str) -> ClipEncoder:
    from TTS.config import get_from_config_or_model_args
    from TTS.tts.utils.speakers import SpeakerManager

    files = {}
    for flag, field, given in (("`encoder_model_path`", "speaker_encoder_model_path", model_path),
                               ("`encoder_config_path`", "speaker_encoder_config_path", config_path)):
        from_config = get_from_config_or_model_args(config, field) if config is not None else None
        path = given or from_config
        if not path:
            raise RequestError(f"the coqui encoder needs {flag}, or a TTS config (`config_path`) whose {field} names "
                             "the file (VITS: in model_args)")
        if not Path(path).is_file():
            source = flag if given else f"the config's {field}"
            raise FileNotFoundError(f"speaker encoder file not found: {path} ({source.strip('`')})")
        files[flag] = str(path)
    model_path, config_path = files["`encoder_model_path`"], files["`encoder_config_path`"]
    try:
        manager = SpeakerManager(encoder_model_path=model_path, encoder_config_path=config_path,
                                 use_cuda=str(device).startswith("cuda"))
    except (KeyError, RuntimeError, AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"{model_path} with {config_path} is not a Coqui speaker encoder that loads "
                         f"({type(error).__name__}: {error})") from error
    return ClipEncoder("coqui", manager.encoder_config.model_params["proj_dim"],
                       lambda path: torch.tensor(manager.compute_embedding_from_clip(path), dtype=torch.float32))


def require_dim(encoder: ClipEncoder, dim: int | None, where: str) -> None:
    """`ValueError` naming ``where`` (the config file or flag) when ``encoder`` does not give ``dim`` floats."""
    if encoder.dim != int(dim or 0):
        raise ValueError(
            f"the {encoder.kind} encoder gives {encoder.dim}-dimensional vectors but d_vector_dim is {dim} ({where}): "
            "a model takes d-vectors of its own d_vector_dim only; use an encoder of that dimension, or a model "
            f"(config) with d_vector_dim {encoder.dim}"
        )
