from pepr_desktop.core.scoring.degenerate import MARGIN, run_verdict, verdict


def test_a_constant_predictor_is_named_with_its_class() -> None:
    v = verdict(confusion=[[0, 234], [0, 390]], class_names=["normal", "pneumonia"])
    assert v is not None and v.label == "predicts only 'pneumonia'" and "balanced" in v.fix


def test_chance_level_balanced_accuracy_is_flagged_and_a_model_is_not() -> None:
    # predicts both classes, but at chance: recalls 0.5 / 0.5 on a 2-class problem
    assert verdict(confusion=[[50, 50], [100, 100]]) is not None
    assert verdict(confusion=[[80, 20], [10, 90]]) is None
    assert verdict(bacc=0.5 + MARGIN + 0.01, confusion=[[60, 40], [40, 60]]) is None


def test_stored_runs_without_evaluation_use_test_bacc() -> None:
    assert run_verdict({"test_bacc": 0.51, "n_classes": 2}) is not None
    assert run_verdict({"test_bacc": 0.9, "n_classes": 2}) is None
    assert run_verdict({"test_bacc": None}) is None
    stored = {"evaluation": {"confusion": [[0, 5], [0, 9]], "class_names": ["a", "b"]}}
    assert run_verdict(stored).label == "predicts only 'b'"
