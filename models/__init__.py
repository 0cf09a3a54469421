"""Model construction from options."""
import torch

from models.networks.recompute import set_recompute

MODELS = ('render', 'pose2image')


def model_class(name):
    """The class behind --model NAME."""
    if name == 'render':
        from models.render_model import RenderModel
        return RenderModel
    if name == 'pose2image':
        from models.pose2image_model import Pose2ImageModel
        return Pose2ImageModel
    raise ValueError(f'unknown --model {name!r}; one of {MODELS}')


def create_model(opt, dataset=None, working_size=None):
    """Build the model named by --model.

    For training, a dataset supplies the texture and background initialisation and the working size;
    for inference from a checkpoint (no dataset), give working_size (H, W) from
    ``checkpoint_working_size``."""
    cls = model_class(opt.model)
    if opt.model == 'render':
        texture = dataset.load_texture(opt.texture_holes == 'fill') if dataset is not None else None
        if dataset is not None:
            background = dataset.load_background()
        else:
            background = torch.zeros(3, *working_size) if working_size is not None else None
        model = cls(opt, texture_init=texture, background_init=background)
    else:
        model = cls(opt, working_size=dataset.working_size if dataset is not None else working_size)
    return apply_recompute(model, opt)


def apply_recompute(model, opt):
    """With --checkpoint_activations, every network of the model that supports it (generators,
    discriminators, VGG) recomputes its activations in backward instead of keeping them."""
    if opt.checkpoint_activations:
        for module in vars(model).values():
            if isinstance(module, torch.nn.Module):
                set_recompute(module)
    return model
