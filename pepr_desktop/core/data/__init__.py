"""Datasets: where they come from (MedMNIST, .npz, image folders, the sample), the registry of
imported ones, previews."""
