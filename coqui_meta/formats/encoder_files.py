"""Coqui's speaker encoder named by URL (as the YourTTS recipe names it): Coqui downloads it when the model is
built, which a machine without internet cannot do. A model is built without it when nothing will use it (another
start for new voices was asked for, or training without the speaker consistency loss), and otherwise the error
says where the files are and what to do.

Example::

    urls = encoder_urls(config)            # ["https://.../model_se.pth.tar", ...]
    drop_encoder(config)                   # speaker_encoder_model_path / _config_path unset, top level and model_args
"""

from __future__ import annotations

FIELDS = ("speaker_encoder_model_path", "speaker_encoder_config_path")


def _holders(config) -> list:
    args = config.get("model_args") if hasattr(config, "get") else None
    return [holder for holder in (config, args) if holder is not None]


def encoder_urls(config) -> list[str]:
    """The speaker encoder files the config names by URL (``scheme://``; a local path is not one)."""
    return [value for holder in _holders(config) for name in FIELDS
            if isinstance(value := getattr(holder, name, None), str) and "://" in value]


def drop_encoder(config) -> None:
    for holder in _holders(config):
        for name in FIELDS:
            if hasattr(holder, name):
                setattr(holder, name, None)


def offline_message(urls: list[str], config_path: str, error: Exception, flag: bool = True) -> str:
    """What to do when the encoder at ``urls`` could not be read."""
    what = ("or pass `encoder` resemblyzer (or mean) to start new voices without it" if flag
            else "or set model_args.use_speaker_encoder_as_loss to false")
    return (f"{config_path}: the speaker encoder is at a URL this machine could not read ({', '.join(urls)}; "
            f"{type(error).__name__}: {error}). Download the files where there is internet and set "
            f"speaker_encoder_model_path and speaker_encoder_config_path (VITS: in model_args) to the local copies, "
            f"{what}")
