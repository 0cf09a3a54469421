"""DensePose's body parts: how many, their names, and which part is which after a horizontal flip.

Part ids are 1..24 (0 = background), as DensePose writes them in channel I of its IUV images.
"""
import numpy as np

NUM_PARTS = 24

# Part names (the person's left and right; 1/2, 7/9, ... are the two halves of one body part).
PART_NAMES = {
    1: 'torso', 2: 'torso', 3: 'right hand', 4: 'left hand', 5: 'left foot', 6: 'right foot',
    7: 'right upper leg', 9: 'right upper leg', 8: 'left upper leg', 10: 'left upper leg',
    11: 'right lower leg', 13: 'right lower leg', 12: 'left lower leg', 14: 'left lower leg',
    15: 'left upper arm', 17: 'left upper arm', 16: 'right upper arm', 18: 'right upper arm',
    19: 'left lower arm', 21: 'left lower arm', 20: 'right lower arm', 22: 'right lower arm',
    23: 'head', 24: 'head',
}

# Part id -> part id of the same surface in the mirrored image (index 0 = background).
FLIP_PARTS = np.array([0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17,
                       20, 19, 22, 21, 24, 23], np.uint8)
FLIP_U_PARTS = (1, 2)     # torso front/back keep their id, their U runs the other way
