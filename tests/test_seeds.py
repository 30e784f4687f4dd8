"""One seed scheme (`coqui_meta.seeds`): a draw's seed depends on its base seed and keys alone, in any process."""

import os
import subprocess
import sys

from coqui_meta.seeds import TaskSeeds, derive, draw, training_task, validation_task


def test_a_derived_seed_is_the_same_in_another_process_and_python_hash_seed():
    """(Python's own ``hash`` of a string changes from process to process: a seed must not depend on it.)"""
    import coqui_meta.seeds

    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('seeds', %r); "
            "m = sys.modules['seeds'] = u.module_from_spec(s); s.loader.exec_module(m); "
            "print(m.derive(7, 'clips', 'spk0157'), m.derive(7, 'task', 3, 1))" % coqui_meta.seeds.__file__)
    here = [str(derive(7, "clips", "spk0157")), str(derive(7, "task", 3, 1))]
    for hash_seed in ("0", "1"):
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONHASHSEED": hash_seed}).stdout.split()
        assert other == here


def test_every_named_draw_has_its_own_seed_below_what_numpy_takes():
    seeds = [derive(0, "clips", "a"), derive(0, "clips", "b"), derive(1, "clips", "a"), training_task(0, 0, 1),
             training_task(0, 1, 0), validation_task(0, 1), *(TaskSeeds(5).support(step) for step in range(3)),
             TaskSeeds(5).query(), TaskSeeds(5).render(0)]
    assert len(set(seeds)) == len(seeds) and all(0 <= seed < 2**32 for seed in seeds)
    assert draw(3, "speakers").sample(range(100), 5) == draw(3, "speakers").sample(range(100), 5)
    assert TaskSeeds().support(0) is None and TaskSeeds().query() is None  # unseeded tasks stay unseeded


def test_evaluate_and_adapt_seed_a_voice_as_meta_validations_first_task():
    assert TaskSeeds.of_voice(4) == TaskSeeds(validation_task(4, 0)) != TaskSeeds.of_voice(5)
