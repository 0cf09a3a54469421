"""An optimizer step taken parameter by parameter during the backward pass, so that no parameter's gradient
outlives its update: the generator's gradients (217 M parameters in the original configuration: 0.87 GB)
never all exist at once, where they used to make up a quarter of a training step's peak memory.

The update is the optimizer's own ``step`` on one parameter at a time (its param group's settings, its state
dict), so Adam's arithmetic, state and checkpoints stay as they are. Only for a single process without
gradient scaling: DDP averages gradients over ranks after they are accumulated, and a GradScaler checks all of
them for infs before any step.
"""
import contextlib


@contextlib.contextmanager
def steps_in_backward(optimizer):
    """Within the block, each parameter of ``optimizer`` is stepped (and its gradient freed) as soon as a
    backward pass has accumulated its gradient; a parameter the pass does not reach is left as it is."""
    def step(param):
        group = group_of[id(param)]
        groups = optimizer.param_groups
        optimizer.param_groups = [{**group, 'params': [param]}]
        try:
            optimizer.step()
        finally:
            optimizer.param_groups = groups
        param.grad = None

    group_of = {id(p): group for group in optimizer.param_groups for p in group['params']}
    handles = [p.register_post_accumulate_grad_hook(step) for group in optimizer.param_groups
               for p in group['params']]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
