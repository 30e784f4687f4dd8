"""Voice tooling: loading checkpoints, checking clips, learning a new voice (`adaptation`), measuring it
(`evaluation`, `judge`, `identity`, `report`, `compare`) and writing it for stock Coqui (`new_voice`, `delta`,
`embed`). It builds on the training library (configs, models, the inner loop) and nothing in that library imports it."""
