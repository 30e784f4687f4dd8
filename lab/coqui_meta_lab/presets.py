"""Small stock Coqui configs sized for a CPU: the recipes, tests and benchmarks start from these.

They are ordinary ``VitsConfig`` / ``Tacotron2Config`` objects (multi-speaker, speaker embedding, characters instead of
phonemes so no phonemizer is needed); turn them into meta configs with ``MetaVitsConfig.from_config``.

Example::

    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset
    config = small_vits_config(speechocean_dataset("../shared/data/speechocean762"), output_path="runs/vits")
"""

from __future__ import annotations

from TTS.config.shared_configs import BaseAudioConfig, BaseDatasetConfig
from TTS.tts.configs.shared_configs import CharactersConfig
from TTS.tts.configs.tacotron2_config import Tacotron2Config
from TTS.tts.configs.vits_config import VitsArgs, VitsConfig

from coqui_meta.formats.clips import coqui_dataset

# Lower-case letters, digits and punctuation cover the shared corpus and the demo's sentences.
CHARACTERS = CharactersConfig(
    characters_class="TTS.tts.models.vits.VitsCharacters",
    pad="<PAD>",
    eos="<EOS>",
    bos="<BOS>",
    blank="<BLNK>",
    characters="abcdefghijklmnopqrstuvwxyz0123456789",
    punctuations=" !'(),-.:;?\"",
    phonemes=None,
)


def speechocean_dataset(path: str, formatter: str = "coqui") -> BaseDatasetConfig:
    """A Coqui dataset entry for a corpus in the ``coqui`` format (``metadata.csv``: audio_file|text|speaker_name)."""
    return coqui_dataset(path, formatter)


def _common(config, dataset: BaseDatasetConfig | None, output_path: str, max_audio_seconds: float, sample_rate: int):
    config.datasets = [dataset] if dataset is not None else []
    config.output_path = output_path
    config.use_phonemes = False
    config.text_cleaner = "basic_cleaners"
    config.characters = CHARACTERS
    config.batch_size = 4
    config.eval_batch_size = 4
    config.num_loader_workers = 0
    config.num_eval_loader_workers = 0
    config.min_audio_len = 1
    config.max_audio_len = int(max_audio_seconds * sample_rate)
    config.max_text_len = 200
    config.mixed_precision = False
    config.print_step = 5
    config.save_step = 10_000
    config.save_n_checkpoints = 2
    config.test_delay_epochs = 10_000  # no test sentences: they are synthesised with stock speakers
    config.test_sentences = []
    config.dashboard_logger = "tensorboard"
    config.run_eval = True
    config.print_eval = False
    return config


def small_vits_config(
    dataset: BaseDatasetConfig | None = None,
    output_path: str = "runs",
    sample_rate: int = 16000,
    max_audio_seconds: float = 4.0,
    speakers: list[str] | None = None,
) -> VitsConfig:
    """A multi-speaker VITS of about 2 M generator parameters (1 s a step on 2 CPU cores at batch 4)."""
    audio = BaseAudioConfig(
        sample_rate=sample_rate, fft_size=512, win_length=512, hop_length=128, num_mels=64, mel_fmin=0, mel_fmax=None
    )
    args = VitsArgs(
        hidden_channels=64,
        hidden_channels_ffn_text_encoder=128,
        num_layers_text_encoder=2,
        num_layers_posterior_encoder=4,
        num_layers_flow=2,
        kernel_size_flow=3,
        spec_segment_size=16,
        out_channels=257,
        use_sdp=False,
        resblock_type_decoder="2",
        resblock_kernel_sizes_decoder=[3, 5],
        resblock_dilation_sizes_decoder=[[1, 3], [1, 3]],
        upsample_rates_decoder=[8, 4, 4],
        upsample_kernel_sizes_decoder=[16, 8, 8],
        upsample_initial_channel_decoder=64,
        periods_multi_period_discriminator=[2, 3],
        use_speaker_embedding=True,
        speaker_embedding_channels=32,
    )
    config = VitsConfig(audio=audio, model_args=args, speakers=list(speakers or []), use_speaker_embedding=True)
    config.add_blank = True
    config.lr_gen = 2e-4
    config.lr_disc = 2e-4
    return _common(config, dataset, output_path, max_audio_seconds, sample_rate)


def small_tacotron2_config(
    dataset: BaseDatasetConfig | None = None,
    output_path: str = "runs",
    sample_rate: int = 16000,
    max_audio_seconds: float = 4.0,
    speakers: list[str] | None = None,
) -> Tacotron2Config:
    """A multi-speaker Tacotron2 (its layer sizes are fixed by Coqui: about 33 M parameters) with a small mel setup."""
    audio = BaseAudioConfig(
        sample_rate=sample_rate,
        fft_size=512,
        win_length=512,
        hop_length=128,
        num_mels=64,
        mel_fmin=0,
        mel_fmax=None,
        do_trim_silence=True,
        trim_db=45,
        signal_norm=True,
    )
    config = Tacotron2Config(
        audio=audio, out_channels=audio.num_mels, speakers=list(speakers or []), use_speaker_embedding=True
    )
    config.decoder_output_dim = audio.num_mels
    config.speaker_embedding_dim = 64
    config.r = 2
    config.gradual_training = None
    config.double_decoder_consistency = False
    config.ga_alpha = 5.0
    config.lr = 1e-3
    # a constant rate: Coqui's NoamLR (4000 warm-up steps) steps once an epoch by default, which keeps the rate near 0
    # for thousands of epochs; and a study's branches would each warm up anew, the meta branch a step per meta-step
    config.lr_scheduler, config.lr_scheduler_params = None, {}
    return _common(config, dataset, output_path, max_audio_seconds, sample_rate)


def gst_tacotron2_config(
    dataset: BaseDatasetConfig | None = None,
    output_path: str = "runs",
    max_audio_seconds: float = 6.6,
    speakers: list[str] | None = None,
) -> Tacotron2Config:
    """A multi-speaker Tacotron2 with global style tokens, for style studies on a CPU: 10 tokens; frames of 16 ms
    (hop 256) and 80 mels, so that Griffin-Lim gives back the voice's pitch (on the style corpus's real clips its F0
    is within a few Hz of the clip's); 7 frames a decoder step, which makes a step at batch 8 take seconds on a CPU
    rather than tens, and an alignment quick to learn (guided attention, from `small_tacotron2_config`)."""
    from TTS.tts.configs.shared_configs import GSTConfig

    config = small_tacotron2_config(dataset, output_path, 16000, max_audio_seconds, speakers)
    config.audio.hop_length, config.audio.win_length, config.audio.fft_size = 256, 1024, 1024
    config.audio.num_mels = config.out_channels = config.decoder_output_dim = 80
    config.use_gst, config.gst = True, GSTConfig(gst_embedding_dim=128, gst_num_heads=4, gst_num_style_tokens=10)
    config.r = 7
    config.batch_size = config.eval_batch_size = 8
    return config
