"""The learned components of a render model that evaluate.py --substitute can replace by ground truth."""

COMPONENTS = {
    'iuv': 'the true part map and UV (the dataset\'s DensePose) instead of the UV generator\'s',
    'texture': 'the true atlas instead of the neural texture\'s RGB (its feature channels stay, for the D2G)',
    'background': 'the true background instead of the learned one',
    'detail': 'the texture render instead of the detail generator\'s output (as the oracle, no dynamic details)',
}


def parse_components(text):
    """'iuv,texture' -> ('iuv', 'texture') in COMPONENTS order; 'none' or '' -> (). ValueError on unknown names."""
    names = {name.strip() for name in text.split(',') if name.strip() and name.strip() != 'none'}
    unknown = sorted(names - set(COMPONENTS))
    if unknown:
        raise ValueError(f'unknown component {", ".join(unknown)}; choose from {", ".join(COMPONENTS)} (or none)')
    return tuple(name for name in COMPONENTS if name in names)
