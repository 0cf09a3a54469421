"""The three numbers a demo run prints about its driven video, next to the benchmark's.

    python -m evaluation.headline METRICS_JSON [--reference docs/quality.json]

METRICS_JSON: an evaluate.py metrics.json; --reference: the means bench/quality.py records for each variant.
"""
import argparse
import json
import os

from util.errors import run_main

HEADLINE = (('psnr_person', 'person PSNR', '{:.2f} dB'), ('ssim', 'SSIM', '{:.4f}'),
            ('warp_error', 'temporal error', '{:.4f}'))


def headline(mean):
    """'person PSNR 17.12 dB, SSIM 0.8180, temporal error 0.0084' from a dict of means."""
    return ', '.join(f'{title} {form.format(mean[key])}' if isinstance(mean.get(key), (int, float))
                     else f'{title} {mean.get(key, "—")}' for key, title, form in HEADLINE)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('metrics', help='metrics.json written by evaluate.py')
    parser.add_argument('--reference', default=None, help='docs/quality.json written by bench/quality.py')
    args = parser.parse_args()
    try:
        report = json.load(open(args.metrics))
    except (OSError, ValueError) as error:
        raise SystemExit(f'{args.metrics}: cannot read evaluate.py\'s metrics ({error})') from error
    print(f"{report['name']} on {os.path.basename(report['dataset'])} ({report['frames']} frames): "
          f"{headline(report['mean'])}")
    if args.reference and os.path.isfile(args.reference):
        reference = json.load(open(args.reference))
        print(f"docs/RESULTS.md ({reference['setup']}):")
        width = max(map(len, reference['means']))
        for name, mean in reference['means'].items():
            print(f'  {name:<{width}} {headline(mean)}')
    return 0


if __name__ == '__main__':
    run_main(main)
