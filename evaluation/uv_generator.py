"""The UV generator's validation during pre-training: part accuracy and UV error per dataset and pooled
(definitions in models/trans_model.py), summed over ranks, logged, and shown as a table on the page."""
import os
import re

from data.multi_dataset import POOLED
from models.trans_model import METRICS, add_sums, metrics_from_sums
from util.distributed import average_scalars
from util.html import HTML, IMAGE_DIR
from util.visualizer import Visualizer, image_file_name

VAL_LINE = re.compile(r'^\(phase: val, epoch: (\d+), iters: (\d+)[^)]*\)(.*)$')
VAL_VALUE = re.compile(r' (\S+): (\S+)')


def evaluate(model, loader, device, world_size, with_visuals=False):
    """(metrics, sums, visuals) of one dataset: metrics pooled over every pixel of every rank's frames
    (see models/trans_model.py), the summed counts behind them, and (with_visuals, on this rank) the
    images of the first frame."""
    sums, visuals = {}, {}
    for batch in loader:
        batch_sums, data, result = model.evaluate_batch(batch)
        add_sums(sums, batch_sums)
        if with_visuals and not visuals:
            visuals = model.visuals(data, result)
    sums = sum_over_ranks(sums, device, world_size)
    return metrics_from_sums(sums), sums, visuals


def sum_over_ranks(sums, device, world_size):
    keys = ('frames', 'pixels', 'correct', 'person_pixels', 'person_correct', 'uv_abs')
    local = {key: sums.get(key, 0.0) for key in keys}
    return {key: value * world_size for key, value in average_scalars(local, device).items()}


def evaluate_all(model, loaders, names, device, world_size, with_visuals=False):
    """Metrics per dataset and pooled over all of them ('all'), plus visuals named '<dataset>_<image>'."""
    results, pooled, visuals = {}, {}, {}
    for name, loader in zip(names, loaders):
        metrics, sums, images = evaluate(model, loader, device, world_size, with_visuals)
        results[name] = metrics
        add_sums(pooled, sums)
        visuals.update({f'val_{name}_{key}': image for key, image in images.items()})
    results[POOLED] = metrics_from_sums(pooled)
    return results, visuals


def flatten_metrics(results):
    """{'all': m, 'A': m, ...} -> {'part_acc': ., ..., 'A/part_acc': ., ...} for loss_log.txt."""
    flat = {key: results[POOLED][key] for key in METRICS}
    if len(results) > 2:    # the pooled values already are the only dataset's
        for name, metrics in results.items():
            if name != POOLED:
                flat.update({f'{name}/{key}': metrics[key] for key in METRICS})
    return flat


def format_metrics(metrics):
    return (f'frames {metrics["frames"]}, part_acc {metrics["part_acc"]:.4f}, '
            f'part_acc_person {metrics["part_acc_person"]:.4f}, uv_error {metrics["uv_error"]:.4f}')


class PretrainVisualizer(Visualizer):
    """The Visualizer with a validation table (epoch x dataset -> METRICS) at the top of the page.

    The table is rebuilt from loss_log.txt's val lines, so a resumed run keeps its earlier rows."""

    def __init__(self, run_dir, names, **kwargs):
        self.names = names
        self.metric_rows = {}       # epoch -> (iteration, {dataset: {metric: value}})
        super().__init__(run_dir, **kwargs)
        if self.enabled and os.path.exists(self.log_path):
            self.metric_rows = self._rows_from_log()

    def add_metrics(self, results, epoch, iteration):
        """Log one val line and put the epoch's results on the page."""
        self.log_losses(flatten_metrics(results), epoch, iteration, phase='val')
        self.metric_rows[epoch] = (iteration, {name: dict(m) for name, m in results.items()})
        if self.enabled:
            self._write_index()

    def _rows_from_log(self):
        rows = {}
        with open(self.log_path, encoding='utf-8') as handle:
            for line in handle:
                match = VAL_LINE.match(line.strip())
                if not match:
                    continue
                table = {}
                for key, value in VAL_VALUE.findall(match.group(3)):
                    name, _, metric = key.rpartition('/')
                    table.setdefault(name or POOLED, {})[metric] = float(value)
                rows[int(match.group(1))] = (int(match.group(2)), table)
        return rows

    def _write_index(self):
        page = HTML(self.web_dir, os.path.basename(os.path.normpath(self.run_dir)))
        if self.metric_rows:
            page.add_header('validation (part accuracy over all pixels and over DensePose body pixels; '
                            'UV error: mean |U, V difference| in [0, 1] on body pixels)')
            rows = []
            for epoch, (iteration, table) in sorted(self.metric_rows.items(), reverse=True):
                if len(self.names) == 1:         # the pooled values are the one dataset's
                    labelled = [(self.names[0], table.get(POOLED))]
                else:
                    labelled = [(name, table.get(name)) for name in self.names + [POOLED]]
                rows += [[epoch, iteration, name] + [metrics.get(key, '') for key in METRICS]
                         for name, metrics in labelled if metrics]
            page.add_table(rows, header=['epoch', 'iteration', 'dataset', *METRICS])
        for epoch, iteration, names in reversed(self._steps):
            page.add_header(f'epoch {epoch}, iteration {iteration}')
            paths = [f'{IMAGE_DIR}/{image_file_name(epoch, iteration, name)}' for name in names]
            page.add_images(paths, names, width=self.image_width)
        page.save()
