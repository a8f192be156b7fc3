"""The channels of an nnU-Net or MONAI case: which image of a sample goes in which channel.

By default the channels are the image modalities of the export (``CT`` first, then the others
in alphabetical order), and a case needs exactly one image of each. That is only a guess when it
cannot be told which image is which: two images of one modality in a sample, or ``generic``
images (files whose modality imgindex could not tell). Then a multi-channel export stops before
it writes anything, naming the samples, and asks for ``channels``; so does a one-channel export
of generic images with two of them in a sample (they may be a CT and a PET: with a real modality
each image of a one-channel export is a case of its own). ``channels`` maps channel names, in
channel order (the first is the reference grid and gives the labels), to what selects the image:

- a modality (``"ct"``, ``"pet"``, ``"mr"``, ...: the canonical codes and their synonyms);
- any other string: a shell pattern on the image's path (its file, or the folder of a series),
  e.g. ``"*/CT/*"`` or ``"*_t1.nii.gz"``;
- a function of the :class:`~imgindex.ImageFile` that returns ``True`` for the channel's image.

``channels=["ct", "pt"]`` is short for ``{"CT": "ct", "PT": "pt"}``. Name a CT channel ``CT``:
nnU-Net normalises a channel by its name (``CT``: CT normalisation; any other: z-score).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..arguments import IMAGE_MODALITIES, MODALITY_SYNONYMS, canonical_modality
from ..errors import InputError, InputTypeError
from ..files import ImageFile

__all__ = ["Channel", "ChannelSpec", "Channels", "parse_channels"]

#: What selects the image of one channel: a modality, a path pattern, or a function of the image.
Channel = str | Callable[[ImageFile], bool]
#: The ``channels`` argument of :func:`imgindex.export`.
ChannelSpec = Mapping[str, Channel] | Sequence[str] | str | None


def _modality(image: ImageFile) -> str:
    return str(image.modality or "generic").lower()


def _is_modality(text: str) -> bool:
    return text.lower() in IMAGE_MODALITIES or text.lower() in MODALITY_SYNONYMS


def _by_modality(code: str) -> Callable[[ImageFile], bool]:
    def test(image: ImageFile) -> bool:
        return _modality(image) == code

    return test


def _matcher(name: str, value: object) -> tuple[Callable[[ImageFile], bool], str]:
    """A test for the channel's images, and how it reads in a message."""
    if callable(value):
        return value, f"{name}: {getattr(value, '__name__', 'a function')}"
    if not isinstance(value, str) or not value:
        raise InputTypeError(
            f"The image of channel {name!r} is expected to be chosen by a modality, a path pattern or a function "
            f"of the image. Found: {value!r}."
        )
    if _is_modality(value):
        code = canonical_modality(value)
        return _by_modality(code), f"{name}: modality {code}"

    def by_path(image: ImageFile) -> bool:
        paths = [p for p in (image.file_path, image.dir_path) if isinstance(p, str)]
        return any(fnmatch.fnmatchcase(p, value) for p in paths)

    return by_path, f"{name}: path {value}"


@dataclass(frozen=True)
class Channels:
    """The channels of an export: names in order, how each picks its image, and whether they were stated."""

    names: tuple[str, ...]
    tests: tuple[Callable[[ImageFile], bool], ...]
    described: tuple[str, ...]
    stated: bool

    def of(self, image: ImageFile) -> list[str]:
        """The channels ``image`` would go in (none, one, or, for an overlapping choice, several)."""
        return [name for name, test in zip(self.names, self.tests, strict=True) if test(image)]

    def place(self, sample: Any, images: list[ImageFile]) -> tuple[list[ImageFile] | None, list[str]]:
        """One image per channel for a sample with several channels, or ``None`` and what is wrong."""
        found: dict[str, list[ImageFile]] = {name: [] for name in self.names}
        problems: list[str] = []
        for image in images:
            hits = self.of(image)
            if len(hits) > 1:
                problems.append(f"sample {sample}: image {image.object_id} fits the channels {', '.join(hits)}")
            for name in hits:
                found[name].append(image)
        generic = [str(i.object_id) for i in images if not self.stated and _modality(i) == "generic"]
        if generic:
            problems.append(f"sample {sample} has generic images ({', '.join(generic)})")
        for name, chosen in found.items():
            if not chosen:
                problems.append(f"sample {sample} has no {name} image")
            elif len(chosen) > 1 and not (generic and name == "GENERIC"):
                ids = ", ".join(str(i.object_id) for i in chosen)
                problems.append(f"sample {sample} has {len(chosen)} {name} images ({ids})")
        if problems:
            return None, problems
        return [found[name][0] for name in self.names], []


def parse_channels(spec: ChannelSpec, images: list[ImageFile]) -> Channels:
    """The channels of an export: ``spec`` as given, or the image modalities (``CT`` first).

    Examples
    --------
    >>> ct, pt = ImageFile(modality="ct", object_id="image_0"), ImageFile(modality="pt", object_id="image_1")
    >>> channels = parse_channels(None, [pt, ct])
    >>> channels.names, channels.stated
    (('CT', 'PT'), False)
    >>> parse_channels({"CT": "ct", "PET": "pet"}, [ct, pt]).place("STS_001", [pt, ct])[0] == [ct, pt]
    True
    >>> parse_channels(["ct", "*/T1/*"], [ct])
    Traceback (most recent call last):
    ...
    imgindex.errors.InputError: channels=[...] takes modalities only ('*/T1/*' is not one): ...
    """
    if spec is None:
        names = sorted({_modality(i).upper() for i in images}, key=lambda m: (m != "CT", m))
        tests = tuple(_by_modality(name.lower()) for name in names)  # generic too: refused in several channels
        return Channels(tuple(names), tests, tuple(f"{n}: modality {n.lower()}" for n in names), stated=False)
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, Sequence):
        bad = [v for v in spec if not isinstance(v, str) or not _is_modality(v)]
        if bad:
            raise InputError(
                f"channels=[...] takes modalities only ({bad[0]!r} is not one): name the channels with a mapping, "
                "e.g. channels={'T1': '*/T1/*', 'T2': '*/T2/*'}."
            )
        items = [(canonical_modality(v).upper(), v) for v in spec]
    else:
        raise InputTypeError(
            f"channels is expected to be a mapping {{channel name: modality, path pattern or function}}, a list of "
            f"modalities, or None. Found: {type(spec).__name__}."
        )
    if not items:
        raise InputError("channels is empty: name at least one channel, e.g. channels={'CT': 'ct'}.")
    names = [str(name) for name, _ in items]
    if any(not name.strip() for name in names) or len({n.lower() for n in names}) != len(names):
        raise InputError(f"Channel names must be non-empty and different (ignoring case). Found: {names}.")
    made = [_matcher(name, value) for name, value in items]
    return Channels(tuple(names), tuple(m for m, _ in made), tuple(d for _, d in made), stated=True)
