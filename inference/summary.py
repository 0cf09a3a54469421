"""summary.json of a test.py run: what was rendered and, per phase, the alignment or the held-out PSNR.

JSON has no infinity or NaN (json.dumps would write the non-standard Infinity / NaN that strict readers
reject), so non-finite numbers are written as evaluate.py writes them: +-inf as the strings "inf" / "-inf"
(a held-out frame rendered exactly has PSNR inf, and so has the mean), NaN as null.
"""
import json
import os

from util.io import write_atomic
from util.output import json_safe


def write_summary(folder, opt, source, working, output):
    """Write folder/summary.json; returns the summary (numbers as computed, inf included). working: (H, W);
    output: the run's OutputFormat (output size, fps, driving video)."""
    summary = {'phase': opt.phase, 'checkpoint': opt.which_epoch, 'frames': len(source),
               'working_size': list(working), **output.summary(), **source.summary()}
    write_atomic(os.path.join(folder, 'summary.json'), json.dumps(json_safe(summary), indent=1, allow_nan=False))
    return summary
