"""Pair one folder's per-frame files with a video's frames: by name, else by frame number.

Tools name their outputs their own way:

    frame00001.jpg  <->  openpose_json/frame00001_keypoints.json         by name (OpenPose on a frames folder)
    frame00001.jpg  <->  openpose_json/dance_000000000000_keypoints.json  by number (OpenPose on a video:
                                                                          12 digits, counted from 0)
    frame00001.jpg  <->  densepose/frame00000_IUV.png                    by number (frames of another
                                                                          extraction, counted from 0)

The rule (``pair_files``): when every frame has a file named after it (its stem plus one of the kind's
suffixes), that is the pairing. Otherwise, when the folder holds exactly one file of the kind per
frame, the k-th file in frame-number order pairs with the k-th frame, provided file number - frame
number is the same for every pair (when both are numbered); a note says how they were paired. Else
the pairing fails, naming the frames without a file. A name's frame number is the last number in it;
frame-number order is natural order (``_9_`` before ``_10_``).
"""
import os
import re
from dataclasses import dataclass

LISTED = 5          # frames or files named in a problem before "and N more"
_DIGITS = re.compile(r'(\d+)')


def natural_key(name):
    """Sort key putting numbers in a name in numeric order: frame9.jpg before frame10.jpg."""
    parts = _DIGITS.split(name)
    return [int(part) if i % 2 else part for i, part in enumerate(parts)], name


def in_number_order(names):
    return sorted(names, key=natural_key)


def frame_number(name):
    """The last number in a name, or None."""
    numbers = _DIGITS.findall(name)
    return int(numbers[-1]) if numbers else None


@dataclass
class Pairing:
    """files: per frame the name of its file, or None (when some frames lack one: the pairing, by name or
    by number, that leaves the fewest without); note: how they were paired when not by name; problem:
    which frames lack a file, when some do."""
    files: list
    note: str = None
    problem: str = None


def _listing(names):
    shown = ', '.join(names[:LISTED])
    return shown + (f' and {len(names) - LISTED} more' if len(names) > LISTED else '')


def _offset_text(offset):
    if offset == 0:
        return 'file number = frame number'
    return f'file number = frame number {"+" if offset > 0 else "-"} {abs(offset)}'


def _of_kind(names, suffixes, count):
    """The names of one suffix family (each name counted under its longest matching suffix, case
    ignored), in frame-number order: the first family of `count` files, else the first non-empty one."""
    families = {suffix: [] for suffix in suffixes}
    for name in names:
        matching = [suffix for suffix in suffixes if name.lower().endswith(suffix.lower())]
        if matching:
            families[max(matching, key=len)].append(name)
    filled = [family for family in families.values() if family]
    chosen = next((family for family in filled if len(family) == count), filled[0] if filled else [])
    return in_number_order(chosen)


def _numbers(names):
    """Frame numbers of names, or None unless every name has one and they increase."""
    numbers = [frame_number(name) for name in names]
    if None in numbers or any(b <= a for a, b in zip(numbers, numbers[1:])):
        return None
    return numbers


def _best_offset(frame_numbers, file_numbers):
    """The offset (file number - frame number) pairing the most frames: 0, or aligning the first or the last."""
    present = set(file_numbers)
    candidates = [0, file_numbers[0] - frame_numbers[0], file_numbers[-1] - frame_numbers[-1]]
    return max(candidates, key=lambda offset: sum(n + offset in present for n in frame_numbers))


def pair_files(folder, stems, names, suffixes, kind):
    """Pair the files `names` of `folder` with the frames `stems` (in frame order); -> Pairing.

    suffixes: what the tools append to a frame's stem for this kind, preferred first ('_IUV.png',
    '.png'); folder and kind only name things in the messages (nothing is read).
    """
    present = set(names)
    by_name = [next((stem + suffix for suffix in suffixes if stem + suffix in present), None) for stem in stems]
    if all(by_name):
        return Pairing(by_name)
    files = _of_kind(names, suffixes, len(stems))
    if not files:
        return Pairing(by_name, problem=f'{os.path.join(folder, stems[0] + suffixes[0])}: missing {kind} for every '
                                        f'frame (no {kind} files in the folder, expected {len(stems)})')
    frame_numbers, file_numbers = _numbers(stems), _numbers(files)
    numbered = frame_numbers is not None and file_numbers is not None
    if len(files) == len(stems):
        offsets = {f - g for f, g in zip(file_numbers, frame_numbers)} if numbered else set()
        if len(offsets) <= 1:
            how = (f'by frame number, not by name ({_offset_text(offsets.pop())})' if numbered
                   else 'in name order (their names carry no frame numbers)')
            return Pairing(files, note=f'{folder}: {kind} files paired with the frames {how}: {files[0]} <-> '
                                       f'{stems[0]}, ..., {files[-1]} <-> {stems[-1]}')
    counts = f'{len(files)} {kind} files, expected {len(stems)}'
    if not numbered and not any(by_name):
        return Pairing(by_name, problem=f'{folder}: {counts}, named neither after the frames nor numbered; '
                                        f'name them after the frames ({stems[0]}{suffixes[0]}, ...)')
    return _partial(folder, stems, files, by_name, frame_numbers if numbered else None, file_numbers,
                    suffixes[0], kind, counts)


def _partial(folder, stems, files, by_name, frame_numbers, file_numbers, suffix, kind, counts):
    """The pairing that leaves the fewest frames without a file (by name, else by number), with the problem."""
    offset = _best_offset(frame_numbers, file_numbers) if frame_numbers else 0
    if offset == 0 and any(by_name):
        paired, how = by_name, ''
    else:
        by_number = dict(zip(file_numbers, files))
        paired = [by_number.get(n + offset) for n in frame_numbers]
        how = f'; matched by number as the names do not match the frames: {_offset_text(offset)}'
    lacking = [stem for stem, name in zip(stems, paired) if name is None]
    unpaired = sorted(set(files) - set(paired), key=natural_key)
    if lacking:
        where = folder if how else os.path.join(folder, lacking[0] + suffix)
        problem = f'{where}: missing {kind} for frame{"s" if len(lacking) > 1 else ""} {_listing(lacking)}'
    else:
        problem = f'{folder}: more {kind} files than frames, one per frame is needed'
    problem += f' ({counts}{how})'
    if unpaired:
        problem += f'; files of no frame: {_listing(unpaired)}'
    return Pairing(paired, problem=problem)
