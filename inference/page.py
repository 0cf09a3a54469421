"""index.html of a test.py run: links to the videos, the alignment or PSNR, and a subset of frames."""
import os

from dominate import tags

from util.html import HTML


def write_page(folder, opt, source, rows, summary):
    """rows: (frame name, [image paths relative to folder, one per panel and the output]); returns the page path."""
    page = HTML(folder, f'{opt.name}: {opt.phase}, checkpoint {opt.which_epoch}')
    page.doc.add(tags.p(tags.a('video.mp4', href='video.mp4'), ' | ',
                        tags.a('side_by_side.mp4', href='side_by_side.mp4'),
                        f' ({len(source)} frames, {summary["fps"]:g} fps'
                        + (f', audio of {summary["driving_video"]["path"]}' if summary.get('driving_video', {})
                           .get('audio') else '') + ')'))
    if 'alignment' in summary:
        info = summary['alignment']
        page.add_header(f'alignment: {info["mode"]}' + (f', scale {info["scale"]}, dx {info["dx"]}, dy {info["dy"]}'
                                                         if 'scale' in info else ''))
        if 'driving' in info:
            keys = ('height', 'floor', 'far', 'near', 'centre_x', 'torso')
            page.add_table([[name] + [info[name][k] for k in keys] for name in ('driving', 'target')],
                           header=['poses'] + list(keys))
    if summary.get('psnr') is not None:
        page.add_header(f'PSNR output vs real: {summary["psnr"]:.2f} dB (mean over {len(source)} frames)')
    if opt.bg_path:
        page.add_images([os.path.join('images', 'background.png')], [f'background: {opt.bg_path}'])
    captions = source.panel_names + ['output']
    for name, paths in rows:
        page.add_header(name, level=4)
        page.add_images(paths, captions)
    return page.save()
