"""Bad clips in a training corpus: each kind is named and left out, the count is logged, training goes on; a run
stops with a clear message only when too little data remains."""

import numpy as np
import pytest
import soundfile
from conftest import build_meta_model, run_cli

from coqui_meta import MetaLearningConfig
from coqui_meta.formats.clips import screen_samples
from coqui_meta_lab.presets import small_vits_config, speechocean_dataset


@pytest.fixture()
def bad_corpus(tmp_path, corpus_samples):
    """Three speakers of real clips, plus one clip of every kind of trouble."""
    folder = tmp_path / "data"
    (folder / "wavs").mkdir(parents=True)
    lines = ["audio_file|text|speaker_name"]
    names = sorted({s["speaker_name"] for s in corpus_samples})[:3]
    for name in names:
        clips = [s for s in corpus_samples if s["speaker_name"] == name and 1.0 < s["seconds"] < 3.5][:5]
        for index, sample in enumerate(clips):
            wav, rate = soundfile.read(sample["audio_file"])
            soundfile.write(str(folder / "wavs" / f"{name}_{index}.wav"), wav, rate)
            lines.append(f"wavs/{name}_{index}.wav|{sample['text']}|{name}")
    good = f"wavs/{names[0]}_0.wav"
    (folder / "wavs" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    soundfile.write(str(folder / "wavs" / "empty.wav"), np.zeros(0, np.float32), 16000)
    soundfile.write(str(folder / "wavs" / "long.wav"), np.zeros(16000 * 9, np.float32), 16000)
    soundfile.write(str(tmp_path / "outside.wav"), *soundfile.read(str(folder / good)))
    lines += [
        f"wavs/corrupt.wav|a corrupt clip|{names[0]}",
        f"wavs/empty.wav|an empty clip|{names[0]}",
        f"wavs/missing.wav|a missing clip|{names[0]}",
        f"wavs/long.wav|a clip far too long|{names[0]}",
        f"{good}| |{names[1]}",
        f"{good}|\u0436\u0436\u0436 \u0436\u0436|{names[1]}",
        f"../outside.wav|a path out of the dataset|{names[2]}",
    ]
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    return folder, names


EXPECTED = {
    "unreadable audio": "corrupt.wav",
    "empty audio": "empty.wav",
    "missing audio file": "missing.wav",
    "shorter or longer than the config's min_audio_len/max_audio_len": "long.wav",
    "empty transcript": "_0.wav",
    "characters outside the model's vocabulary": "_0.wav",
    "outside the dataset root": "outside.wav",
}


def test_each_kind_of_bad_clip_is_named_and_left_out(bad_corpus):
    from TTS.tts.datasets import load_tts_samples

    folder, names = bad_corpus
    config = small_vits_config(speechocean_dataset(str(folder)), max_audio_seconds=4.0)
    samples, _ = load_tts_samples(config, eval_split=False)
    model = build_meta_model("vits", MetaLearningConfig(), names, max_audio_seconds=4.0)
    # Coqui's coqui formatter drops a listed file that does not exist (with a count); other formatters do not
    assert not [s for s in samples if s["audio_file"].endswith("missing.wav")]
    samples.append({**samples[0], "audio_file": str(folder / "wavs" / "missing.wav")})
    kept, problems = screen_samples(samples, model)
    assert len(kept) == 15 and len(samples) == 22
    assert set(problems) == set(EXPECTED)
    for reason, name in EXPECTED.items():
        assert len(problems[reason]) == 1 and problems[reason][0].endswith(name), reason


@pytest.mark.slow
def test_training_skips_them_logs_the_count_and_runs(bad_corpus, tmp_out):
    from coqui_meta import MetaVitsConfig

    folder, names = bad_corpus
    stock = small_vits_config(speechocean_dataset(str(folder)), output_path=str(tmp_out / "run"), max_audio_seconds=4.0)
    config = MetaVitsConfig.from_config(stock, meta=MetaLearningConfig(
        n_way=2, k_shot=2, q_query=1, meta_batch_size=2, episodes_per_epoch=2, eval_tasks=[names[2]]))
    config.epochs, config.run_eval, config.print_step = 1, False, 1
    config.save_json(str(tmp_out / "config.json"))
    result = run_cli("train", "--config_path", str(tmp_out / "config.json"), cwd=tmp_out)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Training data: Skipping 5 of 15 clips" in log and "corrupt.wav" in log
    assert "Meta-validation data: Skipping 1 of 6 clips" in log and "outside.wav" in log
    assert "GLOBAL_STEP: 1" in log, "both meta-steps ran on the clips that were left"
