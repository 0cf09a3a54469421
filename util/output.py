"""Result folders of test.py and evaluate.py: never inside a dataset, cleared of what an earlier run of
the same script wrote (and nothing else), and JSON that holds non-finite numbers."""
import math
import os


def is_inside(path, folder):
    """True when path is folder or lies below it (symbolic links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def refuse_inside(folder, protected):
    """SystemExit when the results folder would lie inside any of the protected (dataset) folders."""
    for data in protected:
        if data and is_inside(folder, data):
            raise SystemExit(f'{folder}: refusing to write results inside the dataset folder {data}; '
                             'choose another --results_dir')


def remove_own_files(folder, subfolders, own_file):
    """Delete the files whose names match the regex own_file in folder/<each subfolder>."""
    for sub in subfolders:
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if own_file.match(name):
                    os.remove(os.path.join(path, name))


def json_safe(value):
    """value with its non-finite floats, at any depth of dicts and lists, as JSON can hold them:
    NaN -> None, +-inf -> 'inf' / '-inf' (json.dumps would write the non-standard Infinity / NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ('inf' if value > 0 else '-inf')
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
