"""`coqui-meta embed`: a prototype model's encoder embedding of every clip of a corpus, as Coqui's d-vector file.

The file is what Coqui's ``use_d_vector_file`` reads: one entry per clip, keyed as Coqui keys the clips of a dataset
(``"{dataset_name}#{path without extension}"``, ``audio_unique_name``), ``{"name": speaker, "embedding": [...]}``;
plus one entry per speaker, ``"{speaker}#mean"``, holding the mean of that speaker's clips (the speaker's prototype).
Coqui's ``get_mean_embedding(speaker)`` averages every entry of a speaker, and adding their mean does not change it.
Any stock Coqui model can train on these embeddings: set ``use_d_vector_file``, ``d_vector_file`` and ``d_vector_dim``.

Example::

    coqui-meta embed --model_path runs/protonet/best_model.pth --config_path runs/protonet/config.json \\
        --data ../shared/data/speechocean762 --dataset_name corpus --out_path d_vectors.json
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch
from tqdm.auto import tqdm

from coqui_meta.files import write_json
from coqui_meta.voices.checkpoints import load_model
from coqui_meta.voices.data import load_clips, require_sample_rate


def embed_samples(model, samples: list[dict], batch_size: int = 16, dataset_name: str = "", progress: bool = False):
    """The encoder's embedding of each clip: (entries keyed as Coqui keys clips, embeddings by speaker, clips the
    model's dataset filters left out)."""
    dataset = model.meta_stock_dataset(samples)
    kept = {sample["audio_unique_name"]: sample for sample in dataset.samples}
    left_out = sorted(s["audio_file"] for s in samples if s["audio_unique_name"] not in kept)
    collate = model.meta_episode_collate(dataset, 1, 0)
    entries: dict[str, dict[str, Any]] = {}
    by_speaker: dict[str, list[torch.Tensor]] = defaultdict(list)
    model.eval()
    indices = list(range(len(dataset.samples)))
    for start in tqdm(range(0, len(indices), batch_size), desc="embed", unit="batch", disable=not progress):
        batch = model.meta_prepare(collate.collate_task([dataset[i] for i in indices[start : start + batch_size]]))
        with torch.no_grad():
            embeddings = model.meta_embed(batch).float().cpu()
        for name, embedding in zip(batch["audio_unique_names"], embeddings):  # collate may reorder the clips
            speaker = kept[name]["speaker_name"]
            entries[f"{dataset_name}#{name.split('#', 1)[1]}"] = {"name": speaker, "embedding": embedding.tolist()}
            by_speaker[speaker].append(embedding)
    return entries, dict(by_speaker), left_out


def speaker_means(by_speaker: dict[str, list[torch.Tensor]]) -> dict[str, dict[str, Any]]:
    """One ``"{speaker}#mean"`` entry per speaker: the mean of its clips' embeddings (its prototype)."""
    return {f"{speaker}#mean": {"name": speaker, "embedding": torch.stack(vectors).mean(0).tolist()}
            for speaker, vectors in sorted(by_speaker.items())}


def embed(
    model_path: str,
    config_path: str,
    data: str,
    out_path: str,
    dataset_name: str = "",
    batch_size: int = 16,
    device: str | None = None,
    trust: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``out_path`` (a d-vector JSON file); returns a summary (clips, speakers, dimension, clips left out)."""
    started = time.perf_counter()
    if not str(out_path).endswith(".json"):
        raise ValueError(f"--out_path must be a .json file (Coqui reads d-vectors from .json or .pth), got {out_path}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded = load_model(model_path, config_path, device=str(device), trust=trust)
    model = loaded.model
    if not model.meta_uses_prototypes:
        raise ValueError(
            f"{model_path}: embed needs a checkpoint trained with meta.algorithm protonet or proto_maml "
            f"(this one: {loaded.algorithm}), whose prototype encoder makes the embeddings"
        )
    clips = load_clips(data)
    require_sample_rate(clips, model.config.audio.sample_rate)
    entries, by_speaker, left_out = embed_samples(model, clips, batch_size, dataset_name, progress)
    write_json(out_path, {**speaker_means(by_speaker), **entries})
    return {
        "out_path": str(out_path),
        "clips": len(entries),
        "speakers": len(by_speaker),
        "d_vector_dim": int(model.prototype_encoder.dim),
        "left_out": left_out,
        "seconds": round(time.perf_counter() - started, 2),
    }
