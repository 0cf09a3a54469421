"""What this tool made in a dataset, and a log of what each run did or skipped.

DATA/prepare_state.json records the frames' source and settings (so a rerun with other settings is
refused instead of mixing two extractions) and which outputs this tool wrote (so files it did not
write, such as FlowNet2 flow or your own masks, are recognised as yours). DATA/prepare_log.txt gets
one line per step and run: written, skipped (already done and valid), redone (unreadable).
"""
import json
import os
import time

from util.io import write_atomic

STATE_NAME = 'prepare_state.json'
LOG_NAME = 'prepare_log.txt'
VERSION = 1


class State:
    def __init__(self, root):
        self.path = os.path.join(root, STATE_NAME)
        self.log_path = os.path.join(root, LOG_NAME)
        self.data = {'tool': 'prepare_dataset', 'version': VERSION, 'frames': None, 'made': {}}
        self._saved = None
        if os.path.isfile(self.path):
            try:
                with open(self.path, encoding='utf-8') as handle:
                    loaded = json.load(handle)
                if isinstance(loaded, dict) and loaded.get('tool') == 'prepare_dataset':
                    self.data.update(loaded)
                    self._saved = json.dumps(self.data, indent=1, sort_keys=True)
            except (OSError, ValueError):
                pass    # unreadable state: treated as absent (every output is still validated)

    @property
    def frames(self):
        return self.data.get('frames')

    def set_frames(self, record):
        self.data['frames'] = record
        self.save()

    def made(self, output):
        """How this tool made output ('flow', 'mask', 'bg', 'texture'), or None if it did not."""
        return self.data['made'].get(output)

    def set_made(self, output, how):
        if how is None:
            self.data['made'].pop(output, None)
        else:
            self.data['made'][output] = how
        self.save()

    def save(self):
        text = json.dumps(self.data, indent=1, sort_keys=True)
        if text != self._saved and os.path.isdir(os.path.dirname(self.path)):
            write_atomic(self.path, text)
            self._saved = text

    def log(self, message):
        with open(self.log_path, 'a', encoding='utf-8') as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
