"""util.markdown_sections: bench/quality.py rewrites its own sections of docs/RESULTS.md and keeps the rest."""
from util.markdown_sections import replace_sections

DOC = """# Results

intro

## Quality, 128 px
old table

## Speed
speed table
### a subsection stays with its section
notes

## Notes by hand
kept
"""


def test_a_named_section_is_replaced_in_place_and_the_others_kept():
    out = replace_sections(DOC, {'## Quality, 128 px': ['## Quality, 128 px', 'new table', '']})
    assert 'old table' not in out and 'new table' in out
    assert out.index('new table') < out.index('## Speed') < out.index('## Notes by hand')
    assert out.startswith('# Results\n\nintro\n') and 'notes\n' in out and out.endswith('kept\n')


def test_a_section_the_document_lacks_is_appended():
    out = replace_sections(DOC, {'## Quality, 256 px': ['## Quality, 256 px', 'bigger']})
    assert out.endswith('## Quality, 256 px\nbigger\n') and 'old table' in out


def test_a_subsection_goes_with_its_section():
    out = replace_sections(DOC, {'## Speed': ['## Speed', 'new speed']})
    assert 'a subsection stays' not in out and 'new speed' in out and 'old table' in out
