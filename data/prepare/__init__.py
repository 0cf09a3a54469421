"""Turn a raw single-person video (or a folder of frames) into a dataset in the seed layout.

One module per job; ``pipeline.prepare`` runs them in order and ``prepare_dataset.py`` is its CLI.

    errors.py        PrepareError: a refusal or a bad input, with what to do about it
    files.py         atomic image writes, cheap validity checks, removing temporaries, moving files aside
    state.py         DATA/prepare_state.json (what this tool made, from which source) and prepare_log.txt
    frames.py        decode a video / read a frames folder, resize or crop, write DATA/<name>/frame00001.jpg...
    flow.py          OpenCV optical flow (DIS or Farneback) over consecutive pairs, both directions, .flo files
    masks.py         person masks from DensePose IUV (part > 0, small morphology)
    background.py    background plate: masked per-pixel median over frames, never-seen pixels inpainted
    texture.py       initial texture atlas from frames and DensePose (util.unfold.build_atlas)
    instructions.py  what to run elsewhere (DensePose, OpenPose) and where its files go
    pipeline.py      the steps in order, resuming, refusing, moving replaced files aside, the final check
"""
