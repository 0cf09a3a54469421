"""Initial texture atlas (texture.jpg) from the frames and their DensePose IUV files (util.unfold's engine)."""
from data.prepare.errors import PrepareError
from data.readers import DataFileError, read_frame, read_iuv
from util.unfold import WORKERS, build_atlas_from_items


def build_atlas_from_files(frame_paths, iuv_paths, tex_size=200, progress=False, workers=WORKERS, **options):
    """util.unfold.build_atlas over files: frame_paths and iuv_paths (same length, paired in order) are
    read by ``workers`` threads (data.readers.read_frame / read_iuv); errors name the files.
    options: build_atlas's (edge_px, l1_steps, cauchy_steps, scale, max_observations, stats)."""
    frame_paths, iuv_paths = list(frame_paths), list(iuv_paths)
    if len(frame_paths) != len(iuv_paths):
        raise ValueError(f'{len(frame_paths)} frames but {len(iuv_paths)} IUV files; pair them one to one')

    def load(pair):
        frame_path, iuv_path = pair
        frame, iuv = read_frame(frame_path), read_iuv(iuv_path)
        if frame.shape[:2] != iuv.shape[:2]:
            raise DataFileError(iuv_path, f'IUV is {iuv.shape[1]}x{iuv.shape[0]} but its frame {frame_path} '
                                          f'is {frame.shape[1]}x{frame.shape[0]} (width x height); DensePose '
                                          f'must run on the frames at their size')
        return frame, iuv

    return build_atlas_from_items(zip(frame_paths, iuv_paths), load, len(frame_paths), tex_size, progress,
                                  workers=workers, **options)


def texture_atlas(frame_paths, iuv_paths, tex_size=200, progress=True):
    """Frames with an IUV (None entries are skipped) -> (atlas uint8 RGB [6T, 4T, 3], seen bool [6T, 4T]).

    util.unfold.build_atlas over the files (read by a few threads, memory bounded for long videos).
    """
    pairs = [(frame, iuv) for frame, iuv in zip(frame_paths, iuv_paths) if iuv is not None]
    try:
        return build_atlas_from_files([frame for frame, _ in pairs], [iuv for _, iuv in pairs],
                                      tex_size=tex_size, progress=progress)
    except (DataFileError, ValueError) as error:
        raise PrepareError(f'texture.jpg: cannot unfold the texture: {error}') from error
