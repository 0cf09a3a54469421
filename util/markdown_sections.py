"""Rewrite chosen '## ' sections of a markdown document and keep the rest as it is (docs/RESULTS.md has
sections written by different scripts and by hand)."""


def split_sections(text):
    """[lines before the first '## ' heading, then one list of lines per section, heading first]."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith('## '):
            blocks.append(current)
            current = []
        current.append(line)
    blocks.append(current)
    return blocks


def replace_sections(text, sections):
    """text with each section named in sections ({heading line: lines, heading first}) replaced in place by
    its lines, or appended when the text has no such section; every other section is kept."""
    todo = dict(sections)
    out = []
    for block in split_sections(text):
        heading = block[0] if block else ''
        out += todo.pop(heading) if heading in todo else block
    for lines in todo.values():
        out += lines
    return '\n'.join(out).rstrip('\n') + '\n'
