"""What every trainable model shares: device, AMP, DDP wrapping, learning-rate schedule, checkpoints,
and the check of the names it declares.

Subclasses declare ``network_names`` (attributes holding nn.Modules that a checkpoint stores),
``training_network_names`` (stored too, but built only for training, e.g. discriminators) and
``loss_defaults`` ({loss name: default weight}; ``modify_commandline_options`` adds a
``--lambda_<name>`` flag for each), build ``self.optimizers`` and call ``check_names()`` once built;
the training loop needs no model-specific code.
"""
import os
import warnings

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from util.checkpoint import CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint
from util.cpu_runtime import bf16_warning, tune_cpu_runtime
from util.distributed import all_ranks_true, is_distributed
from util.step_in_backward import steps_in_backward

AMP_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def options_for_checkpoint(opt):
    """Options as plain values so the checkpoint loads with weights_only=True."""
    plain = (str, int, float, bool, type(None))
    return {key: value if isinstance(value, plain) else str(value) for key, value in vars(opt).items()}


def loss_weights(opt, loss_names, model_name):
    """{loss name: --lambda_<name>} for the losses the model produces; a weight flag with no such loss,
    or a loss without a weight flag, is a ValueError (a misspelt name never passes silently)."""
    flags = sorted(key[len('lambda_'):] for key in vars(opt) if key.startswith('lambda_'))
    unknown = [name for name in flags if name not in loss_names]
    if unknown:
        raise ValueError(f'{", ".join("--lambda_" + name for name in unknown)}: the {model_name} model has no such '
                         f'loss (its losses: {", ".join(loss_names)})')
    missing = [name for name in loss_names if name not in flags]
    if missing:
        raise ValueError(f'the {model_name} model produces {missing} but has no --lambda_ weight for them')
    return {name: getattr(opt, f'lambda_{name}') for name in loss_names}


def weighted_total(losses, weights):
    """The one place where named losses are weighted and summed."""
    return sum(weights[name] * value for name, value in losses.items())


class BaseModel:
    network_names = ()
    training_network_names = ()
    loss_defaults = {}

    @classmethod
    def modify_commandline_options(cls, parser, is_train):
        """Add this model's own flags to the parser (training: a --lambda_<name> weight per loss)."""
        if is_train:
            weights = parser.add_argument_group('loss weights')
            for name, default in cls.loss_defaults.items():
                weights.add_argument(f'--lambda_{name}', type=float, default=default)

    @property
    def loss_names(self):
        return tuple(self.loss_defaults)

    def __init__(self, opt, training):
        self.opt = opt
        self.training = training
        self.device = opt.device
        tune_cpu_runtime()
        self.amp_dtype = AMP_DTYPES[opt.amp]
        if opt.amp == 'fp16' and self.device.type != 'cuda':
            raise SystemExit('--amp fp16 needs CUDA; on the CPU use --amp bf16 or --amp none')
        if opt.amp == 'bf16' and self.device.type == 'cpu' and bf16_warning():
            warnings.warn(bf16_warning())
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=opt.amp == 'fp16')
        # a single process without gradient scaling updates each parameter as soon as its gradient is ready
        # (util/step_in_backward.py): the gradients never all exist at once
        self.step_in_backward = not is_distributed() and not self.scaler.is_enabled()
        self.optimizers = {}
        self.run_dir = os.path.join(opt.checkpoints_dir, opt.name)

    def autocast(self):
        return torch.amp.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def networks(self):
        """{name: module} of every network a checkpoint of this model holds (those needed to infer, and
        in training also ``training_network_names``)."""
        names = self.network_names + (self.training_network_names if self.training else ())
        return {name: getattr(self, name) for name in names}

    def check_names(self):
        """Every declared network exists (so none is silently left out of a checkpoint)."""
        for name in self.network_names + (self.training_network_names if self.training else ()):
            if not isinstance(getattr(self, name, None), nn.Module):
                raise ValueError(f'{type(self).__name__} declares network {name!r} but has no such nn.Module')

    def wrap_distributed(self, module, find_unused_parameters=False):
        """DDP around ``module`` under torchrun (the bare module keeps clean state-dict keys)."""
        if not is_distributed() or not any(p.requires_grad for p in module.parameters()):
            return module
        device_ids = [self.device.index] if self.device.type == 'cuda' else None
        return DistributedDataParallel(module, device_ids=device_ids,
                                       find_unused_parameters=find_unused_parameters)

    def guarded_step(self, name, total, allowed=True):
        """Backward and step optimizer ``name`` when ``total`` is finite on every rank (and ``allowed``);
        returns that finiteness, so that all ranks skip a bad step together."""
        finite = all_ranks_true(bool(torch.isfinite(total.detach())), self.device)
        self.optimizers[name].zero_grad(set_to_none=True)
        if finite and allowed and self.step_in_backward:
            with steps_in_backward(self.optimizers[name]):
                total.backward()
        elif finite and allowed:
            self.scaler.scale(total).backward()
            self.scaler.step(self.optimizers[name])
            # gradients are not needed until the next backward: freeing them now keeps them out of the
            # next forward pass's peak (246 M parameters: 1 GB)
            self.optimizers[name].zero_grad(set_to_none=True)
        return finite

    def make_adam(self, groups):
        """Adam over (module, lr) groups; each group remembers its base lr for the schedule."""
        param_groups = [{'params': [p for p in module.parameters() if p.requires_grad], 'lr': lr, 'base_lr': lr}
                        for module, lr in groups]
        # fused: one kernel over all tensors; about 6x faster than the per-tensor loop on the CPU
        return torch.optim.Adam([g for g in param_groups if g['params']], betas=(self.opt.beta1, 0.999),
                                fused=True)

    def set_epoch(self, epoch):
        """Constant learning rate for niter epochs, then linear decay to zero over niter_decay epochs."""
        decay_epochs = max(epoch - self.opt.niter, 0)
        factor = 1.0 - decay_epochs / (self.opt.niter_decay + 1)
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group['lr'] = group['base_lr'] * factor

    def checkpoint_state(self, progress):
        return {
            'networks': {name: net.state_dict() for name, net in self.networks().items()},
            'optimizers': {name: opt.state_dict() for name, opt in self.optimizers.items()},
            'scaler': self.scaler.state_dict(),
            'progress': dict(progress),
            'options': options_for_checkpoint(self.opt),
        }

    def save(self, label, progress):
        save_checkpoint(checkpoint_path(self.run_dir, label), self.checkpoint_state(progress))

    def save_appearance(self, label):
        """Images of what the model learned beside its networks (none by default)."""

    def load(self, label, run_dir=None, with_optimizers=True):
        """Restore networks (and optimizers, scaler) from a checkpoint; returns its progress dict."""
        path = checkpoint_path(run_dir or self.run_dir, label)
        state = load_checkpoint(path, map_location=self.device)
        for name, net in self.networks().items():
            if name not in state['networks']:
                raise CheckpointError(f'{path}: has no weights for network "{name}"')
            try:
                net.load_state_dict(state['networks'][name])
            except RuntimeError as error:       # shapes or names differ: other architecture flags
                raise CheckpointError(f'{path}: network "{name}" was saved with other architecture flags than '
                                      f'these ({error})') from error
        if with_optimizers:
            for name, optimizer in self.optimizers.items():
                if name in state.get('optimizers', {}):
                    optimizer.load_state_dict(state['optimizers'][name])
            if state.get('scaler'):
                self.scaler.load_state_dict(state['scaler'])
        return state.get('progress', {})
