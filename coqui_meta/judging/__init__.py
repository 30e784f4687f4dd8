"""Judging: the independent judges (`speaker_judge`, `style_judge`, `pitch`), what one evaluation heard
(`judgement`), and the two measurements built on them: adaptation curves on unseen tasks (`evaluation`, the
``coqui-meta evaluate`` command) and whether a model speaks its own training voices (`identity`)."""
