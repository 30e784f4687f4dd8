"""Speaking styles as tasks: a VITS meta-trains with a task per style (Coqui's emotion_name), each clip in its own
voice; a GST Tacotron2 with the style as its token weights, from the tokens' mean; `evaluate --task_key emotion_name`
judges held-out styles by prosody (style distance and EER), meta and stock alike; `adapt --style` writes a voice in
the new style that stock Coqui speaks (VITS: a new row; GST: token weights stock Coqui takes as its style input); bad
input stops before anything is written."""

import json
import shutil

import numpy as np
import pytest
import soundfile
import torch
from conftest import first_meta_batch, run_cli, save_checkpoint
from helpers import subprocess_tts

from coqui_meta import MetaLearningConfig, MetaVits, MetaVitsConfig

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (scripts/setup.sh)")

VARIANTS = ("m1", "f1")
VOICE = "espeak_en_us_m1"
NEW_STYLE = "high"  # held out by the corpus's rule


@pytest.fixture(scope="module")
def styles(tmp_path_factory):
    from coqui_meta_lab.style_corpus import build_style_corpus

    return build_style_corpus(tmp_path_factory.mktemp("styles") / "corpus", clips_per_style=4, variants=VARIANTS,
                              progress=False)


def style_config(corpus, output_path, **meta):
    from coqui_meta_lab.presets import small_vits_config, speechocean_dataset
    from coqui_meta_lab.style_corpus import voice_names

    stock = small_vits_config(speechocean_dataset(str(corpus)), output_path=str(output_path),
                              speakers=voice_names(VARIANTS))
    settings = dict(algorithm="fomaml", task_key="emotion_name", inner_lr=0.001, n_way=2, k_shot=2, q_query=1,
                    meta_batch_size=2, episodes_per_epoch=2, eval_episodes=1)
    return MetaVitsConfig.from_config(stock, meta=MetaLearningConfig(**{**settings, **meta}))


@pytest.fixture(scope="module")
def style_model(styles, tmp_path_factory):
    """A small random-init MetaVits over the corpus's voices, style tasks, saved with its meta and stock configs."""
    folder = tmp_path_factory.mktemp("style_vits")
    config = style_config(styles, folder)
    torch.manual_seed(0)
    return folder, save_checkpoint(folder, MetaVits(config))


def test_a_style_task_keeps_each_clips_voice_and_adapts_the_style_modules(styles, style_model):
    from TTS.tts.datasets import load_tts_samples

    _, model = style_model
    assert {name.split(".")[0] for name in model.meta_adapted_names()} == set(MetaVits.meta_style_adapt_modules)
    samples, _ = load_tts_samples(model.config, eval_split=False)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    for support, query in tasks:  # a task is one style; its clips keep their own voices' rows
        names = support["speaker_names"] + query["speaker_names"]
        ids = support["speaker_ids"].tolist() + query["speaker_ids"].tolist()
        assert ids == [model.speaker_manager.name_to_id[name] for name in names]
    params = dict(model.named_parameters())
    initial = model.meta_task_init(params, model.meta_adapted_names())
    assert torch.equal(initial["emb_g.weight"], params["emb_g.weight"]), "no mean row: each voice stays itself"
    model.zero_grad(set_to_none=True)
    results = model.meta_algorithm.outer_backward(tasks, seeds=[1, 2])
    assert all(np.isfinite(r.query_loss) for r in results)
    assert model.duration_predictor.proj.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_meta_training_holds_out_styles_for_meta_validation(styles, tmp_out):
    from coqui_meta.training import prepare
    from coqui_meta_lab.style_corpus import held_out_styles

    config = style_config(styles, tmp_out / "run", eval_tasks=held_out_styles())
    model, train, held = prepare(config)
    assert {s["emotion_name"] for s in held} == set(held_out_styles())
    assert not {s["emotion_name"] for s in train} & set(held_out_styles())
    assert len({s["emotion_name"] for s in train}) == 6 and model.meta_task_is_style


@pytest.fixture()
def style_judgements(monkeypatch):
    """Every rendition the style judge of an `evaluate` measures, as it is measured: (judgement, step, distance or
    None for a rendition without a voiced frame)."""
    from coqui_meta.judging.judgement import Judgement

    heard, measure = [], Judgement.style_distance

    def measured(self, step, sample, style, wav, rate):
        distance = measure(self, step, sample, style, wav, rate)
        heard.append((self, step, distance))
        return distance

    monkeypatch.setattr(Judgement, "style_distance", measured)
    return heard


def distance_from_real_clips(real, voice, features, style, reference="neutral") -> float:
    """The style distance as the style judge's docstring defines it, from its real clips' features: the clip's
    features less its voice's mean ``reference`` clip, less the style's mean of such, in units of the pooled
    within-style standard deviation; the norm of that."""
    own = {v: np.mean([f for v2, s, f in real if v2 == v and s == reference], axis=0) for v, _, _ in real}
    by_style = {}
    for v, s, f in real:
        by_style.setdefault(s, []).append(f - own[v])
    centroids = {s: np.mean(rows, axis=0) for s, rows in by_style.items()}
    spread = np.concatenate([np.asarray(rows) - centroids[s] for s, rows in by_style.items()]).std(axis=0)
    return float(np.linalg.norm((features - own[voice] - centroids[style]) / spread))


def equal_error_rate_by_sweep(scores, is_target) -> float:
    """The threshold swept over -inf, each score and +inf (accepting a score at or above it): where the false
    acceptance rate falls to the false rejection rate, interpolated linearly between the two thresholds around it."""
    targets = [s for s, target in zip(scores, is_target) if target]
    impostors = [s for s, target in zip(scores, is_target) if not target]
    rates = [(sum(s >= t for s in impostors) / len(impostors), sum(s < t for s in targets) / len(targets))
             for t in [-np.inf, *sorted(set(scores)), np.inf]]
    for (far, frr), (next_far, next_frr) in zip(rates, rates[1:]):
        if far - frr > 0 >= next_far - next_frr:
            weight = (far - frr) / ((far - frr) - (next_far - next_frr))
            return far + weight * (next_far - far)
    raise AssertionError("the rates never cross")


@pytest.mark.parametrize("config_name", ["meta_config.json", "stock_config.json"])
def test_evaluate_judges_a_held_out_style_by_prosody(styles, style_model, tmp_path, config_name, style_judgements):
    from coqui_meta.judging.evaluation import evaluate

    folder, _ = style_model
    report = evaluate(str(folder / "model.pth"), str(folder / config_name), str(styles), speakers=[NEW_STYLE],
                      shots=2, queries=2, steps=[0, 1], out_path=str(tmp_path / "eval"), progress=False,
                      task_key="emotion_name")
    assert report.task_key == "emotion_name" and report.speakers == [NEW_STYLE]
    assert set(report.style_distance) == set(report.style_eer) == {0, 1}
    judgement = style_judgements[0][0]
    real = judgement.style.real
    for step in (0, 1):
        # the renditions' prosody features as the judge measured them; the rest recomputed from its real clips
        renditions = judgement.style_renditions[step]
        heard = [distance for _, at, distance in style_judgements if at == step]
        assert len(heard) == 2 and len(renditions) == sum(d is not None for d in heard) >= 1
        mine = [distance_from_real_clips(real, voice, features, style) for voice, style, features in renditions]
        assert [d for d in heard if d is not None] == pytest.approx(mine)
        farthest = max(mine)  # a rendition without a voiced frame counts as the farthest measured one
        assert report.style_distance[step] == pytest.approx(np.mean([farthest if d is None else d for d in heard]))
        assert report.style_judged[step] == pytest.approx(len(renditions) / len(heard))
        styles_known = sorted({style for _, style, _ in real})
        trials = [(-distance_from_real_clips(real, voice, features, candidate), candidate == style)
                  for voice, style, features in renditions for candidate in styles_known]
        assert report.style_eer[step] == pytest.approx(equal_error_rate_by_sweep(*zip(*trials)))
    assert report.query_loss[0] != report.query_loss[1]
    from coqui_meta.judging.style_judge import FEATURES

    assert all(set(report.style_feature_gap[step]) == set(FEATURES) for step in (0, 1))
    written = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert written["style_distance"]["1"] == pytest.approx(report.style_distance[1])


def test_the_style_judge_hears_the_styles_of_real_clips(styles):
    """On the corpus's real clips the judge's features move as espeak-ng's controls do (relative to neutral: a high
    pitch up, a low one down, fast speech quicker, slow slower, a lively range wider than a monotone one), a held-out
    style's clips are nearer their own style than the opposite one, and the judge, each clip left out in turn, tells
    the styles apart far better than chance (an EER of 0.06 when written)."""
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.style_judge import FEATURES, fit_on_samples

    judge = fit_on_samples(load_clips(styles, task_key="emotion_name"), 16000)
    level, spread, rate = (FEATURES.index(name) for name in
                           ("f0_median_semitones", "f0_range_semitones", "syllables_per_second"))
    centroids = judge.centroids
    assert centroids["high"][level] > 1.0 and centroids["low"][level] < -1.0, centroids
    assert centroids["fast"][rate] > 0.5 and centroids["slow"][rate] < -0.5, centroids
    assert centroids["lively"][spread] > centroids["monotone"][spread] + 1.0, centroids
    for voice, style, features in judge.real:
        if style == NEW_STYLE:
            assert judge.distance(voice, features, NEW_STYLE) < judge.distance(voice, features, "low"), voice
    assert judge.calibration() < 0.2


def test_pitch_error_is_zero_against_itself_and_a_known_shift_against_a_shifted_clip(styles):
    import librosa

    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.pitch import pitch, pitch_error

    clip = next(c for c in load_clips(styles, task_key="emotion_name")
                if c["speaker_name"] == VOICE and c["emotion_name"] == "neutral")
    wav, rate = librosa.load(clip["audio_file"], sr=16000)
    heard = pitch(wav, rate)
    assert 60 < heard["f0_hz"] < 200 and pitch_error(heard, heard) == 0.0
    for semitones in (3, -4):
        shifted = pitch(librosa.effects.pitch_shift(wav, sr=rate, n_steps=semitones), rate)
        assert pitch_error(shifted, heard) == pytest.approx(abs(semitones), abs=0.3), semitones
    silence = pitch(np.zeros_like(wav), rate)
    assert pitch_error(silence, heard) == float("inf")


def test_adapt_style_writes_a_voice_in_the_style_that_stock_coqui_speaks(styles, style_model, tmp_path):
    folder, model = style_model
    out = tmp_path / "m1_high"
    result = run_cli("adapt", "--model_path", str(folder / "model.pth"), "--config_path",
                     str(folder / "meta_config.json"), "--data", str(styles), "--style", NEW_STYLE, "--speaker", VOICE,
                     "--shots", "3", "--steps", "2", "--lr", "0.01", "--out_path", str(out), "--device", "cpu",
                     "--save_delta")  # a rate that moves a random-init voice audibly in 2 steps
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    name = f"{VOICE}_{NEW_STYLE}"
    info = json.loads((out / "adapt.json").read_text())
    assert info["style"] == NEW_STYLE and info["speaker"] == name and info["voice"] == VOICE
    assert all(f"/{NEW_STYLE}/" in clip and VOICE in clip for clip in info["clips"])
    assert {n.split(".")[0] for n in info["adapt_modules"]} == set(MetaVits.meta_style_adapt_modules)
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "vits" and config["speakers"][-1] == name
    state = torch.load(out / "model.pth", weights_only=True)["model"]
    base = torch.load(folder / "model.pth", weights_only=True)["model"]
    row = model.speaker_manager.name_to_id[VOICE]
    assert torch.equal(state["emb_g.weight"][:-1], base["emb_g.weight"]), "the old rows as they were"
    assert not torch.equal(state["emb_g.weight"][-1], base["emb_g.weight"][row]), "the steps moved the style's row"
    assert (out / "voice.safetensors").is_file()

    wavs = {}
    for speaker in (name, VOICE):
        spoken = subprocess_tts(out, speaker, tmp_path / f"{speaker}.wav", text="a big house by the sea.")
        assert spoken.returncode == 0, spoken.stderr[-2000:]
        wavs[speaker] = soundfile.read(tmp_path / f"{speaker}.wav")[0]
    assert wavs[name].size > 1000 and np.sqrt(np.mean(wavs[name] ** 2)) > 1e-3
    length = min(len(w) for w in wavs.values())
    assert not np.allclose(wavs[name][:length], wavs[VOICE][:length], atol=1e-3)

    # the same style again onto the adapted voice's folder: its name exists
    again = run_cli("adapt", "--model_path", str(out / "model.pth"), "--config_path", str(out / "config.json"),
                    "--data", str(styles), "--style", NEW_STYLE, "--speaker", VOICE, "--shots", "3", "--steps", "1",
                    "--out_path", str(tmp_path / "again"), "--device", "cpu")
    assert again.returncode != 0 and f"has a voice '{name}' already" in again.stderr, again.stderr[-2000:]
    assert not (tmp_path / "again").exists()


def test_bad_style_input_is_refused_by_name_before_anything_is_written(styles, style_model, tiny_vits, tmp_path):
    from coqui_meta.training import TrainingSetupError, prepare

    folder, _ = style_model
    common = ["--model_path", str(folder / "model.pth"), "--config_path", str(folder / "meta_config.json"),
              "--device", "cpu", "--steps", "1"]

    def refused(args, match):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        result = run_cli("adapt", *args, "--out_path", str(out))
        assert result.returncode != 0 and match in result.stderr, result.stderr[-2000:]
        assert not out.exists()

    refused([*common, "--data", str(styles), "--style", NEW_STYLE, "--speaker", VOICE, "--shots", "5"],
            f"--shots 5 but {styles} has 4 clip(s) of '{VOICE}' in the style '{NEW_STYLE}'")
    refused([*common, "--data", str(styles), "--style", "whisper", "--speaker", VOICE, "--shots", "2"],
            "has no clip in the style 'whisper'")
    refused([*common, "--data", str(styles), "--style", NEW_STYLE, "--shots", "2"], "choose whose with --speaker")
    tiny, _ = tiny_vits  # speakers of another corpus: the style's voice is not one of them
    refused(["--model_path", str(tiny / "model.pth"), "--config_path", str(tiny / "meta_config.json"), "--device",
             "cpu", "--data", str(styles), "--style", NEW_STYLE, "--speaker", VOICE, "--shots", "2"],
            f"--speaker '{VOICE}' is not a voice of")

    # a metadata.csv without the emotion_name column: Coqui would call every clip "neutral"
    plain = tmp_path / "no_styles"
    plain.mkdir()
    lines = (styles / "metadata.csv").read_text().splitlines()
    plain.joinpath("metadata.csv").write_text("\n".join(line.rsplit("|", 1)[0] for line in lines) + "\n")
    (plain / "wavs").symlink_to(styles / "wavs")
    refused([*common, "--data", str(plain), "--style", NEW_STYLE, "--speaker", VOICE, "--shots", "2"],
            f"{plain / 'metadata.csv'} has no emotion_name column")
    config = style_config(plain, tmp_path / "run")
    with pytest.raises(TrainingSetupError, match="has no emotion_name column"):
        prepare(config)
    assert not (tmp_path / "run").exists()


def test_a_model_without_a_voice_to_speak_in_cannot_take_a_style(styles, tmp_path):
    from coqui_meta import MetaTacotron2, MetaTacotron2Config
    from coqui_meta_lab.presets import small_tacotron2_config

    config = style_config(styles, tmp_path)
    for holder in (config, config.model_args):
        holder.use_speaker_embedding = False
    with pytest.raises(ValueError, match="has no style input and no speaker table"):
        MetaVits(config)
    tacotron = MetaTacotron2Config.from_config(small_tacotron2_config(output_path=str(tmp_path), speakers=["a", "b"]),
                                               meta=MetaLearningConfig(task_key="emotion_name"))
    with pytest.raises(ValueError, match="MetaTacotron2 learns a style in its global style tokens: set use_gst"):
        MetaTacotron2(tacotron)


@pytest.fixture(scope="module")
def gst_model(styles, tmp_path_factory):
    """A random-init GST Tacotron2 over the corpus's voices (the style study's config, a smaller token bank), style
    tasks, saved with its meta config."""
    from TTS.tts.configs.shared_configs import GSTConfig

    from coqui_meta import MetaTacotron2, MetaTacotron2Config
    from coqui_meta_lab.presets import gst_tacotron2_config, speechocean_dataset
    from coqui_meta_lab.style_corpus import voice_names

    folder = tmp_path_factory.mktemp("style_tacotron2")
    stock = gst_tacotron2_config(speechocean_dataset(str(styles)), output_path=str(folder),
                                 speakers=voice_names(VARIANTS))
    stock.gst = GSTConfig(gst_embedding_dim=32, gst_num_heads=2, gst_num_style_tokens=4)
    stock.max_decoder_steps = 80  # a random-init decoder never stops on its own
    config = MetaTacotron2Config.from_config(stock, meta=MetaLearningConfig(
        algorithm="fomaml", task_key="emotion_name", inner_lr=0.001, n_way=2, k_shot=2, q_query=1, meta_batch_size=2,
        episodes_per_epoch=2))
    torch.manual_seed(0)
    return folder, save_checkpoint(folder, MetaTacotron2(config), stock_name=None)


def test_a_gst_style_task_starts_from_the_tokens_mean_and_adapts_their_weights(styles, gst_model):
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta.algorithms.inner_loop import GST_WEIGHTS

    _, model = gst_model
    names = model.meta_adapted_names()
    assert names[0] == GST_WEIGHTS and any(n.startswith("gst_layer.style_token_layer") for n in names)
    initial = model.meta_task_init(dict(model.named_parameters()), names)
    torch.testing.assert_close(initial[GST_WEIGHTS], torch.full((4,), 0.25))
    samples, _ = load_tts_samples(model.config, eval_split=False)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    model.zero_grad(set_to_none=True)
    results = model.meta_algorithm.outer_backward(tasks, seeds=[1, 2])
    assert all(np.isfinite(r.query_loss) for r in results)
    assert model.gst_layer.style_token_layer.style_tokens.grad.abs().sum() > 0, "the outer step reaches the tokens"
    model.zero_grad(set_to_none=True)
    # the weights are the style input: the same text with other weights is another style
    support = tasks[0][0]
    with torch.no_grad():
        losses = [model.meta_task_loss({**support, GST_WEIGHTS: torch.tensor(w)})[0]
                  for w in ([0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0])]
    assert not torch.isclose(losses[0], losses[1])


def test_adapt_style_on_gst_writes_token_weights_that_stock_coqui_speaks_with(styles, gst_model, tmp_path):
    from TTS.utils.synthesizer import Synthesizer

    folder, _ = gst_model
    out = tmp_path / "high"
    result = run_cli("adapt", "--model_path", str(folder / "model.pth"), "--config_path",
                     str(folder / "meta_config.json"), "--data", str(styles), "--style", NEW_STYLE, "--speaker", VOICE,
                     "--shots", "2", "--steps", "2", "--lr", "0.01", "--out_path", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    info = json.loads((out / "adapt.json").read_text())
    config = json.loads((out / "config.json").read_text())
    weights = config["gst"]["gst_style_input_weights"]
    assert config["model"] == "tacotron2" and config["speakers"] == json.loads(
        (folder / "meta_config.json").read_text())["speakers"], "no new row: the style is the weights"
    assert info["style_weights"] == weights and len(weights) == 4
    assert not np.allclose(list(weights.values()), 0.25), "the steps moved the weights"
    state = torch.load(out / "model.pth", weights_only=True)["model"]
    base = torch.load(folder / "model.pth", weights_only=True)["model"]
    key = "gst_layer.style_token_layer.style_tokens"
    assert not torch.equal(state[key], base[key]) and "gst_weights" not in state

    synthesizer = Synthesizer(tts_checkpoint=str(out / "model.pth"), tts_config_path=str(out / "config.json"))
    spoken = {}
    for label, style in (("style", synthesizer.tts_config.gst.gst_style_input_weights), ("none", None)):
        torch.manual_seed(0)
        spoken[label] = np.asarray(synthesizer.tts("a big house.", speaker_name=VOICE, style_wav=style))
    assert spoken["style"].size > 1000 and np.isfinite(spoken["style"]).all()
    length = min(len(w) for w in spoken.values())
    assert not np.allclose(spoken["style"][:length], spoken["none"][:length], atol=1e-4)
    again = run_cli("adapt", "--model_path", str(out / "model.pth"), "--config_path", str(out / "config.json"),
                    "--data", str(styles), "--style", NEW_STYLE, "--speaker", VOICE, "--shots", "2", "--steps", "1",
                    "--out_path", str(tmp_path / "again"), "--device", "cpu")
    assert again.returncode != 0 and f"--style '{NEW_STYLE}'" in again.stderr, again.stderr[-2000:]


def test_evaluate_judges_a_gst_style(styles, gst_model, tmp_path):
    from coqui_meta.judging.evaluation import evaluate

    folder, _ = gst_model
    report = evaluate(str(folder / "model.pth"), str(folder / "meta_config.json"), str(styles), speakers=[NEW_STYLE],
                      shots=2, queries=1, steps=[0, 1], out_path=None, progress=False, task_key="emotion_name",
                      similarity=False)
    assert report.adapt_modules[0] == "gst_weights"
    assert report.query_loss[0] != report.query_loss[1]


def test_the_gst_study_configs_frames_keep_a_voices_pitch_through_griffin_lim(styles, gst_model):
    """The GST study judges Griffin-Lim renditions by their pitch: from the mels of its config a real clip comes back
    at its own pitch (within what the project calls on pitch), a low and a high voice alike (a Tacotron2 that predicts
    such mels can be heard). Griffin-Lim starts from random phases (numpy's generator): seeded here, since on the low
    voice about one start in ten puts pYIN an octave off on some frames (up to 1.5 semitones of median error, against
    0.1-0.8 for the rest, over 40 starts)."""
    from coqui_meta.formats.clips import load_clips
    from coqui_meta.judging.pitch import ON_PITCH_SEMITONES, pitch, pitch_error

    model = gst_model[1]
    clips = load_clips(styles, task_key="emotion_name")
    for voice in sorted({clip["speaker_name"] for clip in clips}):
        clip = next(c for c in clips if c["speaker_name"] == voice and c["emotion_name"] == "neutral")
        real = model.ap.load_wav(clip["audio_file"])
        np.random.seed(0)
        back = model.ap.inv_melspectrogram(model.ap.melspectrogram(real))
        heard, want = pitch(back, model.ap.sample_rate), pitch(real, model.ap.sample_rate)
        assert pitch_error(heard, want) < ON_PITCH_SEMITONES and heard["voiced"] > 0.3, (voice, heard, want)


def test_the_gst_style_base_goes_on_from_its_asset_with_its_record(styles, tmp_path, monkeypatch):
    """scripts/gst_base.py ships the GST base as an asset and the style study goes on from it on a machine without its
    folder: the asset's weights (half precision) and its record of steps and checks, then more training and checks;
    an asset without a record is refused by name."""
    import coqui_meta.judging.pitch
    from coqui_meta_lab.base_asset import export_base
    from coqui_meta_lab.gst_base import style_training_clips, train_gst_base
    from coqui_meta_lab.style_corpus import held_out_styles

    train = style_training_clips(styles)
    assert train and not {s["emotion_name"] for s in train} & set(held_out_styles())
    heard, compare = [], coqui_meta.judging.pitch.pitch_error  # each rendition's F0 and its real clip's, as checked

    def compared(rendition, real):
        heard.append((rendition["f0_hz"], real["f0_hz"]))
        return compare(rendition, real)

    monkeypatch.setattr(coqui_meta.judging.pitch, "pitch_error", compared)
    first = train_gst_base(styles, train, tmp_path / "a", minutes=0.02, check_minutes=0.02, asset=None,
                           progress=False)
    (record,) = first.history
    assert record["steps"] == first.steps >= 1 and record["length_ratio"] > 0
    # the record's pitch, recomputed from the F0s: one neutral clip of each voice, the median error in semitones
    # (none heard: infinitely far) and the share within 2 semitones
    assert len(heard) == len({s["speaker_name"] for s in train})
    errors = [abs(12 * np.log2(mine / want)) if np.isfinite(mine) and np.isfinite(want) else np.inf
              for mine, want in heard]
    assert record["pitch_error_semitones"] == pytest.approx(np.median(errors))
    assert record["on_pitch"] == pytest.approx(np.mean([error <= 2.0 for error in errors]))
    progress = {"steps": first.steps, "minutes": first.minutes, "history": first.history}
    asset = export_base(first.files, tmp_path / "gst.safetensors", note="test", progress=progress)

    same = train_gst_base(styles, train, tmp_path / "b", minutes=first.minutes, asset=asset, progress=False)
    assert (same.steps, same.history) == (first.steps, first.history)
    weights = torch.load(first.files[0], weights_only=True)["model"]
    for name, tensor in torch.load(same.files[0], weights_only=True)["model"].items():
        assert torch.equal(tensor, weights[name].half().float()), name
    more = train_gst_base(styles, train, tmp_path / "c", minutes=first.minutes + 0.02, check_minutes=0.02,
                          asset=asset, progress=False)
    assert more.steps > first.steps and more.history[0] == record and len(more.history) == 2

    no_record = export_base(first.files, tmp_path / "bare.safetensors", note="no record")
    with pytest.raises(RuntimeError, match="bare.safetensors is not a GST base"):
        train_gst_base(styles, train, tmp_path / "d", minutes=1.0, asset=no_record, progress=False)


@pytest.mark.parametrize("kind,settings", [
    ("vits", dict(algorithm="maml")),  # second order (SGD inside)
    ("vits", dict(algorithm="fomaml", inner_lr_mode="per_tensor")),
    ("gst", dict(algorithm="fomaml", inner_lr_mode="per_tensor")),
])
def test_style_tasks_train_second_order_and_with_learned_rates(styles, gst_model, tmp_path, kind, settings):
    """As for speakers: a second-order meta-gradient reaches the shared weights, and learned rates (the style
    weights' own rate too) get a gradient."""
    from TTS.tts.datasets import load_tts_samples

    from coqui_meta import MetaTacotron2

    if kind == "vits":
        model = MetaVits(style_config(styles, tmp_path, **settings))
    else:
        config = gst_model[1].config.copy()
        for key, value in settings.items():
            setattr(config.meta, key, value)
        model = MetaTacotron2(config)
    samples, _ = load_tts_samples(model.config, eval_split=False)
    tasks = first_meta_batch(model, samples, is_eval=False)["tasks"]
    results = model.meta_algorithm.outer_backward(tasks, seeds=[1, 2])
    assert all(np.isfinite(r.query_loss) for r in results)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if settings.get("inner_lr_mode"):
        assert model.meta_inner_lrs.log_lr.grad is not None and model.meta_inner_lrs.log_lr.grad.abs().sum() > 0
        assert model.meta_inner_lrs.names == model.meta_adapted_names()
