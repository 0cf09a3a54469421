"""summary.json of a test.py run: what was rendered and, per phase, the alignment or the held-out PSNR.

JSON has no infinity or NaN (json.dumps would write the non-standard Infinity / NaN that strict readers
reject), so non-finite numbers are written as evaluate.py writes them: +-inf as the strings "inf" / "-inf"
(a held-out frame rendered exactly has PSNR inf, and so has the mean), NaN as null.
"""
import json
import math
import os

from util.image import write_atomic


def json_value(value):
    """value with its non-finite floats, at any depth of dicts and lists, replaced by "inf", "-inf" or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ('inf' if value > 0 else '-inf')
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    return value


def write_summary(folder, opt, source, working):
    """Write folder/summary.json; returns the summary (numbers as computed, inf included)."""
    summary = {'phase': opt.phase, 'checkpoint': opt.which_epoch, 'frames': len(source),
               'working_size': list(working), **source.summary()}
    write_atomic(os.path.join(folder, 'summary.json'), json.dumps(json_value(summary), indent=1, allow_nan=False))
    return summary
