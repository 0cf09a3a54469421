"""A tiny static HTML page of image rows and tables, written with dominate.

    page = HTML('checkpoints/run/web', 'run')
    page.add_header('epoch 3, iteration 1200')
    page.add_images(['images/a.png', 'images/b.png'], ['input', 'output'])
    page.add_table([[1200, 0.51]], header=['iteration', 'G_gan'])
    page.save()                     # -> checkpoints/run/web/index.html

Image paths are relative to ``web_dir``; images are expected in ``web_dir/images/``.
"""
import os

import dominate
from dominate import tags

from util.io import write_atomic

IMAGE_DIR = 'images'


class HTML:
    def __init__(self, web_dir, title, refresh=0):
        """refresh > 0 makes the browser reload the page every ``refresh`` seconds."""
        self.web_dir = web_dir
        self.image_dir = os.path.join(web_dir, IMAGE_DIR)
        self.title = title
        self.doc = dominate.document(title=title)
        with self.doc.head:
            tags.meta(charset='utf-8')
            if refresh > 0:
                tags.meta(http_equiv='refresh', content=str(int(refresh)))
            tags.style('body { font-family: sans-serif; } '
                       'td { text-align: center; vertical-align: top; padding: 4px; } '
                       'td p { margin: 2px; word-break: break-all; } '
                       'table.metrics td, table.metrics th { border: 1px solid #999; padding: 2px 8px; }')
        self.doc.add(tags.h1(title))

    def add_header(self, text, level=3):
        if level not in range(1, 7):
            raise ValueError(f'header level must be 1..6, got {level}')
        self.doc.add(getattr(tags, f'h{level}')(text))

    def add_images(self, paths, captions, links=None, width=256):
        """One table row of images with a caption under each; each image links to ``links[i]``
        (default: the image itself, to see it at full size). Paths are relative to web_dir."""
        links = paths if links is None else links
        if not len(paths) == len(captions) == len(links):
            raise ValueError(f'add_images got {len(paths)} paths, {len(captions)} captions and '
                             f'{len(links)} links; they must match one to one')
        row = tags.tr()
        for path, caption, link in zip(paths, captions, links):
            row.add(tags.td(
                tags.a(tags.img(src=_url(path), style=f'width: {int(width)}px'), href=_url(link)),
                tags.p(str(caption))))
        self.doc.add(tags.table(row, cls='images'))

    def add_table(self, rows, header=None):
        """A table of values (e.g. metrics); floats are shown with 4 significant digits."""
        table = tags.table(cls='metrics')
        if header is not None:
            table.add(tags.tr([tags.th(str(h)) for h in header]))
        for row in rows:
            table.add(tags.tr([tags.td(_cell(value)) for value in row]))
        self.doc.add(table)

    def render(self):
        return self.doc.render()

    def save(self):
        """Write web_dir/index.html atomically (readers never see a half-written page)."""
        os.makedirs(self.image_dir, exist_ok=True)
        path = os.path.join(self.web_dir, 'index.html')
        write_atomic(path, self.render())
        return path


def _url(path):
    return str(path).replace(os.sep, '/')


def _cell(value):
    if isinstance(value, float):
        return f'{value:.4g}'
    return str(value)
