ardour {
	["type"]    = "dsp",
	name        = "Continuo Test Player",
	category    = "Test",
	license     = "ISC",
	author      = "Continuo",
	description = [[Plays a fixed 2-bar chord phrase (120 BPM, from beat 0 of the timeline) while the
transport rolls and "Play" is on: the pianist of Continuo's Ardour test (tests/ardour.rs).]]
}

-- The phrase, in beats from the start of the timeline: {start, end, pitch}. Four chords of a
-- cadence in C major, the last one ending exactly at beat 8 (the end of bar 2).
local PHRASE = {
	{ 0, 2, 48 }, { 0, 2, 60 }, { 0, 2, 64 }, { 0, 2, 67 },
	{ 2, 4, 53 }, { 2, 4, 60 }, { 2, 4, 65 }, { 2, 4, 69 },
	{ 4, 6, 55 }, { 4, 6, 59 }, { 4, 6, 62 }, { 4, 6, 67 },
	{ 6, 8, 48 }, { 6, 8, 60 }, { 6, 8, 64 }, { 6, 8, 72 },
}
local BPM = 120
local VELOCITY = 90

-- Every note-on and note-off, {sample, status, pitch, velocity}, sorted by time (note-offs first).
local events = {}

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 } }
end

function dsp_params ()
	return { { ["type"] = "input", name = "Play", min = 0, max = 1, default = 0, toggled = true } }
end

function dsp_init (rate)
	local spb = rate * 60 / BPM
	for _, n in ipairs (PHRASE) do
		events[#events + 1] = { math.floor (n[1] * spb + 0.5), 0x90, n[3], VELOCITY }
		events[#events + 1] = { math.floor (n[2] * spb + 0.5), 0x80, n[3], 0 }
	end
	table.sort (events, function (a, b)
		if a[1] ~= b[1] then return a[1] < b[1] end
		return a[2] < b[2]
	end)
end

function dsp_run (_, _, n_samples)
	local ctrl = CtrlPorts:array ()
	local cnt = 1
	-- whatever arrives on the track's input passes on
	for _, b in pairs (midiin) do
		midiout[cnt] = b
		cnt = cnt + 1
	end
	if ctrl[1] < 0.5 or not Session:transport_rolling () then return end
	local pos = Session:transport_sample ()
	for _, e in ipairs (events) do
		if e[1] >= pos and e[1] < pos + n_samples then
			midiout[cnt] = { time = e[1] - pos + 1, data = { e[2], e[3], e[4] } }
			cnt = cnt + 1
		end
	end
end
