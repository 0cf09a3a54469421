"""Initial texture atlas (texture.jpg) from the frames and their DensePose IUV (util.unfold's engine)."""
from data.prepare.errors import PrepareError
from data.readers import DataFileError


def texture_atlas(frame_paths, iuv_paths, tex_size=200, progress=True):
    """Frames with an IUV (None entries are skipped) -> (atlas uint8 RGB [6T, 4T, 3], seen bool [6T, 4T]).

    util.unfold.build_atlas over the files (read by a few threads, memory bounded for long videos).
    """
    from util.unfold import build_atlas_from_files
    pairs = [(frame, iuv) for frame, iuv in zip(frame_paths, iuv_paths) if iuv is not None]
    try:
        return build_atlas_from_files([frame for frame, _ in pairs], [iuv for _, iuv in pairs],
                                      tex_size=tex_size, progress=progress)
    except (DataFileError, ValueError) as error:
        raise PrepareError(f'texture.jpg: cannot unfold the texture: {error}') from error
