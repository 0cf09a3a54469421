"""The iteration loop shared by train.py and pretrainTrans.py: steps, the non-finite-loss guard,
progress bar, loss log, page updates, latest saves, and the rank sync check."""
import time
import warnings

from tqdm import tqdm

from util.distributed import average_scalars, max_rank_difference
from util.visualizer import format_losses


def resume_point(progress, iters_per_epoch):
    """(epoch, batches already done in it) from a checkpoint's progress."""
    epoch, done = progress.get('epoch', 1), progress.get('epoch_iter', 0)
    return (epoch + 1, 0) if done >= iters_per_epoch else (epoch, done)


class TrainingLoop:
    """Owns the global iteration count; ``save(label, epoch, epoch_iter)`` writes a checkpoint."""

    def __init__(self, model, opt, visualizer, rank, iteration, save):
        self.model, self.opt, self.visualizer, self.rank = model, opt, visualizer, rank
        self.iteration, self.save = iteration, save
        self.nan_streak = 0

    def run_epoch(self, loader, epoch, total_epochs, iters_per_epoch, start_batch, stage=''):
        opt = self.opt
        desc = f'epoch {epoch}/{total_epochs}' + (f' ({stage})' if stage else '')
        bar = tqdm(loader, total=iters_per_epoch, initial=start_batch, disable=self.rank != 0, desc=desc,
                   dynamic_ncols=True)
        epoch_iter, tick = start_batch, time.time()
        for batch in bar:
            losses, finite = self.model.train_step(batch)
            self.iteration += 1
            epoch_iter += 1
            if not self._guard(finite):
                continue
            bar.set_postfix_str(format_losses(losses))
            if self.iteration % opt.print_freq == 0:
                seconds = (time.time() - tick) / opt.print_freq
                tick = time.time()
                self.visualizer.log_losses(average_scalars(losses, opt.device), epoch, self.iteration,
                                           seconds_per_iter=seconds)
            if self.iteration % opt.display_freq == 0 and self.rank == 0:
                self.visualizer.display(self.model.visuals(), epoch, self.iteration)
            if self.iteration % opt.save_latest_freq == 0:
                self.save('latest', epoch, epoch_iter)

    def _guard(self, finite):
        """Skip a non-finite step with a warning; stop after max_nan_steps in a row (no save)."""
        if finite:
            self.nan_streak = 0
            return True
        self.nan_streak += 1
        warnings.warn(f'iteration {self.iteration}: non-finite loss, step skipped ({self.nan_streak} in a row)')
        if self.nan_streak >= self.opt.max_nan_steps:
            raise SystemExit(f'{self.nan_streak} non-finite losses in a row; stopping. The last good checkpoint '
                             f'is kept in {self.model.run_dir}; try a lower --lr or --amp none')
        return False

    def check_ranks_in_sync(self, module, world_size, epoch):
        if world_size == 1:
            return
        drift = max_rank_difference(module, self.opt.device)
        if self.rank == 0:
            print(f'epoch {epoch}: largest weight difference between ranks {drift:.3g}')
        if drift > 1e-5:
            raise SystemExit(f'ranks diverged (weight difference {drift:.3g}); please report this')
