"""evaluate.py's results folder: metrics.json, per_frame.csv, plots of the metrics over time (matplotlib),
the best and worst frames by PSNR, and index.html showing all of them."""
import csv
import io
import json
import math
import os
import re

import cv2
import numpy as np
from dominate import tags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from util.html import HTML
from util.image import save_image
from util.io import write_atomic
from util.output import json_safe, remove_own_files

OWN_FILE = re.compile(r'^((best|worst)_\d+|plot_[a-z_]+|frame\d+)\.png$')
ERROR_GAIN = 4
PLOTS = (('psnr', 'PSNR (dB)', ('psnr', 'psnr_person', 'psnr_background', 'psnr_dynamic')),
         ('ssim', 'SSIM', ('ssim',)),
         ('lpips', 'LPIPS', ('lpips',)),
         ('warp_error', 'temporal warping error ([0, 1] units)', ('warp_error', 'warp_error_gt')),
         ('parts', 'UV generator vs DensePose', ('part_acc', 'part_acc_person', 'uv_error')))


def prepare_folder(folder):
    """Remove the images and frames a previous evaluation wrote here; create images/."""
    remove_own_files(folder, ('images', 'frames'), OWN_FILE)
    os.makedirs(os.path.join(folder, 'images'), exist_ok=True)


def write_csv(path, rows, columns):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(['frame', 'file'] + list(columns))
    for row in rows:
        cells = [row['frame'], row['file']]
        for name in columns:
            value = row.get(name, float('nan'))
            cells.append('' if math.isnan(value) else ('inf' if math.isinf(value) else f'{value:.6g}'))
        writer.writerow(cells)
    write_atomic(path, buffer.getvalue())


def plot_series(path, title, x, series, size=(300, 900)):
    """A line plot of series = [(label, values)] over x (frame numbers), size (H, W) in pixels; NaN
    breaks a line, +inf is drawn on the top edge. Writes a png."""
    figure = Figure(figsize=(size[1] / 100, size[0] / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, loc='left', fontsize=10)
    finite = np.concatenate([np.asarray(v, np.float64)[np.isfinite(v)] for _, v in series] + [np.zeros(0)])
    if not len(finite) or not len(x):
        axes.set_axis_off()
        axes.text(0.5, 0.5, 'no finite values', ha='center', va='center', color='0.35')
    else:
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
        for label, values in series:
            values = np.asarray(values, np.float64)
            shown = np.where(values == np.inf, hi, np.where(values == -np.inf, np.nan, values))
            axes.plot(x, shown, label=label, linewidth=1, marker='.', markersize=3)
        axes.set_ylim(lo, hi)
        axes.set_xlim(min(x), max(x) if max(x) > min(x) else min(x) + 1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel('frame', fontsize=9)
        axes.tick_params(labelsize=8)
        axes.grid(True, color='0.9')
        axes.legend(loc='lower right', bbox_to_anchor=(1.0, 1.0), ncol=len(series), fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    write_atomic(path, buffer.getvalue())


def write_plots(folder, rows, columns):
    """images/plot_<name>.png of the metrics in columns; returns [(path, title)]."""
    written = []
    x = [row['frame'] for row in rows]
    for name, title, metrics in PLOTS:
        present = [m for m in metrics if m in columns]
        if not present:
            continue
        path = os.path.join('images', f'plot_{name}.png')
        plot_series(os.path.join(folder, path), title, x,
                    [(m, [row.get(m, float('nan')) for row in rows]) for m in present])
        written.append((path, title))
    return written


def error_image(real, output):
    """|real - output| (channel mean) x ERROR_GAIN as an inferno colour map, uint8 RGB."""
    diff = np.abs(real.astype(np.int16) - output.astype(np.int16)).mean(2) * ERROR_GAIN
    grey = np.clip(diff, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def write_extremes(folder, ranked, count):
    """images/best_k.png, worst_k.png of ranked [(psnr, t, real, output)]: real | output | error;
    returns [(path, caption)]."""
    ordered = sorted(ranked, key=lambda item: (item[0], item[1]))
    worst, best = ordered[:count], ordered[::-1][:count]
    written = []
    for kind, items in (('best', best), ('worst', worst)):
        for k, (value, t, real, output) in enumerate(items, 1):
            path = os.path.join('images', f'{kind}_{k}.png')
            save_image(os.path.join(folder, path), np.concatenate([real, output, error_image(real, output)], 1))
            caption = f'{kind} {k}: frame {t + 1}, PSNR {value:.2f} dB (real | output | error x{ERROR_GAIN})'
            written.append((path, caption))
    return written


def describe_geometry(info):
    def size(hw):
        return f'{hw[1]}x{hw[0]}'
    text = (f"frames {size(info['frame_size'])} compared at {size(info['eval_size'])} ({info['mode']}); model frame "
            f"{size(info['model_working_size'])}")
    align = info['alignment']
    if align['mode'] == 'off':
        offset = info['offset_in_model_frame']
        return text + (f', placed at row {offset[0]}, column {offset[1]}' if any(offset) else '') + '; no alignment'
    return text + f"; alignment {align['mode']}: scale {align.get('scale')}, dx {align.get('dx')}, dy {align.get('dy')}"


def write_page(folder, title, report, plots, extremes):
    page = HTML(folder, title)
    page.add_header('settings', level=4)
    settings = [['dataset', report['dataset']], ['phase', f"{report['phase']} (frames {report['frame_range'][0]}"
                                                          f"..{report['frame_range'][1]}, {report['frames']} frames)"],
                ['evaluated', report['evaluated']], ['geometry', describe_geometry(report['geometry'])],
                ['LPIPS', report['lpips_status']]]
    if 'align' in report:
        settings.append(['alignment', report['align']])
    page.add_table(settings)
    page.add_header('means over frames (part / UV metrics pooled over pixels)', level=4)
    page.add_table([[name, value, report['measured_frames'].get(name, 0)] for name, value in report['mean'].items()],
                   header=['metric', 'mean', 'frames'])
    for path, caption in plots:
        page.add_images([path], [caption], width=900)
    for path, caption in extremes:
        page.add_images([path], [caption], width=3 * 256)
    page.doc.add(tags.p(tags.a('metrics.json', href='metrics.json'), ' | ',
                        tags.a('per_frame.csv', href='per_frame.csv')))
    return page.save()


def write_report(folder, title, report, rows, columns, ranked, show_frames):
    """Everything above into folder; returns the page's path."""
    write_atomic(os.path.join(folder, 'metrics.json'), json.dumps(json_safe(report), indent=1))
    write_csv(os.path.join(folder, 'per_frame.csv'), rows, columns)
    plots = write_plots(folder, rows, columns)
    extremes = write_extremes(folder, ranked, show_frames)
    return write_page(folder, title, report, plots, extremes)
