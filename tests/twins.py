"""A page and its JSON twin: what a person reads on the page (the HTML parsed with the standard
library's ``html.parser`` into elements and their text, entities decoded and whitespace collapsed,
so that tests compare what is shown, not markup with its escaping), and which keys of the JSON a
test has read to say what the page must show."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that never have content or an end tag.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text a person reads in this element, as one line."""
        return " ".join(self._raw_text().split())

    def _raw_text(self) -> str:
        return "".join(child if isinstance(child, str) else child._raw_text() for child in self.children)

    def elements(self) -> Iterator[Element]:
        """This element's descendants, in document order."""
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.elements()

    def select(self, tag: str | None = None, **attrs: str | bool) -> list[Element]:
        """The descendants with ``tag`` whose attributes match: ``data_build=True`` is ``[data-build]``,
        ``id="lamp"`` is ``[id="lamp"]`` (underscores stand for hyphens)."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        return [
            element
            for element in self.elements()
            if (tag is None or element.tag == tag)
            and all(
                name in element.attrs if value is True else element.attrs.get(name) == value
                for name, value in wanted.items()
            )
        ]

    def one(self, tag: str | None = None, **attrs: str | bool) -> Element:
        """The one descendant that ``select`` finds; fails if there is none or more."""
        [found] = self.select(tag, **attrs)
        return found

    def cells(self) -> list[str]:
        """The text of each cell of a table row."""
        return [cell.text for cell in self.select("td")]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        # Close up to the matching element: an end tag the page left out must not swallow the rest.
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


class _Tracked(dict):
    """A JSON object that remembers which of its keys were read."""

    def __init__(self, items: dict) -> None:
        super().__init__({key: track_reads(value) for key, value in items.items()})
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> object:
        self.read.add(key)
        return super().__getitem__(key)


def track_reads(value: object) -> object:
    """``value`` (parsed JSON) with every object remembering which keys were read."""
    if isinstance(value, dict):
        return _Tracked(value)
    if isinstance(value, list):
        return [track_reads(item) for item in value]
    return value


def unread_keys(value: object) -> set[str]:
    """The keys of ``track_reads(...)`` never read as ``obj[key]`` (``get`` and ``in`` do not count),
    as dotted paths such as ``sources[].detail``: a key of the objects of a list is read once it was
    read in any of them."""
    every, read = _key_paths(value, "")
    return every - read


def _key_paths(value: object, path: str) -> tuple[set[str], set[str]]:
    every: set[str] = set()
    read: set[str] = set()
    items = [(f"{path}[]", item) for item in value] if isinstance(value, list) else []
    if isinstance(value, _Tracked):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            every.add(where)
            if key in value.read:  # the keys within one never read are left out with it
                read.add(where)
                items.append((where, item))
    for where, item in items:
        inner_every, inner_read = _key_paths(item, where)
        every |= inner_every
        read |= inner_read
    return every, read


def json_of(client, path: str) -> dict:
    """The JSON twin at ``path``, its reads tracked."""
    response = client.get(path)
    assert response.status_code == 200, path
    return track_reads(response.get_json())


def page_at(client, path: str) -> Element:
    """The page at ``path`` as a browser asks for it, parsed."""
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200, path
    return parse(response.get_data(as_text=True))
