"""A new background behind the rendered person (--bg_path), and the check that the model can take one."""
from data.readers import DataFileError, read_frame
from data.transforms import resize_image, to_unit_range


def check_compositing(opt, model):
    """--bg_path and --save_mask need the person / background split of a model with a learned background."""
    flags = [flag for flag, given in (('--bg_path', opt.bg_path), ('--save_mask', opt.save_mask)) if given]
    if flags and not hasattr(model, 'background'):
        raise SystemExit(f'{" and ".join(flags)}: the {model.opt.model} model renders whole frames, with no '
                         'person / background separation to composite or mask; drop the flag, or drive a '
                         '--model render run')


def load_new_background(path, working, device):
    """--bg_path image stretched to the working size: ([1, 3, H, W] in [-1, 1], the uint8 image)."""
    try:
        image = resize_image(read_frame(path), *working)
    except DataFileError as error:
        raise SystemExit(f'{error} (--bg_path)') from error
    return to_unit_range(image)[None].to(device), image
