"""eSpeak NG speech synthesis from the ``espeakng-loader`` wheel, with no system program.

The `espeakng-loader <https://pypi.org/project/espeakng-loader/>`_ wheel (pinned by the
``multimodal`` extra to `ENGINE_REQUIREMENT`) bundles ``libespeak-ng`` (eSpeak NG 1.52) and its
voice data for Linux (x86-64, aarch64), macOS (x86-64, arm64) and Windows (x86-64). This module
calls the library through `ctypes`: ``espeak_Initialize`` in synchronous mode, a synthesis
callback that collects the 16-bit samples (22 050 Hz), ``espeak_SetVoiceByName`` (falling back
to ``espeak_SetVoiceByProperties`` on the language, as the ``espeak-ng`` program does) and
``espeak_SetParameter`` for the rate and the pitch. eSpeak NG is licensed under the GPL-3.0;
the wheel is an optional dependency of the ``multimodal`` extra and is loaded at run time only.

**Why a fresh process per voice.** The library keeps state in static variables that
``espeak_Terminate`` / ``espeak_Initialize`` do not reset (the phase of the pitch "flutter" in
its wave generator, for one), so in one process the samples of an utterance depend on the
utterances synthesized before it (measured: the same word, voice, rate and pitch three times in
a row gave 13 077, 13 082 and 13 133 samples). A fresh process is deterministic. So `synthesize`
runs this file as a script, once per voice (in parallel, up to ``workers`` at a time); each
process speaks the same probe word first, then that voice's utterances in the order asked. An
utterance's samples then depend only on its voice's request, never on the number of cores or
on the other voices, and the probes of two voices can be compared sample for sample.

The worker reads a JSON request ``{"voice": ..., "utterances": [[word, rate, pitch], ...]}``
on stdin and writes a JSON header line ``{"sample_rate": ..., "version": ...}`` then, per
utterance, a little-endian ``uint32`` sample count and the ``int16`` samples. Exit status 2
means a voice it cannot speak (the message on stderr names it), 3 a library it cannot load.
The script imports nothing but the standard library and ``espeakng_loader``.
"""

from __future__ import annotations

import ctypes
import json
import struct
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata, util
from typing import Any

__all__ = [
    "ENGINE_REQUIREMENT",
    "PROBE",
    "VOICE_HINT",
    "EspeakNotFoundError",
    "Synthesis",
    "engine_available",
    "synthesize",
]

ENGINE_PACKAGE = "espeakng-loader"
ENGINE_REQUIREMENT = f"{ENGINE_PACKAGE}==0.2.4"
"""The pinned wheel: another release may bundle another eSpeak NG and synthesize other audio."""

PROBE: tuple[str, int, int] = ("zero", 175, 50)
"""The first utterance of every worker (eSpeak NG's default rate and pitch): the sound of a
voice, compared across voices to catch names that select the same voice."""

_VOICE_ERROR = 2
_LIBRARY_ERROR = 3
VOICE_HINT = (
    "the voices are named by the files under espeak-ng-data/lang/ of the espeakng-loader "
    "package (e.g. 'en-us', 'en-gb-x-rp'), the variants by those under "
    "espeak-ng-data/voices/!v/ (e.g. 'm1', 'f2')"
)


class EspeakNotFoundError(RuntimeError):
    """The eSpeak NG engine (the ``espeakng-loader`` wheel) is not installed or cannot load."""


def _install_hint() -> str:
    return (
        f"pip install '{ENGINE_REQUIREMENT}' (or the extra: pip install 'moo-toolkit[multimodal]'"
        "; wheels exist for Linux x86-64/aarch64, macOS x86-64/arm64 and Windows x86-64), or "
        "pass root= a folder that already holds a built av-digits cache"
    )


def engine_available() -> bool:
    """Whether the ``espeakng_loader`` package can be imported (the library is not loaded)."""
    return util.find_spec("espeakng_loader") is not None


@dataclass(frozen=True)
class Synthesis:
    """What `synthesize` returns.

    Attributes:
        waves: per voice, the int16 samples of its utterances in the order asked.
        probes: per voice (and per extra probe voice), the samples of `PROBE`.
        sample_rate: the engine's output rate (Hz).
        engine: the engine and its wheel, e.g. ``"eSpeak NG 1.52.0 (espeakng-loader 0.2.4)"``.
    """

    waves: dict[str, list[Any]]
    probes: dict[str, Any]
    sample_rate: int
    engine: str


def synthesize(
    utterances: Sequence[tuple[str, int, int]],
    voices: Sequence[str],
    *,
    probe_voices: Sequence[str] = (),
    workers: int = 1,
) -> Synthesis:
    """Speak every ``(word, rate, pitch)`` of ``utterances`` with every voice of ``voices``.

    One fresh worker process per voice (see the module docstring); ``probe_voices`` only speak
    `PROBE`. ``rate`` is in words per minute (80-450), ``pitch`` in 0-99.

    Raises:
        EspeakNotFoundError: ``espeakng-loader`` is missing or its library does not load.
        RuntimeError: a voice or variant the engine does not list, or a worker failure.
    """
    import numpy as np

    if not engine_available():
        raise EspeakNotFoundError(
            "building the av-digits cache needs the eSpeak NG speech synthesizer from the "
            f"{ENGINE_PACKAGE!r} wheel, which is not installed: {_install_hint()}"
        )
    requests = [(v, [PROBE, *utterances]) for v in voices]
    requests += [(v, [PROBE]) for v in probe_voices if v not in voices]

    def run(request: tuple[str, list[tuple[str, int, int]]]) -> tuple[dict[str, Any], list[Any]]:
        voice, items = request
        payload = json.dumps({"voice": voice, "utterances": [list(u) for u in items]})
        done = subprocess.run(
            [sys.executable, __file__],
            input=payload.encode(),
            capture_output=True,
            check=False,
        )
        message = done.stderr.decode(errors="replace").strip()
        if done.returncode == _LIBRARY_ERROR:
            raise EspeakNotFoundError(
                f"the eSpeak NG library of {ENGINE_PACKAGE!r} could not be loaded ({message}): "
                f"{_install_hint()}"
            )
        if done.returncode != 0:
            raise RuntimeError(
                message
                if done.returncode == _VOICE_ERROR
                else f"the eSpeak NG worker for voice {voice!r} failed with exit status "
                f"{done.returncode}: {message}"
            )
        header, waves = _decode(done.stdout, len(items), voice)
        return header, [np.frombuffer(w, dtype="<i2").copy() for w in waves]

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(run, requests))
    rates = sorted({int(h["sample_rate"]) for h, _ in results})
    versions = sorted({str(h["version"]) for h, _ in results})
    if len(rates) != 1 or len(versions) != 1:
        raise RuntimeError(f"eSpeak NG workers disagree: sample rates {rates}, versions {versions}")
    for (voice, items), (_, waves) in zip(requests, results, strict=True):
        for (word, rate, pitch), w in zip(items, waves, strict=True):
            if w.size == 0 or not np.any(w):
                raise RuntimeError(
                    f"eSpeak NG spoke silence for {word!r} (voice {voice!r}, rate {rate}, "
                    f"pitch {pitch})"
                )
    try:
        wheel = metadata.version(ENGINE_PACKAGE)
    except metadata.PackageNotFoundError:  # pragma: no cover - importable but not installed
        wheel = "unknown"
    return Synthesis(
        waves={v: w[1:] for (v, _), (_, w) in zip(requests, results, strict=True) if v in voices},
        probes={v: w[0] for (v, _), (_, w) in zip(requests, results, strict=True)},
        sample_rate=rates[0],
        engine=f"eSpeak NG {versions[0]} ({ENGINE_PACKAGE} {wheel})",
    )


def _decode(data: bytes, count: int, voice: str) -> tuple[dict[str, Any], list[bytes]]:
    """The header and the ``count`` sample buffers of a worker's output."""
    end = data.find(b"\n")
    try:
        header: dict[str, Any] = json.loads(data[:end])
        pos, waves = end + 1, []
        for _ in range(count):
            (n,) = struct.unpack_from("<I", data, pos)
            pos += 4
            if pos + 2 * n > len(data):
                raise ValueError("truncated samples")
            waves.append(data[pos : pos + 2 * n])
            pos += 2 * n
    except (ValueError, struct.error) as exc:
        raise RuntimeError(
            f"the eSpeak NG worker for voice {voice!r} wrote unreadable output ({exc})"
        ) from exc
    if pos != len(data):
        raise RuntimeError(f"the eSpeak NG worker for voice {voice!r} wrote trailing bytes")
    return header, waves


# ----------------------------------------------------------------------------------------------
# the worker (this file run as a script): standard library and espeakng_loader only
# ----------------------------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3  # espeak_PARAMETER
_RAND_SEED = 0


class _Voice(ctypes.Structure):
    """``espeak_VOICE`` (speak_lib.h)."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated name)*, then 0
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def _languages(address: int | None) -> list[str]:
    out: list[str] = []
    while address and ctypes.c_ubyte.from_address(address).value:
        name = ctypes.string_at(address + 1)
        out.append(name.decode(errors="replace"))
        address += 2 + len(name)
    return out


class _Engine:
    """The library, initialized for synchronous synthesis into Python buffers."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise OSError(f"espeak_Initialize returned {rate}")
        self.lib, self.sample_rate = lib, int(rate)
        self.version = (lib.espeak_Info(None) or b"?").decode()
        self._chunks: list[bytes] = []

        def collect(wav: Any, n: int, events: Any) -> int:
            if n > 0:
                self._chunks.append(ctypes.string_at(wav, 2 * n))
            return 0

        self._callback = _Callback(collect)  # kept alive as long as the engine
        lib.espeak_SetSynthCallback(self._callback)

    def _list(self, spec: _Voice | None) -> list[_Voice]:
        array = self.lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        out, i = [], 0
        while array[i]:
            out.append(array[i].contents)
            i += 1
        return out

    def names(self) -> tuple[set[str], set[str]]:
        """The lower-case names of the voices (name, identifier and its file name, languages)
        and of the variants (name, file name)."""
        voices: set[str] = set()
        for v in self._list(None):
            ident = (v.identifier or b"").decode(errors="replace")
            voices.update({(v.name or b"").decode(errors="replace"), ident})
            voices.update({ident.rsplit("/", 1)[-1], *_languages(v.languages)})
        spec = _Voice()
        keep = ctypes.c_char_p(b"variant")
        spec.languages = ctypes.cast(keep, ctypes.c_void_p)
        variants: set[str] = set()
        for v in self._list(spec):
            ident = (v.identifier or b"").decode(errors="replace")
            variants.update({(v.name or b"").decode(errors="replace"), ident.rsplit("/", 1)[-1]})
        return {n.lower() for n in voices if n}, {n.lower() for n in variants if n}

    def set_voice(self, voice: str) -> None:
        """Select ``voice`` as the ``espeak-ng -v`` option does; refuse unlisted names (the
        engine itself falls back silently: ``no-such-voice`` speaks Norwegian)."""
        voices, variants = self.names()
        base, _, variant = voice.partition("+")
        if base.lower() not in voices:
            raise LookupError(
                f"eSpeak NG has no voice {base!r} (asked for {voice!r}); {VOICE_HINT}"
            )
        if variant and variant.lower() not in variants:
            raise LookupError(
                f"eSpeak NG has no variant {variant!r} (asked for {voice!r}); {VOICE_HINT}"
            )
        name = voice.encode()
        if self.lib.espeak_SetVoiceByName(name) != 0:
            spec = _Voice()
            keep = ctypes.c_char_p(name)
            spec.languages = ctypes.cast(keep, ctypes.c_void_p)
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) != 0:
                raise LookupError(f"eSpeak NG cannot speak with voice {voice!r}; {VOICE_HINT}")

    def speak(self, word: str, rate: int, pitch: int) -> bytes:
        """The little-endian int16 samples of ``word``."""
        self._chunks.clear()
        # breathy variants (f2, f5, ...) add noise from libc's rand(), seeded from the clock
        # at initialization; a seed set through the API switches to eSpeak NG's own generator
        self.lib.espeak_ng_SetRandSeed(_RAND_SEED)
        self.lib.espeak_SetParameter(_RATE, int(rate), 0)
        self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        text = word.encode() + b"\0"
        status = self.lib.espeak_Synth(text, len(text), 0, 0, 0, _CHARS_UTF8, None, None)
        if status != 0 or self.lib.espeak_Synchronize() != 0:
            raise RuntimeError(f"espeak_Synth failed on {word!r} with status {status}")
        data = b"".join(self._chunks)
        return data if sys.byteorder == "little" else _swap16(data)


def _swap16(data: bytes) -> bytes:  # pragma: no cover - big-endian hosts
    out = bytearray(data)
    out[0::2], out[1::2] = data[1::2], data[0::2]
    return bytes(out)


def _worker() -> int:
    request = json.loads(sys.stdin.buffer.read())
    try:
        engine = _Engine()
    except (ImportError, OSError, AttributeError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}")
        return _LIBRARY_ERROR
    try:
        engine.set_voice(str(request["voice"]))
    except LookupError as exc:
        sys.stderr.write(str(exc.args[0]))
        return _VOICE_ERROR
    out = sys.stdout.buffer
    header = {"sample_rate": engine.sample_rate, "version": engine.version}
    out.write(json.dumps(header).encode() + b"\n")
    for word, rate, pitch in request["utterances"]:
        data = engine.speak(str(word), int(rate), int(pitch))
        out.write(struct.pack("<I", len(data) // 2) + data)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
