"""Write a trained generator as ONNX, with a dynamic batch (inference/export.py describes the file).

    python export.py --name NAME [--which_epoch latest] [--checkpoints_dir ./checkpoints] [--output FILE]

Default output: checkpoints_dir/NAME/generator.onnx (generator_<epoch>.onnx for another --which_epoch), where
test.py --engine onnxruntime looks for it. With onnxruntime installed, the export is run once on random poses
and its largest difference to PyTorch is printed.
"""
import argparse
import os

from inference.export import export_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--name', required=True, help='run name: checkpoints_dir/name')
    parser.add_argument('--checkpoints_dir', default='./checkpoints')
    parser.add_argument('--which_epoch', default='latest', help='checkpoint label: latest or an epoch number')
    parser.add_argument('--output', default=None, help='the .onnx file to write')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        done = export_checkpoint(os.path.join(args.checkpoints_dir, args.name), args.which_epoch, args.output)
    except ImportError as error:
        raise SystemExit(f'export.py needs the onnx package ({error}): pip install onnx onnxruntime') from error
    print(f'{done["path"]}\n  {done["input"]} -> {", ".join(done["outputs"])}')
    if done['difference'] is None:
        print('  onnxruntime is not installed: the export was not run')
    else:
        print(f'  onnxruntime vs PyTorch on 2 random poses: max |difference| {done["difference"]:.2e}')


if __name__ == '__main__':
    main()
