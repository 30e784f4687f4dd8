"""Clip and file formats: the clips of a corpus checked before any work (`clips`), Coqui checkpoints and configs
(`checkpoints`), d-vector files, language tables, Coqui's speaker-encoder URLs and vocoders as Coqui names them.
Training and adaptation both read them; they know nothing of either."""
