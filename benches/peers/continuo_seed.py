"""What the peer benchmark scripts share: a Continuo seed model file read in Python, a plain
numpy forward pass of its network, and the small parts of Continuo's piano roll (chords,
vocabulary, grid, MIDI in and out, greedy decoding) that check_greedy.py needs to talk to
`continuo generate` and `continuo eval` through MIDI files.

Everything here mirrors a Rust file; the comment on each function names it. Nothing here is
fast: the numpy network is a reference for correctness, not a peer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REST_ID = 0  # src/roll/vocab.rs
UNK_ID = 1
RESERVED = 2
OUTSIDE_BAND = -10000.0  # src/model/seed/attention.rs
TICKS_PER_BEAT = 480  # src/midi/write.rs
GM_DRUM_CHANNEL = 9  # src/midi/read.rs


# --------------------------------------------------------------------------------------------
# The model file (src/model/file.rs, src/model/seed/config.rs)
# --------------------------------------------------------------------------------------------


@dataclass
class SeedModel:
    path: Path
    config: dict
    tensors: dict  # name -> np.float32 array, the names of src/model/seed/network.rs
    vocab: "Vocab"
    steps_per_beat: int
    onsets: bool
    metadata: dict = field(repr=False, default_factory=dict)

    @property
    def window(self) -> int:
        return int(self.config["window"])

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    @property
    def name(self) -> str:
        return self.path.stem


CONFIG_DEFAULTS = {  # Config::default()
    "vocab_size": 4096,
    "window": 50,
    "embedding": 100,
    "hidden": 128,
    "attention_width": 50,
    "dense": 64,
    "dropout": 0.3,
    "leaky_slope": 0.3,
}


def load_seed(path) -> SeedModel:
    """Reads a seed model file: a safetensors file whose metadata holds `format:
    continuo-model`, `kind: seed` (or none), `config`, `vocab` and `grid` as JSON."""
    from safetensors import safe_open

    path = Path(path)
    with safe_open(str(path), framework="numpy") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: np.asarray(f.get_tensor(k), dtype=np.float32) for k in f.keys()}
    if metadata.get("format") != "continuo-model":
        raise SystemExit(f"{path}: not a Continuo model (no `format: continuo-model` metadata)")
    kind = metadata.get("kind", "seed")
    if kind != "seed":
        raise SystemExit(f"{path}: a {kind} model; these scripts need a seed model")
    config = dict(CONFIG_DEFAULTS)
    config.update(json.loads(metadata["config"]))
    vocab_json = json.loads(metadata["vocab"])
    grid = json.loads(metadata["grid"])
    vocab = Vocab([parse_chord(c) for c in vocab_json["chords"]], bool(vocab_json["onsets"]))
    if len(vocab) != config["vocab_size"]:
        raise SystemExit(f"{path}: vocabulary of {len(vocab)} ids, config says {config['vocab_size']}")
    h, e, v = config["hidden"], config["embedding"], config["vocab_size"]
    expect = {"embedding.weight": (v, e), "output.weight": (v, config["dense"]),
              "dense.weight": (config["dense"], 2 * h), "attention1.wa": (2 * h, 2 * h),
              "gru1.fwd.weight_ih": (3 * h, e), "gru2.fwd.weight_ih": (3 * h, 2 * h)}
    for name, shape in expect.items():
        if tensors[name].shape != shape:
            raise SystemExit(f"{path}: {name} has shape {tensors[name].shape}, expected {shape}")
    return SeedModel(path, config, tensors, vocab, int(grid["steps_per_beat"]),
                     bool(grid["onsets"]), metadata)


# --------------------------------------------------------------------------------------------
# The network in numpy (src/model/seed/network.rs, attention.rs, src/model/layers/gru.rs)
# --------------------------------------------------------------------------------------------


def in_band(t: int, u: int, width: int) -> bool:
    """attention.rs `in_band`: step t attends to u in [t - width/2, t - width/2 + width)."""
    lower = t - width // 2
    return lower <= u < lower + width


def band_mask(t: int, width: int) -> np.ndarray:
    """`[T, T]`: 0 inside the band, -10000 outside (added after the sigmoid)."""
    return np.array([[0.0 if in_band(i, j, width) else OUTSIDE_BAND for j in range(t)]
                     for i in range(t)], dtype=np.float32)


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) → inf for very negative x: σ = 0, as wanted
        return 1.0 / (1.0 + np.exp(-x))


def _gru_direction(gx, w_hh, b_hh, reverse):
    """One direction of gru.rs: gates r, z, n in that order, the reset gate applied to
    `W_hn h + b_hn` (reset-after). `gx` `[B, T, 3H]` already holds `x W_ih^T + b_ih`."""
    b, t, h3 = gx.shape
    hd = h3 // 3
    h = np.zeros((b, hd), dtype=gx.dtype)
    out = np.zeros((b, t, hd), dtype=gx.dtype)
    order = range(t - 1, -1, -1) if reverse else range(t)
    for time in order:
        g = gx[:, time]
        gh = h @ w_hh.T + b_hh
        r = _sigmoid(g[:, :hd] + gh[:, :hd])
        z = _sigmoid(g[:, hd:2 * hd] + gh[:, hd:2 * hd])
        n = np.tanh(g[:, 2 * hd:] + r * gh[:, 2 * hd:])
        h = (1.0 - z) * n + z * h
        out[:, time] = h
    return out


def _bigru(x, w, prefix):
    dirs = []
    for name, reverse in (("fwd", False), ("bwd", True)):
        p = f"{prefix}.{name}."
        gx = x @ w[p + "weight_ih"].T + w[p + "bias_ih"]
        dirs.append(_gru_direction(gx, w[p + "weight_hh"], w[p + "bias_hh"], reverse))
    seq = np.concatenate(dirs, axis=-1)  # [B, T, 2H]: forward, then backward in input order
    # BiOutput::LastStates: the forward state after step T-1, the backward one at time 0.
    last = np.concatenate([dirs[0][:, -1], dirs[1][:, 0]], axis=-1)
    return seq, last


def _attention(x, wa, ba, width):
    """attention.rs: e = σ(x W_a xᵀ + b_a) - 10000 outside the band; softmax; a x."""
    t = x.shape[1]
    e = _sigmoid((x @ wa) @ np.swapaxes(x, 1, 2) + ba)
    e = e + band_mask(t, width).astype(x.dtype)
    e = e - e.max(axis=-1, keepdims=True)
    a = np.exp(e)
    a /= a.sum(axis=-1, keepdims=True)
    return a @ x


def numpy_logits(model: SeedModel, ids, dtype=np.float64) -> np.ndarray:
    """`ids` `[B, T]` → logits `[B, vocab]`, as `Network::forward` (inference: no dropout)."""
    w = {k: v.astype(dtype) for k, v in model.tensors.items()}
    cfg = model.config
    ids = np.asarray(ids, dtype=np.int64)
    x = w["embedding.weight"][ids]
    x, _ = _bigru(x, w, "gru1")
    x = _attention(x, w["attention1.wa"], w["attention1.ba"][0], cfg["attention_width"])
    x, _ = _bigru(x, w, "gru2")
    x = _attention(x, w["attention2.wa"], w["attention2.ba"][0], cfg["attention_width"])
    _, x = _bigru(x, w, "gru3")
    y = x @ w["dense.weight"].T + w["dense.bias"]
    y = np.where(y >= 0, y, y * cfg["leaky_slope"])
    return y @ w["output.weight"].T + w["output.bias"]


# --------------------------------------------------------------------------------------------
# Chords and the vocabulary (src/roll/chord.rs, vocab.rs)
# --------------------------------------------------------------------------------------------

# A chord is (sounding, struck): two 128-bit masks as Python ints, struck ⊆ sounding.
REST = (0, 0)


def parse_chord(text: str):
    text = text.strip()
    if text in ("REST", ""):
        return REST
    sounding = struck = 0
    for part in text.split(","):
        hit = part.startswith("*")
        p = int(part[1:] if hit else part)
        sounding |= 1 << p
        if hit:
            struck |= 1 << p
    return (sounding, struck)


def chord_str(chord) -> str:
    sounding, struck = chord
    if sounding == 0:
        return "REST"
    return ",".join(("*" if struck >> p & 1 else "") + str(p) for p in range(128) if sounding >> p & 1)


def _pitch_classes(mask: int) -> int:
    classes = 0
    for p in range(128):
        if mask >> p & 1:
            classes |= 1 << (p % 12)
    return classes


def _bass(mask: int):
    return (mask & -mask).bit_length() - 1 if mask else None


def chord_distance(q, c) -> int:
    """vocab.rs `chord_distance` (used by `nearest_id`)."""
    qb, cb = _bass(q[0]), _bass(c[0])
    if qb is not None and cb is not None:
        bass = (16 if qb % 12 != cb % 12 else 0) + abs(qb // 12 - cb // 12)
    elif qb is None and cb is None:
        bass = 0
    else:
        bass = 64
    classes = bin(_pitch_classes(q[0]) ^ _pitch_classes(c[0])).count("1") * 4
    common = q[0] & c[0]
    struck = bin((q[1] ^ c[1]) & common).count("1") * 2
    voicing = bin(q[0] ^ c[0]).count("1")
    return bass + classes + struck + voicing


class Vocab:
    """Ids ⇄ chords: 0 REST, 1 UNK, then the file's chords in order."""

    def __init__(self, chords, onsets: bool):
        self.onsets = onsets
        self.chords = [REST, REST]
        self.index = {REST: REST_ID}
        for c in chords:
            c = self._normalise(c)
            if c[0] != 0 and c not in self.index:
                self.index[c] = len(self.chords)
                self.chords.append(c)
        self._nearest = {}
        self._pcs = None

    def __len__(self):
        return len(self.chords)

    def _normalise(self, c):
        return c if self.onsets else (c[0], 0)

    def chord(self, i: int):
        if i == UNK_ID or i >= len(self.chords):
            return REST
        return self.chords[i]

    def id(self, c) -> int:
        return self.index.get(self._normalise(c), UNK_ID)

    def nearest_id(self, c) -> int:
        q = self._normalise(c)
        if q in self.index:
            return self.index[q]
        if q not in self._nearest:
            best = (1 << 62, REST_ID)
            for i in range(RESERVED, len(self.chords)):
                d = chord_distance(q, self.chords[i])
                if d < best[0]:
                    best = (d, i)
            self._nearest[q] = best[1]
        return self._nearest[q]

    def struck_ids(self):
        """Which ids strike a note (mod.rs `generate_streaming`, with struck marks)."""
        return np.array([self.chord(i)[1] != 0 for i in range(len(self))])


def prompt_ids(steps, vocab: Vocab):
    """data.rs `prompt_ids`: REST for rests, the nearest chord for anything the vocabulary lacks."""
    return [REST_ID if c[0] == 0 else vocab.nearest_id(c) for c in steps]


def target_ids(steps, vocab: Vocab):
    """data.rs `Encoder::encode` targets: UNK for anything the vocabulary lacks."""
    return [vocab.id(c) for c in steps]


def window_at(ids, target: int, window: int):
    """windows.rs `window_at`: the `window` ids before `target`, left-padded with REST."""
    target = min(target, len(ids))
    start = max(0, target - window)
    return [REST_ID] * (window - (target - start)) + list(ids[start:target])


# --------------------------------------------------------------------------------------------
# The grid (src/roll/grid.rs)
# --------------------------------------------------------------------------------------------


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def nearest_step(beats: float, steps_per_beat: int) -> int:
    return int(max(_round_half_away(beats * steps_per_beat), 0.0))


def notes_to_roll(notes, steps_per_beat: int, onsets: bool):
    """grid.rs `notes_to_roll`. `notes`: (pitch, start_beats, end_beats) tuples."""
    spans = []
    for pitch, start_b, end_b in notes:
        start = nearest_step(start_b, steps_per_beat)
        end = max(nearest_step(end_b, steps_per_beat), start + 1)
        spans.append((min(pitch, 127), start, end))
    length = max((s[2] for s in spans), default=0)
    sounding = [0] * length
    struck = [0] * length
    for pitch, start, end in spans:
        for i in range(start, end):
            sounding[i] |= 1 << pitch
            if onsets and i == start:
                struck[i] |= 1 << pitch
    return list(zip(sounding, struck))


def roll_to_notes(steps, steps_per_beat: int, start_beats: float = 0.0):
    """grid.rs `roll_to_notes`: (pitch, start_beats, end_beats), sorted by start then pitch."""
    notes = []
    open_ = [None] * 128

    def beats(step):
        return start_beats + step / steps_per_beat

    for i, (sounding, struck) in enumerate(steps):
        for p in range(128):
            here = bool(sounding >> p & 1)
            restrike = here and bool(struck >> p & 1)
            if open_[p] is not None and (not here or restrike):
                notes.append((p, beats(open_[p]), beats(i)))
                open_[p] = i if here else None
            elif open_[p] is None and here:
                open_[p] = i
    for p, start in enumerate(open_):
        if start is not None:
            notes.append((p, beats(start), beats(len(steps))))
    notes.sort(key=lambda n: (n[1], n[0]))
    return notes


def project(steps, steps_per_beat: int, onsets: bool):
    """What a roll becomes once written as MIDI and read back (held pitches that did not sound
    the step before become struck; trailing rests go)."""
    return notes_to_roll(roll_to_notes(steps, steps_per_beat), steps_per_beat, onsets)


# --------------------------------------------------------------------------------------------
# MIDI files (src/midi/read.rs, write.rs), through mido
# --------------------------------------------------------------------------------------------


def read_midi(path):
    """Notes (pitch, start_beats, end_beats), first tempo and time signature, as read.rs reads a
    file without sustain-pedal events (a key struck again ends its earlier note first; notes
    never switched off end with their track; the drum channel is skipped)."""
    import mido

    mid = mido.MidiFile(str(path))
    tpb = mid.ticks_per_beat
    notes, tempo, timesig = [], None, None
    track_start = 0
    for track in mid.tracks:
        tick = track_start if mid.type == 2 else 0
        sounding = {}
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo" and tempo is None:
                tempo = 60_000_000.0 / max(msg.tempo, 1)
            elif msg.type == "time_signature" and timesig is None:
                timesig = (msg.numerator, msg.denominator)
            elif msg.type in ("note_on", "note_off") and msg.channel != GM_DRUM_CHANNEL:
                key = (msg.channel, msg.note)
                if key in sounding:
                    start = sounding.pop(key)
                    notes.append((msg.note, start / tpb, max(tick, start) / tpb))
                if msg.type == "note_on" and msg.velocity > 0:
                    sounding[key] = tick
        for (_, note), start in sounding.items():
            notes.append((note, start / tpb, max(tick, start) / tpb))
        track_start = tick
    notes.sort(key=lambda n: (n[1], n[0]))
    return notes, tempo or 120.0, timesig or (4, 4)


def write_midi(path, notes, tempo_bpm=120.0, time_signature=(4, 4), velocity=80):
    """A conductor track and a note track at 480 ticks per beat, note-offs before note-ons at
    the same tick (as write.rs)."""
    import mido

    def tick(beats):
        return int(_round_half_away(max(beats, 0.0) * TICKS_PER_BEAT))

    timed = []
    for pitch, start_b, end_b in notes:
        start = tick(start_b)
        end = max(tick(end_b), start + 1)
        timed.append((start, 1, pitch, "note_on"))
        timed.append((end, 0, pitch, "note_off"))
    timed.sort()
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=int(round(60_000_000.0 / tempo_bpm)), time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=time_signature[0],
                                      denominator=time_signature[1], time=0))
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    track = mido.MidiTrack()
    last = 0
    for t, _, pitch, kind in timed:
        vel = velocity if kind == "note_on" else 64
        track.append(mido.Message(kind, note=pitch, velocity=vel, channel=0, time=t - last))
        last = t
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.extend([conductor, track])
    mid.save(str(path))


# --------------------------------------------------------------------------------------------
# Greedy decoding (src/model/seed/mod.rs `generate_streaming` at temperature 0, sampler.rs)
# --------------------------------------------------------------------------------------------


def greedy(logits_fn, context, steps: int, vocab: Vocab, window: int, margins=None):
    """`logits_fn(window_ids) -> logits [vocab]`. UNK is never taken; when nothing in the window
    strikes a note, only striking ids may come next; ties go to the lowest id. `margins`, a
    list, gets each step's gap between the best and the second-best allowed logit."""
    win = window_at(context, len(context), window)
    if vocab.onsets:
        struck = vocab.struck_ids()
    out = []
    for _ in range(steps):
        if not vocab.onsets:
            last = win[-1]
            held = all(i == last for i in win)
            struck = np.array([not (held and i == last) and i != REST_ID for i in range(len(vocab))])
        logits = np.array(logits_fn(win), dtype=np.float32).copy()
        if not any(struck[i] for i in win):
            logits[~struck] = -np.inf
        logits[UNK_ID] = -np.inf
        logits[~np.isfinite(logits)] = -np.inf
        nxt = int(np.argmax(logits)) if np.isfinite(logits).any() else REST_ID
        if margins is not None:
            top2 = np.sort(logits[np.isfinite(logits)])[-2:]
            margins.append(float(top2[-1] - top2[0]) if len(top2) == 2 else float("inf"))
        out.append(nxt)
        win = win[1:] + [nxt]
    return out
