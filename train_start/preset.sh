# Sourced by the presets: preset_flags NAME ARRAY reads train_start/NAME.flags (flags separated by
# spaces or newlines, '#' starts a comment) into the bash array ARRAY (options/presets.py reads the
# same files for Python).
preset_flags() {
  local file
  file="$(dirname "${BASH_SOURCE[0]}")/$1.flags"
  if [ ! -f "$file" ]; then
    echo "$file: preset flags not found" >&2
    return 1
  fi
  read -r -d '' -a "$2" < <(sed 's/#.*//' "$file") || true
}
