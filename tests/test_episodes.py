"""SpeakerEpisodeSampler: disjoint support/query, reproducible, rank-sharded, clear about thin tasks."""

import logging

import pytest

from coqui_meta.episodes import EpisodeCollate, MetaBatchSampler, SpeakerEpisodeSampler, held_out_tasks, split_by_task


def make_samples(clips_per_speaker: dict[str, int]):
    return [
        {"audio_file": f"{name}/{i}.wav", "text": "x", "speaker_name": name, "emotion_name": f"e{i % 3}"}
        for name, count in clips_per_speaker.items()
        for i in range(count)
    ]


SAMPLES = make_samples({f"spk{i}": 12 for i in range(8)})


def episodes(sampler):
    return [[(list(s), list(q)) for s, q in episode] for episode in sampler]


def test_tasks_are_disjoint_of_one_value_and_of_the_right_size():
    sampler = SpeakerEpisodeSampler(SAMPLES, n_way=4, k_shot=5, q_query=3, seed=1, episodes=20)
    for episode in sampler:
        assert len(episode) == 4
        speakers = []
        for support, query in episode:
            assert len(support) == 5 and len(query) == 3
            assert not set(support) & set(query)
            names = {SAMPLES[i]["speaker_name"] for i in support + query}
            assert len(names) == 1
            speakers.append(names.pop())
        assert len(set(speakers)) == 4, "the n_way tasks of an episode are different speakers"


def test_same_seed_same_episodes_other_seed_other_episodes():
    a = episodes(SpeakerEpisodeSampler(SAMPLES, 2, 3, 2, seed=5, episodes=10))
    b = episodes(SpeakerEpisodeSampler(SAMPLES, 2, 3, 2, seed=5, episodes=10))
    c = episodes(SpeakerEpisodeSampler(SAMPLES, 2, 3, 2, seed=6, episodes=10))
    assert a == b
    assert a != c


def test_epochs_differ_but_a_fixed_sampler_repeats():
    sampler = SpeakerEpisodeSampler(SAMPLES, 2, 3, 2, seed=5, episodes=5)
    assert episodes(sampler) != episodes(sampler)
    fixed = SpeakerEpisodeSampler(SAMPLES, 2, 3, 2, seed=5, episodes=5, fixed=True)
    assert episodes(fixed) == episodes(fixed)


def test_ranks_split_each_episode_without_overlap():
    whole = episodes(SpeakerEpisodeSampler(SAMPLES, 4, 2, 2, seed=3, episodes=6))
    ranks = [
        episodes(SpeakerEpisodeSampler(SAMPLES, 4, 2, 2, seed=3, episodes=6, num_replicas=2, rank=r)) for r in (0, 1)
    ]
    for step, episode in enumerate(whole):
        shard0, shard1 = ranks[0][step], ranks[1][step]
        assert len(shard0) == len(shard1) == 2
        assert sorted(shard0 + shard1) == sorted(episode)
        assert not {i for s, q in shard0 for i in s + q} & {i for s, q in shard1 for i in s + q}


def test_n_way_must_split_evenly_over_ranks():
    with pytest.raises(ValueError, match="n_way"):
        SpeakerEpisodeSampler(SAMPLES, 3, 2, 2, num_replicas=2, rank=0)


def test_thin_tasks_are_left_out_with_one_warning_naming_them(caplog):
    samples = make_samples({"rich1": 10, "rich2": 10, "thin_a": 3, "thin_b": 1})
    with caplog.at_level(logging.WARNING, logger="coqui_meta.episodes"):
        sampler = SpeakerEpisodeSampler(samples, n_way=2, k_shot=2, q_query=2)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "thin_a (3)" in warnings[0].getMessage() and "thin_b (1)" in warnings[0].getMessage()
    used = {samples[i]["speaker_name"] for ep in sampler for s, q in ep for i in s + q}
    assert used == {"rich1", "rich2"}


def test_too_few_tasks_left_is_an_error_naming_the_fields():
    samples = make_samples({"rich1": 10, "thin_a": 3})
    with pytest.raises(ValueError, match=r"n_way = 2 but only 1 speaker_name value.*k_shot \+ q_query = 4"):
        SpeakerEpisodeSampler(samples, n_way=2, k_shot=2, q_query=2)


def test_another_task_key_defines_the_tasks():
    sampler = SpeakerEpisodeSampler(SAMPLES, n_way=3, k_shot=4, q_query=4, task_key="emotion_name", episodes=3)
    for episode in sampler:
        values = [{SAMPLES[i]["emotion_name"] for i in s + q} for s, q in episode]
        assert all(len(v) == 1 for v in values) and len({v.pop() for v in values}) == 3
    with pytest.raises(KeyError, match="language"):
        SpeakerEpisodeSampler(SAMPLES, 2, 2, 2, task_key="language")


def test_meta_batches_and_collate_cut_tasks_back_out():
    sampler = SpeakerEpisodeSampler(SAMPLES, n_way=2, k_shot=3, q_query=1, seed=0, episodes=6)
    batches = list(MetaBatchSampler(sampler, tasks_per_step=3, steps=4))
    assert len(batches) == 4 and all(len(b) == 3 * 4 for b in batches)
    collate = EpisodeCollate(lambda items: [item["audio_file"] for item in items], k_shot=3, q_query=1)
    tasks = collate([SAMPLES[i] for i in batches[0]])["tasks"]
    assert len(tasks) == 3 and all(len(s) == 3 and len(q) == 1 for s, q in tasks)


def test_split_by_task_holds_out_whole_speakers():
    train, held = split_by_task(SAMPLES, "speaker_name", count=2, seed=0)
    assert len({s["speaker_name"] for s in held}) == 2
    assert not {s["speaker_name"] for s in train} & {s["speaker_name"] for s in held}
    train, held = split_by_task(SAMPLES, "speaker_name", eval_tasks=["spk3"])
    assert {s["speaker_name"] for s in held} == {"spk3"}
    with pytest.raises(ValueError, match="meta.eval_tasks: nobody"):
        split_by_task(SAMPLES, "speaker_name", eval_tasks=["nobody"])


def test_one_rule_holds_out_tasks_for_recipes_training_and_meta_validation():
    from coqui_meta.models.validation_split import meta_validation_split
    from coqui_meta.seeds import draw

    samples = make_samples({"thin": 3, **{f"spk{i}": 6 for i in range(6)}})
    chosen = held_out_tasks(samples, "speaker_name", count=2, seed=5, needed=4)
    eligible = sorted(f"spk{i}" for i in range(6))  # "thin" has too few clips to form a task of 4
    assert chosen == sorted(draw(5, "held-out tasks").sample(eligible, 2))
    train, held = split_by_task(samples, "speaker_name", count=2, seed=5, needed=4)
    assert sorted({s["speaker_name"] for s in held}) == chosen and len(train) + len(held) == len(samples)
    with pytest.raises(ValueError, match="cannot hold out 6 speaker_name values .* the data has 6 with 4 samples"):
        held_out_tasks(samples, "speaker_name", count=6, needed=4)

    class Meta:  # a Coqui eval split that shares every speaker with training: meta-validation re-splits by the rule
        task_key, k_shot, q_query, n_way, seed = "speaker_name", 3, 1, 2, 5

    shared = [s for s in samples if s["audio_file"].endswith("/0.wav")]
    rest = [s for s in samples if s not in shared]
    _, meta_held, note = meta_validation_split(rest, shared, Meta)
    assert sorted({s["speaker_name"] for s in meta_held}) == chosen and "chosen by meta.seed" in note


def test_meta_batches_are_keyed_by_global_step_so_a_resumed_epoch_matches():
    def sampler():
        return MetaBatchSampler(SpeakerEpisodeSampler(SAMPLES, 4, 2, 1, seed=3), tasks_per_step=2, steps=5)

    straight = sampler()
    uninterrupted = list(straight) + list(straight)  # epochs 0 and 1: steps 0..9
    assert len(uninterrupted) == 10 and uninterrupted[0] != uninterrupted[5]
    resumed = sampler()
    resumed.set_position(step=7, epoch=1)  # a checkpoint after step 6, in epoch 1
    assert len(resumed) == 3 and list(resumed) == uninterrupted[7:]
    at_boundary = sampler()
    at_boundary.set_position(step=5, epoch=0)  # checkpoint after the last step of epoch 0
    assert len(at_boundary) == 0 and list(at_boundary) == [] and list(at_boundary) == uninterrupted[5:]
    fixed = MetaBatchSampler(SpeakerEpisodeSampler(SAMPLES, 4, 2, 1, seed=3, fixed=True), tasks_per_step=2, steps=3)
    assert list(fixed) == list(fixed), "meta-validation batches repeat"
