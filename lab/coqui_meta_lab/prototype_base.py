"""Prototype bases: VITS models whose new voice needs no gradient step, trained on the many-voice corpus's training
voices (issue 40, part 2). ``scripts/prototype_base.py`` trains them, resumably over several sessions, as
``scripts/voices_base.py`` trains the speaker-table base, with the same machinery (`coqui_meta_lab.base_training`):

- ``d_vector``: a stock Coqui VITS that reads its voices from a d-vector file, as YourTTS does (``use_d_vector_file``,
  no speaker table): Resemblyzer d-vectors (`coqui_meta.adapting.encoders`, 256 dimensions) of every training clip,
  computed once and cached in the run folder in Coqui's d-vector format (`coqui_meta.adapting.embed`); plain Coqui
  steps. A new voice is the mean Resemblyzer d-vector of a few of its clips.
- ``protonet``: a `coqui_meta.MetaVits` meta-trained with ``algorithm="protonet"`` as the
  ``recipes/speechocean762/vits_protonet`` recipe configures it (4-way, 4 shots, 2 queries, 4 tasks a meta-batch,
  euclidean prototypes, prototype loss weight 1): the project's prototype encoder learns with the model, and a new
  voice is the prototype (mean encoder embedding) of a few of its clips.

At every check (`prototype_check`) each records, beside the steps and minutes:

- the seen-speaker EER: for ``d_vector``, `coqui_meta_lab.base_training.seen_speaker_check` as the speaker-table base
  records it (renditions of 12 training voices, each clip spoken with its own d-vector, against their real clips);
  for ``protonet``, which has no voice of a seen speaker but the one its clips make, the same 12 voices each spoken from
  the prototype of ``shots`` of its clips (``seen_voice`` says which);
- the held-out zero-step EER and similarity: each held-out voice spoken, with no gradient step, from the embedding
  (Resemblyzer mean, or prototype) of ``shots`` of its clips and judged by the judge
  (`coqui_meta.judging.speaker_judge`) against its real query clips: `coqui_meta.judging.evaluation.evaluate` at
  step 0, the study's own step 0.

Example::

    train, voices, held = corpus_split(corpus)
    base = train_prototype_base("protonet", corpus, train, held[:13], "runs/prototype_base", minutes=60)
    base.history[-1]["seen_speaker_eer"], base.history[-1]["zero_step_eer"]
    export_prototype_base(base, "protonet", Path("runs/prototype_base/protonet_base.safetensors"), len(voices))
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("d_vector", "protonet")
ENCODER = "resemblyzer"  # the d-vector kind's encoder (and where its new voices start)
#: where a prototype base of each kind is shipped (none is yet: one is shipped when it beats the speaker-table base)
PROTOTYPE_BASES = {kind: Path(__file__).resolve().parent / "assets" / f"{kind}_base.safetensors" for kind in KINDS}


def corpus_split(corpus) -> tuple[list[dict], list[str], list[str]]:
    """(the training clips up to `MAX_SECONDS`, the training voices, the held-out voices) of a many-voice corpus (a
    grown one's with its variants), by the corpus's fixed rule (`coqui_meta_lab.voice_corpus.held_out_voices`: the
    13 original held-out voices first)."""
    from coqui_meta.formats.clips import load_clips
    from coqui_meta_lab.voice_corpus import MAX_SECONDS, held_out_voices, training_voices

    clips = load_clips(corpus)
    present = {s["speaker_name"] for s in clips}
    voices = [name for name in training_voices(corpus) if name in present]
    held = [name for name in held_out_voices(corpus) if name in present]
    wanted = set(voices)
    return [s for s in clips if s["seconds"] <= MAX_SECONDS and s["speaker_name"] in wanted], voices, held


def resemblyzer_d_vectors(samples: list[dict], folder: Path, progress: bool = True) -> Path:
    """Coqui's d-vector file (`coqui_meta.adapting.embed`'s format: an entry per clip, keyed as Coqui keys the clip, and
    a ``"{speaker}#mean"`` entry per speaker) of Resemblyzer's embeddings of ``samples``, computed once: a file of
    the same clips in ``folder`` is reused."""
    from coqui_meta.adapting.embed import d_vector_entries, speaker_means
    from coqui_meta.adapting.encoders import make_encoder
    from coqui_meta.files import write_json
    from coqui_meta_lab.base_training import settings_key

    key = settings_key(ENCODER, sorted((s["audio_unique_name"], s["audio_file"]) for s in samples))
    path = (Path(folder) / f"d_vectors-{ENCODER}-{key}.json").resolve()
    if path.is_file():
        print(f"d-vectors: reusing {path}")
        return path
    vectors, _ = make_encoder(ENCODER).embed_samples(samples, progress)
    entries, by_speaker = d_vector_entries(samples, vectors, dataset_name=None)  # keyed as each clip is keyed
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {**speaker_means(by_speaker), **entries})
    print(f"d-vectors: {len(entries)} clips of {len(by_speaker)} voices written to {path}")
    return path


def prototype_config(kind: str, corpus, voices: list[str], d_vector_file: Path | None = None, seed: int = 0):
    """The base's config: the many-voice base's small VITS preset (`coqui_meta_lab.voice_corpus.voices_config`)
    with d-vectors in place of the speaker table: Resemblyzer's (``d_vector``: a stock ``VitsConfig``), or the
    prototype encoder's (``protonet``: a ``MetaVitsConfig``, the vits_protonet recipe's meta block). ``speakers``
    records the training voices (a new voice's evaluation keeps to others)."""
    from coqui_meta import MetaLearningConfig, MetaVitsConfig
    from coqui_meta.adapting.encoders import RESEMBLYZER_DIM
    from coqui_meta_lab.voice_corpus import voices_config

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    config = voices_config(corpus, speakers=list(voices))
    if kind == "d_vector":
        if d_vector_file is None:
            raise ValueError("a d_vector base needs its d-vector file (resemblyzer_d_vectors)")
        for holder in (config, config.model_args):
            holder.use_speaker_embedding = False
            holder.use_d_vector_file = True
            holder.d_vector_dim = RESEMBLYZER_DIM
            holder.d_vector_file = [str(d_vector_file)]
        return config
    meta = MetaLearningConfig(algorithm="protonet", n_way=4, k_shot=4, q_query=2, meta_batch_size=4,
                              episodes_per_epoch=50, eval_episodes=2, prototype_distance="euclidean",
                              prototype_loss_weight=1.0, seed=seed)
    config = MetaVitsConfig.from_config(config, meta=meta)
    config.speakers = list(voices)
    config.run_eval, config.print_step = False, 10**9
    return config


def check_corpus(corpus, voices: list[str], folder: Path) -> Path:
    """A corpus folder of ``voices`` alone (its metadata.csv lines beside a link to the corpus's audio), so that a
    check reads a few voices' clips, not the whole corpus's."""
    from coqui_meta.files import write_text

    lines = (Path(corpus) / "metadata.csv").read_text(encoding="utf-8").splitlines()
    wanted = set(voices)
    keep = [lines[0]] + [line for line in lines[1:] if line.rsplit("|", 1)[-1] in wanted]
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "metadata.csv", "\n".join(keep) + "\n")
    link = folder / "wavs"
    if not link.is_symlink() and not link.exists():
        link.symlink_to((Path(corpus) / "wavs").resolve())
    return folder


def seen_voices(train: list[dict], count: int, needed: int, seed: int = 0) -> list[str]:
    """``count`` training voices (drawn by seed among those with ``needed`` clips) whose seen-speaker EER a check
    records."""
    from coqui_meta.seeds import draw

    counts: dict[str, int] = {}
    for sample in train:
        counts[sample["speaker_name"]] = counts.get(sample["speaker_name"], 0) + 1
    eligible = sorted(name for name, number in counts.items() if number >= needed)
    return sorted(draw(seed, "speakers").sample(eligible, min(count, len(eligible))))


def prototype_check(kind: str, corpus, train: list[dict], held_out: list[str], folder: Path, seen: int = 12,
                    shots: int = 10, queries: int = 3, seed: int = 0):
    """A ``check`` for `coqui_meta_lab.base_training.train_base` (see the module's docstring): ``seen_speaker_eer``
    (with the same- and other-voice cosines), ``seen_voice`` (what the seen voices were spoken with),
    ``zero_step_eer``, ``zero_step_similarity`` and ``zero_step_query_loss`` of the ``held_out`` voices, and how many
    voices each judged."""
    from coqui_meta.adapting.settings import AdaptationSettings
    from coqui_meta.judging.evaluation import evaluate
    from coqui_meta_lab.base_training import seen_speaker_check

    settings = AdaptationSettings(seed=seed, encoder=ENCODER if kind == "d_vector" else None)
    chosen = seen_voices(train, seen, shots + queries, seed)
    if len(chosen) < 2 or len(held_out) < 2:
        raise ValueError(f"a check needs 2 seen voices with {shots + queries} clips and 2 held-out voices; it has "
                         f"{len(chosen)} and {len(held_out)}")
    data = str(check_corpus(corpus, chosen + list(held_out), Path(folder) / "check_corpus"))
    seen_table = seen_speaker_check(train, speakers=seen, seed=seed) if kind == "d_vector" else None

    def step0(files: tuple[str, str], voices: list[str]) -> dict:
        report = evaluate(*files, data, speakers=list(voices), shots=shots, queries=queries, steps=[0], out_path=None,
                          settings=settings, progress=False)
        return {"eer": report.eer[0], "speaker_similarity": report.speaker_similarity[0],
                "query_loss": report.query_loss[0]}

    def check(files: tuple[str, str]) -> dict:
        if seen_table is not None:
            record = {**seen_table(files), "seen_voice": "each clip's own d-vector"}
        else:
            own = step0(files, chosen)
            record = {"seen_speaker_eer": own["eer"], "seen_speaker_similarity": own["speaker_similarity"],
                      "seen_voice": f"the prototype of {shots} clips"}
        zero = step0(files, held_out)
        record.update(seen_voices=len(chosen), zero_step_eer=zero["eer"],
                      zero_step_similarity=zero["speaker_similarity"], zero_step_query_loss=zero["query_loss"],
                      zero_step_voices=len(held_out))
        return record

    return check


def asset_of_kind(asset: Path, kind: str) -> dict:
    """The metadata of the prototype base asset ``asset`` (read without its weights) when its record says it is of
    ``kind``; `coqui_meta_lab.base_asset.NotABase` naming the file otherwise."""
    from coqui_meta_lab.base_asset import NotABase, read_asset

    _, metadata = read_asset(Path(asset), weights=False)
    theirs = (metadata["progress"] or {}).get("kind")
    if theirs != kind:
        raise NotABase(f"{asset} is not a {kind} prototype base (its record says {theirs or 'no kind'})")
    return metadata


def asset_decoder_width(asset: Path, asked: int | None = None) -> int:
    """The waveform decoder's width of the base ``asset`` (what a run gone on from it must build);
    `coqui_meta_lab.base_asset.NotABase` naming the file when it is not the width ``asked`` for."""
    from coqui_meta_lab.base_asset import NotABase, read_asset

    weights, _ = read_asset(Path(asset))
    width = int(weights["waveform_decoder.conv_pre.weight"].shape[0])
    if asked is not None and asked != width:
        raise NotABase(f"{asset} has a {width}-channel waveform decoder, not {asked}")
    return width


def asset_kind_start(asset: Path, kind: str, speakers: list[str]):
    """`coqui_meta_lab.base_asset.asset_start` for a prototype base asset of ``kind`` (`asset_of_kind`):
    `coqui_meta_lab.base_asset.NotABase` for an asset of another kind or other voices."""
    from coqui_meta_lab.base_asset import asset_start

    asset_of_kind(asset, kind)
    return asset_start(asset, speakers, f"a {kind} prototype base of these voices")


def train_prototype_base(kind: str, corpus, train: list[dict], held_out: list[str], out, minutes: float, seed: int = 0,
                         check_minutes: float = 15.0, asset: Path | None = None, seen: int = 12, shots: int = 10,
                         queries: int = 3, progress: bool = True, start_from: Path | None = None,
                         decoder_channels: int | None = None):
    """The ``kind`` base of the ``train`` clips under ``out/<kind>/base/`` trained until it has ``minutes`` in all
    (`coqui_meta_lab.base_training.train_base`): gone on from its own Trainer checkpoint there, else from ``asset``
    when that file exists (its weights and record; fresh optimizers), else from ``start_from``'s weights
    (`coqui_meta_lab.base_asset.weights_start`: the speaker-table base already speaks; only the speaker conditioning
    starts fresh), else from scratch; `prototype_check` at every check. The ``held_out`` voices must have no clip in
    ``train``. ``decoder_channels``: a waveform decoder this wide (the preset's is 64; a wider one is where the
    speaker-table base gained most in telling its voices apart), fresh when the weights started from are narrower;
    an existing ``asset`` keeps its own width (`coqui_meta_lab.base_asset.NotABase` when it is not the one asked
    for)."""
    from coqui_meta_lab.base_asset import weights_start
    from coqui_meta_lab.base_training import train_base

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    voices = sorted({s["speaker_name"] for s in train})
    leaked = sorted(set(voices) & set(held_out))
    if leaked:
        raise ValueError(f"held-out voices among the training clips: {', '.join(leaked)}")
    folder = Path(out) / kind
    d_vectors = resemblyzer_d_vectors(train, folder / "d_vectors", progress) if kind == "d_vector" else None
    config = prototype_config(kind, corpus, voices, d_vectors, seed)
    width = asset_decoder_width(asset, decoder_channels) if asset is not None and Path(asset).is_file() else None
    if width or decoder_channels:
        config.model_args.upsample_initial_channel_decoder = width or decoder_channels
    start = asset_kind_start(asset, kind, voices) if asset is not None and Path(asset).is_file() else None
    if start is None and start_from is not None:
        start = weights_start(Path(start_from))
    check = prototype_check(kind, corpus, train, held_out, folder, seen, shots, queries, seed)
    return train_base(config, train, folder, minutes, seed=seed, check=check, check_minutes=check_minutes,
                      progress=progress, warm_start=start)


def d_vector_sidecar(asset: Path) -> Path:
    """The d-vector file written beside a d-vector base's ``asset``: its training voices' mean d-vectors in Coqui's
    d-vector format (what the base's config reads, and what stock Coqui's ``--speaker_idx`` names)."""
    return Path(asset).with_name(Path(asset).stem + ".d_vectors.json")


def export_prototype_base(base, kind: str, asset: Path, voices: int, corpus_note: str = "") -> Path:
    """The base's weights in half precision as ``asset`` (`coqui_meta_lab.base_asset.export_base`), with its record
    (``kind``, steps, minutes, checks) to go on with; for ``d_vector`` its voices' mean d-vectors beside it
    (`d_vector_sidecar`)."""
    from coqui_meta.files import write_json
    from coqui_meta.formats.checkpoints import load_config_file
    from coqui_meta.formats.d_vector_file import d_vector_paths, read_d_vector_files
    from coqui_meta_lab.base_asset import export_base

    last = base.history[-1] if base.history else {}
    what = {"d_vector": "d-vector VITS (Resemblyzer d-vectors, as YourTTS)",
            "protonet": "protonet VITS (the project's prototype encoder)"}[kind]
    figures = "; ".join(f"{label} {last[key]:.3f}" for key, label in (("seen_speaker_eer", "seen-speaker EER"),
                                                                       ("zero_step_eer", "held-out zero-step EER"))
                        if isinstance(last.get(key), float))
    note = (f"small {what}, {base.steps} steps ({base.minutes:.0f} min) on the many-voice corpus's {voices} training "
            f"voices{corpus_note}; {figures}; scripts/prototype_base.py")
    progress = {"kind": kind, "steps": base.steps, "minutes": base.minutes, "history": base.history}
    if kind == "d_vector":
        entries = read_d_vector_files(d_vector_paths(load_config_file(base.files[1])), None)
        write_json(d_vector_sidecar(asset), {key: entry for key, entry in entries.items() if key.endswith("#mean")})
    return export_base(base.files, asset, note, progress)


def complete_asset(asset: Path, kind: str) -> dict:
    """`asset_of_kind`, and for a d-vector base its d-vector file beside it (`d_vector_sidecar`), which its config
    reads: `coqui_meta_lab.base_asset.NotABase` naming the file when it is missing."""
    from coqui_meta_lab.base_asset import NotABase

    metadata = asset_of_kind(asset, kind)
    if kind == "d_vector" and not d_vector_sidecar(asset).is_file():
        raise NotABase(f"{asset}: its d-vector file {d_vector_sidecar(asset)} is missing (export_prototype_base "
                       "writes both)")
    return metadata


def asset_base(asset: Path, kind: str, corpus, folder: Path):
    """The prototype base ``asset`` of ``kind`` as a `coqui_meta_lab.base_training.Base` in ``folder`` (as
    `coqui_meta_lab.base_asset.shipped_base` writes the speaker-table base), with the record it was shipped with;
    ``corpus`` is the many-voice corpus its config names. `coqui_meta_lab.base_asset.NotABase` naming the file for an
    asset of another kind, or a d-vector base without its d-vector file."""
    from dataclasses import replace

    from coqui_meta_lab.base_asset import shipped_base

    metadata = complete_asset(asset, kind)
    progress = metadata["progress"]
    d_vectors = d_vector_sidecar(asset) if kind == "d_vector" else None
    config = prototype_config(kind, corpus, metadata["speakers"], d_vectors)
    base = shipped_base(config, Path(folder), path=Path(asset))
    return replace(base, steps=progress["steps"], minutes=progress["minutes"], history=progress["history"])
