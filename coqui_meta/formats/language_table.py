"""What a language is to a loaded multilingual model: a row of its language table, an id, and (with phonemes) an
espeak-ng voice; and whether a new one can be added. Shared by `coqui-meta adapt --language`
(`coqui_meta.adapting.new_language`) and `evaluate --task_key language` (`coqui_meta.judging.evaluation`).

Example::

    languages = check_language_model(model, "config.json", "sv")   # errors name the language and the config
    row = add_language(model, "sv")                                 # the mean row, where a language task starts
"""

from __future__ import annotations

import torch

from coqui_meta.errors import RequestError


def espeak_problem(language: str) -> str | None:
    """Why espeak-ng cannot phonemise ``language`` (not installed, or not a language it knows), or None."""
    from TTS.tts.utils.text.phonemizers.espeak_wrapper import ESpeak

    if not ESpeak.is_available():
        return "espeak-ng is not installed (sudo apt-get install espeak-ng)"
    known = ESpeak.supported_languages()
    if language not in known:
        near = sorted(name for name in known if name.split("-")[0] == language.split("-")[0])
        return (f"espeak-ng does not know the language {language!r}" + (f" (it has {', '.join(near)})" if near else "")
                + "; `espeak-ng --voices` lists its languages")
    return None


def check_language_model(model, config_path: str, language: str) -> list[str]:
    """The model's languages, in table order; an error if it cannot take ``language`` as a new one."""
    config = model.config
    if model.meta_language_embedding not in dict(model.named_parameters()):
        raise RequestError(f"{config_path}: `language` needs a multilingual VITS (model_args.use_language_embedding)")
    languages = list(model.language_manager.name_to_id)
    if language in languages:
        raise RequestError(f"`language` {language!r} exists already in {config_path} (its languages: "
                         f"{', '.join(languages)}); choose a new one")
    if config.use_phonemes:
        if config.get("phonemizer") != "multi_phonemizer":
            raise ValueError(f"{config_path}: a new language needs each language phonemised by its own espeak-ng "
                             f"voice (phonemizer \"multi_phonemizer\"), not {config.get('phonemizer')!r}")
        problem = espeak_problem(language)
        if problem:
            raise RequestError(f"`language`: {problem}")
    return languages


def add_language(model, language: str) -> int:
    """Give the loaded model a row for ``language`` (the mean of the others, where a language task starts), its id
    and its phonemizer; returns its row."""
    from TTS.tts.utils.text.phonemizers import get_phonemizer_by_name

    weight = model.emb_l.weight.detach()
    model.emb_l = torch.nn.Embedding.from_pretrained(torch.cat([weight, weight.mean(0, keepdim=True)]), freeze=False)
    row = weight.shape[0]
    model.language_manager.name_to_id[language] = row
    phonemizer = getattr(model.tokenizer, "phonemizer", None)
    if phonemizer is not None and hasattr(phonemizer, "lang_to_phonemizer"):
        phonemizer.lang_to_phonemizer[language] = get_phonemizer_by_name("espeak", language=language)
    return row


def check_languages(config) -> None:
    """A config that phonemises each dataset's language with espeak-ng (``multi_phonemizer``): every such language is
    one espeak-ng knows, or a `ValueError` naming the dataset and the language."""
    if not config.get("use_phonemes") or config.get("phonemizer") != "multi_phonemizer":
        return
    for dataset in config.datasets:
        if dataset.get("phonemizer") in (None, "", "espeak"):
            problem = espeak_problem(dataset.language)
            if problem:
                raise ValueError(f"dataset {dataset.dataset_name or dataset.path}: {problem}")
