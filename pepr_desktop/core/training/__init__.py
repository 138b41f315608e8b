"""One training run: its config, the loop, schedules, augmentation, early stopping, evaluation,
resume and the runner that records it in the store."""
