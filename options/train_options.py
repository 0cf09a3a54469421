"""Training flags: schedule, stages, logging and checkpoint cadence. The model named by --model adds its
own (discriminators, loss weights, learning rates of its parts) in its ``modify_commandline_options``."""
from options.base_options import BaseOptions, add_training_arguments, argument_group


class TrainOptions(BaseOptions):
    is_train = True

    def add_arguments(self, parser):
        schedule = parser.add_argument_group('schedule')
        run = parser.add_argument_group('logging and checkpoints')
        add_training_arguments(schedule, run)
        schedule.add_argument('--static_epochs', type=int, default=3,
                              help='first epochs train the raw RGB texture render only (no D2G, no GAN)')
        schedule.add_argument('--lr', type=float, default=2e-4, help='generators (UV generator, D2G; the baseline\'s)')
        # flip is off by default: a mirrored frame shows the person's asymmetric clothing on the wrong side
        # of the one texture
        parser.set_defaults(flip=False)
        argument_group(parser, 'data').add_argument('--clip_length', type=int, default=2,
                                                    help='consecutive frames per sample (T >= 2)')

        run.add_argument('--which_epoch', default='latest')
        run.add_argument('--load_pretrain_TransG', default=None, help='run folder of a pre-trained UV generator')
        run.add_argument('--which_epoch_TransG', default='latest')

    def validate(self, opt):
        if opt.clip_length < 2:
            self.parser.error('--clip_length must be at least 2 (temporal losses need neighbours)')
