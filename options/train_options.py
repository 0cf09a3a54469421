"""Training flags: schedule, stages, loss weights, logging and checkpoint cadence."""
from options.base_options import BaseOptions, add_training_arguments


class TrainOptions(BaseOptions):
    is_train = True

    def add_arguments(self, parser):
        schedule = parser.add_argument_group('schedule')
        run = parser.add_argument_group('logging and checkpoints')
        add_training_arguments(schedule, run)
        schedule.add_argument('--static_epochs', type=int, default=3,
                              help='first epochs train the raw RGB texture render only (no D2G, no GAN)')
        schedule.add_argument('--lr', type=float, default=2e-4, help='generators (UV generator, D2G)')
        schedule.add_argument('--lr_texture', type=float, default=1e-3)
        schedule.add_argument('--lr_background', type=float, default=1e-3)
        schedule.add_argument('--lr_D', type=float, default=2e-4)
        schedule.add_argument('--flip', action='store_true',
                              help='horizontal flip augmentation (off by default: a mirrored frame shows the '
                                   'person\'s asymmetric clothing on the wrong side of the one texture)')

        gan = parser.add_argument_group('discriminators')
        gan.add_argument('--gan_mode', choices=['lsgan', 'hinge', 'vanilla'], default='lsgan')
        gan.add_argument('--ndf', type=int, default=64)
        gan.add_argument('--n_layers_D', type=int, default=3)
        gan.add_argument('--num_D', type=int, default=2)
        gan.add_argument('--no_temporal_D', action='store_true')

        weights = parser.add_argument_group('loss weights')
        for name, value in (('gan', 1.0), ('gan_temporal', 1.0), ('feat', 10.0), ('vgg', 10.0),
                            ('l2', 10.0), ('l2_raw', 10.0), ('uv', 10.0), ('part', 1.0), ('mask', 0.5),
                            ('temporal', 5.0), ('l1', 10.0)):
            weights.add_argument(f'--lambda_{name}', type=float, default=value)
        weights.add_argument('--no_vgg_loss', action='store_true')
        weights.add_argument('--vgg_weights', default=None,
                             help='VGG19 state dict file (otherwise torchvision weights from the local cache)')
        weights.add_argument('--use_densepose_loss', action='store_true',
                             help='UV/part supervision from DensePose when a pre-trained UV generator is '
                                  'loaded (always on when training from scratch)')

        run.add_argument('--which_epoch', default='latest')
        run.add_argument('--load_pretrain_TransG', default=None, help='run folder of a pre-trained UV generator')
        run.add_argument('--which_epoch_TransG', default='latest')
