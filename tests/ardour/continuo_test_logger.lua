ardour {
	["type"]    = "dsp",
	name        = "Continuo Test Logger",
	category    = "Test",
	license     = "ISC",
	author      = "Continuo",
	description = [[Passes MIDI through and logs every event with the timeline sample it happens at
and whether the transport was rolling, for the session script of tests/ardour.rs to read.]]
}

-- Shared memory layout (ints): [1] number of events logged, [2] number of process cycles,
-- [3] the last cycle's transport sample, [4] 1 if the last cycle was rolling, [5] the last
-- cycle that was rolling, then 6 ints per event: timeline sample, 1 if the transport was
-- rolling, cycle number, status, data1, data2.
local CAPACITY = 60000
local FIELDS = 6

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 } }
end

function dsp_init (rate)
	self:shmem ():allocate (5 + CAPACITY * FIELDS)
	self:shmem ():clear ()
end

function dsp_run (_, _, n_samples)
	local shm = self:shmem ():to_int (0):array ()
	local rolling = Session:transport_rolling ()
	local pos = Session:transport_sample ()
	local n = shm[1]
	local cycle = shm[2] + 1
	shm[2] = cycle
	shm[3] = pos
	if rolling then
		shm[4] = 1
		shm[5] = cycle
	else
		shm[4] = 0
	end
	local cnt = 1
	for _, b in pairs (midiin) do
		midiout[cnt] = b
		cnt = cnt + 1
		local d = b["data"]
		if n < CAPACITY then
			local base = 5 + n * FIELDS
			shm[base + 1] = pos + b["time"] - 1
			if rolling then shm[base + 2] = 1 else shm[base + 2] = 0 end
			shm[base + 3] = cycle
			shm[base + 4] = d[1] or 0
			shm[base + 5] = d[2] or 0
			shm[base + 6] = d[3] or 0
			n = n + 1
		end
	end
	shm[1] = n
end
