"""The preparation, step by step: frames, masks, optical flow, background plate, texture, check.

Every step skips what is already done and valid, so a rerun (after a kill, or after adding DensePose
or OpenPose output) continues where the last run stopped. What each step did goes to the console and
to DATA/prepare_log.txt. Nothing is deleted: a file this tool replaces is moved into
DATA/replaced-<time>/ first.
"""
import os
from dataclasses import dataclass

from data.check import check_dataset, format_summary
from data.layout import KNOWN_FOLDERS, index_dataset, list_images
from data.pairing import in_number_order
from data.prepare import instructions
from data.prepare.background import background_plate
from data.prepare.errors import PrepareError
from data.prepare.files import SetAside, flo_ok, image_ok, remove_temp_files, write_image
from data.prepare.flow import METHODS, compute_flows
from data.prepare.frames import (Resizer, check_one_size, extract, frame_name, name_digits, open_existing,
                                 open_folder, open_video)
from data.prepare.masks import make_masks
from data.prepare.state import State
from data.prepare.texture import texture_atlas

EXIT_OK, EXIT_PROBLEMS, EXIT_REFUSED = 0, 1, 2


@dataclass
class Options:
    out: str
    video: str = None
    frames_dir: str = None
    size: tuple = None          # (H, W): scale to cover, centre crop
    long_side: int = None
    fps: float = None
    start: float = None         # seconds (video) or 1-based frame number (frames folder)
    end: float = None
    flow: str = 'dis'
    workers: int = None
    overwrite: bool = False
    tex_size: int = 200
    bg_frames: int = 120
    quality: int = 95
    progress: bool = True


def _size_text(size):
    return f'{size[1]}x{size[0]}'


def _differences(previous, record):
    """'fps None -> 12.5, size [256, 256] -> [128, 128]': what differs between two frame records ('' if nothing)."""
    def flat(record):
        items = {}
        for key, value in record.items():
            if isinstance(value, dict):
                items.update({f'{key}.{sub}': v for sub, v in value.items()})
            else:
                items[key] = value
        return items
    old, new = flat(previous), flat(record)
    if new.get('source.kind') == 'video':       # a video is known by its content: moving it is no change
        old.pop('source.path', None)
        new.pop('source.path', None)
    names = {'source.path': 'source', 'source.bytes': 'source file size', 'source.sha1_ends': 'source file content',
             'source.names': 'first/last frame', 'source.count': 'frame count'}
    changes = [f'{names.get(key, key.replace("source.", ""))} {old.get(key)} -> {new.get(key)}'
               for key in sorted(set(old) | set(new)) if key in new and old.get(key) != new.get(key)]
    return ', '.join(changes)


def validate(opts):
    """Option combinations that cannot work; raises PrepareError before anything is touched."""
    if opts.video and opts.frames_dir:
        raise PrepareError('pass either --video or --frames_dir, not both')
    if opts.size and opts.long_side:
        raise PrepareError('pass either --size H W or --long_side N, not both')
    if opts.size and min(opts.size) < 16 or opts.long_side is not None and opts.long_side < 16:
        raise PrepareError('the output size must be at least 16 pixels per side')
    if opts.fps is not None and (opts.fps <= 0 or not opts.video):
        raise PrepareError('--fps needs a --video and a positive rate')
    if opts.start is not None and opts.start < 0 or opts.end is not None and opts.end <= (opts.start or 0):
        raise PrepareError(f'need 0 <= --start < --end, got --start {opts.start} --end {opts.end}')
    if opts.flow not in METHODS:
        raise PrepareError(f'--flow must be one of {METHODS}')
    name = os.path.basename(os.path.normpath(os.path.abspath(opts.out)))
    if name in KNOWN_FOLDERS:
        raise PrepareError(f'{opts.out}: the dataset folder may not be named "{name}" (its frames folder '
                           f'DATA/{name}/ would be the layout\'s {name}/ folder); choose another --out')
    if os.path.exists(opts.out) and not os.path.isdir(opts.out):
        raise PrepareError(f'{opts.out}: exists and is not a folder; choose another --out')


class Preparation:
    def __init__(self, opts, echo=print):
        validate(opts)
        self.opts = opts
        self.echo = echo
        self.root = opts.out
        self.name = os.path.basename(os.path.normpath(os.path.abspath(opts.out)))
        self.frames_dir = os.path.join(self.root, self.name)
        self.state = None
        self.pairing_notes = []     # said before the long steps
        self.aside = SetAside(self.root)
        # outputs computed from the frames (flow, bg.jpg, texture.jpg) are redone with --overwrite, and
        # when the frames were extracted anew from another source or with other settings
        self.redo_derived = opts.overwrite

    def say(self, message):
        self.echo(message)
        if self.state is not None:
            self.state.log(message)

    def folder(self, name):
        return os.path.join(self.root, name)

    def open_state(self):
        self.state = State(self.root)
        folders = [self.root] + [self.folder(name) for name in (self.name, 'flow', 'flow_inv', 'mask')]
        removed = remove_temp_files(folders)
        if removed:
            self.say(f'removed {removed} temporary files left by an interrupted run')

    # -- frames ---------------------------------------------------------------------------------
    def open_source(self):
        opts = self.opts
        if opts.video:
            return open_video(opts.video, opts.fps, opts.start, opts.end)
        in_place = not opts.frames_dir or os.path.abspath(opts.frames_dir) == os.path.abspath(self.frames_dir)
        if in_place:
            if opts.size or opts.long_side or opts.start is not None or opts.end is not None:
                raise PrepareError(f'--size/--long_side/--start/--end need --video or --frames_dir; the frames in '
                                   f'{self.frames_dir} are used as they are')
            return open_existing(self.frames_dir)
        return open_folder(opts.frames_dir, opts.start, opts.end)

    def _refuse_frames(self, existing, source, reason):
        count = source.count()
        counts = (f'{self.frames_dir} holds {len(existing)} frames, {source.path} gives {count}'
                  + (f' (with --fps {self.opts.fps})' if self.opts.fps else ''))
        raise PrepareError(f'{counts}; {reason}. Refusing to mix them (nothing was changed). Pass --overwrite to '
                           f're-extract (the old files are moved to {self.root}/replaced-<time>/, nothing is '
                           f'deleted) or choose another --out.')

    def frames(self):
        """Decide about the frames (may refuse before anything is written); -> frame paths."""
        opts = self.opts
        source = self.open_source()
        if source.kind == 'existing':
            self.open_state()
            self.say(f'frames: using the {len(source.paths)} frames in {self.frames_dir} as they are '
                     f'({_size_text(source.size)})')
            return source.paths
        resizer = Resizer(source.size, opts.size, opts.long_side)
        record = {'source': source.signature, 'size': list(resizer.out), 'quality': opts.quality,
                  'resize': {'size': list(opts.size) if opts.size else None, 'long_side': opts.long_side}}
        existing = list_images(self.frames_dir) if os.path.isdir(self.frames_dir) else []
        previous = State(self.root).frames if os.path.isdir(self.root) else None
        same = previous is not None and not _differences(previous, record)
        if existing and not opts.overwrite:
            if previous is not None and not same:
                self._refuse_frames(existing, source, f'they were made by an earlier run with other settings '
                                    f'({_differences(previous, record)})')
            if previous is None:
                if source.count() != len(existing):
                    self._refuse_frames(existing, source, 'a different number of frames')
                size = check_one_size(self.frames_dir, [os.path.join(self.frames_dir, n) for n in existing])
                if size != resizer.out:
                    raise PrepareError(f'{self.frames_dir}: its frames are {_size_text(size)}, this run would make '
                                       f'{_size_text(resizer.out)}; refusing to mix them (nothing was changed). '
                                       'Pass --overwrite to re-extract or choose another --out.')
        os.makedirs(self.frames_dir, exist_ok=True)
        self.open_state()
        if opts.overwrite and existing:
            for name in existing:
                self.aside.move(os.path.join(self.frames_dir, name))
            self.say(f'frames: --overwrite: moved the {len(existing)} old frames to {self.aside.folder}')
            existing, previous, same = [], None, False
        if existing and previous is None:
            self.state.set_frames({**record, 'digits': None, 'count': len(existing), 'adopted': True})
            self.say(f'frames: kept the {len(existing)} frames already in {self.frames_dir} (same count and size '
                     f'as {source.path})')
            return [os.path.join(self.frames_dir, name) for name in existing]
        if same and previous.get('adopted') and len(existing) == previous.get('count'):
            self.say(f'frames: kept the {len(existing)} frames already in {self.frames_dir} (skipped)')
            return [os.path.join(self.frames_dir, name) for name in existing]
        digits = previous.get('digits') if same and previous.get('digits') else name_digits(source.estimate)
        if same and previous.get('count'):
            expected = [frame_name(k, digits) for k in range(previous['count'])]
            paths = [os.path.join(self.frames_dir, name) for name in expected]
            if expected == existing and all(image_ok(path) for path in paths):
                self.say(f'frames: all {len(paths)} frames already extracted (skipped)')
                return paths
        if previous is not None and not same:
            self.redo_derived = True
            self.say('frames: extracting anew (other source or settings than the last run): flow, bg.jpg and '
                     'texture.jpg will be remade too')
        self.state.set_frames({**record, 'digits': digits, 'count': None})
        names, written, kept = extract(source, self.frames_dir, resizer, digits, opts.quality, opts.progress)
        self.state.set_frames({**record, 'digits': digits, 'count': len(names)})
        self.say(f'frames: {written} written, {kept} already there (skipped); {len(names)} frames '
                 f'{_size_text(resizer.out)} in {self.frames_dir}')
        return [os.path.join(self.frames_dir, name) for name in names]

    # -- pairing --------------------------------------------------------------------------------
    def check_pairing(self, count):
        """The dataset's files paired with the frames (data.layout); refuses before the long steps when
        a folder this tool does not remake (densepose/, openpose_json/, your mask/, ...) does not pair."""
        files = index_dataset(self.root)
        remade = [self.folder(kind) for kind in ('flow', 'flow_inv') + (('mask',) if self.state.made('mask') else ())]
        checked = [note for note in files.notes if note.split(': ', 1)[0] not in remade]
        problems = [problem for problem in files.problems
                    if not problem.startswith(tuple(folder + end for folder in remade for end in (':', os.sep)))]
        for note in checked:
            self.say(f'pairing: {note}')
        self.pairing_notes = checked
        if problems:
            listed = '\n'.join(f'  - {problem}' for problem in problems)
            raise PrepareError(f'files made elsewhere do not pair with the {count} frames of {self.frames_dir}:\n'
                               f'{listed}\nComplete or rename them (or move them out of {self.root}), then rerun '
                               'this command; the frames are kept, nothing else was done.')
        return files

    # -- masks ----------------------------------------------------------------------------------
    def masks(self, frame_paths, files):
        mask_dir = self.folder('mask')
        if files.iuv is None:
            return
        ours = self.state.made('mask') is not None
        present = os.path.isdir(mask_dir) and list_images(mask_dir)
        if present and not ours and not self.opts.overwrite:
            self.say(f'masks: {mask_dir} exists and was not made by this tool: kept as it is')
            return
        if present and self.opts.overwrite:
            for name in present:
                self.aside.move(os.path.join(mask_dir, name))
            self.say(f'masks: --overwrite: moved the {len(present)} old masks to {self.aside.folder}')
        stems = [os.path.splitext(os.path.basename(path))[0] for path in frame_paths]
        mask_paths = [os.path.join(mask_dir, stem + '.png') for stem in stems]
        os.makedirs(mask_dir, exist_ok=True)
        self.state.set_made('mask', 'densepose part > 0, morphology')
        written, kept, skipped = make_masks(files.iuv, mask_paths, self.opts.progress)
        self.say(f'masks: {written} written from DensePose, {kept} already there (skipped)'
                 + (f', {len(skipped)} frames without a readable IUV (first: {skipped[0]})' if skipped else ''))

    # -- flow -----------------------------------------------------------------------------------
    def _flow_folder(self, kind, pairs, stems):
        """-> (.flo paths in pair order, whether they are the user's). Moves aside what cannot be kept."""
        folder = self.folder(kind)
        os.makedirs(folder, exist_ok=True)
        files = in_number_order(name for name in os.listdir(folder) if name.lower().endswith('.flo'))
        ours = [stem + '.flo' for stem in stems[:pairs]]
        made = self.state.made(kind)
        if files and self.redo_derived:
            for name in files:
                self.aside.move(os.path.join(folder, name))
            self.say(f'{kind}: redoing: moved {len(files)} old .flo files to {self.aside.folder}')
            files = []
        if files and made is None:
            if len(files) == pairs:
                return [os.path.join(folder, name) for name in files], True
            for name in files:
                self.aside.move(os.path.join(folder, name))
            self.say(f'{kind}: held {len(files)} .flo files not made by this tool, {pairs} are needed (one per '
                     f'pair of frames): moved them to {self.aside.folder}; computing the flow here')
        stray = sorted(set(files) - set(ours)) if made else []
        for name in stray:
            self.aside.move(os.path.join(folder, name))
        if stray:
            self.say(f'{kind}: moved {len(stray)} .flo files that match no frame pair to {self.aside.folder}')
        return [os.path.join(folder, name) for name in ours], False

    def flow(self, frame_paths, size):
        pairs = len(frame_paths) - 1
        stems = [os.path.splitext(os.path.basename(path))[0] for path in frame_paths]
        flow_paths, flow_users = self._flow_folder('flow', pairs, stems)
        inv_paths, inv_users = self._flow_folder('flow_inv', pairs, stems)
        method = self.opts.flow
        made = self.state.made('flow') or self.state.made('flow_inv')
        if made and made != method and not self.redo_derived:
            self.say(f'flow: the existing flow was computed with {made}; continuing with {made} '
                     f'(pass --overwrite to recompute everything with {method})')
            method = made

        def ok(path, users):
            return flo_ok(path) if users else flo_ok(path, size)

        jobs, redone = [], 0
        for k in range(pairs):
            forward = not ok(flow_paths[k], flow_users)
            backward = not ok(inv_paths[k], inv_users)
            for need, path in ((forward, flow_paths[k]), (backward, inv_paths[k])):
                if need and os.path.exists(path):
                    self.aside.move(path)
                    redone += 1
            if forward or backward:
                jobs.append((k, forward, backward))
        if flow_users or inv_users:
            users = ' and '.join(kind for kind, mine in (('flow/', flow_users), ('flow_inv/', inv_users)) if mine)
            self.say(f'flow: kept the {pairs} .flo files in {users} (not made by this tool, e.g. FlowNet2)')
        for kind, users in (('flow', flow_users), ('flow_inv', inv_users)):
            if not users and jobs:
                self.state.set_made(kind, method)
        written = compute_flows(frame_paths, jobs, flow_paths, inv_paths, method, self.opts.workers, self.opts.progress)
        self.say(f'flow: {pairs - len(jobs)} of {pairs} pairs already done (skipped), {len(jobs)} computed '
                 f'({written} .flo files written with {method}'
                 + (f'; {redone} unreadable .flo files moved to {self.aside.folder} and redone' if redone else '')
                 + ')')

    # -- background and texture -----------------------------------------------------------------
    def _plate_needed(self, path, what):
        if os.path.exists(path) and image_ok(path) and not self.redo_derived:
            self.say(f'{what}: {path} already there (skipped)')
            return False
        if os.path.exists(path):
            self.aside.move(path)
            self.say(f'{what}: moved the old {os.path.basename(path)} '
                     f'({"redoing" if self.redo_derived else "unreadable"}) to {self.aside.folder}')
        return True

    def background(self, frame_paths, files):
        path = self.folder('bg.jpg')
        if self.state.made('bg') == 'median' and files.mask is not None and os.path.exists(path):
            self.aside.move(path)
            self.say(f'background: masks are there now: remaking bg.jpg with them (the old plain median is in '
                     f'{self.aside.folder})')
        if not self._plate_needed(path, 'background'):
            return
        if files.mask is None:
            self.say('warning: background: no masks: bg.jpg is the plain temporal median of the frames, so the '
                     'person leaves a ghost where it stays long; once densepose/ (or your own mask/) is there, '
                     'rerun this command and bg.jpg is remade with masks')
        plate, info = background_plate(frame_paths, files.mask, self.opts.bg_frames, self.opts.progress)
        write_image(path, plate, self.opts.quality)
        how = 'masked median' if info['masked'] else 'median'
        self.state.set_made('bg', how)
        self.say(f'background: {path} written ({how} of {info["frames_used"]} frames; '
                 f'{100 * info["free_share"]:.1f}% of the pixels seen free in them, '
                 f'{100 * info["filled_share"]:.1f}% from other frames, '
                 f'{100 * info["inpainted_share"]:.1f}% never uncovered: inpainted)')

    def texture(self, frame_paths, files):
        path = self.folder('texture.jpg')
        if files.iuv is None or not any(files.iuv):
            return
        if not self._plate_needed(path, 'texture'):
            return
        atlas, seen = texture_atlas(frame_paths, files.iuv, self.opts.tex_size, self.opts.progress)
        write_image(path, atlas, self.opts.quality)
        self.state.set_made('texture', 'util.unfold.build_atlas')
        self.say(f'texture: {path} written ({self.opts.tex_size} px tiles, {100 * seen.mean():.1f}% of the '
                 'texels seen)')

    # -- all ------------------------------------------------------------------------------------
    def run(self):
        frame_paths = self.frames()
        if len(frame_paths) < 2:
            raise PrepareError(f'{self.frames_dir}: {len(frame_paths)} frame; a video dataset needs at least 2')
        size = check_one_size(self.frames_dir, frame_paths[:1])
        files = self.check_pairing(len(frame_paths))
        self.masks(frame_paths, files)
        self.flow(frame_paths, size)
        files = index_dataset(self.root)
        self.background(frame_paths, files)
        self.texture(frame_paths, files)
        return self.check(frame_paths)

    def check(self, frame_paths):
        summary, problems = check_dataset(self.root, progress=self.opts.progress)
        summary['notes'] = [note for note in summary['notes'] if note not in self.pairing_notes]   # said already
        self.echo(format_summary(summary))
        stems = [os.path.splitext(os.path.basename(path))[0] for path in frame_paths]
        external = [self.folder(name) for name in ('densepose', 'openpose_json')
                    if not os.path.isdir(self.folder(name))]
        if self.folder('densepose') in external:     # masks and texture are made from DensePose here
            external += [self.folder('mask'), self.folder('texture.jpg')]
        other = [problem for problem in problems if not any(problem.startswith(folder + ':') for folder in external)]
        blocks = instructions.missing_parts(self.root, self.frames_dir, stems)
        if blocks:
            self.echo('\nStill needed (made by other tools; then rerun this command):\n\n' + '\n\n'.join(blocks))
        if other:
            self.echo(f'{len(other)} problem{"s" if len(other) > 1 else ""}:')
            for problem in other:
                self.echo(f'  - {problem}')
            self.say('check: dataset has problems')
            return EXIT_PROBLEMS
        self.say('check: OK, no problems' + (' (apart from the missing DensePose / OpenPose output)' if blocks else ''))
        return EXIT_OK


def prepare(opts, echo=print):
    """Run the whole preparation; -> exit status (0 OK, 1 dataset problems). Raises PrepareError."""
    return Preparation(opts, echo).run()
