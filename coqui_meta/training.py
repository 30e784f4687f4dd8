"""One path from a config to a Coqui Trainer: the samples (the config's datasets, or the caller's), meta-validation
on held-out tasks, the checks that can fail before the first step (d-vector file, languages, a speaker encoder at a
URL), the model, the screened clips, and the Trainer. ``coqui-meta train``, the project's recipes and studies, and a
user's Python all use it.

Example::

    from coqui_meta.training import meta_trainer
    trainer = meta_trainer(config)                                  # the config's datasets, split by tasks
    trainer = meta_trainer(config, train_samples=train, eval_samples=held)   # a recipe's own split (even of clips)
    trainer.fit()
"""

from __future__ import annotations

import logging

logger = logging.getLogger("coqui_meta")


class TrainingSetupError(ValueError):
    """Training cannot start; the message says why and what to change."""


def prepare(config, train_samples: list | None = None, eval_samples: list | None = None, seed: int | None = None):
    """(model, training clips, meta-validation clips) for ``config``, a meta config or a stock one.

    Without samples, the config's datasets are read (``load_tts_samples``) and a meta config holds out
    ``meta.eval_tasks`` (or ``meta.n_way`` task values by ``meta.seed``) for meta-validation. Given samples are
    used as they are; a split of clips rather than tasks is made one of tasks when the Trainer starts
    (`coqui_meta.models.validation_split`). The initial weights come from ``seed``, else ``meta.seed`` (a stock
    config: its ``training_seed``). `trainer_for` screens every clip (`coqui_meta.formats.clips.screen_samples`).
    """
    import torch
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.models import setup_model

    from coqui_meta.episodes import split_by_task
    from coqui_meta.formats.clips import coqui_metadata_files, require_task_column
    from coqui_meta.models.one_speaker import gain_speaker_table, silence_speaker_conditioning

    meta = config.get("meta")
    declared_speakers = list(config.speakers or [])
    if train_samples is None:
        if meta is not None:
            try:
                require_task_column(coqui_metadata_files(config.datasets), meta.task_key)
            except (ValueError, OSError) as error:
                raise TrainingSetupError(str(error)) from None
        samples, _ = load_tts_samples(config, eval_split=False)  # it sets config.speakers to the data's speakers
        if meta is None:
            train_samples, eval_samples = samples, []
        else:
            train_samples, eval_samples = split_by_task(samples, meta.task_key, meta.eval_tasks, meta.n_way,
                                                        meta.seed)
            logger.info("Meta-validation on held-out %s values: %s", meta.task_key,
                        ", ".join(sorted({str(s[meta.task_key]) for s in eval_samples})))
    eval_samples = list(eval_samples or [])
    gained = gain_speaker_table(config)  # a one-speaker VITS meta-trained on speakers (coqui_meta.models.one_speaker)
    _fill_speakers(config, declared_speakers, train_samples)
    _check(config, train_samples + eval_samples)
    if seed is None:
        seed = meta.seed if meta is not None else config.get("training_seed", 54321)
    torch.manual_seed(seed)  # the initial weights too: two runs of one config are the same run
    model = _build(setup_model, config)
    if gained:
        silence_speaker_conditioning(model)
    try:  # a one-speaker model's tasks have no voice to tell apart: said before the Trainer is built
        getattr(model, "meta_check_trainable", lambda: None)()
    except ValueError as error:
        raise TrainingSetupError(str(error)) from None
    return model, train_samples, eval_samples


def trainer_for(model, train_samples: list, eval_samples: list | None = None, args=None,
                output_path: str | None = None, config=None, **trainer_kwargs):
    """A Coqui ``Trainer`` of ``model`` on the screened clips; ``args`` are the ``TrainerArgs`` (default: none),
    ``config`` the Trainer's (default: the model's)."""
    from trainer import Trainer, TrainerArgs

    train = _screen(model, train_samples, "training")
    held = _screen(model, list(eval_samples or []), "meta-validation")
    trainer_kwargs.setdefault("parse_command_line_args", False)
    config = config or model.config
    return Trainer(args or TrainerArgs(), config, str(output_path or config.output_path), model=model,
                   train_samples=train, eval_samples=held or None, **trainer_kwargs)


def meta_trainer(config, train_samples: list | None = None, eval_samples: list | None = None, args=None,
                 output_path: str | None = None, seed: int | None = None, **trainer_kwargs):
    """`prepare`, then `trainer_for`: the Trainer of ``config`` (a meta config, or a stock one)."""
    model, train, held = prepare(config, train_samples, eval_samples, seed)
    return trainer_for(model, train, held, args, output_path, **trainer_kwargs)


def _fill_speakers(config, declared: list[str], train: list) -> None:
    """The speaker table holds the declared speakers (those of a checkpoint to restore), else the training clips'
    speakers; a prototype model records the speakers its encoder saw (``evaluate`` keeps to others)."""
    meta = config.get("meta")
    trained = sorted({s["speaker_name"] for s in train})
    if config.get("use_speaker_embedding"):
        config.speakers = declared or trained
    elif meta is not None and meta.uses_prototypes:
        config.speakers = trained


def _check(config, samples: list) -> None:
    from coqui_meta.formats.d_vector_file import check_covers
    from coqui_meta.formats.encoder_files import drop_encoder, encoder_urls
    from coqui_meta.formats.language_table import check_languages

    try:
        check_covers(config, samples)
        check_languages(config)
    except (ValueError, FileNotFoundError) as error:
        raise TrainingSetupError(str(error)) from None
    args = config.get("model_args") or {}
    urls = encoder_urls(config)
    if urls and not args.get("use_speaker_encoder_as_loss"):
        logger.info("The speaker encoder at %s is not used in training (no speaker consistency loss): the model is "
                    "built without it", ", ".join(urls))
        drop_encoder(config)


def _build(setup_model, config):
    from coqui_meta.formats.encoder_files import encoder_urls, offline_message

    urls = encoder_urls(config)
    try:
        return setup_model(config)
    except OSError as error:  # the encoder's URL offline: FileNotFoundError, or a network error
        if urls:
            raise TrainingSetupError(offline_message(urls, "the config", error, flag=False)) from None
        raise


def _screen(model, samples: list, which: str) -> list:
    """Leave out the clips the model cannot train on, counted and named in the log; stop when none are left."""
    from coqui_meta.formats.clips import describe_problems, screen_samples

    if not samples:
        return []
    kept, problems = screen_samples(samples, model)
    if problems:
        logger.warning("%s data: %s", which.capitalize(), describe_problems(problems, len(samples)))
    if not kept:
        raise TrainingSetupError(f"no usable {which} clip is left ({describe_problems(problems, len(samples))})")
    return kept
