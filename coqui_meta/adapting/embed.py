"""`coqui-meta embed`: a speaker encoder's embedding of every clip of a corpus, as Coqui's d-vector file.

The encoder (see `coqui_meta.adapting.encoders`) is a prototype model's own (``--encoder prototype``, the default: a
protonet or proto_maml checkpoint), Resemblyzer's (``resemblyzer``, 256 dimensions) or Coqui's speaker encoder
(``coqui``: YourTTS's kind, from ``--encoder_model_path`` / ``--encoder_config_path`` or the files a TTS config names).
With another encoder than the prototype one, ``--config_path`` is optional: the d-vector model's config, whose
``d_vector_dim`` the vectors must have (checked before any work). A config that does not use d-vectors yet (a
speaker-table or one-speaker model on its way to YourTTS's kind) gets the file all the same, and is told the fields
to set (``use_d_vector_file``, ``d_vector_file``, ``d_vector_dim``; VITS: under ``model_args`` too).

The file is what Coqui's ``use_d_vector_file`` reads: one entry per clip, keyed as Coqui keys the clips of a dataset
(``"{dataset_name}#{path without extension}"``, ``audio_unique_name``), ``{"name": speaker, "embedding": [...]}``;
plus one entry per speaker, ``"{speaker}#mean"``, holding the mean of that speaker's clips (the speaker's prototype).
Coqui's ``get_mean_embedding(speaker)`` averages every entry of a speaker, and adding their mean does not change it.
Any stock Coqui model can train on these embeddings: set ``use_d_vector_file``, ``d_vector_file`` and ``d_vector_dim``.
It is written at the end, whole, or not at all.

Example::

    coqui-meta embed --model_path runs/protonet/best_model.pth --config_path runs/protonet/config.json \\
        --data ../shared/data/speechocean762 --dataset_name corpus --out_path d_vectors.json
    coqui-meta embed --encoder resemblyzer --data ../shared/data/speechocean762 --out_path resemblyzer.json
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from coqui_meta.adapting.encoders import ENCODERS, ClipEncoder, make_encoder, prototype_vectors, require_dim
from coqui_meta.errors import RequestError
from coqui_meta.files import write_json
from coqui_meta.formats.checkpoints import load_config_file, load_model
from coqui_meta.formats.clips import load_clips, require_sample_rate


def d_vector_entries(samples: list[dict], vectors: dict[str, torch.Tensor], dataset_name: str = ""):
    """(Coqui's d-vector entries of the embedded ``samples``, keyed as a dataset named ``dataset_name`` keys its clips
    (a multilingual corpus's: as its language's dataset);
    the vectors by speaker). ``vectors`` is keyed by ``audio_unique_name``; samples without a vector are left out."""
    entries: dict[str, dict[str, Any]] = {}
    by_speaker: dict[str, list[torch.Tensor]] = defaultdict(list)
    for sample in samples:
        vector = vectors.get(sample["audio_unique_name"])
        if vector is not None:
            own, path = sample["audio_unique_name"].split("#", 1)
            # a multilingual corpus's clip keeps its language folder's dataset name (`load_clips`), as Coqui reads
            # it; so does a clip read through a config's own datasets (dataset_name None)
            prefix = own if sample.get("language") or dataset_name is None else dataset_name
            entries[f"{prefix}#{path}"] = {"name": sample["speaker_name"], "embedding": vector.tolist()}
            by_speaker[sample["speaker_name"]].append(vector)
    return entries, dict(by_speaker)


def embed_samples(model, samples: list[dict], batch_size: int = 16, dataset_name: str = "", progress: bool = False):
    """A prototype model's embedding of each clip: (entries keyed as Coqui keys clips, embeddings by speaker, clips
    the model's dataset filters left out)."""
    vectors, left_out = prototype_vectors(model, samples, batch_size, progress)
    return (*d_vector_entries(samples, vectors, dataset_name), left_out)


def speaker_means(by_speaker: dict[str, list[torch.Tensor]]) -> dict[str, dict[str, Any]]:
    """One ``"{speaker}#mean"`` entry per speaker: the mean of its clips' embeddings (its prototype)."""
    return {f"{speaker}#mean": {"name": speaker, "embedding": torch.stack(vectors).mean(0).tolist()}
            for speaker, vectors in sorted(by_speaker.items())}


def _prototype_encoder(model_path, config_path, device: str, trust: bool) -> ClipEncoder:
    if not model_path or not config_path:
        raise RequestError("`encoder` prototype needs `model_path` and `config_path`: a checkpoint trained with "
                         "meta.algorithm protonet or proto_maml, and its config (or use `encoder` resemblyzer/coqui)")
    loaded = load_model(model_path, config_path, device=device, trust=trust)
    if not loaded.model.meta_uses_prototypes:
        raise ValueError(
            f"{model_path}: embed needs a checkpoint trained with meta.algorithm protonet or proto_maml "
            f"(this one: {loaded.algorithm}), whose prototype encoder makes the embeddings"
        )
    return make_encoder("prototype", model=loaded.model)


def _other_encoder(kind: str, model_path, config_path, device: str, **encoder_files) -> ClipEncoder:
    """The ``kind`` encoder, checked against the ``d_vector_dim`` of ``config_path`` when that config uses d-vectors
    (one that does not yet is told what to set: `fields_to_set`)."""
    if model_path:
        raise RequestError(f"`model_path` is for `encoder` prototype; the {kind} encoder needs no TTS checkpoint "
                         "(give `config_path` alone to check the vectors against its d_vector_dim)")
    config = None
    if config_path:
        config = load_config_file(config_path)
    encoder = make_encoder(kind, config=config, device=device, **encoder_files)
    if config is not None and uses_d_vectors(config):
        from TTS.config import get_from_config_or_model_args

        require_dim(encoder, get_from_config_or_model_args(config, "d_vector_dim"), str(config_path))
    return encoder


def uses_d_vectors(config) -> bool:
    """Whether the config reads its voices from a d-vector file already (its d_vector_dim must be the encoder's)."""
    from TTS.config import get_from_config_or_model_args

    return bool(get_from_config_or_model_args(config, "use_d_vector_file", False))


def fields_to_set(config, out_path: str, dim: int) -> dict[str, Any]:
    """What a config that does not use d-vectors yet must set to read the written file (VITS: under ``model_args``
    too); empty for one that does. YourTTS's route writes the file first and sets these after."""
    if config is None or uses_d_vectors(config):
        return {}
    fields = {"use_d_vector_file": True, "d_vector_file": [str(Path(out_path).resolve())], "d_vector_dim": dim}
    if "model_args" in config:
        fields.update({f"model_args.{key}": value for key, value in fields.items()})
    return fields


def config_samples(config_path: str) -> list[dict]:
    """Every clip of the datasets of the TTS config ``config_path``, read by Coqui's ``load_tts_samples`` (any
    formatter: vctk, ljspeech, libri_tts, coqui, ...) and keyed as Coqui keys them: each dataset's
    ``meta_file_train`` and, where one is named, its ``meta_file_val``."""
    import copy

    from TTS.tts.datasets import load_tts_samples

    config = load_config_file(config_path)
    if not config.datasets:
        raise RequestError(f"{config_path} has no datasets to embed; give `data` a corpus folder")
    samples = []
    try:
        for dataset in config.datasets:
            one = copy.deepcopy(config)
            one.datasets = [dataset]
            train, held = load_tts_samples(one, eval_split=bool(dataset.meta_file_val))
            samples += list(train) + list(held or [])
    except (FileNotFoundError, AssertionError, KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"{config_path}: Coqui could not read its datasets ({type(error).__name__}: {error})") from None
    return samples


def embed(
    model_path: str | None,
    config_path: str | None,
    data: str | None,
    out_path: str,
    dataset_name: str = "",
    batch_size: int = 16,
    device: str | None = None,
    trust: bool = False,
    progress: bool = True,
    encoder: str = "prototype",
    encoder_model_path: str | None = None,
    encoder_config_path: str | None = None,
) -> dict[str, Any]:
    """Write ``out_path`` (a d-vector JSON file); returns a summary (clips, speakers, dimension, clips left out,
    encoder). ``model_path`` and ``config_path`` are a prototype model's; other encoders need neither."""
    started = time.perf_counter()
    if not str(out_path).endswith(".json"):
        raise RequestError(f"`out_path` must be a .json file (Coqui reads d-vectors from .json or .pth), got "
                           f"{out_path}")
    if encoder not in ENCODERS:
        raise RequestError(f"`encoder` must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if encoder == "prototype":
        clip_encoder = _prototype_encoder(model_path, config_path, device, trust)
    else:
        clip_encoder = _other_encoder(encoder, model_path, config_path, device, encoder_model_path=encoder_model_path,
                                      encoder_config_path=encoder_config_path)
    if data:
        clips = load_clips(data)
    elif config_path:
        clips, dataset_name = config_samples(config_path), None
    else:
        raise RequestError("give `data` (a corpus folder) or `config_path` (a TTS config whose datasets are read)")
    if clip_encoder.model is not None:  # its dataset reads the audio as it is; the other encoders resample
        require_sample_rate(clips, clip_encoder.model.config.audio.sample_rate)
    vectors, left_out = clip_encoder.embed_samples(clips, progress, batch_size)
    entries, by_speaker = d_vector_entries(clips, vectors, dataset_name)
    write_json(out_path, {**speaker_means(by_speaker), **entries})
    config = load_config_file(config_path) if config_path and encoder != "prototype" else None
    return {
        "fields_to_set": fields_to_set(config, out_path, clip_encoder.dim),
        "out_path": str(out_path),
        "encoder": encoder,
        "clips": len(entries),
        "speakers": len(by_speaker),
        "d_vector_dim": clip_encoder.dim,
        "left_out": left_out,
        "seconds": round(time.perf_counter() - started, 2),
    }
