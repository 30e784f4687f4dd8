"""Learning from clips: a new voice, language or style from a few clips (`from_clips` is the one skeleton;
`new_voice`, `new_language`, `new_style` fill it in), where a d-vector voice starts (`d_vector_voice`, `encoders`,
`embed`) and how it is written for stock Coqui (`voice_folder`, `delta`). Built on the training library and the
formats; it never judges or reports."""
