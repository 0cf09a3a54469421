"""Quality evaluation (evaluate.py): plan (what is compared, from the options), sources (a model or the
oracle), ground_truth, geometry (model frame vs ground-truth frame), measure (one frame's metrics and the
means), metrics (their definitions), oracle, report (CSV, JSON, plots, page)."""
