"""The UV generator trained alone (pretrainTrans.py): pose image -> DensePose parts and UV, person mask.

Person-agnostic: no texture, no background, no RGB; the network and its checkpoint name ('trans')
are the ones RenderModel uses, so train.py --load_pretrain_TransG RUN_DIR starts from the result.

Metrics (``part_uv_sums`` then ``metrics_from_sums``, pooled over pixels, not averaged per frame):
  part_acc         share of all pixels whose predicted part (argmax of the 25 logits, 0 = background)
                   equals the DensePose part
  part_acc_person  the same over the DensePose body pixels only (part > 0)
  uv_error         mean |predicted - DensePose| of U and V in DensePose units ([0, 1]) over the body
                   pixels, the prediction read from the channels of the pixel's true part (so it
                   measures the UV regression independently of part mistakes; = masked_uv_l1 / 2)
"""
import torch

from models.base_model import BaseModel, loss_weights, weighted_total
from models.networks import losses as L
from models.networks.generators import UVGenerator
from models.video_gan import pose_channels
from util.image import part_map_to_image, part_probs_to_image, select_part_uv, tensor_to_image, uv_to_images

METRICS = ('part_acc', 'part_acc_person', 'uv_error')


def build_uv_generator(opt):
    """The UV generator exactly as RenderModel builds it (same options -> same state-dict layout)."""
    return UVGenerator(pose_channels(opt), opt.ngf_translate, opt.n_downsample_translate, opt.n_blocks_translate,
                       opt.norm, skips=opt.trans_skips)


@torch.no_grad()
def part_uv_sums(part_logits, uv48, parts, uv_true):
    """Counts behind METRICS for one batch, as floats so they can be summed over batches and ranks.

    part_logits: [N, 25, H, W], uv48: [N, 48, H, W] in [-1, 1], parts: [N, H, W] long in 0..24,
    uv_true: [N, 2, H, W] in [-1, 1]. Returns {'frames', 'pixels', 'correct', 'person_pixels',
    'person_correct', 'uv_abs'} (uv_abs: sum over body pixels of |dU| + |dV| in [0, 1] units).
    """
    correct = part_logits.argmax(1) == parts
    person = parts > 0
    picked = select_part_uv(uv48.float(), parts)
    uv_abs = ((picked - uv_true).abs().sum(1) * person).sum() / 2     # [-1, 1] -> [0, 1] units
    return {'frames': float(parts.shape[0]), 'pixels': float(parts.numel()), 'correct': float(correct.sum()),
            'person_pixels': float(person.sum()), 'person_correct': float((correct & person).sum()),
            'uv_abs': float(uv_abs)}


def add_sums(total, sums):
    for key, value in sums.items():
        total[key] = total.get(key, 0.0) + value
    return total


def metrics_from_sums(sums):
    """{'part_acc', 'part_acc_person', 'uv_error', 'frames'} from (summed) ``part_uv_sums``."""
    person = max(sums['person_pixels'], 1.0)
    return {'part_acc': sums['correct'] / max(sums['pixels'], 1.0),
            'part_acc_person': sums['person_correct'] / person,
            'uv_error': sums['uv_abs'] / (2 * person),
            'frames': int(sums['frames'])}


class TransModel(BaseModel):
    network_names = ('trans',)
    loss_defaults = {'part': 1.0, 'uv': 10.0, 'mask': 0.5}

    def __init__(self, opt, training=True):
        super().__init__(opt, training)
        self.trans = build_uv_generator(opt).to(self.device)
        self.visual_cache = {}
        self.check_names()
        if not training:
            self.trans.eval()
            return
        self.weights = loss_weights(opt, self.loss_names, 'UV generator')
        self.trans_ddp = self.wrap_distributed(self.trans)
        self.optimizers = {'G': self.make_adam([(self.trans, opt.lr)])}

    def _unpack(self, batch):
        """Clip batch [B, T, ...] -> frames [B*T, ...] on the device: pose, parts, uv, mask."""
        data = {key: batch[key].to(self.device, non_blocking=True).flatten(0, 1)
                for key in ('pose', 'parts', 'uv', 'mask')}
        if (data['parts'] < 0).any():
            raise ValueError(f'{batch["paths"][0][0]}: a frame without DensePose; pretraining needs IUV for '
                             'every frame')
        return data

    def losses(self, data, result):
        """Unweighted named losses; ``weighted_total`` applies the lambda_* weights."""
        logits = result['part_logits'].float()
        return {'part': L.part_cross_entropy(logits, data['parts']),
                'uv': L.masked_uv_l1(result['uv'].float(), data['uv'], data['parts']),
                'mask': L.mask_bce(logits, data['mask'])}

    def train_step(self, batch):
        """One Adam step; returns (losses dict of floats, finite flag). A non-finite loss skips the step."""
        data = self._unpack(batch)
        self.trans.train()
        with self.autocast():
            result = self.trans_ddp(data['pose'])
            losses = self.losses(data, result)
            total = weighted_total(losses, self.weights)
        finite = self.guarded_step('G', total)
        self.scaler.update()
        self.visual_cache = {'data': data, 'result': {k: v.detach() for k, v in result.items()}}
        return {name: float(value.detach()) for name, value in losses.items()}, finite

    @torch.no_grad()
    def evaluate_batch(self, batch):
        """(part_uv_sums of the batch, data, result) with the network in eval mode."""
        data = self._unpack(batch)
        was_training = self.trans.training
        self.trans.eval()
        with self.autocast():
            result = self.trans(data['pose'])
        self.trans.train(was_training)
        result = {k: v.float() for k, v in result.items()}
        return part_uv_sums(result['part_logits'], result['uv'], data['parts'], data['uv']), data, result

    def visuals(self, data=None, result=None, index=0):
        """Images of frame ``index`` (default: the last training batch's first frame)."""
        if data is None:
            data, result = self.visual_cache['data'], self.visual_cache['result']
        parts, logits = data['parts'][index], result['part_logits'][index].float()
        predicted = logits.argmax(0)
        uv_true = uv_to_images(data['uv'][index], parts)
        uv_pred = uv_to_images(select_part_uv(result['uv'][index].float(), predicted), predicted)
        return {
            'pose': tensor_to_image(data['pose'][index, :3]),
            'parts_predicted': part_probs_to_image(logits),
            'parts_densepose': part_map_to_image(parts),
            'U_predicted': uv_pred[0], 'U_densepose': uv_true[0],
            'V_predicted': uv_pred[1], 'V_densepose': uv_true[1],
            'mask_predicted': tensor_to_image(1 - 2 * L.background_prob(logits[None])[0]),
            'mask_given': tensor_to_image(2 * data['mask'][index] - 1),
        }
