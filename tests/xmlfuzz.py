"""Mutated variants of a valid XML request document, for the parsers' "never a 500" tests."""
from __future__ import annotations


def mutations(doc: bytes, rnd, odd_text: list[str], count: int = 300):
    """Variants of a valid document: an element dropped, doubled or moved up a level, a text
    replaced by an odd value, or the bytes cut short."""
    from lxml import etree
    for _ in range(count):
        root = etree.fromstring(doc)
        elements = list(root.iter())[1:]
        el = rnd.choice(elements)
        kind = rnd.randrange(5)
        if kind == 0:
            el.getparent().remove(el)
        elif kind == 1:
            el.getparent().append(etree.fromstring(etree.tostring(el)))
        elif kind == 2 and el.getparent() is not root:
            el.getparent().getparent().append(etree.fromstring(etree.tostring(el)))
        elif kind == 3:
            el.text = rnd.choice(odd_text)
        else:
            yield etree.tostring(root)[:rnd.randrange(1, len(etree.tostring(root)))]
            continue
        yield etree.tostring(root)
