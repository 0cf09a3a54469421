"""The training skeleton shared by train.py and pretrainTrans.py: the epochs from the resume point,
the steps with the non-finite-loss guard, progress bar, loss log, page updates, latest and numbered
saves, the rank sync check, and a clean stop when a file goes bad mid-run."""
import contextlib
import os
import time
import warnings

from tqdm import tqdm

from util.checkpoint import checkpoint_path
from util.distributed import average_scalars, barrier, max_rank_difference
from util.errors import UserError, user_message
from util.visualizer import format_losses


def resume_point(progress, iters_per_epoch):
    """(epoch, batches already done in it) from a checkpoint's progress."""
    epoch, done = progress.get('epoch', 1), progress.get('epoch_iter', 0)
    return (epoch + 1, 0) if done >= iters_per_epoch else (epoch, done)


class TrainingLoop:
    """Owns the epoch and iteration counts of one run (``progress``: a checkpoint's, or a new run's)."""

    def __init__(self, model, opt, visualizer, rank, world_size, progress, iters_per_epoch):
        self.model, self.opt, self.visualizer = model, opt, visualizer
        self.rank, self.world_size, self.iters_per_epoch = rank, world_size, iters_per_epoch
        self.iteration = progress.get('iteration', 0)
        self.start_epoch, self.start_batch = resume_point(progress, iters_per_epoch)
        self.total_epochs = opt.niter + opt.niter_decay
        self.nan_streak = 0

    def describe_resume(self):
        return (f'resuming at epoch {self.start_epoch}, iteration {self.iteration} '
                f'({self.start_batch} of {self.iters_per_epoch} batches of that epoch done)')

    def epochs(self):
        """The epochs left to train, each after setting the model's schedule for it."""
        for epoch in range(self.start_epoch, self.total_epochs + 1):
            self.model.set_epoch(epoch)
            yield epoch

    def run_epoch(self, loader, sampler, epoch, stage=''):
        """The epoch's steps (after the batches a resumed run already did)."""
        opt, start_batch = self.opt, self.start_batch
        self.start_batch = 0
        sampler.set_epoch(epoch, start_batch)
        desc = f'epoch {epoch}/{self.total_epochs}' + (f' ({stage})' if stage else '')
        bar = tqdm(loader, total=self.iters_per_epoch, initial=start_batch, disable=self.rank != 0, desc=desc,
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

    @contextlib.contextmanager
    def stop_cleanly(self):
        """A user error in the block (a file damaged after the pre-flight check, met by the loader) ends the
        run with its message and where to resume; saved checkpoints are whole (they are written atomically)."""
        try:
            yield
        except Exception as error:
            message = user_message(error)
            if message is None:
                raise
            latest = checkpoint_path(self.model.run_dir, 'latest')
            resume = (f'{latest} is intact: fix the file and resume with --continue_train'
                      if os.path.isfile(latest) else 'no checkpoint was saved yet')
            raise UserError(f'{message}\ntraining stopped at iteration {self.iteration}; {resume}') from error

    def end_epoch(self, epoch):
        """Latest checkpoint, and a numbered one every save_epoch_freq epochs and at the end."""
        self.save('latest', epoch, self.iters_per_epoch)
        if epoch % self.opt.save_epoch_freq == 0 or epoch == self.total_epochs:
            self.save(str(epoch), epoch, self.iters_per_epoch)

    def save(self, label, epoch, epoch_iter):
        """Checkpoint (rank 0; every rank waits for it) with the progress a resume continues from."""
        if self.rank == 0:
            self.model.save(label, {'epoch': epoch, 'epoch_iter': epoch_iter, 'iteration': self.iteration})
            self.model.save_appearance(label)
        barrier()

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

    def check_ranks_in_sync(self, module, epoch):
        if self.world_size == 1:
            return
        drift = max_rank_difference(module, self.opt.device)
        if self.rank == 0:
            print(f'epoch {epoch}: largest weight difference between ranks {drift:.3g}')
        if drift > 1e-5:
            raise SystemExit(f'ranks diverged (weight difference {drift:.3g}); please report this')
