"""Model construction from options."""


def create_model(opt, dataset=None):
    """Build the model named by --model; a dataset supplies the texture and background initialisation."""
    if opt.model == 'render':
        from models.render_model import RenderModel
        texture = dataset.load_texture() if dataset is not None else None
        background = dataset.load_background() if dataset is not None else None
        return RenderModel(opt, texture_init=texture, background_init=background)
    raise ValueError(f'unknown --model {opt.model}')
