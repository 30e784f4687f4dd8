"""How a benchmark, a script or one of their worker processes starts: a thread count of its own (two busy processes
with two threads each made steps 5 to 10 times slower on 2 cores), the Trainer's and Coqui's logging above warnings
only, and no warning at every clip torchaudio 2.8 reads (it announces a change of ``load()`` in 2.9 that nothing here
depends on; ``everything=True`` silences every warning, for studies that print tables only).

    quiet(args.threads)
"""

from __future__ import annotations


def quiet(threads: int = 1, everything: bool = False) -> None:
    import logging
    import warnings

    import torch

    torch.set_num_threads(threads)
    logging.disable(logging.WARNING)
    if everything:
        warnings.filterwarnings("ignore")
    else:
        warnings.filterwarnings("ignore", message="In 2.9, this function's implementation")  # torchaudio.load
