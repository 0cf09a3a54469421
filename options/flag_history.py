"""What the code did before a flag existed, for checkpoints written before it (no imports: models read it too)."""

# Flags whose default is not what the code did before the flag existed: a checkpoint without them gets this.
BEFORE_THE_FLAG = {'d2g_skips': 'none', 'trans_skips': 'none', 'lambda_ssim': 0.0}


def trained_option(stored, name, default):
    """The value of flag ``name`` a checkpoint's run used, from its stored options (a dict): as stored,
    else ``BEFORE_THE_FLAG``'s, else default."""
    return stored.get(name, BEFORE_THE_FLAG.get(name, default))
