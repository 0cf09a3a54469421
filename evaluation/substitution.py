"""Ground truth in place of a trained render model's components (evaluate.py --substitute): on a synthetic
dataset the true part map + UV, atlas and background are known, so swapping each learned component for its
truth shows how many decibels that component loses (the error budget in docs/RESULTS.md).

Substituting iuv, texture, background and detail together renders exactly what the oracle renders
(evaluation/oracle.py); substituting nothing renders exactly what the model renders.
"""
import numpy as np
import torch

from data.transforms import resize_image
from evaluation.oracle import true_appearance
from evaluation.sources import ModelSource
from util.atlas import part_uv_channels
from util.texture_sampling import render

def render_substituted(generator, pose, components, truth, full):
    """RenderGenerator.forward with ground truth in place of the named components.

    pose: [N, Cp, H, W]; truth: 'parts' int64 [N, H, W] and 'uv' [N, 2, H, W] (for iuv), 'atlas'
    [1, 72, T, T] (for texture), 'background' [1, 3, H, W] (for background), all in [-1, 1]; full: the
    model's stage (detail forces the texture render). -> RenderGenerator.forward's dict (without
    part_logits and uv when iuv is substituted)."""
    n, _, height, width = pose.shape
    if 'iuv' in components:
        result = {}
        weights = truth['parts']
        uv = part_uv_channels(truth['parts'], truth['uv'])
        bg_prob = (weights == 0).to(uv.dtype)[:, None]
    else:
        result = generator.trans(pose)
        weights = torch.softmax(result['part_logits'].float(), 1)
        uv, bg_prob = result['uv'], weights[:, :1]
    sampled = generator.texture(uv, weights, min_prob=generator.tex_min_prob)
    if 'texture' in components:
        rgb = render(truth['atlas'], uv, weights, min_prob=generator.tex_min_prob)
        sampled = {'rgb': rgb, 'features': torch.cat([rgb, sampled['features'][:, 3:]], 1)}
    if 'background' in components:
        background = truth['background'].expand(n, -1, -1, -1)
    else:
        background = generator.background(n, height, width)
    return generator.compose(result, pose, sampled, bg_prob, background, full and 'detail' not in components)


class SubstitutedSource(ModelSource):
    """A render model evaluated with some components replaced by the synthetic dataset's ground truth."""

    def __init__(self, model, train_opt, dataset, geometry, components):
        if not hasattr(model.generator, 'compose'):
            raise SystemExit(f'--substitute: the {train_opt.model} model has no separate geometry, texture, '
                             'background or detail generator to substitute (use a render model)')
        super().__init__(model, train_opt, dataset, geometry)
        self.components = components
        height, width = geometry.working
        try:
            atlas, background = true_appearance(dataset.root)
        except FileNotFoundError as error:
            raise SystemExit(f'--substitute: {error}') from error
        device = model.device
        self.atlas = atlas.to(device)
        background = resize_image(background, height, width).transpose(2, 0, 1)
        self.background = (torch.from_numpy(np.ascontiguousarray(background)).float()[None] / 127.5 - 1).to(device)

    def _truth(self, ts):
        truth = {'atlas': self.atlas, 'background': self.background}
        if 'iuv' in self.components:
            samples = [self.dataset.load_clip(t - self.dataset.first_frame) for t in ts]
            if any((sample['parts'] < 0).any() for sample in samples):
                raise SystemExit(f'{self.dataset.root}: --substitute iuv needs the dataset\'s DensePose IUV')
            truth['parts'] = torch.stack([sample['parts'][0] for sample in samples]).to(self.model.device)
            truth['uv'] = torch.stack([sample['uv'][0] for sample in samples]).to(self.model.device)
        return truth

    def generate(self, ts, pose):
        if not all(self.geometry.is_identity(t) for t in ts):
            raise SystemExit('--substitute compares components in the model\'s own frame: evaluate on a dataset '
                             'with the training frames\' size, without alignment (--align off)')
        generator = self.model.generator
        generator.eval()
        with torch.no_grad(), self.model.autocast():
            return render_substituted(generator, pose.to(self.model.device), self.components, self._truth(ts),
                                      self.model.full_stage)
