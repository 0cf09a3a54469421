"""Quality evaluation: metrics, the synthetic oracle, geometry between model and ground truth, reports."""
